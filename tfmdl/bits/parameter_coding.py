"""Parameter coding: quantise weights and write them as a decodable bitstream.

A two-part code transmits the model before the labels, so its model part must
be a real message that Bob can decode. This module makes that message for the
network-compression code (paper, section 3.2) and for the random-subspace code
(appendix B):

* :func:`kmeans_codebook` / :func:`uniform_codebook`: per-tensor codebooks of
  at most ``2**bits`` levels (k-means as in Han et al. 2015, linear init), with
  optional pruning (a share of the smallest weights set to an exact 0 level);
* :func:`encode_tensors` / :func:`decode_tensors`: a bitstream of quantised
  tensors, the indices entropy-coded with ``constriction``'s range coder under
  each tensor's empirical index frequencies;
* :func:`encode_vector` / :func:`decode_vector`: a vector at a fixed
  precision of ``p`` bits per number (uniform levels over its range).

Tensor bitstream, format version 1 (little-endian)::

    b"TFMQ"                                 magic, 4 bytes
    uint8   format version (1)
    uint8   frequency precision F (16)
    uint32  number of tensors T
    T times:
      uint8   ndim, then uint32 * ndim       shape
      uint32  codebook size K (1 .. 65536)
      float32 * K                            codebook (levels in use, sorted)
      uint16 * K (only when K > 1)           frequency of each level, scaled to
                                             [1, 2**F - 1]
    uint32 * W   range-coder words: every tensor's indices in row-major order,
                 tensor after tensor, each under the categorical model of its
                 frequencies (a tensor with K = 1 codes nothing)
    uint32  CRC-32 of all the bytes before it

The model part of a code is ``8 * len(bitstream)``: header, codebooks,
frequencies, payload and checksum, nothing left out. The checksum turns a
corrupted or truncated stream into an error instead of wrong weights.
"""

import dataclasses
import math
import struct
import zlib
from typing import Optional, Sequence

import constriction
import numpy as np

MAGIC = b"TFMQ"
FORMAT_VERSION = 1
FREQUENCY_BITS = 16
MAX_BITS = 16
MAX_PRECISION = 32
_FREQ_MAX = 2**FREQUENCY_BITS - 1
_KMEANS_ITERATIONS = 100


def check_bits(bits: int) -> int:
  """``bits`` (bits per index) as an int in 1..16, or ValueError."""
  if int(bits) != bits or not 1 <= bits <= MAX_BITS:
    raise ValueError(f"bits per weight must be an integer in 1..{MAX_BITS}, "
                     f"got {bits}")
  return int(bits)


def check_precision(precision: int) -> int:
  """``precision`` (bits per number) as an int in 1..32, or ValueError."""
  if int(precision) != precision or not 1 <= precision <= MAX_PRECISION:
    raise ValueError(f"precision must be an integer in 1..{MAX_PRECISION} "
                     f"bits, got {precision}")
  return int(precision)


@dataclasses.dataclass(frozen=True)
class QuantizedTensor:
  """A tensor as codebook levels and one level index per entry.

  Attributes:
    shape: the tensor's shape.
    codebook: float32 levels, sorted, each used at least once.
    indices: int32 level indices, row-major, ``len == prod(shape)``.
  """
  shape: tuple
  codebook: np.ndarray
  indices: np.ndarray

  def values(self) -> np.ndarray:
    """The quantised tensor (float32), what Bob rebuilds."""
    return self.codebook[self.indices].reshape(self.shape)


def _check_values(values) -> np.ndarray:
  arr = np.asarray(values, dtype=np.float32).ravel()
  if arr.size == 0:
    raise ValueError("cannot quantise an empty tensor")
  if not np.all(np.isfinite(arr)):
    raise ValueError("cannot quantise a tensor with NaN or inf")
  return arr


def _lloyd_1d(sorted_values: np.ndarray, centres: np.ndarray,
              iterations: int) -> np.ndarray:
  """Lloyd's k-means on sorted 1-D data: O(K log n) per iteration."""
  cumsum = np.concatenate([[0.0], np.cumsum(sorted_values)])
  n = sorted_values.size
  for _ in range(iterations):
    splits = np.searchsorted(sorted_values, (centres[1:] + centres[:-1]) / 2)
    starts = np.concatenate([[0], splits])
    ends = np.concatenate([splits, [n]])
    counts = ends - starts
    sums = cumsum[ends] - cumsum[starts]
    new = np.where(counts > 0, sums / np.maximum(counts, 1), centres)
    if np.array_equal(new, centres):
      break
    centres = new
  return centres


