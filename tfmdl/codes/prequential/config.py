"""What Alice and Bob agree on for a prequential code, besides model and data.

:class:`PrequentialConfig` is the protocol, whatever the learner: the blocks
the bits are summed and mixed with the uniform code in, and the base seed.
The learner has its own config: :class:`BlockConfig` (a fresh model per
block, retrained on the prefix: the paper) or
:class:`tfmdl.codes.prequential.online.OnlineConfig` (one model trained as
the labels arrive). Every default is written here, once; the experiments'
ConfigDicts are built from these classes.
"""

import dataclasses
from typing import Optional

from tfmdl import training
from tfmdl.results import SAME_BITS


@dataclasses.dataclass(frozen=True)
class PrequentialConfig:
  """The protocol's agreed constants.

  Attributes:
    timesteps: block boundaries ``t_1 < ... < t_S = n`` (or fractions of n);
      None for the paper's ``first_block, 2 first_block, ...``.
    first_block: size of the first block of the default schedule.
    uniform_fallback: code each block k >= 1 with the Bayes mixture of the
      learner's predictions and the uniform code, prior ``2**-k`` on uniform
      (:func:`tfmdl.bits.mixtures.block_uniform_fallback_bits`): block k
      never costs more than k bits above uniform.
    setting_bits: bits paid to name the learner's setting among those run
      on the labels being coded, sent before the first label; None: log2 of
      the distinct settings the run ledger holds for these labels, code and
      model, this one included (:mod:`tfmdl.ledger`: 0 for the first).
    seed: base seed of the learner (block k's model, the online learner's
      initialisation and draws).
  """
  timesteps: Optional[tuple] = None
  first_block: int = 10
  uniform_fallback: bool = True
  # The price of the setting, not a probability: not part of the setting.
  setting_bits: Optional[float] = dataclasses.field(default=None,
                                                    metadata=SAME_BITS)
  seed: int = 0

  def __post_init__(self):
    if self.first_block < 1:
      raise ValueError(f"first_block must be >= 1, got {self.first_block}")
    if self.setting_bits is not None and not self.setting_bits >= 0:
      raise ValueError(f"setting_bits must be >= 0, got {self.setting_bits}")


@dataclasses.dataclass(frozen=True)
class BlockConfig:
  """The block learner (paper, Algorithm 2): block k's model is trained from
  scratch on blocks < k, early-stopped on the prefix's last ``val_fraction``.

  Attributes:
    val_fraction: share of each prefix held out for early stopping (the last
      samples of the prefix; at least one when the prefix has two or more).
    record_epoch_bits: record the block's per-sample bits after every epoch
      (the self-switch code's strategies; one forward pass per epoch; read
      after each epoch, never fed back).
    final_model: the test accuracy of a model trained on all n labels (one
      more training, as long as the last block's); otherwise that of the
      last block's model, trained on the first ``t_{S-1}`` labels, free.
    train: the training of every block's model.
  """
  val_fraction: float = 0.1
  record_epoch_bits: bool = dataclasses.field(default=True,
                                              metadata=SAME_BITS)
  final_model: bool = dataclasses.field(default=False, metadata=SAME_BITS)
  train: training.TrainConfig = training.TrainConfig()

  def __post_init__(self):
    if not 0.0 <= self.val_fraction < 1.0:
      raise ValueError(
          f"val_fraction must be in [0, 1), got {self.val_fraction}")
