"""Tests of tfmdl.data.cifar_pickle: CIFAR-10's python batches, read safely.

The fake folders here are written the way the real ones were: Python 2's
cPickle, protocol 2, a dict whose keys and strings are Python 2 ``str`` (bytes
once loaded) and whose images are a NumPy uint8 array that names
``numpy.core.multiarray._reconstruct``.
"""

import os
import pickle
import struct

import numpy as np
import pytest

import tfmdl.data
from tfmdl.data import cifar_pickle
from tfmdl.data import sources

_PY2_RECONSTRUCT = "numpy.core.multiarray"


class _Py2Pickler(pickle._Pickler):  # pylint: disable=protected-access
  """Pickles like Python 2: strings as ``str`` (BINSTRING), not ``_codecs``.

  Python 3 pickles bytes at protocol 2 through ``_codecs.encode``, a global
  the real files never name; the pure-Python pickler lets the opcodes be
  chosen. NumPy's reconstructor is named in ``reconstruct_module``.
  """
  dispatch = dict(pickle._Pickler.dispatch)  # pylint: disable=protected-access

  def __init__(self, file, reconstruct_module: str):
    super().__init__(file, protocol=2)
    self.reconstruct_module = reconstruct_module

  def save_py2_str(self, obj):
    data = obj.encode("latin1") if isinstance(obj, str) else obj
    if len(data) < 256:
      self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
    else:
      self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
    self.memoize(obj)

  dispatch[bytes] = save_py2_str
  dispatch[str] = save_py2_str

  def save_global(self, obj, name=None):
    del name
    module = (self.reconstruct_module if obj.__name__ == "_reconstruct"
              else obj.__module__)
    self.write(pickle.GLOBAL + f"{module}\n{obj.__name__}\n".encode())
    self.memoize(obj)


def _write_batch(path, batch, reconstruct_module=_PY2_RECONSTRUCT) -> str:
  with open(path, "wb") as f:
    _Py2Pickler(f, reconstruct_module).dump(batch)
  return str(path)


def _batch(images: np.ndarray, labels) -> dict:
  """A batch dict as in the real files, from NHWC uint8 ``images``."""
  rows = images.transpose(0, 3, 1, 2).reshape(len(images), 3072)
  return {b"batch_label": b"fake batch", b"labels": list(labels),
          b"data": rows, b"filenames": [b"%d.png" % i for i in labels]}


def _write_folder(folder, sizes=(2, 3, 1, 2, 2), num_test=3, seed=0,
                  reconstruct_module=_PY2_RECONSTRUCT):
  """Writes a tiny cifar-10-batches-py; returns the (images, labels) written.

  The images are listed per file, training batches first, then the test one.
  """
  rng = np.random.default_rng(seed)
  os.makedirs(folder, exist_ok=True)
  written = []
  for name, size in zip(cifar_pickle.TRAIN_FILES + (cifar_pickle.TEST_FILE,),
                        sizes + (num_test,)):
    images = rng.integers(0, 256, (size, 32, 32, 3), dtype=np.uint8)
    labels = [int(y) for y in rng.integers(0, 10, size)]
    _write_batch(os.path.join(folder, name), _batch(images, labels),
                 reconstruct_module)
    written.append((images, labels))
  with open(os.path.join(folder, "batches.meta"), "wb") as f:
    _Py2Pickler(f, reconstruct_module).dump(
        {b"label_names": [b"airplane"], b"num_vis": 3072})
  return written


def _one_line_error(excinfo) -> str:
  message = str(excinfo.value)
  assert "\n" not in message
  return message


@pytest.fixture
def no_keras_cache(monkeypatch):
  """No CIFAR-10 copy outside the test's folders."""
  monkeypatch.setitem(sources.LOCAL_SOURCES, "cifar10", ())


# Reading


@pytest.mark.parametrize("reconstruct_module",
                         ["numpy.core.multiarray", "numpy._core.multiarray"])
