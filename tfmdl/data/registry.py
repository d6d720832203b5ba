"""Data set registry: a name gives arrays in a fixed, seeded training order.

The order of the training set is part of every code (a prequential code
transmits it block by block), so it is drawn once from a recorded seed, and
:meth:`Dataset.fingerprint` identifies data and order together, to refuse
mixing runs made on different ones.

Example:
  data = tfmdl.data.load("fashion_mnist", seed=0, num_train=10_000)
  data.x_train.shape  # (10000, 28, 28, 1), float32 in [0, 1]
"""

import dataclasses
import functools
from typing import Any, Callable

import numpy as np

from tfmdl.data import labelled
from tfmdl.data import preprocessing
from tfmdl.data import sources
from tfmdl.data import synthetic
from tfmdl.data import tfrecord
from tfmdl.data.validation import validate_labelled_arrays


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
  """A labelled data set, preprocessed, its training set in the recorded order.

  The arrays are read-only: the order is part of the code.

  Attributes:
    name: registry name.
    x_train: float32 inputs, NHWC, in the order drawn from ``order_seed``.
    y_train: int32 labels in [0, num_classes).
    x_test: float32 test inputs, in the source's order.
    y_test: int32 test labels.
    num_classes: number of classes K.
    input_shape: ``(H, W, C)``.
    order_seed: seed of the training-set permutation.
    random_labels: whether ``y_train`` was replaced by uniform random labels.
    source: where the data was read from: a path, ``"tfds:<name>"``,
      ``"sklearn"`` or ``"synthetic"``.
  """
  name: str
  x_train: np.ndarray = dataclasses.field(repr=False)
  y_train: np.ndarray = dataclasses.field(repr=False)
  x_test: np.ndarray = dataclasses.field(repr=False)
  y_test: np.ndarray = dataclasses.field(repr=False)
  num_classes: int
  input_shape: tuple
  order_seed: int
  random_labels: bool
  source: str

  @functools.cached_property
  def train(self) -> labelled.LabelledData:
    """The training set as every code reads it (checked, fingerprinted)."""
    return labelled.labelled(self.x_train, self.y_train, self.num_classes)

  def fingerprint(self) -> str:
    """:func:`tfmdl.data.labelled.fingerprint` of the training examples in
    their order: the same as the API's for the same arrays."""
    return self.train.fingerprint


@dataclasses.dataclass(frozen=True)
class _Entry:
  """How to build one data set.

  Attributes:
    build: ``build(data_dir, num_train, num_test, **options)`` returns the
      preprocessed splits, in the source's order, and the number of classes.
    options: the keyword options that ``build`` accepts.
  """
  build: Callable[..., tuple[sources.Splits, int]]
  options: tuple[str, ...] = ()


def _mnist_like(name: str) -> Callable[..., tuple[sources.Splits, int]]:
  """Builder for MNIST-format data: 28x28 grey images, 10 classes, /255."""
  def build(data_dir, num_train, num_test):
    del num_train, num_test  # Subsets are taken after ordering.
    raw = (sources.read_local(name, data_dir)
           or sources.read_tfds(name, data_dir))
    return _scaled(raw, (28, 28, 1), 255), 10
  return build


def _cifar10(data_dir, num_train, num_test):
  """CIFAR-10: /255, then standardised per channel with training statistics."""
  del num_train, num_test  # Statistics use the whole training set.
  raw = (sources.read_local("cifar10", data_dir)
         or sources.read_tfds("cifar10", data_dir))
  splits = _scaled(raw, (32, 32, 3), 255)
  preprocessing.standardise_channels(splits.x_train, splits.x_test)
  return splits, 10


def _digits(data_dir, num_train, num_test):
  """scikit-learn's 8x8 digits, values 0..16 scaled by 1/16."""
  del data_dir, num_train, num_test
  return _scaled(sources.read_digits(), (8, 8, 1), 16), 10


def _synthetic(data_dir, num_train, num_test, **options):
  """Gaussian inputs labelled by a fixed linear map (see :mod:`synthetic`)."""
  del data_dir
  sizes = {"num_train": num_train, "num_test": num_test}
  sizes = {k: v for k, v in sizes.items() if v is not None}
  num_classes = options.get("num_classes", synthetic.DEFAULT_NUM_CLASSES)
  return synthetic.make_synthetic(**sizes, **options), num_classes


def _scaled(raw: sources.Splits, shape: tuple[int, ...],
            max_value: float) -> sources.Splits:
  """``raw`` with both image arrays scaled to [0, 1] and shaped ``shape``."""
  try:
    return dataclasses.replace(
        raw,
        x_train=preprocessing.to_unit_interval(raw.x_train, shape, max_value),
        x_test=preprocessing.to_unit_interval(raw.x_test, shape, max_value))
  except ValueError as err:
    raise ValueError(f"{raw.source}: {err}") from err


