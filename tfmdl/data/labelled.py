"""Labelled data that a user hands in: arrays, dicts of arrays, tf.data streams.

The codes take ``x`` as one array whose first axis indexes the examples, and
integer labels ``y``. A user may have:

* arrays: ``x`` any numeric array (images, features, integer token ids), ``y``
  labels of any integer dtype;
* a dict of arrays, for a model with several named inputs;
* a ``tf.data.Dataset`` of ``(x, y)`` pairs (one example per element, or
  batches: they are unbatched), ``x`` a tensor or a dict of tensors, in a
  fixed order. The block prequential code reads it block by block
  (:mod:`tfmdl.codes.prequential.block`), so it need not fit in memory; the
  other codes read it into arrays. Its labels are kept (4 bytes each).

:func:`labelled` checks the data in one pass (labels integers in ``[0, K)``,
inputs numeric and finite; a stream is read once, hashing as it goes), and
refuses a stream whose order changes from one reading to the next (a
``shuffle`` that reshuffles, random maps, non-deterministic options): the
order is part of the code, and every block of the prequential code reads the
stream again. :class:`LabelledData` is what every code reads, the zoo's data
sets too (:attr:`tfmdl.data.Dataset.train`).

A dict of inputs is packed into one float matrix (:class:`InputLayout`: the
inputs flattened and concatenated, in sorted key order, in float32 when that
is exact, else float64) and unpacked inside the model by
:meth:`InputLayout.unpack`, so every code and training loop sees one array.

:func:`fingerprint` identifies examples and their order, the same for arrays,
dicts and streams holding the same examples, and the zoo's data sets
(:meth:`tfmdl.data.Dataset.fingerprint`): one fingerprint for the same
examples, whichever way they came.
"""

import dataclasses
import hashlib
import math
from typing import Mapping, Optional

import numpy as np
import tensorflow as tf

from tfmdl.data.validation import validate_labelled_arrays

PEEK = 8  # examples read to probe a model before the data are checked
CHUNK = 1024  # examples per chunk when a stream is read
_FLOAT32_EXACT = 2**24  # integers below this are exact in float32


def _is_stream(x) -> bool:
  return isinstance(x, tf.data.Dataset)


def _examples_of(ds: tf.data.Dataset) -> tf.data.Dataset:
  """``ds`` as a stream of single ``(x, y)`` examples (batches unbatched).

  Raises:
    ValueError: if the elements are not ``(x, y)`` pairs with scalar labels
      (or batches of them), or ``x`` is a list or tuple.
  """
  spec = ds.element_spec
  if not (isinstance(spec, tuple) and len(spec) == 2):
    raise ValueError("a tf.data input must give (x, y) pairs, got elements "
                     f"{spec}")
  x_spec, y_spec = spec
  if isinstance(x_spec, (tuple, list)):
    raise ValueError("several inputs must come as a dict of tensors, not a "
                     f"{type(x_spec).__name__}")
  rank = y_spec.shape.rank
  if rank == 1:
    return ds.unbatch()
  if rank != 0:
    raise ValueError(f"labels must be scalars (or batches of them), got "
                     f"shape {y_spec.shape}")
  return ds


def peek(x) -> object:
  """The first few inputs of ``x`` (arrays, a dict or a stream), as NumPy.

  Nothing is checked: enough to build and probe a model before the data are.
  """
  if _is_stream(x):
    first = next(iter(_examples_of(x).take(PEEK).batch(PEEK)))[0]
    return tf.nest.map_structure(lambda t: t.numpy(), first)
  if isinstance(x, Mapping):
    return {k: np.asarray(v)[:PEEK] for k, v in x.items()}
  return np.asarray(x)[:PEEK]