def _kmeans_levels(arr: np.ndarray, levels: int,
                   iterations: int) -> np.ndarray:
  distinct = np.unique(arr)
  if distinct.size <= levels:
    return distinct
  sorted_values = np.sort(arr).astype(np.float64)
  centres = np.linspace(sorted_values[0], sorted_values[-1], levels)
  centres = _lloyd_1d(sorted_values, centres, iterations)
  return np.unique(centres.astype(np.float32))


def prune_threshold(values, fraction: float) -> float:
  """The magnitude at or below which a ``fraction`` of ``values`` lies."""
  if not 0.0 < fraction < 1.0:
    raise ValueError(f"prune_fraction must be in (0, 1), got {fraction}")
  return float(np.quantile(np.abs(_check_values(values)), fraction))


def kmeans_codebook(values, bits: int, *, prune_below: Optional[float] = None,
                    iterations: int = _KMEANS_ITERATIONS) -> np.ndarray:
  """At most ``2**bits`` float32 levels fitted by 1-D k-means (Lloyd).

  Centres start evenly spaced between the minimum and the maximum (Han et al.
  2015, "linear initialisation"). A tensor with at most ``2**bits`` distinct
  values gets exactly those values. With ``prune_below`` (a magnitude), the
  entries with ``abs(value) <= prune_below`` are pruned to an exact 0 level
  and k-means fits the other ``2**bits - 1`` levels to the rest.
  """
  bits = check_bits(bits)
  arr = _check_values(values)
  if prune_below is None:
    return _kmeans_levels(arr, 2**bits, iterations)
  keep = arr[np.abs(arr) > prune_below]
  rest = (_kmeans_levels(keep, 2**bits - 1, iterations) if keep.size
          else np.zeros(0, np.float32))
  return np.unique(np.concatenate([[0.0], rest]).astype(np.float32))


def uniform_codebook(values, bits: int) -> np.ndarray:
  """``2**bits`` float32 levels evenly spaced from the minimum to the maximum
  (fewer when the tensor has fewer distinct values: then exactly those)."""
  bits = check_bits(bits)
  arr = _check_values(values)
  distinct = np.unique(arr)
  if distinct.size <= 2**bits:
    return distinct
  return np.unique(np.linspace(float(arr.min()), float(arr.max()),
                               2**bits).astype(np.float32))


def quantize(values, codebook: np.ndarray, *,
             prune_below: Optional[float] = None) -> QuantizedTensor:
  """Map every entry to its nearest level; drop levels nobody uses.

  Args:
    values: the tensor.
    codebook: sorted float32 levels.
    prune_below: entries with ``abs(value) <= prune_below`` go to the level
      0 (which the codebook must contain), whatever is nearest.
  """
  arr = np.asarray(values, dtype=np.float32)
  flat = _check_values(arr)
  codebook = np.asarray(codebook, np.float32)
  if codebook.ndim != 1 or codebook.size == 0 or np.any(
      np.diff(codebook) <= 0):
    raise ValueError("codebook must be a non-empty, strictly increasing "
                     "1-D array")
  mids = (codebook[1:].astype(np.float64) + codebook[:-1]) / 2
  idx = np.searchsorted(mids, flat.astype(np.float64))
  if prune_below is not None:
    zero = np.searchsorted(codebook, 0.0)
    if zero >= codebook.size or codebook[zero] != 0.0:
      raise ValueError("pruning needs 0 in the codebook")
    idx[np.abs(flat) <= prune_below] = zero
  used, idx = np.unique(idx, return_inverse=True)
  return QuantizedTensor(shape=arr.shape, codebook=codebook[used],
                         indices=idx.astype(np.int32).ravel())


