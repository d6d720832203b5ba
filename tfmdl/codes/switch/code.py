"""Switch and self-switch codes over saved prequential runs (paper, App. E).

A prequential run (``bin/prequential``) saves every label's codelength in
transmission order. Runs that share the data order and the block schedule
are prediction strategies on the same sequence; switching between them
(section 3.4) beats the catch-up phenomenon: a large model that starts worse
than uniform no longer has to pay for its slow start.

* switch code (:func:`switch_runs`): the strategies are the runs' per-sample
  bits plus the uniform code (log2 K per label, always included);
* self-switch code (:func:`self_switch_run`): the strategies are one run's
  stopping times "epoch e" in every block, e = 0..``train.max_epochs`` of
  the run's config (:func:`self_switch_strategies` on the blocks'
  ``epoch_bits``; a block that stopped early stays at its last epoch), plus
  the run's own prequential bits and the uniform code. Their number comes
  from the config, not from the epochs the blocks trained, which depend on
  labels Bob has not decoded yet. The first block is sent uniformly, so
  every strategy is uniform there.

The paper picked the best strategy per block after seeing the block and did
not pay for the choice; that number is a bound, reported here only as
``hindsight_bound_bits``. Every switching code computed here has a prior
fixed in advance (:class:`SwitchSettings`): the switch distribution of van
Erven et al. (2012), the Bayes mixture of the strategies, fixed share over a
fixed grid of rates, and block switching (fixed share at block boundaries).
Each is a sequential code (Bob runs the same forward recursions), each comes
with its worst-case overhead over the best single strategy, and which of
them is shortest is only known after seeing the labels. So the codelength
reported (``mixture``, the headline) is not any one of them but their Bayes
mixture under the uniform prior, weight 1/4 each (:data:`MIXED`):
-log2 sum_i 1/4 2**-L_i, a sequential code too, at most log2 4 = 2 bits
above the best of the four whichever it is. (An earlier headline, the
mixture of the first three, replaced the switch distribution after fixed
share had come out shorter on Fashion-MNIST: a choice made after seeing
results, which the mixture of every method now pays for.)

The runs' setting bits (what each paid, before its first label, for the
setting it was chosen among) are paid by the switch code too: it may follow
any run, from any label on.

Example (runs read from workdirs by :mod:`tfmdl.experiments.switch`)::

    from tfmdl.codes import switch
    from tfmdl.experiments.switch import load_runs
    runs = load_runs(["/tmp/mlp", "/tmp/lenet"])
    result = switch.switch_runs(runs)
    print(result.codelength_bits, result.methods["bayes_mixture"].bits)
    print(switch.self_switch_run(runs[1]).codelength_bits)
"""

import dataclasses
import math
import os
from typing import Optional, Sequence

import numpy as np

from tfmdl.bits import mixtures
from tfmdl.bits.uniform import ComparedToUniform
from tfmdl.bits.uniform import uniform_bits

UNIFORM = "uniform"
PREQUENTIAL = "prequential"
# Every method, the headline first.
METHODS = ("mixture", "switch_distribution", "bayes_mixture",
           "fixed_share_grid", "block_switch")
# Every switching code computed here: the headline mixes them all, with the
# uniform prior 1/len(MIXED) on each.
MIXED = ("switch_distribution", "bayes_mixture", "fixed_share_grid",
         "block_switch")
# Relative tolerance between a run's saved codelength and its per-sample bits.
_SUM_RTOL = 1e-6


@dataclasses.dataclass(frozen=True)
class SwitchSettings:
  """The priors, agreed before seeing any data (so they cost nothing).

  Attributes:
    stop_prob: the switch distribution's probability that a segment is the
      last one (van Erven et al.'s pi_M); its overhead over the best single
      strategy is at most log2 M + 1 bits at 1/2.
    fixed_share_alphas: the fixed-share rates, mixed uniformly (log2 of their
      number is paid).
    block_switch_rate: probability of leaving the current strategy at a block
      boundary in the block-switching code.
  """
  stop_prob: float = 0.5
  fixed_share_alphas: tuple = (1e-4, 1e-3, 1e-2)
  block_switch_rate: float = 0.1

  def __post_init__(self):
    if not 0.0 <= self.stop_prob <= 1.0:
      raise ValueError(f"stop_prob must be in [0, 1], got {self.stop_prob}")
    if not self.fixed_share_alphas or any(
        not 0.0 <= a < 1.0 for a in self.fixed_share_alphas):
      raise ValueError("fixed_share_alphas must be a non-empty tuple of rates "
                       f"in [0, 1), got {self.fixed_share_alphas}")
    if not 0.0 <= self.block_switch_rate < 1.0:
      raise ValueError(f"block_switch_rate must be in [0, 1), got "
                       f"{self.block_switch_rate}")

  def codes(self) -> tuple:
    """The switching codes mixed by the headline, in :data:`MIXED` order."""
    return (mixtures.SwitchDistribution(self.stop_prob),
            mixtures.BayesMixture(),
            mixtures.FixedShare(tuple(self.fixed_share_alphas)),
            mixtures.BlockSwitch(self.block_switch_rate))