@dataclasses.dataclass(frozen=True)
class InputLayout:
  """How a dict of inputs is packed into one matrix, and unpacked.

  Attributes:
    keys: input names, sorted.
    shapes: each input's per-example shape.
    dtypes: each input's dtype name.
    dtype: the packed matrix's dtype, ``"float32"`` or ``"float64"``.
  """
  keys: tuple
  shapes: tuple
  dtypes: tuple
  dtype: str

  @property
  def sizes(self) -> tuple:
    return tuple(math.prod(s) for s in self.shapes)

  @property
  def width(self) -> int:
    """Columns of the packed matrix."""
    return sum(self.sizes)

  def pack(self, x: Mapping) -> np.ndarray:
    """The dict of arrays ``x`` as one (n, width) matrix."""
    n = len(x[self.keys[0]])
    return np.concatenate([np.asarray(x[k]).reshape(n, -1).astype(self.dtype)
                           for k in self.keys], axis=1)

  def pack_tensors(self, x: Mapping) -> tf.Tensor:
    """One example's dict of tensors as its packed row."""
    return tf.concat([tf.reshape(tf.cast(x[k], self.dtype), [-1])
                      for k in self.keys], axis=0)

  def unpack(self, packed: tf.Tensor) -> dict:
    """Rows of the packed matrix back to a dict of tensors (in a model)."""
    parts, start = {}, 0
    for key, shape, dtype, size in zip(self.keys, self.shapes, self.dtypes,
                                       self.sizes):
      part = tf.reshape(packed[:, start:start + size], (-1,) + shape)
      parts[key] = tf.cast(part, dtype)
      start += size
    return parts


def _layout(shapes: Mapping, dtypes: Mapping, max_int: int) -> InputLayout:
  """The layout of inputs of these shapes and dtypes; ``max_int`` is the
  largest absolute value among the integer inputs (0 if none)."""
  keys = tuple(sorted(shapes))
  exact32 = (max_int < _FLOAT32_EXACT and
             all(np.dtype(dtypes[k]).itemsize <= 4 or
                 np.issubdtype(np.dtype(dtypes[k]), np.integer)
                 for k in keys))
  return InputLayout(keys=keys, shapes=tuple(tuple(shapes[k]) for k in keys),
                     dtypes=tuple(np.dtype(dtypes[k]).name for k in keys),
                     dtype="float32" if exact32 else "float64")


class _Hasher:
  """SHA-256 of labelled examples in order, fed chunk by chunk.

  Per example: its label as int64, then each input's bytes (sorted keys),
  little-endian; the header names the inputs' shapes and dtypes, the end the
  number of examples. Chunk boundaries do not matter.
  """

  def __init__(self):
    self._digest = None
    self.n = 0

  def update(self, x, y: np.ndarray) -> bytes:
    """Add a chunk; return the SHA-256 of the chunk alone."""
    parts = x if isinstance(x, Mapping) else {"": x}
    keys = sorted(parts)
    m = len(y)
    if self._digest is None:
      self._digest = hashlib.sha256(b"tfmdl-examples-v1|" + "|".join(
          f"{k}:{parts[k].shape[1:]}:{parts[k].dtype.name}"
          for k in keys).encode())
    columns = [np.asarray(y, "<i8").reshape(m, 1).view(np.uint8)]
    for k in keys:
      value = np.ascontiguousarray(parts[k].reshape(m, -1))
      columns.append(value.astype(value.dtype.newbyteorder("<")).view(
          np.uint8).reshape(m, -1))
    rows = np.concatenate(columns, axis=1).tobytes()
    self._digest.update(rows)
    self.n += m
    return hashlib.sha256(rows).digest()

  def hexdigest(self) -> str:
    digest = self._digest.copy()
    digest.update(f"|n={self.n}".encode())
    return digest.hexdigest()


def _check_numeric(name: str, value: np.ndarray) -> None:
  if not (np.issubdtype(value.dtype, np.number) or value.dtype == np.bool_):
    raise ValueError(f"inputs{name} must be numeric, got dtype {value.dtype}")
  if np.issubdtype(value.dtype, np.inexact) and not np.isfinite(value).all():
    raise ValueError(f"inputs{name} contain NaN or infinite values")


def _max_int(parts: Mapping) -> int:
  ints = [np.abs(v.astype(np.int64)).max() for v in parts.values()
          if np.issubdtype(v.dtype, np.integer) and v.size]
  return int(max(ints, default=0))


def fingerprint(x, y=None) -> str:
  """SHA-256 (hex) of labelled examples and their order.

  Arrays, a dict of arrays, or a stream of ``(x, y)`` pairs (``y`` None) of
  the same examples in the same order have the same fingerprint, whatever
  the labels' integer dtype.
  """
  hasher = _Hasher()
  for x_chunk, y_chunk in _chunks(x, y):
    hasher.update(x_chunk, y_chunk)
  return hasher.hexdigest()