_REGISTRY: dict[str, _Entry] = {
    "mnist": _Entry(_mnist_like("mnist")),
    "fashion_mnist": _Entry(_mnist_like("fashion_mnist")),
    "cifar10": _Entry(_cifar10),
    "digits": _Entry(_digits),
    "synthetic": _Entry(_synthetic,
                        options=("num_classes", "input_shape", "data_seed")),
}


# TFRecord files in ``data_dir`` (:mod:`tfmdl.data.tfrecord`), read as a
# stream in their order.
TFRECORD = "tfrecord"


def list_datasets() -> list[str]:
  """Names accepted by :func:`load`, sorted."""
  return sorted([*_REGISTRY, TFRECORD])


def load(name: str, *, seed: int = 0, data_dir: str | None = None,
         random_labels: bool = False, random_labels_seed: int | None = None,
         num_train: int | None = None, num_test: int | None = None,
         **options: Any) -> Dataset:
  """Loads data set ``name``, preprocessed, its training set in a seeded order.

  The training set is permuted with ``np.random.default_rng(seed)`` after
  loading; ``num_train`` keeps the first examples of that order and
  ``num_test`` the first of the test set, which keeps the source's order.

  MNIST and Fashion-MNIST (IDX files, or Keras's ``mnist.npz``) and CIFAR-10
  (the python batches that Keras caches) are read from local files when
  found: in ``data_dir``, ``data_dir/<name>`` (for CIFAR-10 also
  ``data_dir/cifar-10-batches-py``), then the paths of
  ``sources.LOCAL_SOURCES``; otherwise from TFDS.

  Args:
    name: one of :func:`list_datasets`.
    seed: seed of the training order.
    data_dir: a folder with the IDX files or CIFAR-10's python batches, or
      TFDS's data folder.
    random_labels: replace the training labels by uniform random ones (the
      paper's Figure 1), drawn after ordering and subsetting; test labels are
      kept.
    random_labels_seed: seed of the random labels; ``seed + 1`` when None.
    num_train: keep this many training examples (all when None); for
      ``synthetic``, the number generated (default 512).
    num_test: keep this many test examples; for ``synthetic``, the number
      generated (default 128).
    **options: ``synthetic`` only: ``num_classes`` (4), ``input_shape``
      ((8, 8, 1)) and ``data_seed`` (0, the seed of the data itself).

  ``tfrecord`` is the folder ``data_dir`` of TFRecord files
  (:mod:`tfmdl.data.tfrecord`): its training examples are a stream, in the
  files' order (``seed`` must be 0), which the prequential codes read
  without holding it in memory.

  Returns:
    The :class:`Dataset` (a :class:`tfmdl.data.tfrecord.StreamDataset` for
    ``tfrecord``).

  Raises:
    ValueError: for an unknown name or option, sizes out of range, invalid
      data, or a data set that can be neither found locally nor downloaded.
  """
  if name == TFRECORD:
    if seed != 0 or options:
      raise ValueError("the tfrecord data set is read in its files' order "
                       "(data_seed must be 0) and takes no option")
    return tfrecord.load(data_dir, num_train=num_train, num_test=num_test,
                         random_labels=random_labels,
                         random_labels_seed=random_labels_seed)
  if name not in _REGISTRY:
    raise ValueError(
        f"unknown data set {name!r}; known: {', '.join(list_datasets())}")
  entry = _REGISTRY[name]
  unknown = sorted(set(options) - set(entry.options))
  if unknown:
    raise ValueError(f"{name} has no option(s) {unknown}; it accepts "
                     f"{list(entry.options)}")
  splits, num_classes = entry.build(data_dir, num_train, num_test, **options)
  _check_size("num_train", num_train, len(splits.x_train), name)
  _check_size("num_test", num_test, len(splits.x_test), name)
  order = np.random.default_rng(seed).permutation(len(splits.x_train))
  order = order[:num_train]
  x_train, y_train = splits.x_train[order], splits.y_train[order]
  x_test, y_test = splits.x_test[:num_test], splits.y_test[:num_test]
  if random_labels:
    labels_seed = seed + 1 if random_labels_seed is None else random_labels_seed
    y_train = np.random.default_rng(labels_seed).integers(
        0, num_classes, len(y_train))
  validate_labelled_arrays(x_train, y_train, num_classes)
  validate_labelled_arrays(x_test, y_test, num_classes)
  arrays = [x_train, y_train.astype(np.int32), x_test, y_test.astype(np.int32)]
  for array in arrays:
    array.setflags(write=False)
  return Dataset(name, *arrays, num_classes=num_classes,
                 input_shape=tuple(x_train.shape[1:]), order_seed=seed,
                 random_labels=random_labels, source=splits.source)


def _check_size(label: str, size: int | None, available: int,
                name: str) -> None:
  """Raises ValueError unless ``size`` is None or in [1, available]."""
  if size is not None and not 1 <= size <= available:
    raise ValueError(
        f"{label}={size} but {name} has {available} such examples")
