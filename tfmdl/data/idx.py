"""Reader for the IDX format of MNIST and Fashion-MNIST, gzipped or not.

An IDX file is a 4-byte magic (two zero bytes, a dtype code, the number of
dimensions), one big-endian uint32 per dimension, then the values in row-major
order, big-endian. The header fixes the exact size of the file, so a truncated,
padded or corrupted file is refused instead of silently read as other data.
"""

import gzip
import os
import zlib

import numpy as np

_GZIP_MAGIC = b"\x1f\x8b"

# IDX dtype codes and the big-endian NumPy types they stand for.
_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
  """Reads one IDX file (``.gz`` or not) into an array in native byte order.

  Gzip is recognised by its magic bytes, not by the file name.

  Args:
    path: the IDX file.

  Returns:
    An array with the file's dimensions and dtype (uint8 for MNIST images and
    labels).

  Raises:
    ValueError: if the file is not valid gzip, not IDX, or its size does not
      match its header (truncated or with trailing bytes).
  """
  with open(path, "rb") as f:
    data = f.read()
  if data[:2] == _GZIP_MAGIC:
    try:
      data = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as err:
      raise ValueError(
          f"{path}: truncated or corrupted gzip data ({err})") from err
  if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] not in _DTYPES:
    raise ValueError(f"{path}: not an IDX file (bad magic {data[:4]!r})")
  dtype, ndim = _DTYPES[data[2]], data[3]
  header_size = 4 + 4 * ndim
  if ndim == 0 or len(data) < header_size:
    raise ValueError(f"{path}: truncated or invalid IDX header")
  shape = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, offset=4))
  expected = header_size + int(np.prod(shape)) * dtype.itemsize
  if len(data) != expected:
    raise ValueError(
        f"{path}: IDX header of shape {shape} needs {expected} bytes, "
        f"file has {len(data)} (truncated or trailing bytes)")
  values = np.frombuffer(data, dtype, offset=header_size).reshape(shape)
  return values.astype(dtype.newbyteorder("="))