def inputs_fingerprint(x) -> str:
  """:func:`fingerprint` of the inputs alone (what Bob holds before he
  decodes the labels): that of the examples with every label 0."""
  return fingerprint(x, np.zeros(len(x), np.int64))


def batches(ds: tf.data.Dataset, batch_size: int):
  """The ``(x, y)`` examples of ``ds`` in batches of ``batch_size``, as
  NumPy (the last may be shorter); ``ds`` gives pairs or batches of them."""
  for x_batch, y_batch in _examples_of(ds).batch(batch_size):
    yield tf.nest.map_structure(lambda t: t.numpy(), x_batch), y_batch.numpy()


def _chunks(x, y):
  """``(x, y)`` chunks of at most :data:`CHUNK` examples, as NumPy."""
  if _is_stream(x):
    yield from batches(x, CHUNK)
    return
  y = np.asarray(y)
  for i in range(0, len(y), CHUNK):
    yield (tf.nest.map_structure(lambda v, i=i: np.asarray(v)[i:i + CHUNK], x)
           if isinstance(x, Mapping) else np.asarray(x)[i:i + CHUNK],
           y[i:i + CHUNK])


@dataclasses.dataclass(frozen=True, eq=False)
class LabelledData:
  """Checked labelled examples, in their order: what every code reads.

  Attributes:
    n: number of examples.
    num_classes: K; every label lies in ``[0, K)``.
    fingerprint: :func:`fingerprint` of the examples.
    layout: how a dict of inputs was packed; None for one array.
    y: the int32 labels (4 bytes a label, kept for streams too).
    x: the (packed) inputs, for arrays; None for a stream.
    stream: for a stream, the unbatched packed inputs in the agreed order;
      None for arrays.
  """
  n: int
  num_classes: int
  fingerprint: str
  layout: Optional[InputLayout]
  y: np.ndarray = dataclasses.field(repr=False)
  x: Optional[np.ndarray] = dataclasses.field(default=None, repr=False)
  stream: Optional[tf.data.Dataset] = dataclasses.field(default=None,
                                                        repr=False)

  @property
  def is_stream(self) -> bool:
    return self.stream is not None

  def inputs(self, start: int, end: int) -> np.ndarray:
    """Inputs ``[start, end)`` as an array; a stream is read for them."""
    if not self.is_stream:
      return self.x[start:end]
    chunks = [chunk.numpy() for chunk in
              self.stream.skip(start).take(end - start).batch(CHUNK)]
    if not chunks:
      return np.zeros((0,) + tuple(self.stream.element_spec.shape),
                      self.stream.element_spec.dtype.as_numpy_dtype)
    return np.concatenate(chunks)

  def examples(self, start: int, end: int, labels: np.ndarray
               ) -> tf.data.Dataset:
    """Unbatched ``(x, y)`` pairs of examples ``[start, end)`` with
    ``labels`` (``end - start`` of them: Alice's, or those Bob decoded)."""
    inputs = (self.stream.skip(start).take(end - start) if self.is_stream
              else tf.data.Dataset.from_tensor_slices(self.x[start:end]))
    return tf.data.Dataset.zip(
        (inputs, tf.data.Dataset.from_tensor_slices(
            np.asarray(labels, np.int32))))

  def arrays(self) -> tuple:
    """``(x, y)`` as arrays; a stream's inputs are read into memory."""
    return self.inputs(0, self.n), self.y


def _check_layout(layout: Optional[InputLayout],
                  expected: Optional[InputLayout]) -> None:
  if expected is None:
    return
  mine = None if layout is None else (layout.keys, layout.shapes)
  if mine != (expected.keys, expected.shapes):
    raise ValueError(
        f"inputs {mine} do not match the training inputs "
        f"{(expected.keys, expected.shapes)} (names and per-example shapes)")