def test_pixel_layout_and_labels(tmp_path, reconstruct_module):
  folder = tmp_path / "cifar-10-batches-py"
  written = _write_folder(folder, reconstruct_module=reconstruct_module)
  # One hand-built row of data_batch_2: 1024 red, 1024 green, 1024 blue.
  red = (np.arange(1024) % 251).astype(np.uint8)
  green = np.full(1024, 7, np.uint8)
  blue = (255 - np.arange(1024) % 256).astype(np.uint8)
  row = np.concatenate([red, green, blue])
  batch = _batch(written[1][0], written[1][1])
  batch[b"data"][1] = row
  _write_batch(folder / "data_batch_2", batch, reconstruct_module)

  x_train, y_train, x_test, y_test = cifar_pickle.read_folder(str(folder))

  assert x_train.shape == (10, 32, 32, 3) and x_train.dtype == np.uint8
  assert x_test.shape == (3, 32, 32, 3)
  image = x_train[2 + 1]  # data_batch_1 holds 2 images.
  for r, c in [(0, 0), (0, 31), (3, 5), (31, 0), (31, 31)]:
    assert image[r, c, 0] == red[32 * r + c]
    assert image[r, c, 1] == 7
    assert image[r, c, 2] == blue[32 * r + c]
  np.testing.assert_array_equal(image[..., 0], red.reshape(32, 32))
  np.testing.assert_array_equal(image[..., 2], blue.reshape(32, 32))
  others = np.delete(x_train, 3, axis=0)
  np.testing.assert_array_equal(
      others, np.delete(np.concatenate([w[0] for w in written[:5]]), 3, 0))
  np.testing.assert_array_equal(x_test, written[5][0])
  np.testing.assert_array_equal(y_train, sum((w[1] for w in written[:5]), []))
  np.testing.assert_array_equal(y_test, written[5][1])
  assert y_train.dtype == np.int64


def test_load_reads_the_folder_in_data_dir(tmp_path, no_keras_cache):
  del no_keras_cache
  folder = tmp_path / "cifar-10-batches-py"
  written = _write_folder(folder)
  for data_dir in (tmp_path, folder):
    data = tfmdl.data.load("cifar10", seed=3, data_dir=str(data_dir))
    assert data.source == str(folder)
    assert data.x_train.shape == (10, 32, 32, 3)
    assert data.x_test.shape == (3, 32, 32, 3)
    assert data.input_shape == (32, 32, 3) and data.num_classes == 10
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int32
    # The registry's preprocessing: /255, then per-channel training statistics.
    raw_train = np.concatenate([w[0] for w in written[:5]]) / 255
    mean, std = raw_train.mean(axis=(0, 1, 2)), raw_train.std(axis=(0, 1, 2))
    np.testing.assert_allclose(data.x_test, (written[5][0] / 255 - mean) / std,
                               atol=1e-5)
    order = np.random.default_rng(3).permutation(10)
    np.testing.assert_allclose(data.x_train, ((raw_train - mean) / std)[order],
                               atol=1e-5)
    labels = np.array(sum((w[1] for w in written[:5]), []))
    np.testing.assert_array_equal(data.y_train, labels[order])


@pytest.mark.parametrize("cache", [
    ".keras/datasets/cifar-10-batches-py",  # tf_keras
    ".keras/datasets/cifar-10-batches-py-target/cifar-10-batches-py",  # Keras 3
])
def test_load_finds_keras_cache_by_default(tmp_path, monkeypatch, cache):
  monkeypatch.setenv("HOME", str(tmp_path))
  _write_folder(tmp_path / cache)
  data = tfmdl.data.load("cifar10", data_dir=str(tmp_path / "elsewhere"))
  assert data.source == str(tmp_path / cache)
  assert data.x_train.shape == (10, 32, 32, 3)


def test_a_folder_without_all_batches_is_not_a_copy(tmp_path, no_keras_cache):
  del no_keras_cache
  folder = tmp_path / "cifar-10-batches-py"
  _write_folder(folder)
  assert cifar_pickle.holds_batches(str(folder))
  os.remove(folder / "test_batch")
  assert not cifar_pickle.holds_batches(str(folder))
  assert sources.read_local("cifar10", str(tmp_path)) is None


# Refusals


class _Payload:
  """Unpickled, creates the file ``marker`` through ``builtins.eval``."""

  def __init__(self, marker):
    self.marker = str(marker)

  def __reduce__(self):
    return eval, (f"open({self.marker!r}, 'w').close()",)


def test_a_pickle_naming_another_global_is_refused_unrun(tmp_path,
                                                         no_keras_cache):
  del no_keras_cache
  folder = tmp_path / "cifar-10-batches-py"
  written = _write_folder(folder)
  marker = tmp_path / "payload_ran"
  batch = _batch(*written[0])
  batch[b"labels"] = _Payload(marker)
  path = _write_batch(folder / "data_batch_1", batch)

  with pytest.raises(ValueError) as excinfo:
    tfmdl.data.load("cifar10", data_dir=str(tmp_path))
  message = _one_line_error(excinfo)
  assert path in message and "builtins.eval" in message
  assert not marker.exists()
  # The payload is live: an ordinary unpickler runs it.
  with open(path, "rb") as f:
    pickle.load(f, encoding="bytes")  # nosec: the test's own file.
  assert marker.exists()


