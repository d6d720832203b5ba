"""What Alice and Bob agree on for the online code, besides model and data."""

import dataclasses
from typing import Optional

from tfmdl.codes.prequential.online.replay import REPLAY_KINDS
from tfmdl.codes.prequential.online.schedule import check_schedule


@dataclasses.dataclass(frozen=True)
class OnlineConfig:
  """The online protocol's hyperparameters (all part of the code).

  The defaults are the ``mlp`` recipe of configs/shortest_fashion_mnist.py:
  chosen on Fashion-MNIST's 10,000 test labels (which a code of the
  training labels never sends; benchmarks/online_settings.py), then checked
  with at most 8 settings run on the 60,000 training labels. A code of those
  labels pays ``log2 8 = 3`` bits for that choice, ``setting_bits``, sent
  before the first label; on other data the price is not owed, and 3 bits
  is cheap insurance.

  Attributes:
    batch_size: B, samples per new minibatch (the first is sent uniformly).
    replay: R, replay minibatches (of B samples) per new minibatch; 0: none.
    replay_kind: ``"uniform"`` (R independent uniform draws from the sent
      samples) or ``"streams"`` (R streams walking the sent samples in
      order, :class:`tfmdl.online.replay.ReplayStreams`).
    stream_restarts: streams restart at a random earlier sample with
      probability 1 / (t + 2) at iteration t; without, each stream is a
      plain ordered pass.
    learning_rate: Adam's learning rate for the model's weights.
    schedule: ``"constant"`` or ``"cosine"`` (down to ``final_lr_fraction``
      of the rate at the last minibatch), :mod:`tfmdl.online.schedule`.
    warmup: minibatches over which the rate grows linearly to its value.
    final_lr_fraction: the cosine schedule's last rate, as a fraction.
    augment: train on randomly shifted images (replayed by Bob from the
      seed); encoding always sees the images as they are.
    shift_pixels: largest shift of ``augment``.
    flip: ``augment`` also mirrors images left-right (not for digits).
    ema_decay: decay of the weights' moving average used to encode, in
      [0, 1); 0 encodes with the raw weights.
    calibrate: learn a softmax temperature online (forward calibration).
    calibration_lr: Adam's learning rate for the log-temperature.
    uniform_fallback: code each block of the timesteps with the Bayes
      mixture of the learner and the uniform code, as the block code does
      (:attr:`tfmdl.prequential.PrequentialConfig.uniform_fallback`).
    timesteps: block boundaries for the per-block breakdown; None for
      :func:`tfmdl.prequential.default_timesteps` with ``first_block``.
    first_block: first timestep of the default schedule.
    seed: seeds the model's initialisation, dropout and the replay draws.
    ensemble: E, learners run side by side from seeds ``seed .. seed + E -
      1``; each minibatch is encoded with the equal-weight average of their
      predictive distributions (E times the compute).
    steps_per_call: minibatches per ``tf.function`` call (speed only: the
      bits do not depend on it).
    jit_compile: XLA-compile each training step (faster; the floats differ
      from an uncompiled run's, so Alice and Bob must agree on it).
    eval_batch_size: batch size of the test-accuracy evaluation.
    setting_bits: bits paid to name this setting among those tried on the
      labels (``log2`` of the grid's size), counted in sample 0's bits so
      every total (blocks, per-sample sums, switch codes) includes it. 0 only
      for a setting fixed before any run on the labels being coded.
  """
  batch_size: int = 32
  replay: int = 8
  replay_kind: str = "uniform"
  stream_restarts: bool = True
  learning_rate: float = 1e-3
  schedule: str = "constant"
  warmup: int = 0
  final_lr_fraction: float = 0.1
  augment: bool = False
  shift_pixels: int = 2
  flip: bool = False
  ema_decay: float = 0.99
  calibrate: bool = True
  calibration_lr: float = 1e-2
  uniform_fallback: bool = True
  timesteps: Optional[tuple] = None
  first_block: int = 10
  seed: int = 0
  ensemble: int = 1
  steps_per_call: int = 64
  jit_compile: bool = False
  eval_batch_size: int = 1024
  setting_bits: float = 3.0

  def __post_init__(self):
    for field in ("batch_size", "ensemble", "steps_per_call",
                  "eval_batch_size"):
      if getattr(self, field) < 1:
        raise ValueError(f"{field} must be >= 1, got {getattr(self, field)}")
    for field in ("replay", "warmup", "shift_pixels"):
      if getattr(self, field) < 0:
        raise ValueError(f"{field} must be >= 0, got {getattr(self, field)}")
    if self.replay_kind not in REPLAY_KINDS:
      raise ValueError(f"unknown replay_kind {self.replay_kind!r}; known: "
                       f"{', '.join(REPLAY_KINDS)}")
    check_schedule(self.schedule)
    if not 0.0 <= self.final_lr_fraction <= 1.0:
      raise ValueError(f"final_lr_fraction must be in [0, 1], got "
                       f"{self.final_lr_fraction}")
    if not 0.0 <= self.ema_decay < 1.0:
      raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
    for field in ("learning_rate", "calibration_lr"):
      if not getattr(self, field) > 0:
        raise ValueError(f"{field} must be > 0, got {getattr(self, field)}")
    if not self.setting_bits >= 0:
      raise ValueError(f"setting_bits must be >= 0, got {self.setting_bits}")
