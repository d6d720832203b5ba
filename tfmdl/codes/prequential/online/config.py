"""What Alice and Bob agree on for the online code, besides model and data:
one learner's config (:class:`OnlineConfig`), and the online switch's
(:class:`OnlineSwitch`: several learners and the mixture over them)."""

import dataclasses
from typing import Optional

from tfmdl.bits import mixtures
from tfmdl.results import LEFT_OUT_AT_DEFAULT
from tfmdl.results import SAME_BITS
from tfmdl.codes.prequential.online.replay import REPLAY_KINDS
from tfmdl.codes.prequential.online.schedule import check_schedule


@dataclasses.dataclass(frozen=True)
class OnlineConfig:
  """The online learner's hyperparameters (all part of the code).

  The protocol's constants (blocks, uniform fallback, seed) are those of
  :class:`tfmdl.codes.prequential.PrequentialConfig`. The defaults here are
  the general settings, for any model (those of round 2's ReLU MLP); each
  zoo model's online settings are in :mod:`~.defaults`.

  Several replicas (a ``MirroredStrategy`` or ``MultiWorkerMirroredStrategy``
  given to the learner; docs/cluster.md) change no setting here: each
  gradient step's minibatch of B (new or replayed) is split across the
  replicas and their gradients summed, so the step is that of the mean loss
  of all B samples, as on one replica; encoding, calibration, replay,
  augmentation and the weight average are computed on the whole minibatch
  outside the replicas. What changes is the round-off: N partial gradients
  are summed in another order than one replica sums its B samples, the
  weights differ in their last bits, and training amplifies the difference
  as the run goes on. Short runs stay within a relative 1e-4 of one
  replica's codelength (tested on digits with two local replicas and two
  workers); on 10,000 Fashion-MNIST labels the recipes moved by 1.4e-4 to
  5.7e-3, about a third of what the learner's next seed moves them
  (benchmarks/results/online_replicas.md). Dropout masks are drawn per
  replica and batch statistics are taken per share, so such models move
  further. Either way N replicas give another valid code, of the same
  setting: the replica count is part of what Bob must replay (a labels file
  records it and its decoder refuses another), and ``jit_compile`` runs on
  one replica only.

  Attributes:
    batch_size: B, samples per new minibatch (the first is sent uniformly).
    replay: R, replay minibatches (of B samples) per new minibatch; 0: none.
    replay_kind: ``"uniform"`` (R independent uniform draws from the sent
      samples) or ``"streams"`` (R streams walking the sent samples in
      order, :class:`~.replay.ReplayStreams`).
    stream_restarts: streams restart at a random earlier sample with
      probability 1 / (t + 2) at iteration t; without, each stream is a
      plain ordered pass.
    replay_memory: uniform replay draws from at most this many sent
      samples: all of them while they fit, then a uniform sample of them
      kept by reservoir sampling (:class:`~.replay.UniformReplay`); None:
      every sent sample. A learner reading a ``tf.data`` stream holds that
      many inputs, whatever n, and needs a number here.
    learning_rate: Adam's learning rate for the model's weights.
    schedule: ``"constant"`` or ``"cosine"`` (down to ``final_lr_fraction``
      of the rate at the last minibatch), :mod:`~.schedule`.
    warmup: minibatches over which the rate grows linearly to its value.
    final_lr_fraction: the cosine schedule's last rate, as a fraction.
    augment: train on randomly shifted images (replayed by Bob from the
      seed); encoding always sees the images as they are.
    shift_pixels: largest shift of ``augment``.
    flip: ``augment`` also mirrors images left-right (not for digits).
    tta_shifts: encode with the mean logits of each image and its four
      shifts by this many pixels (test-time augmentation; 0: none).
    ema_decay: decay of the weights' moving average used to encode, in
      [0, 1); 0 encodes with the raw weights.
    calibrate: learn a softmax temperature online (forward calibration).
    calibration_lr: Adam's learning rate for the log-temperature.
    ensemble: E, learners run side by side from seeds ``seed .. seed + E -
      1``; each minibatch is encoded with the equal-weight average of their
      predictive distributions (E times the compute).
    steps_per_call: minibatches per ``tf.function`` call (speed only: the
      bits do not depend on it).
    jit_compile: XLA-compile each training step (faster; the floats differ
      from an uncompiled run's, so Alice and Bob must agree on it).
    eval_batch_size: batch size of the test-accuracy evaluation.
    checkpoint_minibatches: a run in a workdir saves the learner's whole
      state there after at least this many minibatches since the last save
      (rounded up to a whole call of ``steps_per_call``); 0: not by count.
    checkpoint_seconds: ... or after at least this many seconds; 0: not by
      time. A rerun into the workdir resumes from the last save with the
      same bits as an uninterrupted run.
  """
  batch_size: int = 32
  replay: int = 8
  replay_kind: str = "uniform"
  stream_restarts: bool = True
  replay_memory: Optional[int] = dataclasses.field(
      default=None, metadata=LEFT_OUT_AT_DEFAULT)
  learning_rate: float = 1e-3
  schedule: str = "constant"
  warmup: int = 0
  final_lr_fraction: float = 0.1
  augment: bool = False
  shift_pixels: int = 2
  flip: bool = False
  tta_shifts: int = dataclasses.field(default=0, metadata=LEFT_OUT_AT_DEFAULT)
  ema_decay: float = 0.99
  calibrate: bool = True
  calibration_lr: float = 1e-2
  ensemble: int = 1
  steps_per_call: int = dataclasses.field(default=64, metadata=SAME_BITS)
  jit_compile: bool = False
  eval_batch_size: int = dataclasses.field(default=1024, metadata=SAME_BITS)
  checkpoint_minibatches: int = dataclasses.field(default=0,
                                                  metadata=SAME_BITS)
  checkpoint_seconds: float = dataclasses.field(default=300.0,
                                                metadata=SAME_BITS)

  def __post_init__(self):
    for field in ("batch_size", "ensemble", "steps_per_call",
                  "eval_batch_size"):
      if getattr(self, field) < 1:
        raise ValueError(f"{field} must be >= 1, got {getattr(self, field)}")
    for field in ("replay", "warmup", "shift_pixels", "tta_shifts",
                  "checkpoint_minibatches", "checkpoint_seconds"):
      if getattr(self, field) < 0:
        raise ValueError(f"{field} must be >= 0, got {getattr(self, field)}")
    if self.replay_memory is not None and self.replay_memory < 1:
      raise ValueError(f"replay_memory must be >= 1 (or None: every sent "
                       f"sample), got {self.replay_memory}")
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


