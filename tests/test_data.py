"""Tests of tfmdl.data: IDX reading, the registry, ordering, validation."""

import gzip
import os
import struct

import numpy as np
import pytest
from sklearn import datasets as sk_datasets
from sklearn import linear_model

import tfmdl.data
from tfmdl.data import sources

_IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C,
              np.dtype(np.float32): 0x0D}
_FASHION_DIR = "/usr/share/datasets/fashion-mnist"


def _idx_bytes(array: np.ndarray) -> bytes:
  """The IDX encoding of ``array``, written independently of the reader."""
  header = bytes([0, 0, _IDX_CODES[array.dtype], array.ndim])
  header += struct.pack(f">{array.ndim}I", *array.shape)
  return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def _write(path, data: bytes, compress: bool = True) -> str:
  with open(path, "wb") as f:
    f.write(gzip.compress(data) if compress else data)
  return str(path)


def _write_mnist_folder(folder, num_train=30, num_test=7, seed=0):
  """Writes the four IDX .gz files of a tiny MNIST-format data set."""
  rng = np.random.default_rng(seed)
  arrays = (rng.integers(0, 256, (num_train, 28, 28), dtype=np.uint8),
            rng.integers(0, 10, num_train, dtype=np.uint8),
            rng.integers(0, 256, (num_test, 28, 28), dtype=np.uint8),
            rng.integers(0, 10, num_test, dtype=np.uint8))
  os.makedirs(folder, exist_ok=True)
  for name, array in zip(sources.IDX_FILES, arrays):
    _write(os.path.join(folder, name), _idx_bytes(array))
  return arrays


def _one_line_error(excinfo) -> str:
  message = str(excinfo.value)
  assert "\n" not in message
  return message


# read_idx


@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_round_trip(tmp_path, compress):
  rng = np.random.default_rng(1)
  images = rng.integers(0, 256, (5, 4, 3), dtype=np.uint8)
  labels = rng.integers(0, 10, 5, dtype=np.uint8)
  wide = rng.integers(-2**31, 2**31 - 1, (2, 3), dtype=np.int32)
  for name, array in (("images", images), ("labels", labels), ("wide", wide)):
    path = _write(tmp_path / name, _idx_bytes(array), compress)
    read = tfmdl.data.read_idx(path)
    assert read.dtype == array.dtype and read.shape == array.shape
    np.testing.assert_array_equal(read, array)


def _corrupt_gzip_crc(data: bytes) -> bytes:
  packed = bytearray(gzip.compress(data))
  packed[-8] ^= 0xFF  # The CRC32 is in the 8-byte trailer.
  return bytes(packed)


@pytest.mark.parametrize("make, expected", [
    (lambda d: d[:-1], "needs"),  # Truncated data.
    (lambda d: d + b"\x00", "trailing"),
    (lambda d: b"\x01" + d[1:], "bad magic"),
    (lambda d: d[:2] + b"\x07" + d[3:], "bad magic"),  # Unknown dtype code.
    (lambda d: d[:6], "header"),
    (lambda d: b"", "bad magic"),
])
def test_read_idx_refuses_bad_files(tmp_path, make, expected):
  data = _idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
  path = _write(tmp_path / "bad.gz", make(data))
  with pytest.raises(ValueError, match=expected) as excinfo:
    tfmdl.data.read_idx(path)
  assert path in _one_line_error(excinfo)


@pytest.mark.parametrize("make", [
    lambda d: gzip.compress(d)[:-5],  # Truncated gzip stream.
    _corrupt_gzip_crc,
    lambda d: gzip.compress(d)[:10] + b"\xff" * 20,  # Garbage deflate data.
])
def test_read_idx_refuses_bad_gzip(tmp_path, make):
  data = _idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
  path = _write(tmp_path / "bad.gz", make(data), compress=False)
  with pytest.raises(ValueError, match="gzip") as excinfo:
    tfmdl.data.read_idx(path)
  assert path in _one_line_error(excinfo)


# Local MNIST-format files


