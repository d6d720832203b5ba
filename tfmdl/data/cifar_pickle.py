"""Reader for CIFAR-10's python version, the folder ``cifar-10-batches-py``.

That folder is what ``keras.datasets.cifar10.load_data()`` caches: batches
``data_batch_1`` .. ``data_batch_5`` (training) and ``test_batch``, each a
pickled dict (protocol 2, written by Python 2) whose ``b"data"`` is a uint8
array of shape (m, 3072), a row holding a 32x32 image as 1024 red, 1024 green
then 1024 blue values in row-major order, and whose ``b"labels"`` is a list of
m ints in 0..9.

A pickle can run any code it names, so the files are read by an unpickler
that resolves only the three globals a NumPy array needs and refuses every
other, before anything runs; what it builds is then checked against the
format. A bad file is a one-line ValueError naming it.
"""

import os
import pickle

import numpy as np

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"

# Pixels of one row of b"data": 3 channels of 32x32.
_CHANNELS, _SIZE = 3, 32
_ROW = _CHANNELS * _SIZE * _SIZE
_NUM_CLASSES = 10

# numpy's array reconstructor, the callable numpy itself pickles arrays with;
# files written by NumPy < 2 (all real CIFAR-10 batches) name it in module
# numpy.core.multiarray, NumPy >= 2 in numpy._core.multiarray.
_RECONSTRUCT = np.empty(0).__reduce__()[0]

# The only globals a batch may name, and what each resolves to. Nothing is
# imported by name, so no module in a file can be loaded or run.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _RefusedGlobal(ValueError):
  """A batch named a global outside ``_ALLOWED_GLOBALS``."""


class _BatchUnpickler(pickle.Unpickler):
  """Unpickles a batch, resolving only ``_ALLOWED_GLOBALS``.

  Python 2's strings come back as bytes (``encoding="bytes"``), as the keys
  of a batch are spelled.
  """

  def __init__(self, file, path: str):
    super().__init__(file, encoding="bytes")
    self._path = path

  def find_class(self, module: str, name: str):
    """Returns an allowed global; raises _RefusedGlobal for any other."""
    try:
      return _ALLOWED_GLOBALS[(module, name)]
    except KeyError:
      raise _RefusedGlobal(
          f"{self._path}: refused to load global {module}.{name}: a CIFAR-10 "
          "batch names only NumPy's array globals") from None


def holds_batches(folder: str) -> bool:
  """Whether ``folder`` holds all six batch files."""
  return all(os.path.isfile(os.path.join(folder, f))
             for f in TRAIN_FILES + (TEST_FILE,))


def read_folder(
    folder: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
  """Reads the training and test batches of ``folder``.

  Returns:
    ``(x_train, y_train, x_test, y_test)``: uint8 images of shape
    (n, 32, 32, 3) and int64 labels in 0..9, in the files' order.

  Raises:
    ValueError: if a batch is truncated or corrupted, names a global other
      than NumPy's array globals, or does not have the format.
    OSError: if a batch cannot be opened (:func:`holds_batches` checks first).
  """
  train = [read_batch(os.path.join(folder, f)) for f in TRAIN_FILES]
  x_test, y_test = read_batch(os.path.join(folder, TEST_FILE))
  return (np.concatenate([x for x, _ in train]),
          np.concatenate([y for _, y in train]), x_test, y_test)


def read_batch(path: str) -> tuple[np.ndarray, np.ndarray]:
  """Reads one batch file into NHWC uint8 images and int64 labels.

  Raises:
    ValueError: as :func:`read_folder`.
  """
  with open(path, "rb") as f:
    try:
      batch = _BatchUnpickler(f, path).load()
    except _RefusedGlobal:
      raise
    # The file is untrusted: malformed pickles raise many kinds of exceptions
    # (EOFError, UnpicklingError, TypeError, IndexError, ...), all a refusal.
    except Exception as err:  # pylint: disable=broad-except
      cause = str(err).splitlines()[0] if str(err) else ""
      raise ValueError(f"{path}: truncated or corrupted pickle "
                       f"({type(err).__name__}: {cause})") from err
  data, labels = _check_batch(batch, path)
  images = data.reshape(-1, _CHANNELS, _SIZE, _SIZE).transpose(0, 2, 3, 1)
  return np.ascontiguousarray(images), labels


def _check_batch(batch, path: str) -> tuple[np.ndarray, np.ndarray]:
  """Returns the data and labels of ``batch`` after checking the format.

  Raises:
    ValueError: naming ``path`` and what is wrong.
  """
  if not isinstance(batch, dict) or not {b"data", b"labels"} <= batch.keys():
    raise ValueError(f"{path}: not a CIFAR-10 batch (expected a dict with "
                     "keys b'data' and b'labels')")
  data = batch[b"data"]
  if (not isinstance(data, np.ndarray) or data.dtype != np.uint8
      or data.ndim != 2 or data.shape[1] != _ROW):
    described = (f"{data.dtype} array of shape {data.shape}"
                 if isinstance(data, np.ndarray) else type(data).__name__)
    raise ValueError(f"{path}: b'data' must be a uint8 array of shape "
                     f"(m, {_ROW}), got {described}")
  labels = batch[b"labels"]
  problem = _labels_problem(labels, len(data))
  if problem:
    raise ValueError(f"{path}: b'labels' must be a list of {len(data)} ints "
                     f"in 0..{_NUM_CLASSES - 1}, got {problem}")
  return data, np.array(labels, dtype=np.int64)


def _labels_problem(labels, count: int) -> str | None:
  """What is wrong with ``labels`` as ``count`` class indices, or None."""
  if not isinstance(labels, list):
    return type(labels).__name__
  if len(labels) != count:
    return f"a list of {len(labels)}"
  for y in labels:
    if (not isinstance(y, int) or isinstance(y, bool)
        or not 0 <= y < _NUM_CLASSES):
      return f"the value {y!r:.40}"
  return None