MIXTURES = ("fixed_share", "switch_distribution", "bayes")


@dataclasses.dataclass(frozen=True)
class SwitchConfig:
  """The online switch's mixture over its learners, fixed before any label.

  Attributes:
    mixture: ``"fixed_share"`` (:class:`~tfmdl.bits.mixtures.FixedShare`
      mixed over the rates ``alphas``), ``"switch_distribution"``
      (:class:`~tfmdl.bits.mixtures.SwitchDistribution` with
      ``stop_prob``) or ``"bayes"`` (no switching: the Bayes mixture).
    alphas: fixed share's switching rates, in [0, 1).
    stop_prob: the switch distribution's stopping probability, in [0, 1].
    average: the equal-weight average of the learners' predictions is one
      more strategy (the ensemble of them all).
  """
  mixture: str = "fixed_share"
  alphas: tuple = (1e-4, 1e-3, 1e-2)
  stop_prob: float = 0.5
  average: bool = True

  def __post_init__(self):
    if self.mixture not in MIXTURES:
      raise ValueError(f"unknown mixture {self.mixture!r}; known: "
                       f"{', '.join(MIXTURES)}")
    self.code()  # checks the rates and the stopping probability

  def code(self) -> mixtures.SwitchingCode:
    """The switching code, uniform prior over the learners."""
    if self.mixture == "fixed_share":
      return mixtures.FixedShare(tuple(self.alphas))
    if self.mixture == "switch_distribution":
      return mixtures.SwitchDistribution(self.stop_prob)
    return mixtures.BayesMixture()


@dataclasses.dataclass(frozen=True)
class OnlineSwitch:
  """The online switch: online learners of several models (one
  :class:`OnlineConfig` each, in the order of the models) run side by side
  over the same minibatches, every label coded with ``switch``'s mixture
  over their predictions (:mod:`~.ensemble`).

  Attributes:
    members: the learners' configs, one per model; they share
      ``batch_size`` (a member may be an ensemble).
    switch: the mixture.
  """
  members: tuple
  switch: SwitchConfig = SwitchConfig()

  def __post_init__(self):
    if not self.members or not all(isinstance(m, OnlineConfig)
                                   for m in self.members):
      raise ValueError("an online switch needs one OnlineConfig per model, "
                       f"got {self.members!r}")
    sizes = sorted({m.batch_size for m in self.members})
    if len(sizes) > 1:
      raise ValueError(f"the members of an online switch share one "
                       f"batch_size, got {sizes}")
