"""What Alice and Bob agree on for the two-part codes, besides model and data.

:class:`TwoPartConfig` is the training of the sent model, shared by the three
codes; :class:`CompressionConfig` and :class:`SubspaceConfig` are the grids
and options of network compression and of the random-subspace code. Every
default is written here, once.
"""

import dataclasses
from typing import Sequence

from tfmdl import training
from tfmdl.bits import parameter_coding
from tfmdl.codes.two_part import subspace as subspace_lib


CODES = ("float32", "compressed", "subspace")


QUANTIZERS = ("kmeans", "uniform")


def check_code(code: str) -> str:
  if code not in CODES:
    raise ValueError(f"unknown two-part code {code!r}; known: "
                     f"{', '.join(CODES)}")
  return code


def _check_grid(values: Sequence, name: str, check) -> tuple:
  grid = tuple(values)
  if not grid:
    raise ValueError(f"{name} must not be empty")
  if len(set(grid)) != len(grid):
    raise ValueError(f"{name} must not repeat a value, got {list(grid)}")
  return tuple(check(v) for v in grid)


@dataclasses.dataclass(frozen=True)
class TwoPartConfig:
  """Training of the transmitted model (all agreed in advance).

  Attributes:
    val_fraction: share of the training set held out (the last samples) for
      early stopping; the labels of all n samples are encoded.
    seed: seeds the model's initialisation and training.
    train: training hyperparameters.
  """
  val_fraction: float = 0.1
  seed: int = 0
  train: training.TrainConfig = training.TrainConfig()

  def __post_init__(self):
    if not 0.0 <= self.val_fraction < 1.0:
      raise ValueError(
          f"val_fraction must be in [0, 1), got {self.val_fraction}")


@dataclasses.dataclass(frozen=True)
class CompressionConfig:
  """The network-compression code's options.

  Attributes:
    bits_grid: bits per weight index to try (each in 1..16), fixed in advance.
    quantizer: ``"kmeans"`` or ``"uniform"`` codebooks, one per tensor.
    prune_fraction: share of each tensor's smallest weights set to exactly 0
      (k-means only), 0 for none.
  """
  bits_grid: tuple = (1, 2, 3, 4, 5, 6, 8)
  quantizer: str = "kmeans"
  prune_fraction: float = 0.0

  def __post_init__(self):
    _check_grid(self.bits_grid, "bits_grid", parameter_coding.check_bits)
    if self.quantizer not in QUANTIZERS:
      raise ValueError(f"unknown quantizer {self.quantizer!r}; known: "
                       f"{', '.join(QUANTIZERS)}")
    if not 0.0 <= self.prune_fraction < 1.0:
      raise ValueError(
          f"prune_fraction must be in [0, 1), got {self.prune_fraction}")
    if self.prune_fraction and self.quantizer != "kmeans":
      raise ValueError("pruning needs quantizer='kmeans'")


def _check_dim(dim) -> int:
  if int(dim) != dim or dim < 1:
    raise ValueError(f"subspace dimension must be an integer >= 1, got {dim}")
  return int(dim)


@dataclasses.dataclass(frozen=True)
class SubspaceConfig:
  """The random-subspace code's options.

  Attributes:
    dims: subspace dimensions d to try, each in 1..D, fixed in advance.
    precisions: bits per number of z to try (1..32; 32 = raw float32).
    projection: ``"dense"``, ``"sparse"`` or ``"auto"`` (dense while
      ``D * d <= dense_max_entries``).
    nonzeros_per_row: entries per row of the sparse projection.
    dense_max_entries: the largest dense projection ``auto`` makes.
    projection_seed: the agreed seed of P.
    learning_rate: Adam's learning rate for z (chosen on Fashion-MNIST's
      test split, selection/two_part_settings.py).
    max_epochs: epochs of z's training; the rest of the code's ``train``
      config applies.
  """
  dims: tuple = (10, 30, 100, 300, 1000)
  precisions: tuple = (4, 6, 8, 10, 12, 16, 32)
  projection: str = "auto"
  nonzeros_per_row: int = 4
  dense_max_entries: int = 2**24
  projection_seed: int = 0
  learning_rate: float = 0.1
  max_epochs: int = 20

  def __post_init__(self):
    _check_grid(self.dims, "dims", _check_dim)
    _check_grid(self.precisions, "precisions",
                parameter_coding.check_precision)
    if self.projection not in subspace_lib.PROJECTIONS:
      raise ValueError(f"unknown projection {self.projection!r}; known: "
                       f"{', '.join(subspace_lib.PROJECTIONS)}")
    if self.nonzeros_per_row < 1:
      raise ValueError(
          f"nonzeros_per_row must be >= 1, got {self.nonzeros_per_row}")
    if not self.learning_rate > 0 or self.max_epochs < 1:
      raise ValueError("subspace learning_rate must be > 0 and max_epochs "
                       f">= 1, got {self.learning_rate}, {self.max_epochs}")

  def train_config(self, train: training.TrainConfig) -> training.TrainConfig:
    """z's training: ``train`` with this config's rate and epochs."""
    return dataclasses.replace(train, learning_rate=self.learning_rate,
                               max_epochs=self.max_epochs)
