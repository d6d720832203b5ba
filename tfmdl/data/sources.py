"""Where the raw images and labels come from: local files, TFDS, scikit-learn.

Each reader returns the train and test splits as stored (raw pixel values,
integer labels) in the source's own order. Scaling and the training order are
the registry's business (:mod:`tfmdl.data.registry`).

MNIST and Fashion-MNIST are read from the four standard IDX ``.gz`` files, or
Keras's ``mnist.npz``, when found locally; CIFAR-10 from the folder
``cifar-10-batches-py`` that Keras caches (:mod:`tfmdl.data.cifar_pickle`);
otherwise each comes from TFDS, which needs a network the first time.
Offline, TFDS would retry its downloads for minutes before failing; one
connection to the download host (through the proxy, if one is set) is tried
first, and its failure is an error within seconds that says where the data
can come from instead.
"""

import dataclasses
import os
import socket
import urllib.parse
import urllib.request

import numpy as np

from tfmdl.data import cifar_pickle
from tfmdl.data.idx import read_idx

IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

# Local copies tried after those in ``data_dir``, in order: for cifar10 a
# folder holding CIFAR-10's python batches; otherwise a folder holding the
# four IDX files, or (ending in ``.npz``) a Keras archive with keys x_train,
# y_train, x_test, y_test.
LOCAL_SOURCES = {
    "mnist": ("~/.keras/datasets/mnist.npz",),
    "fashion_mnist": (
        "/usr/share/datasets/fashion-mnist",  # Debian's dataset-fashion-mnist
        "~/.keras/datasets/fashion-mnist",
    ),
    "cifar10": (
        "~/.keras/datasets/cifar-10-batches-py",  # tf_keras (Keras 2)
        # Keras 3 extracts the archive into a folder of its own.
        "~/.keras/datasets/cifar-10-batches-py-target/cifar-10-batches-py",
    ),
}

# Sub-folders of ``data_dir`` tried after ``data_dir/<name>``: the folder a
# data set's own archive extracts to.
DATA_DIR_FOLDERS = {
    "cifar10": ("cifar-10-batches-py",),
}

# What installs a local copy of LOCAL_SOURCES, for error messages.
PACKAGES = {
    "/usr/share/datasets/fashion-mnist": "Debian's package "
                                         "dataset-fashion-mnist",
}

# Examples per batch when turning a TFDS split into arrays.
_TFDS_BATCH = 10_000

# Seconds that one connection to a download host may take.
PROBE_TIMEOUT_S = 3.0


@dataclasses.dataclass(frozen=True, eq=False)
class Splits:
  """Train and test arrays, and where they were read from."""
  x_train: np.ndarray
  y_train: np.ndarray
  x_test: np.ndarray
  y_test: np.ndarray
  source: str


def local_candidates(name: str, data_dir: str | None) -> list[str]:
  """The local paths tried for ``name``, in order."""
  candidates = []
  if data_dir is not None:
    folders = (name,) + DATA_DIR_FOLDERS.get(name, ())
    candidates += [data_dir] + [os.path.join(data_dir, f) for f in folders]
  candidates += [os.path.expanduser(p) for p in LOCAL_SOURCES.get(name, ())]
  return candidates


def read_local(name: str, data_dir: str | None) -> Splits | None:
  """Reads ``name`` from the first local copy found, or returns None.

  A folder counts when it holds all the files of the format: the six batches
  of CIFAR-10's python version for cifar10, the four IDX files otherwise;
  whatever it holds is read as ``name``.
  """
  for path in local_candidates(name, data_dir):
    if name == "cifar10":
      if cifar_pickle.holds_batches(path):
        return Splits(*cifar_pickle.read_folder(path), source=path)
    elif path.endswith(".npz"):
      if os.path.isfile(path):
        return read_npz(path)
    elif all(os.path.isfile(os.path.join(path, f)) for f in IDX_FILES):
      return read_idx_folder(path)
  return None


def read_idx_folder(folder: str) -> Splits:
  """Reads the four standard IDX ``.gz`` files of ``folder``.

  Raises:
    ValueError: if a file is invalid, or images and labels differ in count.
  """
  paths = [os.path.join(folder, f) for f in IDX_FILES]
  x_train, y_train, x_test, y_test = (read_idx(p) for p in paths)
  for images, labels, images_path, labels_path in (
      (x_train, y_train, paths[0], paths[1]),
      (x_test, y_test, paths[2], paths[3])):
    if labels.ndim != 1 or len(images) != len(labels):
      raise ValueError(
          f"{images_path} holds {len(images)} images but {labels_path} holds "
          f"labels of shape {labels.shape}")
  return Splits(x_train, y_train, x_test, y_test, source=folder)


