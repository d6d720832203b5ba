"""What Alice and Bob agree on for the variational code, besides the model."""

import dataclasses

from tfmdl import training
from tfmdl.results import SAME_BITS


@dataclasses.dataclass(frozen=True)
class VariationalConfig:
  """What Alice and Bob agree on besides the model.

  Attributes:
    prior_stddevs: the grid of prior scales, fixed in advance; every point is
      trained and the best is paid ``log2(len(prior_stddevs))`` bits.
    num_samples: Monte Carlo passes over the training set (S) for the reported
      expected NLL, and over the test set for the sampled test accuracy.
    epoch_num_samples: Monte Carlo passes per epoch for the training curves
      (0: no curves). They never influence training.
    posterior_scale_init: the initial untransformed (pre-softplus)
      posterior scale of every weight (-4: softplus(-4) ~ 0.018).
    seed: the model seed and the training seed of every grid point.
    train: training hyperparameters; ``regularization_scale`` is replaced by
      ``1/n`` and there is no validation set (fixed ``max_epochs``).
  """
  prior_stddevs: tuple = (0.05, 0.1, 0.5, 1.0)
  num_samples: int = 10
  epoch_num_samples: int = dataclasses.field(default=1, metadata=SAME_BITS)
  posterior_scale_init: float = -4.0
  seed: int = 0
  train: training.TrainConfig = training.TrainConfig()

  def __post_init__(self):
    if not self.prior_stddevs:
      raise ValueError("prior_stddevs must not be empty")
    if any(not s > 0 for s in self.prior_stddevs):
      raise ValueError(
          f"prior_stddevs must all be > 0, got {tuple(self.prior_stddevs)}")
    if len(set(self.prior_stddevs)) != len(self.prior_stddevs):
      raise ValueError(
          f"prior_stddevs has repeats: {tuple(self.prior_stddevs)}")
    if self.num_samples < 1:
      raise ValueError(f"num_samples must be >= 1, got {self.num_samples}")
    if self.epoch_num_samples < 0:
      raise ValueError(
          f"epoch_num_samples must be >= 0, got {self.epoch_num_samples}")
