"""Labelled examples in TFRecord files, read as a stream in a fixed order.

A data set too large for memory lives on disk and is read in order, as the
prequential codes need it (:mod:`tfmdl.data.labelled`: a ``tf.data`` stream
of ``(x, y)`` pairs). The format is one folder::

    tfmdl_tfrecord.json              what the records hold, and the splits
    train-00000-of-00008.tfrecord    the train split's shards, in order
    test-00000-of-00001.tfrecord     a test split (optional)

Each record is a ``tf.train.Example`` with ``x``, the input's raw values
(bytes, C order, of the stored dtype: ``uint8`` images take a quarter of
float32's room) and ``y``, the integer label. The JSON file names the
input's shape and dtype, the number of classes, a ``scale`` that inputs are
divided by when read (255 for images stored as bytes; null keeps the stored
values) and, per split, its shards and number of examples. The order of the
examples is the order of the shards and of the records in them: write them
in the agreed (shuffled) order.

Example::

    write(folder, "train", batches, input_shape=(28, 28, 1), dtype="uint8",
          num_classes=10, scale=255.0)       # batches: (x, y) arrays
    stream = read(folder, "train")           # tf.data of (float32 x, y)
    tfmdl.description_length(model, stream, code="online", replay_memory=65536)

``tfmdl.data.load("tfrecord", data_dir=folder)`` reads the folder as a data
set of the registry (what ``bin/prequential --config.dataset=tfrecord
--config.data_dir=folder`` codes).
"""

import dataclasses
import os
from typing import Iterable, Optional

import numpy as np
import tensorflow as tf

from tfmdl import results
from tfmdl.data import labelled

META = "tfmdl_tfrecord.json"
FORMAT = "tfmdl-tfrecord-v1"
# Records parsed per call of the parser (parsing a batch is cheaper).
_PARSE_BATCH = 256


@dataclasses.dataclass(frozen=True)
class Meta:
  """What a folder's records hold (its ``tfmdl_tfrecord.json``)."""
  input_shape: tuple
  dtype: str
  num_classes: int
  scale: Optional[float]
  splits: dict  # split -> {"files": [...], "n": int}


def read_meta(folder: str) -> Meta:
  """The folder's :class:`Meta`.

  Raises:
    ValueError: if the folder holds no such data set.
  """
  path = os.path.join(folder, META)
  if not os.path.isfile(path):
    raise ValueError(f"{folder} holds no TFRecord data set (no {META}); "
                     "write one with tfmdl.data.tfrecord.write")
  record = results.read_json(path)
  if record.get("format") != FORMAT:
    raise ValueError(f"{path} is not a {FORMAT} description")
  return Meta(input_shape=tuple(record["input_shape"]),
              dtype=record["dtype"], num_classes=int(record["num_classes"]),
              scale=record["scale"], splits=record["splits"])


def read(folder: str, split: str = "train") -> tf.data.Dataset:
  """The split's ``(x, y)`` examples in order: ``x`` float32 divided by the
  scale (or as stored, without one), ``y`` int64.

  Raises:
    ValueError: if the folder or the split is missing.
  """
  meta = read_meta(folder)
  if split not in meta.splits:
    raise ValueError(f"{folder} has no split {split!r}; it has "
                     f"{', '.join(sorted(meta.splits))}")
  files = [os.path.join(folder, f) for f in meta.splits[split]["files"]]
  features = {"x": tf.io.FixedLenFeature([], tf.string),
              "y": tf.io.FixedLenFeature([], tf.int64)}
  shape, dtype, scale = list(meta.input_shape), tf.as_dtype(meta.dtype), (
      meta.scale)

  def decode(records):
    parsed = tf.io.parse_example(records, features)
    x = tf.reshape(tf.io.decode_raw(parsed["x"], dtype), [-1] + shape)
    if scale is not None:
      x = tf.cast(x, tf.float32) / scale
    return x, parsed["y"]

  return (tf.data.TFRecordDataset(files)
          .batch(_PARSE_BATCH)
          .map(decode, num_parallel_calls=tf.data.AUTOTUNE,
               deterministic=True)
          .unbatch())


def size(folder: str, split: str = "train") -> int:
  """The number of examples of a split."""
  return int(read_meta(folder).splits[split]["n"])