@dataclasses.dataclass(frozen=True)
class PrequentialRun:
  """A finished prequential run, read back from its workdir.

  ``per_sample_bits`` holds every label's bits in transmission order;
  ``epoch_bits[k]`` is block k's (epochs + 1, block size) array of bits after
  each epoch (block 0, sent uniformly, is a single row), or ``epoch_bits`` is
  None when the run did not record them. ``max_epochs`` is the run's config's
  ``train.max_epochs`` (None if unknown), which fixes the self-switch code's
  strategies; ``wall_s`` its wall time in seconds and ``model_options`` its
  config's ``model_options`` (None if unknown); ``setting_bits`` what the run
  paid for its setting, before its first label (not in its per-sample
  bits), which a switch code that may follow the run pays too;
  ``labels_fingerprint`` the run ledger's fingerprint of its labels.
  """
  path: str
  dataset: str
  model: str
  random_labels: bool
  n: int
  num_classes: int
  timesteps: tuple
  data_fingerprint: str
  codelength_bits: float
  test_accuracy: Optional[float]
  per_sample_bits: np.ndarray = dataclasses.field(repr=False)
  epoch_bits: Optional[tuple] = dataclasses.field(default=None, repr=False)
  max_epochs: Optional[int] = None
  wall_s: float = 0.0
  model_options: Optional[dict] = None
  setting_bits: float = 0.0
  labels_fingerprint: str = ""

  def summary(self) -> dict:
    """The JSON-friendly description of the run (for results.json)."""
    return {
        "path": os.path.abspath(self.path), "model": self.model,
        "codelength_bits": self.codelength_bits,
        "compression_ratio": self.codelength_bits / uniform_bits(
            self.n, self.num_classes),
        "test_accuracy": self.test_accuracy,
        "data_fingerprint": self.data_fingerprint,
        "has_epoch_bits": self.epoch_bits is not None,
        "max_epochs": self.max_epochs,
        "model_options": self.model_options,
        "setting_bits": self.setting_bits,
        "wall_s": self.wall_s,
    }


def check_compatible(runs: Sequence[PrequentialRun]) -> None:
  """Raise ValueError unless all runs code the same labels in the same blocks.

  Switching is only a code when every strategy predicts the same label at
  the same position: same data set and order (``data_fingerprint``), n, K
  and block schedule (``timesteps``).
  """
  if not runs:
    raise ValueError("no runs given")
  paths = [os.path.realpath(r.path) for r in runs]
  for i, p in enumerate(paths):
    if p in paths[:i]:
      raise ValueError(f"run {runs[i].path} is given twice")
  first = runs[0]
  for run in runs[1:]:
    for field in ("data_fingerprint", "n", "num_classes", "timesteps"):
      a, b = getattr(first, field), getattr(run, field)
      if a != b:
        raise ValueError(f"runs differ in {field}: {first.path} has {a}, "
                         f"{run.path} has {b}; switching needs the same data "
                         "order and schedule")


def check_epoch_bits(run: PrequentialRun) -> None:
  """Refuses a run the self-switch code cannot use."""
  if run.epoch_bits is None:
    raise ValueError(f"run {run.path} was recorded without epoch_bits "
                     "(block.record_epoch_bits=False); the self-switch "
                     "code needs them")
  if run.max_epochs is None:
    raise ValueError(f"run {run.path} has no train.max_epochs in its config; "
                     "the self-switch code's strategies need it")


@dataclasses.dataclass(frozen=True)
class MethodResult:
  """One mixture code: its codelength and its stated worst-case overhead.

  ``bits <= best single strategy + overhead_bits`` always holds.
  """
  bits: float
  overhead_bits: float