def test_fashion_mnist_from_idx_folder(tmp_path):
  x_train, y_train, x_test, y_test = _write_mnist_folder(tmp_path)
  data = tfmdl.data.load("fashion_mnist", seed=3, data_dir=str(tmp_path))
  assert data.source == str(tmp_path)
  assert data.x_train.shape == (30, 28, 28, 1)
  assert data.x_test.shape == (7, 28, 28, 1)
  assert data.input_shape == (28, 28, 1) and data.num_classes == 10
  assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int32
  order = np.random.default_rng(3).permutation(30)
  np.testing.assert_array_equal(
      data.x_train[..., 0], x_train[order].astype(np.float32) / 255)
  np.testing.assert_array_equal(data.y_train, y_train[order])
  np.testing.assert_array_equal(  # Test set: source order.
      data.x_test[..., 0], x_test.astype(np.float32) / 255)
  np.testing.assert_array_equal(data.y_test, y_test)
  assert 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0


def test_order_depends_only_on_seed(tmp_path):
  _write_mnist_folder(tmp_path)
  first = tfmdl.data.load("fashion_mnist", seed=0, data_dir=str(tmp_path))
  again = tfmdl.data.load("fashion_mnist", seed=0, data_dir=str(tmp_path))
  other = tfmdl.data.load("fashion_mnist", seed=1, data_dir=str(tmp_path))
  np.testing.assert_array_equal(first.x_train, again.x_train)
  assert first.fingerprint() == again.fingerprint()
  assert not np.array_equal(first.y_train, other.y_train)
  assert first.fingerprint() != other.fingerprint()
  # Same examples, other order: sorting the flattened rows gives equal sets.
  rows = lambda d: np.sort(d.x_train.reshape(30, -1), axis=0)
  np.testing.assert_array_equal(rows(first), rows(other))
  np.testing.assert_array_equal(np.sort(first.y_train), np.sort(other.y_train))


def test_subsets_take_the_first_of_the_order(tmp_path):
  _write_mnist_folder(tmp_path / "mnist")  # data_dir/<name>/ is searched too.
  full = tfmdl.data.load("mnist", seed=5, data_dir=str(tmp_path))
  part = tfmdl.data.load("mnist", seed=5, data_dir=str(tmp_path),
                         num_train=12, num_test=4)
  assert full.source == str(tmp_path / "mnist")
  np.testing.assert_array_equal(part.x_train, full.x_train[:12])
  np.testing.assert_array_equal(part.y_train, full.y_train[:12])
  np.testing.assert_array_equal(part.x_test, full.x_test[:4])
  with pytest.raises(ValueError, match="num_train=31"):
    tfmdl.data.load("mnist", data_dir=str(tmp_path), num_train=31)
  with pytest.raises(ValueError, match="num_test=0"):
    tfmdl.data.load("mnist", data_dir=str(tmp_path), num_test=0)


def test_dataset_arrays_are_read_only(tmp_path):
  _write_mnist_folder(tmp_path)
  data = tfmdl.data.load("mnist", data_dir=str(tmp_path))
  with pytest.raises(ValueError):
    data.y_train[0] = 1


def test_mismatched_image_and_label_counts(tmp_path):
  _write_mnist_folder(tmp_path)
  labels = np.zeros(29, dtype=np.uint8)
  _write(tmp_path / sources.IDX_FILES[1], _idx_bytes(labels))
  with pytest.raises(ValueError, match="30 images") as excinfo:
    tfmdl.data.load("fashion_mnist", data_dir=str(tmp_path))
  _one_line_error(excinfo)


def test_mnist_from_keras_npz(tmp_path, monkeypatch):
  rng = np.random.default_rng(0)
  arrays = {"x_train": rng.integers(0, 256, (9, 28, 28), dtype=np.uint8),
            "y_train": rng.integers(0, 10, 9, dtype=np.uint8),
            "x_test": rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
            "y_test": rng.integers(0, 10, 4, dtype=np.uint8)}
  path = str(tmp_path / "mnist.npz")
  np.savez(path, **arrays)
  monkeypatch.setitem(sources.LOCAL_SOURCES, "mnist", (path,))
  data = tfmdl.data.load("mnist", seed=2, data_dir=str(tmp_path / "empty"))
  assert data.source == path
  order = np.random.default_rng(2).permutation(9)
  np.testing.assert_array_equal(data.y_train, arrays["y_train"][order])
  np.testing.assert_array_equal(data.x_test[..., 0] * 255, arrays["x_test"])