def write(folder: str, split: str, batches: Iterable[tuple], *,
          input_shape: tuple, dtype: str, num_classes: int,
          scale: Optional[float] = None,
          examples_per_shard: int = 131072) -> int:
  """Write a split: ``batches`` of ``(x, y)`` arrays, in order, into shards
  of ``examples_per_shard``; then record it in the folder's JSON file (other
  splits kept). Returns the number of examples.

  Raises:
    ValueError: for inputs of another shape, labels outside ``[0,
      num_classes)``, or no example.
  """
  os.makedirs(folder, exist_ok=True)
  input_shape, dtype = tuple(input_shape), np.dtype(dtype)
  paths, n, writer = [], 0, None
  try:
    for x, y in batches:
      x, y = np.asarray(x), np.asarray(y)
      if x.shape[1:] != input_shape or len(x) != len(y):
        raise ValueError(f"a batch of inputs {x.shape} and labels {y.shape} "
                         f"does not fit the shape {input_shape}")
      if len(y) and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes})")
      x = np.ascontiguousarray(x, dtype)
      for i in range(len(y)):
        if n % examples_per_shard == 0:
          if writer is not None:
            writer.close()
          paths.append(f"{split}-{len(paths):05d}.tfrecord")
          writer = tf.io.TFRecordWriter(os.path.join(folder, paths[-1]))
        writer.write(tf.train.Example(features=tf.train.Features(feature={
            "x": tf.train.Feature(bytes_list=tf.train.BytesList(
                value=[x[i].tobytes()])),
            "y": tf.train.Feature(int64_list=tf.train.Int64List(
                value=[int(y[i])]))})).SerializeToString())
        n += 1
  finally:
    if writer is not None:
      writer.close()
  if n == 0:
    raise ValueError(f"no example to write in split {split!r}")
  count = len(paths)
  files = [f"{split}-{i:05d}-of-{count:05d}.tfrecord" for i in range(count)]
  for old, new in zip(paths, files):
    os.replace(os.path.join(folder, old), os.path.join(folder, new))
  path = os.path.join(folder, META)
  splits = (results.read_json(path)["splits"] if os.path.isfile(path)
            else {})
  splits[split] = {"files": files, "n": n}
  results.write_json(path, {
      "format": FORMAT, "input_shape": list(input_shape),
      "dtype": dtype.name, "num_classes": num_classes, "scale": scale,
      "splits": splits})
  return n


def load(folder: Optional[str], *, num_classes: Optional[int] = None,
         num_train: Optional[int] = None, num_test: Optional[int] = None,
         random_labels: bool = False,
         random_labels_seed: Optional[int] = None) -> "StreamDataset":
  """The folder's data set: its train split a stream, its test split (if
  any) arrays.

  Args:
    folder: the data set's folder.
    num_classes: K; None for the folder's.
    num_train, num_test: keep the first examples of each split.
    random_labels: replace the training labels by uniform random ones, drawn
      with ``np.random.default_rng(random_labels_seed or 1)``.

  Raises:
    ValueError: for a missing folder or split, or sizes out of range.
  """
  if not folder:
    raise ValueError("the tfrecord data set is a folder: pass data_dir")
  meta = read_meta(folder)
  num_classes = num_classes or meta.num_classes
  n = _subset("num_train", num_train, size(folder, "train"))
  train = read(folder, "train").take(n)
  if random_labels:
    seed = 1 if random_labels_seed is None else random_labels_seed
    labels = np.random.default_rng(seed).integers(0, num_classes, n)
    train = tf.data.Dataset.zip((train.map(lambda x, y: x),
                                 tf.data.Dataset.from_tensor_slices(labels)))
  x_test = y_test = None
  if "test" in meta.splits:
    m = _subset("num_test", num_test, size(folder, "test"))
    x_test, y_test = labelled.labelled(read(folder, "test").take(m),
                                       num_classes=num_classes).arrays()
  return StreamDataset(
      name="tfrecord", train=labelled.labelled(train, num_classes=num_classes),
      x_test=x_test, y_test=y_test, num_classes=num_classes,
      input_shape=meta.input_shape, random_labels=random_labels,
      source=os.path.abspath(folder))


def _subset(label: str, wanted: Optional[int], available: int) -> int:
  if wanted is None:
    return available
  if not 1 <= wanted <= available:
    raise ValueError(f"{label}={wanted} but the split has {available} "
                     "examples")
  return wanted


@dataclasses.dataclass(frozen=True, eq=False)
class StreamDataset:
  """A data set whose training examples are a stream (what
  :class:`tfmdl.data.Dataset` is for arrays, with the same attributes).

  Attributes:
    train: the training examples (:class:`~tfmdl.data.LabelledData`, a
      stream in the files' order).
    x_test, y_test: the test split as arrays, or None.
    order_seed: 0: the order is the files'.
  """
  name: str
  train: labelled.LabelledData
  x_test: Optional[np.ndarray]
  y_test: Optional[np.ndarray]
  num_classes: int
  input_shape: tuple
  random_labels: bool
  source: str
  order_seed: int = 0

  @property
  def y_train(self) -> np.ndarray:
    return self.train.y

  @property
  def x_train(self) -> np.ndarray:
    """The training inputs read into memory (for the codes that need
    arrays)."""
    return self.train.inputs(0, self.train.n)

  def fingerprint(self) -> str:
    return self.train.fingerprint