@dataclasses.dataclass(frozen=True)
class SwitchResult(ComparedToUniform):
  """Codelengths of switching between M strategies over n labels.

  Attributes:
    code: ``"switch"`` or ``"self_switch"``.
    n, num_classes, timesteps: the data and the blocks.
    strategy_names: the M strategies (``"uniform"`` last).
    strategy_bits: (M, n) per-sample bits.
    methods: :data:`METHODS` -> :class:`MethodResult`; the headline code is
      ``"mixture"``, of the :data:`MIXED` codes.
    block_sequence: the Viterbi strategy of each block (names) under the
      block-switching prior, and its two-part codelength
      ``block_sequence_bits`` (also a code, >= the block-switch mixture).
    cumulative_bits: (n,) codelength of labels 1..t under the headline code
      (without the setting bits).
    settings: the priors used.
    runs_setting_bits: the strategies' setting bits, sent first.
    setting_bits: the switch code's own, for the choice of its runs among
      those switched over on the same labels (:mod:`tfmdl.ledger`). The
      codelength is the headline mixture's bits plus both.
  """
  code: str
  n: int
  num_classes: int
  timesteps: tuple
  strategy_names: tuple
  strategy_bits: np.ndarray = dataclasses.field(repr=False)
  methods: dict
  block_sequence: tuple
  block_sequence_bits: float
  cumulative_bits: np.ndarray = dataclasses.field(repr=False)
  settings: SwitchSettings
  runs_setting_bits: float = 0.0
  setting_bits: float = 0.0

  @property
  def codelength_bits(self) -> float:
    return (self.methods["mixture"].bits + self.runs_setting_bits +
            self.setting_bits)

  @property
  def strategy_totals(self) -> dict:
    """Codelength of each strategy alone, in bits."""
    return dict(zip(self.strategy_names,
                    self.strategy_bits.sum(axis=1).tolist()))

  @property
  def best_strategy(self) -> str:
    totals = self.strategy_totals
    return min(totals, key=totals.get)

  @property
  def hindsight_bound_bits(self) -> float:
    """The best strategy of every block, chosen after seeing it, unpaid.

    The paper's switch numbers; not a codelength (Bob cannot decode it).
    """
    return float(self.block_bits().min(axis=0).sum())

  def block_bits(self) -> np.ndarray:
    """(M, B) codelength of each block under each strategy."""
    starts = np.asarray((0,) + tuple(self.timesteps[:-1]))
    return np.add.reduceat(self.strategy_bits, starts, axis=1)


def uniform_row(n: int, num_classes: int) -> np.ndarray:
  """Per-sample bits of the uniform code: log2 K for every label."""
  return np.full(n, math.log2(num_classes))


def switch_matrix(runs: Sequence[PrequentialRun]) -> tuple:
  """``(names, bits)``: the runs' per-sample bits and the uniform code.

  Names are the runs' models, with the workdir's name added where two runs
  share a model.
  """
  check_compatible(runs)
  models = [r.model for r in runs]
  names = [r.model if models.count(r.model) == 1
           else f"{r.model}:{os.path.basename(os.path.normpath(r.path))}"
           for r in runs]
  if len(set(names)) < len(names):
    names = [f"{r.model}:{r.path}" for r in runs]
  bits = np.stack([r.per_sample_bits for r in runs]
                  + [uniform_row(runs[0].n, runs[0].num_classes)])
  return tuple(names) + (UNIFORM,), bits


def self_switch_strategies(per_epoch_bits_per_block,
                           max_epochs: int) -> np.ndarray:
  """Per-sample bits of the self-switch strategies "stop after epoch e".

  In prequential block k the model is trained on blocks < k for E_k epochs
  and block k is coded after each epoch 0..E_k (epoch 0: untrained), giving
  an (E_k + 1, size_k) array. E_k differs between blocks (early stopping);
  strategy e uses epoch min(e, E_k) in block k: a model that stopped early
  stays at its final state. Bob knows E_k when he decodes block k (early
  stopping looks at a validation split of blocks < k, and he replays the
  same seeded training), but not the E_k of later blocks: so the number of
  strategies, which every prior over them depends on, is fixed by the config
  alone, ``max_epochs + 1`` (epochs 0..max_epochs), never by the epochs that
  the blocks happened to train.

  Args:
    per_epoch_bits_per_block: sequence of B arrays, block k of shape
      (E_k + 1, size_k), in bits.
    max_epochs: the training's limit on epochs (``train.max_epochs`` of the
      run's config), E_k <= max_epochs for every block.

  Returns:
    A (max_epochs + 1, n) array, n = sum_k size_k.

  Raises:
    ValueError: no blocks, bad bits, or a block with more than
      ``max_epochs + 1`` epochs.
  """
  blocks = [mixtures.check_bits(b, f"block {k}")
            for k, b in enumerate(per_epoch_bits_per_block)]
  if not blocks:
    raise ValueError("per_epoch_bits_per_block is empty")
  if int(max_epochs) != max_epochs or max_epochs < 0:
    raise ValueError(f"max_epochs must be an integer >= 0, got {max_epochs}")
  for k, b in enumerate(blocks):
    if b.shape[0] > max_epochs + 1:
      raise ValueError(f"block {k} has epochs 0..{b.shape[0] - 1}, more "
                       f"than max_epochs={max_epochs} allows")
  epochs = np.arange(int(max_epochs) + 1)
  return np.concatenate(
      [b[np.minimum(epochs, b.shape[0] - 1)] for b in blocks], axis=1)