@pytest.mark.skipif(not os.path.isdir(_FASHION_DIR),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist():
  data = tfmdl.data.load("fashion_mnist")
  assert data.source == _FASHION_DIR
  assert data.x_train.shape == (60000, 28, 28, 1)
  assert data.x_test.shape == (10000, 28, 28, 1)
  np.testing.assert_array_equal(np.bincount(data.y_train), [6000] * 10)
  np.testing.assert_array_equal(np.bincount(data.y_test), [1000] * 10)


# TFDS


@pytest.fixture
def no_local_files(monkeypatch):
  monkeypatch.setattr(sources, "LOCAL_SOURCES", {})


@pytest.fixture
def network_seems_up(monkeypatch):
  """The offline probe passes without connecting: TFDS (mocked or patched)
  decides. tests/test_offline.py tests the probe."""
  monkeypatch.setattr(sources, "unreachable", lambda url: None)


def test_tfds_mnist_under_mock(tmp_path, no_local_files, network_seems_up):
  del no_local_files, network_seems_up
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  with tfds.testing.mock_data(num_examples=20):
    data = tfmdl.data.load("mnist", seed=0, data_dir=str(tmp_path))
  assert data.source == "tfds:mnist"
  assert data.x_train.shape == (20, 28, 28, 1)
  assert data.x_test.shape == (20, 28, 28, 1)
  assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int32
  assert 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0


def test_tfds_cifar10_under_mock(tmp_path, no_local_files, network_seems_up):
  del no_local_files, network_seems_up
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  with tfds.testing.mock_data(num_examples=24):
    data = tfmdl.data.load("cifar10", data_dir=str(tmp_path), num_test=10)
  assert data.source == "tfds:cifar10"
  assert data.x_train.shape == (24, 32, 32, 3)
  assert data.x_test.shape == (10, 32, 32, 3)
  assert data.x_train.dtype == np.float32
  np.testing.assert_allclose(data.x_train.mean(axis=(0, 1, 2)), 0, atol=1e-5)
  np.testing.assert_allclose(data.x_train.std(axis=(0, 1, 2)), 1, atol=1e-4)


def test_tfds_failure_names_alternatives(tmp_path, no_local_files,
                                         network_seems_up, monkeypatch):
  del no_local_files, network_seems_up
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  def fail(*args, **kwargs):
    raise ConnectionError("no network\nsecond line")

  monkeypatch.setattr(tfds, "load", fail)
  monkeypatch.setitem(sources.LOCAL_SOURCES, "fashion_mnist", ("/sys/x",))
  with pytest.raises(ValueError, match="could not download") as excinfo:
    tfmdl.data.load("fashion_mnist", data_dir=str(tmp_path))
  message = _one_line_error(excinfo)
  for alternative in (str(tmp_path), "--data_dir", "/sys/x", "digits",
                      "train-images-idx3-ubyte.gz", "no network"):
    assert alternative in message
  with pytest.raises(ValueError, match="could not download cifar10") as excinfo:
    tfmdl.data.load("cifar10")
  assert "digits" in _one_line_error(excinfo)


# digits, synthetic, random labels, registry


def test_digits():
  data = tfmdl.data.load("digits", seed=0)
  assert data.x_train.shape == (1437, 8, 8, 1)
  assert data.x_test.shape == (360, 8, 8, 1)
  assert data.source == "sklearn" and data.num_classes == 10
  assert data.x_train.min() == 0.0 and data.x_train.max() == 1.0
  digits = sk_datasets.load_digits()
  np.testing.assert_array_equal(data.x_test[..., 0],
                                (digits.images[::5] / 16).astype(np.float32))
  np.testing.assert_array_equal(data.y_test, digits.target[::5])
  train_targets = np.delete(digits.target, np.arange(0, 1797, 5))
  np.testing.assert_array_equal(
      data.y_train, train_targets[np.random.default_rng(0).permutation(1437)])


def test_random_labels():
  clean = tfmdl.data.load("digits", seed=4)
  noisy = tfmdl.data.load("digits", seed=4, random_labels=True)
  assert noisy.random_labels and not clean.random_labels
  np.testing.assert_array_equal(noisy.x_train, clean.x_train)
  np.testing.assert_array_equal(noisy.x_test, clean.x_test)
  np.testing.assert_array_equal(noisy.y_test, clean.y_test)
  np.testing.assert_array_equal(
      noisy.y_train, np.random.default_rng(5).integers(0, 10, 1437))
  assert noisy.fingerprint() != clean.fingerprint()
  # Unrelated to the true labels, and roughly uniform (expected 143.7 each,
  # standard deviation about 11.4).
  assert np.mean(noisy.y_train == clean.y_train) < 0.15
  counts = np.bincount(noisy.y_train, minlength=10)
  assert counts.min() > 100 and counts.max() < 190
  seeded = tfmdl.data.load("digits", seed=4, random_labels=True,
                           random_labels_seed=9)
  np.testing.assert_array_equal(
      seeded.y_train, np.random.default_rng(9).integers(0, 10, 1437))


def test_synthetic_is_deterministic_and_learnable():
  data = tfmdl.data.load("synthetic", seed=0)
  assert data.x_train.shape == (512, 8, 8, 1)
  assert data.x_test.shape == (128, 8, 8, 1)
  assert data.num_classes == 4 and data.source == "synthetic"
  again = tfmdl.data.load("synthetic", seed=0)
  assert data.fingerprint() == again.fingerprint()
  reordered = tfmdl.data.load("synthetic", seed=1)
  np.testing.assert_array_equal(np.sort(reordered.y_train),
                                np.sort(data.y_train))
  assert reordered.fingerprint() != data.fingerprint()
  assert np.bincount(data.y_train, minlength=4).min() > 60
  model = linear_model.LogisticRegression(max_iter=2000)
  model.fit(data.x_train.reshape(512, -1), data.y_train)
  assert model.score(data.x_test.reshape(128, -1), data.y_test) > 0.8


def test_synthetic_options():
  data = tfmdl.data.load("synthetic", num_train=50, num_test=20, num_classes=3,
                         input_shape=(4, 4, 2), data_seed=7)
  assert data.x_train.shape == (50, 4, 4, 2)
  assert data.x_test.shape == (20, 4, 4, 2)
  assert data.num_classes == 3 and data.y_train.max() <= 2
  other = tfmdl.data.load("synthetic", num_train=50, num_test=20,
                          num_classes=3, input_shape=(4, 4, 2), data_seed=8)
  assert not np.array_equal(np.sort(other.x_train, axis=None),
                            np.sort(data.x_train, axis=None))


def test_unknown_name_and_options():
  assert tfmdl.data.list_datasets() == [
      "cifar10", "digits", "fashion_mnist", "mnist", "synthetic", "tfrecord"]
  with pytest.raises(ValueError, match="imagenet") as excinfo:
    tfmdl.data.load("imagenet")
  for name in tfmdl.data.list_datasets():
    assert name in _one_line_error(excinfo)
  with pytest.raises(ValueError, match="num_classes"):
    tfmdl.data.load("digits", num_classes=3)


# validate_labelled_arrays


def test_validate_accepts_good_data():
  x = np.zeros((6, 2, 2, 1), np.float32)
  tfmdl.data.validate_labelled_arrays(x, np.array([0, 1, 2, 2, 1, 0]), 3)
  tfmdl.data.validate_labelled_arrays(x, np.array([0., 1., 2., 2., 1., 0.]), 3)


_X = np.zeros((4, 3), np.float32)
_Y = np.array([0, 1, 1, 0])


@pytest.mark.parametrize("x, y, num_classes, expected", [
    (_X, _Y, 1, "at least 2 classes"),
    (_X[:0], _Y[:0], 2, "empty"),
    (_X, _Y[:3], 2, "4 inputs but 3 labels"),
    (_X, np.array([0., 1., 0.5, 0.]), 2, "integers"),
    (_X, np.array([0., 1., np.nan, 0.]), 2, "integers"),
    (_X, np.array(["a", "b", "a", "b"]), 2, "integers"),
    (_X, np.array([0, 1, 2, 0]), 2, r"\[0, 2\)"),
    (_X, np.array([0, -1, 1, 0]), 2, r"\[0, 2\)"),
    (_X, _Y.reshape(4, 1), 2, "1-D labels"),
    (np.where(np.eye(4, 3) > 0, np.nan, 0.0), _Y, 2, "NaN or infinite"),
    (np.where(np.eye(4, 3) > 0, -np.inf, 0.0), _Y, 2, "NaN or infinite"),
    (np.array([["a"]] * 4), _Y, 2, "numeric"),
])
def test_validate_refuses(x, y, num_classes, expected):
  with pytest.raises(ValueError, match=expected) as excinfo:
    tfmdl.data.validate_labelled_arrays(x, y, num_classes)
  _one_line_error(excinfo)