def labelled(x, y=None, num_classes: int = 2, *,
             layout: Optional[InputLayout] = None) -> LabelledData:
  """Check a user's labelled data and put it in the codes' form.

  Args:
    x: an array, a dict of arrays, or a ``tf.data.Dataset`` of ``(x, y)``
      pairs (then ``y`` is None).
    y: integer labels, for arrays.
    num_classes: K.
    layout: the layout to pack a dict of inputs with (that of the training
      inputs, for test data); None to choose it from ``x``.

  Returns:
    A :class:`LabelledData`.

  Raises:
    ValueError: in one line, for bad data, a stream whose order is not
      fixed, or inputs that do not match ``layout``.
  """
  if _is_stream(x):
    if y is not None:
      raise ValueError("a tf.data input carries its labels: pass y=None")
    return _labelled_stream(x, num_classes, layout)
  if y is None:
    raise ValueError("labels y are missing (only a tf.data input carries "
                     "its own)")
  y = np.asarray(y)
  parts = ({k: np.asarray(v) for k, v in x.items()} if isinstance(x, Mapping)
           else {"": np.asarray(x)})
  if not parts:
    raise ValueError("the dict of inputs is empty")
  for value in parts.values():
    validate_labelled_arrays(value, y, num_classes)
  y = y.astype(np.int32)
  found = None
  if isinstance(x, Mapping):
    found = _layout({k: v.shape[1:] for k, v in parts.items()},
                    {k: v.dtype for k, v in parts.items()}, _max_int(parts))
    _check_layout(found, layout)
    found = layout or found
  elif layout is not None:
    _check_layout(None, layout)
  packed = found.pack(parts) if found else parts[""]
  return LabelledData(n=len(y), num_classes=num_classes,
                      fingerprint=fingerprint(x, y), layout=found, y=y,
                      x=packed)


def _labelled_stream(ds: tf.data.Dataset, num_classes: int,
                     layout: Optional[InputLayout]) -> LabelledData:
  """:func:`labelled` for a stream: one checking, hashing pass."""
  if num_classes < 2:
    raise ValueError(f"need at least 2 classes, got num_classes={num_classes}")
  if ds.options().deterministic is False:
    raise ValueError("the tf.data input has options().deterministic=False: "
                     "its order could change between readings; the order is "
                     "part of the code")
  examples = _examples_of(ds)
  x_spec, y_spec = examples.element_spec
  if not y_spec.dtype.is_integer:
    raise ValueError(f"labels must be integers, got dtype {y_spec.dtype.name}")
  hasher, first, max_int, labels = _Hasher(), None, 0, []
  low, high = math.inf, -math.inf
  for x_chunk, y_chunk in _chunks(examples, None):
    labels.append(y_chunk.astype(np.int32))
    parts = x_chunk if isinstance(x_chunk, Mapping) else {"": x_chunk}
    for key, value in parts.items():
      _check_numeric(f" {key!r}" if key else "", value)
    max_int = max(max_int, _max_int(parts))
    low, high = min(low, y_chunk.min()), max(high, y_chunk.max())
    digest = hasher.update(x_chunk, y_chunk)
    first = digest if first is None else first
  if first is None:
    raise ValueError("empty data set: no examples")
  if low < 0 or high >= num_classes:
    raise ValueError(f"labels must lie in [0, {num_classes}), found values "
                     f"in [{low}, {high}]")
  again = next(iter(_chunks(examples, None)))
  if _Hasher().update(*again) != first:
    raise ValueError(
        "the tf.data input gave its examples in another order at a second "
        "reading (a shuffle that reshuffles each iteration, or a random map):"
        " the order is part of the code; shuffle once with a fixed seed and "
        "reshuffle_each_iteration=False")
  found = None
  if isinstance(x_spec, Mapping):
    found = _layout({k: tuple(s.shape) for k, s in x_spec.items()},
                    {k: s.dtype.as_numpy_dtype for k, s in x_spec.items()},
                    max_int)
    _check_layout(found, layout)
    found = layout or found
  elif layout is not None:
    _check_layout(None, layout)
  pack = found.pack_tensors if found else (lambda x: x)
  return LabelledData(n=hasher.n, num_classes=num_classes,
                      fingerprint=hasher.hexdigest(), layout=found,
                      y=np.concatenate(labels),
                      stream=examples.map(lambda x, y: pack(x)))