def quantize_tensor(values, bits: int, *, method: str = "kmeans",
                    prune_fraction: float = 0.0) -> QuantizedTensor:
  """Quantise one tensor with its own codebook of at most ``2**bits`` levels.

  Args:
    values: the tensor.
    bits: bits per index, 1..16.
    method: ``"kmeans"`` or ``"uniform"``.
    prune_fraction: share of the smallest-magnitude weights set to exactly 0
      (``kmeans`` only); 0 prunes nothing.
  """
  if method not in ("kmeans", "uniform"):
    raise ValueError(f"unknown quantisation method {method!r}; known: kmeans, "
                     "uniform")
  if not 0.0 <= prune_fraction < 1.0:
    raise ValueError(f"prune_fraction must be in [0, 1), got {prune_fraction}")
  if method == "uniform":
    if prune_fraction:
      raise ValueError("pruning needs method='kmeans'")
    return quantize(values, uniform_codebook(values, bits))
  threshold = (prune_threshold(values, prune_fraction) if prune_fraction
               else None)
  codebook = kmeans_codebook(values, bits, prune_below=threshold)
  return quantize(values, codebook, prune_below=threshold)


def frequencies(indices: np.ndarray, size: int) -> np.ndarray:
  """Level counts scaled to integers in [1, 2**16 - 1] (the header's table).

  Every level in use gets at least 1, so every index stays encodable.
  """
  counts = np.bincount(indices, minlength=size).astype(np.float64)
  if np.any(counts == 0):
    raise ValueError("every codebook level must be used")
  scaled = np.rint(counts / counts.sum() * _FREQ_MAX)
  return np.clip(scaled, 1, _FREQ_MAX).astype(np.uint16)


def _categorical(freqs: np.ndarray):
  probabilities = freqs.astype(np.float64) / float(freqs.sum())
  return constriction.stream.model.Categorical(probabilities, perfect=False)


def encode_tensors(tensors: Sequence[QuantizedTensor]) -> bytes:
  """The bitstream of ``tensors`` (format in the module docstring)."""
  header = [MAGIC, struct.pack("<BBI", FORMAT_VERSION, FREQUENCY_BITS,
                               len(tensors))]
  encoder = constriction.stream.queue.RangeEncoder()
  for t in tensors:
    size = t.codebook.size
    if size < 1 or size > 2**MAX_BITS:
      raise ValueError(f"codebook size must be in 1..{2**MAX_BITS}, got {size}")
    if t.indices.size != math.prod(t.shape):
      raise ValueError(f"{t.indices.size} indices for shape {t.shape}")
    header.append(struct.pack(f"<B{len(t.shape)}I", len(t.shape), *t.shape))
    header.append(struct.pack("<I", size))
    header.append(np.asarray(t.codebook, "<f4").tobytes())
    if size > 1:
      freqs = frequencies(t.indices, size)
      header.append(freqs.astype("<u2").tobytes())
      encoder.encode(np.asarray(t.indices, np.int32), _categorical(freqs))
  body = b"".join(header) + encoder.get_compressed().astype("<u4").tobytes()
  return body + struct.pack("<I", zlib.crc32(body))


class _Reader:
  """Reads little-endian fields; running out of bytes is a ValueError."""

  def __init__(self, data: bytes, end: int):
    self._data, self.pos, self._end = data, 0, end

  def take(self, fmt: str) -> tuple:
    size = struct.calcsize(fmt)
    if self.pos + size > self._end:
      raise ValueError("corrupted bitstream: header ends early")
    out = struct.unpack_from(fmt, self._data, self.pos)
    self.pos += size
    return out

  def array(self, dtype: str, count: int) -> np.ndarray:
    size = np.dtype(dtype).itemsize * count
    if self.pos + size > self._end:
      raise ValueError("corrupted bitstream: header ends early")
    out = np.frombuffer(self._data, dtype, count, self.pos)
    self.pos += size
    return out