@pytest.mark.parametrize("module, name", [
    ("posix", "system"), ("os", "system"), ("numpy", "load"),
    ("numpy.core.multiarray", "scalar"), ("_codecs", "encode")])
def test_only_numpy_array_globals_are_admitted(tmp_path, module, name):
  path = tmp_path / "data_batch_1"
  path.write_bytes(b"\x80\x02c" + f"{module}\n{name}\n".encode()
                   + b"U\x04trueq\x00\x85R.")
  with pytest.raises(ValueError, match="refused") as excinfo:
    cifar_pickle.read_batch(str(path))
  message = _one_line_error(excinfo)
  assert str(path) in message and f"{module}.{name}" in message


def _valid_batch_bytes(tmp_path) -> bytes:
  images = np.zeros((2, 32, 32, 3), np.uint8)
  path = _write_batch(tmp_path / "valid", _batch(images, [1, 2]))
  with open(path, "rb") as f:
    return f.read()


@pytest.mark.parametrize("damage", ["truncated", "garbled", "empty"])
def test_damaged_batch_is_refused(tmp_path, damage):
  data = _valid_batch_bytes(tmp_path)
  data = {"truncated": data[:len(data) // 2],
          "garbled": bytes(np.random.default_rng(0).integers(0, 256, 500,
                                                             dtype=np.uint8)),
          "empty": b""}[damage]
  path = tmp_path / "test_batch"
  path.write_bytes(data)
  with pytest.raises(ValueError) as excinfo:
    cifar_pickle.read_batch(str(path))
  assert str(path) in _one_line_error(excinfo)


def _rows(shape, dtype=np.uint8):
  return np.zeros(shape, dtype)


@pytest.mark.parametrize("batch, problem", [
    ([1, 2], "not a CIFAR-10 batch"),
    ({b"data": _rows((2, 3072))}, "not a CIFAR-10 batch"),
    ({b"data": _rows((2, 3072)), b"label": [0, 1]}, "not a CIFAR-10 batch"),
    ({b"data": _rows((2, 3071)), b"labels": [0, 1]}, r"shape \(2, 3071\)"),
    ({b"data": _rows((2, 3, 32, 32)), b"labels": [0, 1]}, "shape"),
    ({b"data": _rows(6144), b"labels": [0, 1]}, "shape"),
    ({b"data": _rows((2, 3072), np.float32), b"labels": [0, 1]}, "float32"),
    ({b"data": b"\x00" * 6144, b"labels": [0, 1]}, "got bytes"),
    ({b"data": _rows((2, 3072)), b"labels": [0]}, "a list of 1"),
    ({b"data": _rows((2, 3072)), b"labels": [0, 10]}, "the value 10"),
    ({b"data": _rows((2, 3072)), b"labels": [-1, 0]}, "the value -1"),
    ({b"data": _rows((2, 3072)), b"labels": [0, 1.0]}, "the value 1.0"),
    ({b"data": _rows((2, 3072)), b"labels": [0, True]}, "the value True"),
    ({b"data": _rows((2, 3072)), b"labels": (0, 1)}, "got tuple"),
])
def test_wrong_structure_is_refused(tmp_path, batch, problem):
  path = _write_batch(tmp_path / "data_batch_3", batch)
  with pytest.raises(ValueError, match=problem) as excinfo:
    cifar_pickle.read_batch(path)
  assert path in _one_line_error(excinfo)


def test_offline_error_names_the_cifar_folder(tmp_path, monkeypatch):
  monkeypatch.setenv("HOME", str(tmp_path))
  monkeypatch.setattr(sources, "unreachable", lambda url: "no route")
  with pytest.raises(ValueError, match="could not download cifar10") as excinfo:
    tfmdl.data.load("cifar10", data_dir=str(tmp_path))
  message = _one_line_error(excinfo)
  for part in ("data_batch_1", "test_batch", f"--data_dir {tmp_path}",
               str(tmp_path / "cifar-10-batches-py"),
               "~/.keras/datasets/cifar-10-batches-py"):
    assert part in message