def read_npz(path: str) -> Splits:
  """Reads a Keras-style ``.npz`` with keys x_train, y_train, x_test, y_test.

  Raises:
    ValueError: if a key is missing.
  """
  keys = ("x_train", "y_train", "x_test", "y_test")
  with np.load(path, allow_pickle=False) as archive:
    missing = [k for k in keys if k not in archive]
    if missing:
      raise ValueError(f"{path}: missing arrays {missing}")
    arrays = [archive[k] for k in keys]
  return Splits(*arrays, source=path)


def read_tfds(name: str, data_dir: str | None) -> Splits:
  """Reads the train and test splits of TFDS data set ``name``.

  Raises:
    ValueError: if TFDS cannot provide the data (typically: no network to
      download it), naming the local alternatives.
  """
  # Imported here: TFDS imports TensorFlow, which ``import tfmdl.data`` avoids.
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  try:
    builder = tfds.builder(name, data_dir=data_dir)
    urls = [] if builder.is_prepared() else sorted(builder.url_infos or ())
    problem = unreachable(urls[0]) if urls else None
    if problem is not None:
      raise ConnectionError(f"no network: {problem}")
    splits = tfds.load(name, split=["train", "test"], data_dir=data_dir,
                       as_supervised=True)
  except Exception as err:  # pylint: disable=broad-except
    raise ValueError(_download_error(name, data_dir, err)) from err
  # Batched in pieces, not with batch_size=-1: that asks tf.data for one batch
  # of sys.maxsize examples when the split sizes are unknown (as under
  # tfds.testing.mock_data), which aborts the process.
  arrays = []
  for split in splits:
    batches = list(tfds.as_numpy(split.batch(_TFDS_BATCH)))
    if not batches:
      raise ValueError(f"tfds:{name}: a split is empty")
    arrays += [np.concatenate([b[0] for b in batches]),
               np.concatenate([b[1] for b in batches])]
  return Splits(*arrays, source=f"tfds:{name}")


def unreachable(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
  """Why ``url``'s host (or the proxy for it) takes no connection within
  ``timeout_s`` seconds, or None when it does (or the scheme is not HTTP)."""
  parts = urllib.parse.urlsplit(url)
  if parts.scheme not in ("http", "https") or not parts.hostname:
    return None
  host, port = parts.hostname, parts.port or (
      443 if parts.scheme == "https" else 80)
  proxy = urllib.request.getproxies().get(parts.scheme)
  if proxy and not urllib.request.proxy_bypass(host):
    proxy_parts = urllib.parse.urlsplit(proxy)
    host, port = proxy_parts.hostname, proxy_parts.port or 80
  try:
    with socket.create_connection((host, port), timeout=timeout_s):
      return None
  except OSError as err:
    return (f"cannot connect to {host}:{port} in {timeout_s:g} s "
            f"({err.strerror or type(err).__name__})")


def _download_error(name: str, data_dir: str | None, err: Exception) -> str:
  """The one-line message for a TFDS failure, naming what works offline."""
  cause = str(err).splitlines()[0] if str(err) else ""
  message = (f"could not download {name} with TFDS "
             f"({type(err).__name__}: {cause}); offline, ")
  if name in LOCAL_SOURCES:
    where = data_dir if data_dir is not None else "DIR"
    provided = [p + (f" ({PACKAGES[p]})" if p in PACKAGES else "")
                for p in LOCAL_SOURCES[name]]
    if name == "cifar10":
      batches = cifar_pickle.TRAIN_FILES + (cifar_pickle.TEST_FILE,)
      files = f"CIFAR-10's python batches ({', '.join(batches)})"
    else:
      files = f"the four IDX files ({', '.join(IDX_FILES)})"
    folder = DATA_DIR_FOLDERS.get(name, (name,))[0]
    message += (f"put {files} in --data_dir {where} or in "
                f"{os.path.join(where, folder)}, or provide "
                f"{' or '.join(provided)}, ")
  else:
    message += f"pass --data_dir to a folder where TFDS has prepared {name}, "
  return message + "or use the 'digits' data set"


def read_digits() -> Splits:
  """scikit-learn's bundled 8x8 digits (values 0..16), with a fixed split.

  Samples whose index is a multiple of 5 form the test set (360), the others
  the training set (1437); the split is agreed in advance, not drawn.
  """
  # Imported here: scikit-learn is slow to import and only digits needs it.
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  digits = datasets.load_digits()
  is_test = np.arange(len(digits.target)) % 5 == 0
  return Splits(digits.images[~is_test], digits.target[~is_test],
                digits.images[is_test], digits.target[is_test],
                source="sklearn")