def decode_tensors(data: bytes) -> list:
  """Rebuild the quantised tensors (float32 arrays) from the bytes alone.

  Raises:
    ValueError: on a stream that is not a version-1 tensor bitstream, or that
      is truncated or corrupted (checksum mismatch).
  """
  data = bytes(data)
  if len(data) < len(MAGIC) + 10 or data[:len(MAGIC)] != MAGIC:
    raise ValueError("not a tfmdl tensor bitstream (bad magic or too short)")
  body, (crc,) = data[:-4], struct.unpack("<I", data[-4:])
  if zlib.crc32(body) != crc:
    raise ValueError("corrupted or truncated bitstream: checksum mismatch")
  reader = _Reader(body, len(body))
  reader.pos = len(MAGIC)
  version, freq_bits, count = reader.take("<BBI")
  if version != FORMAT_VERSION or freq_bits != FREQUENCY_BITS:
    raise ValueError(f"unsupported bitstream format version {version} "
                     f"(frequency precision {freq_bits})")
  layouts = []
  for _ in range(count):
    (ndim,) = reader.take("<B")
    shape = reader.take(f"<{ndim}I")
    (size,) = reader.take("<I")
    if not 1 <= size <= 2**MAX_BITS:
      raise ValueError(f"corrupted bitstream: codebook size {size}")
    codebook = reader.array("<f4", size).astype(np.float32)
    freqs = reader.array("<u2", size) if size > 1 else None
    if freqs is not None and np.any(freqs == 0):
      raise ValueError("corrupted bitstream: zero frequency")
    layouts.append((tuple(shape), codebook, freqs))
  if (len(body) - reader.pos) % 4:
    raise ValueError("corrupted bitstream: payload is not whole 32-bit words")
  words = np.frombuffer(body, "<u4", offset=reader.pos).astype(np.uint32)
  decoder = constriction.stream.queue.RangeDecoder(words)
  out = []
  for shape, codebook, freqs in layouts:
    n = math.prod(shape)
    if freqs is None:
      indices = np.zeros(n, np.int32)
    else:
      indices = np.asarray(decoder.decode(_categorical(freqs), n), np.int32)
    out.append(codebook[indices].reshape(shape))
  return out


def encode_vector(z, precision: int) -> bytes:
  """``z`` at ``precision`` bits per number.

  ``precision == 32``: the float32 values themselves, ``4 * len(z)`` bytes.
  Otherwise: float32 ``lo = min(z)`` and ``hi = max(z)`` (8 bytes), then for
  every number the integer ``q = round((z - lo) / step)`` in
  ``[0, 2**precision - 1]``, ``step = (hi - lo) / (2**precision - 1)``, as
  ``precision`` bits, big-endian, packed and padded with zeros to whole bytes:
  ``8 + ceil(precision * len(z) / 8)`` bytes. The length of z is agreed.
  """
  precision = check_precision(precision)
  z = np.asarray(z, np.float32).ravel()
  if not np.all(np.isfinite(z)):
    raise ValueError("cannot encode a vector with NaN or inf")
  if precision == MAX_PRECISION:
    return z.astype("<f4").tobytes()
  lo, hi = (z.min(), z.max()) if z.size else (np.float32(0), np.float32(0))
  step = _step(lo, hi, precision)
  q = (np.rint((z.astype(np.float64) - float(lo)) / step).astype(np.uint64)
       if step > 0 else np.zeros(z.size, np.uint64))
  q = np.minimum(q, 2**precision - 1)
  bits = np.unpackbits(q.astype(">u4").view(np.uint8).reshape(-1, 4), axis=1)
  return (np.array([lo, hi], "<f4").tobytes() +
          np.packbits(bits[:, 32 - precision:].ravel()).tobytes())


def _step(lo, hi, precision: int) -> float:
  return (float(hi) - float(lo)) / (2**precision - 1)


def decode_vector(data: bytes, size: int, precision: int) -> np.ndarray:
  """The float32 vector of :func:`encode_vector`, from its bytes."""
  precision = check_precision(precision)
  if len(data) != vector_bytes(size, precision):
    raise ValueError(f"a vector of {size} numbers at {precision} bits takes "
                     f"{vector_bytes(size, precision)} bytes, got {len(data)}")
  if precision == MAX_PRECISION:
    return np.frombuffer(data, "<f4").astype(np.float32)
  lo, hi = np.frombuffer(data[:8], "<f4")
  bits = np.unpackbits(np.frombuffer(data[8:], np.uint8))[:size * precision]
  bits = bits.reshape(size, precision)
  weights = 2**np.arange(precision - 1, -1, -1, dtype=np.uint64)
  q = (bits.astype(np.uint64) * weights).sum(axis=1)
  return (float(lo) + q.astype(np.float64) * _step(lo, hi, precision)
          ).astype(np.float32)


def vector_bytes(size: int, precision: int) -> int:
  """Length in bytes of :func:`encode_vector` of ``size`` numbers."""
  precision = check_precision(precision)
  if precision == MAX_PRECISION:
    return 4 * size
  return 8 + math.ceil(precision * size / 8)