def self_switch_names(max_epochs: int) -> tuple:
  """The self-switch strategies of a run trained at most ``max_epochs``
  epochs per block: ``epoch_0..epoch_<max_epochs>``, the run's prequential
  code and the uniform code.

  A function of the config alone, so Bob knows them, and every prior over
  them, before he decodes any label; the epochs that early stopping left to
  each block do not change them.
  """
  return tuple(f"epoch_{e}" for e in range(max_epochs + 1)) + (
      PREQUENTIAL, UNIFORM)


def self_switch_matrix(run: PrequentialRun) -> tuple:
  """``(names, bits)``: the strategies :func:`self_switch_names` of
  ``run.max_epochs`` and their per-sample bits.

  Raises:
    ValueError: the run was recorded without ``epoch_bits`` or
      ``max_epochs``, or a block trained more than ``max_epochs`` epochs.
  """
  check_epoch_bits(run)
  epochs = self_switch_strategies(run.epoch_bits, run.max_epochs)
  bits = np.concatenate([epochs, run.per_sample_bits[None, :],
                         uniform_row(run.n, run.num_classes)[None, :]])
  return self_switch_names(run.max_epochs), bits


def switch_code(names: Sequence[str], bits: np.ndarray,
                timesteps: Sequence[int], num_classes: int, *,
                code: str = "switch",
                settings: SwitchSettings = SwitchSettings(),
                runs_setting_bits: float = 0.0) -> SwitchResult:
  """Every switching code of :data:`METHODS` over a strategy matrix.

  Args:
    names: M strategy names.
    bits: (M, n) per-sample bits in transmission order.
    timesteps: block ends (the last one is n), for block switching.
    num_classes: K.
    code: the name recorded in the result.
    settings: the priors, fixed in advance.
    runs_setting_bits: bits the strategies paid for their settings before
      their first label, paid by the switch code too (it may follow any of
      them).

  Returns:
    A :class:`SwitchResult`.
  """
  bits = np.asarray(bits, dtype=np.float64)
  names = tuple(names)
  if bits.ndim != 2 or len(names) != bits.shape[0]:
    raise ValueError(f"need one name per strategy: {len(names)} names, bits "
                     f"of shape {bits.shape}")
  timesteps = tuple(int(t) for t in timesteps)
  if not timesteps or timesteps[-1] != bits.shape[1]:
    raise ValueError(f"timesteps must end at n={bits.shape[1]}, got "
                     f"{timesteps}")
  num_strategies, n = bits.shape
  codes = settings.codes()
  mixed = np.stack([c.cumulative_bits(bits, timesteps) for c in codes])
  cumulative = mixtures.mixture_cumulative_bits(mixed)
  size = (num_strategies, n, len(timesteps))
  methods = {c.name: MethodResult(float(row[-1]), c.overhead_bits(*size))
             for c, row in zip(codes, mixed)}
  methods["mixture"] = MethodResult(
      float(cumulative[-1]), mixtures.MixtureOf(codes).overhead_bits(*size))
  blocks = np.add.reduceat(bits, np.asarray((0,) + timesteps[:-1]), axis=1)
  best = mixtures.BlockSwitch(settings.block_switch_rate).best_sequence(blocks)
  return SwitchResult(
      code=code, n=n, num_classes=num_classes, timesteps=timesteps,
      strategy_names=names, strategy_bits=bits,
      methods={name: methods[name] for name in METHODS},
      block_sequence=tuple(names[k] for k in best.sequence),
      block_sequence_bits=best.bits, cumulative_bits=cumulative,
      settings=settings, runs_setting_bits=runs_setting_bits)


def switch_runs(runs: Sequence[PrequentialRun],
                settings: SwitchSettings = SwitchSettings()) -> SwitchResult:
  """The switch code over compatible runs and the uniform code."""
  names, bits = switch_matrix(runs)
  return switch_code(names, bits, runs[0].timesteps, runs[0].num_classes,
                     code="switch", settings=settings,
                     runs_setting_bits=sum(r.setting_bits for r in runs))


def self_switch_run(run: PrequentialRun,
                    settings: SwitchSettings = SwitchSettings()
                    ) -> SwitchResult:
  """The self-switch code of one run (stopping times, its code, uniform)."""
  names, bits = self_switch_matrix(run)
  return switch_code(names, bits, run.timesteps, run.num_classes,
                     code="self_switch", settings=settings,
                     runs_setting_bits=run.setting_bits)
