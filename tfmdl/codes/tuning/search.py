"""Hyperparameter search whose result is still a codelength.

A keras-tuner oracle (random, Bayesian or Hyperband) proposes hyperparameters
from a finite search space fixed in advance; each trial runs a full code
(prequential or variational) and its objective is the codelength in bits.
Reporting the best of T trials after seeing their codelengths is a choice made
with the data, so the choice is paid for. This module states the price and
computes it; :mod:`~.tuner` runs the trials through keras-tuner's own engine
(in one process, or a chief and workers), and ``bin/tune`` runs that.

What Alice and Bob agree on before the data: the search space (a tuple of
choices per hyperparameter), the oracle and its seed, ``T = max_trials``, the
code and everything else in its config. Trial ``t`` has hyperparameters
``c_t`` and codelength ``L_t``. Whether ``log2 T`` is a valid price depends on
whether Bob can list ``c_1..c_T`` without the data:

* **random search (non-adaptive).** A seeded random oracle draws ``c_1..c_T``
  from its seed and the space alone (its de-duplication looks at earlier
  proposals, never at their codelengths), so Bob replays it and gets the same
  list. Two codes are then valid:

  - *index*: send the best trial's index with ``log2 T`` bits, then the labels
    with its code: ``min_t L_t + log2 T``;
  - *mixture*: the Bayes mixture with prior ``1/T`` over the trials,
    ``-log2((1/T) sum_t 2^-L_t)``, between ``min_t L_t`` and the index code.
    Bob decodes it by running the T codes side by side (each predicts the
    next label from the labels already decoded). For a bits-back code
    (variational) the same length is reached by bits-back on the index:
    Alice draws ``t ~ q(t) ∝ 2^-L_t`` with bits from the message; Bob, once
    he has every label, reruns the T trials and gets those bits back (a
    bits-back bound, like the variational code itself).

  If the oracle stops early (space exhausted) the prior still gives each of
  the T slots ``1/T``; mass on trials never run is wasted, never borrowed.

* **adaptive search (Bayesian, Hyperband).** ``c_t`` depends on
  ``L_1..L_{t-1}``, hence on the labels. Bob, who receives one trial's code,
  cannot replay the oracle: a trial index means nothing to him and
  ``log2 T`` is **not** a valid price. The chosen hyperparameters are sent
  explicitly instead, with a code over the whole space fixed in advance:
  ``H(c) = log2(#models) + sum over the hyperparameters that c's model uses
  of log2(#choices)``, plus ``log2(#budget levels)`` for Hyperband's
  ``max_epochs`` (:meth:`Search.hyperparameter_bits`). ``H`` is a complete
  prefix code: ``pi(c) = 2^-H(c)`` sums to one over the space. Then:

  - *explicit*: ``min_t [L_t + H(c_t)]`` (the best trial minimises that sum);
  - *mixture*: ``-log2 sum_{distinct tried c} 2^-(L_c + H(c))``. The code
    behind it is the Bayes mixture over the **whole** space with prior
    ``pi``, fixed before the data, ``-log2 sum_{c in space} pi(c) 2^-L_c``;
    Bob decodes it by running every configuration of the space (absurd in
    compute, fine in information). Leaving out the configurations that were
    not tried only shrinks the sum, so the reported number is an upper bound
    on that code's length. (For bits-back codes it is reached directly:
    Alice draws ``c`` from the posterior over the tried set; Bob, holding
    every label, reruns the whole search, recovers that posterior and the
    bits.)

Either way the reported headline is the mixture, and the best trial plus its
selection cost is reported next to it. T is part of the code: extending a
search after seeing its result and reporting whichever of the two is better
is one more choice made with the data (one more bit at least); report the
search whose T was fixed first. Hyperband's budget is the trial's
``train.max_epochs``; a trial that keras-tuner marks as the continuation of an
earlier one is trained from scratch with the larger budget (no weights are
carried over), so every trial is a full code given ``(c, max_epochs)``.

Example::

    from tfmdl.codes import tuning
    space = tuning.SearchSpace.create(
        {"model": ("mlp",), "learning_rate": (1e-3, 3e-3), "width": (64, 128)})
    search = tuning.Search("random", max_trials=3, seed=1)
    result = tuning.run_search(
        search, space, lambda index, hparams: tuning.TrialOutcome(
            codelength_bits=my_code(**hparams)), directory="/tmp/oracle")
    print(result.mixture_bits, result.best_plus_selection_bits)
"""

import dataclasses
import math
from typing import Mapping, Optional, Sequence

import keras_tuner
import numpy as np

from tfmdl import results
from tfmdl.codes import registry
from tfmdl.codes.tuning.oracles import ResumableBayesianOracle

SEARCHES = ("random", "bayesian", "hyperband")
ADAPTIVE_SEARCHES = ("bayesian", "hyperband")
# The registry's codes a search can tune (bin/tune runs their experiments).
CODES = registry.TUNABLE
OBJECTIVE = "codelength_bits"
BUDGET = "max_epochs"

# The hyperparameters a search space may hold, in registration order.
KNOBS = ("model", "learning_rate", "batch_size", "width", "depth", "dropout",
         "prior_stddev")
# Which knobs shape each zoo model: ``width`` and ``depth`` make an MLP's
# ``hidden_sizes = (width,) * depth`` (256 and 2 when only one is searched);
# ``width`` is ``shallow``'s width and ``resnet``'s first stage's channels.
MODEL_KNOBS = {
    "mlp": ("width", "depth", "dropout"),
    "shallow": ("width",),
    "lenet": (),
    "tinycnn": ("dropout",),
    "vgg_mnist": ("dropout",),
    "vgg": ("dropout",),
    "resnet": ("width",),
}
_ALWAYS = ("model", "learning_rate", "batch_size")
_INTEGER_KNOBS = ("batch_size", "width", "depth")


def _check_choices(name: str, values: Sequence) -> tuple:
  """Validated, type-normalised choices of one knob."""
  if isinstance(values, str) or not isinstance(values, Sequence):
    raise ValueError(f"search space field {name!r} must be a tuple of "
                     f"choices, got {values!r}")
  values = tuple(values)
  if not values:
    raise ValueError(f"search space field {name!r} has no choices")
  if len(set(values)) != len(values):
    raise ValueError(f"search space field {name!r} has repeated choices: "
                     f"{values}")
  if name == "model":
    unknown = [v for v in values if v not in MODEL_KNOBS]
    if unknown:
      raise ValueError(f"search space models {unknown} not tunable; known: "
                       f"{', '.join(sorted(MODEL_KNOBS))}")
    return tuple(str(v) for v in values)
  if any(isinstance(v, (bool, str)) or not isinstance(v, (int, float))
         for v in values):
    raise ValueError(f"search space field {name!r} must hold numbers, got "
                     f"{values}")
  if name in _INTEGER_KNOBS:
    if any(v != int(v) or v < 1 for v in values):
      raise ValueError(f"search space field {name!r} must hold integers "
                       f">= 1, got {values}")
    return tuple(int(v) for v in values)
  if name == "dropout" and any(not 0 <= v < 1 for v in values):
    raise ValueError(f"dropout choices must be in [0, 1), got {values}")
  if name != "dropout" and any(not v > 0 for v in values):
    raise ValueError(f"search space field {name!r} must hold numbers > 0, "
                     f"got {values}")
  return tuple(float(v) for v in values)


@dataclasses.dataclass(frozen=True)
class SearchSpace:
  """A finite search space, fixed in advance, for one code.

  Attributes:
    choices: ``(knob, values)`` pairs in :data:`KNOBS` order; ``model`` is
      always present. A knob with one value is fixed and costs nothing.
    code: the code the trials run (``prior_stddev`` applies only to
      ``variational``).
  """
  choices: tuple
  code: str = "prequential"

  @classmethod
  def create(cls, choices: Mapping[str, Sequence],
             code: str = "prequential") -> "SearchSpace":
    """Validates ``{knob: values}``; unknown knobs and empty lists refused."""
    if code not in CODES:
      raise ValueError(f"unknown code {code!r}; known: {', '.join(CODES)}")
    unknown = sorted(set(choices) - set(KNOBS))
    if unknown:
      raise ValueError(f"unknown search space field(s) {unknown}; known: "
                       f"{', '.join(KNOBS)}")
    if "model" not in choices:
      raise ValueError("the search space needs a 'model' field (a tuple of "
                       "zoo names)")
    return cls(tuple((k, _check_choices(k, choices[k]))
                     for k in KNOBS if k in choices), code)

  @property
  def values(self) -> dict:
    return dict(self.choices)

  def applies(self, knob: str, model: str) -> bool:
    """Whether ``knob`` changes the code when the model is ``model``."""
    if knob in _ALWAYS:
      return True
    if knob == "prior_stddev":
      return self.code == "variational"
    return knob in MODEL_KNOBS[model]

  def active(self, model: str) -> tuple:
    """The knobs of the space that a trial with ``model`` uses."""
    return tuple(k for k, _ in self.choices if self.applies(k, model))

  def used(self) -> tuple:
    """The knobs that at least one model of the space uses."""
    models_ = self.values["model"]
    return tuple(k for k, _ in self.choices
                 if any(self.applies(k, m) for m in models_))

  def bits(self, hyperparameters: Mapping[str, object]) -> float:
    """``H(c)``: bits to send ``c`` with the space's prefix code.

    The model first (``log2`` of the number of models), then each knob that
    model uses, uniformly over its choices.
    """
    values = self.values
    return float(sum(math.log2(len(values[k]))
                     for k in self.active(hyperparameters["model"])))

  def hyperparameters(self) -> keras_tuner.HyperParameters:
    """The space as keras-tuner hyperparameters, knobs conditional on model.

    A knob that no model of the space uses is left out (it would change
    nothing and cost bits); a knob used by some models only is registered
    under a ``conditional_scope`` on ``model``.
    """
    hp = keras_tuner.HyperParameters()
    models_ = self.values["model"]
    for knob in self.used():
      values = self.values[knob]
      users = [m for m in models_ if self.applies(knob, m)]
      register = ((lambda k=knob, v=values: hp.Fixed(k, v[0]))
                  if len(values) == 1 else
                  (lambda k=knob, v=values: hp.Choice(k, list(v))))
      if len(users) == len(models_):
        register()
      else:
        with hp.conditional_scope("model", users):
          register()
    return hp

  def model_options(self, hyperparameters: Mapping[str, object]) -> dict:
    """The zoo builder options of a trial (other options keep defaults)."""
    model = hyperparameters["model"]
    used = {k: hyperparameters[k] for k in MODEL_KNOBS[model]
            if k in hyperparameters}
    options = {}
    if model == "mlp" and ("width" in used or "depth" in used):
      options["hidden_sizes"] = ((used.get("width", 256),) *
                                 used.get("depth", 2))
    elif model in ("shallow", "resnet") and "width" in used:
      options["width"] = used["width"]
    if "dropout" in used:
      options["dropout"] = used["dropout"]
    return options


def budget_levels(max_epochs: int, factor: int) -> tuple:
  """Hyperband's possible ``max_epochs`` values, as keras-tuner makes them.

  Brackets: as many as times ``max_epochs`` can be divided by ``factor``
  staying >= 1; budgets ``ceil(max_epochs / factor**k)``.

  >>> budget_levels(9, 3)
  (1, 3, 9)
  """
  brackets, epochs = 0, float(max_epochs)
  while epochs >= 1:
    epochs /= factor
    brackets += 1
  return tuple(sorted({math.ceil(max_epochs / factor**k)
                       for k in range(brackets)}))


@dataclasses.dataclass(frozen=True)
class Search:
  """How the search runs; all of it fixed before the data.

  Attributes:
    search: ``random``, ``bayesian`` or ``hyperband``.
    max_trials: T, the number of trials allowed.
    seed: the oracle's seed (>= 1: keras-tuner replaces 0 by a random seed).
    max_epochs: Hyperband's largest budget (the trial's ``train.max_epochs``);
      required for and only used by ``hyperband``.
    factor: Hyperband's reduction factor.
    num_initial_points: random trials before the Bayesian oracle fits its
      Gaussian process (None: keras-tuner's default, 3 per dimension).
  """
  search: str = "random"
  max_trials: int = 5
  seed: int = 1
  max_epochs: Optional[int] = None
  factor: int = 3
  num_initial_points: Optional[int] = None

  def __post_init__(self):
    if self.search not in SEARCHES:
      raise ValueError(f"unknown search {self.search!r}; known: "
                       f"{', '.join(SEARCHES)}")
    if self.max_trials < 1:
      raise ValueError(f"max_trials must be >= 1, got {self.max_trials}")
    if self.seed < 1:
      raise ValueError(f"the oracle seed must be >= 1, got {self.seed}")
    if self.search == "hyperband":
      if self.max_epochs is None or self.max_epochs < 1:
        raise ValueError("hyperband needs max_epochs >= 1 (its budget), got "
                         f"{self.max_epochs}")
      if self.factor < 2:
        raise ValueError(f"hyperband's factor must be >= 2, got "
                         f"{self.factor}")

  @property
  def adaptive(self) -> bool:
    """Whether proposals depend on earlier codelengths (so on the data)."""
    return self.search in ADAPTIVE_SEARCHES

  def budget_bits(self) -> float:
    """Bits to send a Hyperband trial's budget; 0 for other searches."""
    if self.search != "hyperband":
      return 0.0
    return math.log2(len(budget_levels(self.max_epochs, self.factor)))

  def hyperparameter_bits(self, space: SearchSpace,
                          hyperparameters: Mapping[str, object]) -> float:
    """``H(c)``: explicit cost of a trial's hyperparameters and budget."""
    return space.bits(hyperparameters) + self.budget_bits()

  def make_oracle(self, space: SearchSpace) -> keras_tuner.Oracle:
    """A fresh keras-tuner oracle over ``space``, objective codelength
    (min); the tuner that runs it gives it its folder."""
    common = dict(
        objective=keras_tuner.Objective(OBJECTIVE, "min"), seed=self.seed,
        hyperparameters=space.hyperparameters(), allow_new_entries=False,
        tune_new_entries=False)
    if self.search == "random":
      oracle = keras_tuner.oracles.RandomSearchOracle(
          max_trials=self.max_trials, **common)
    elif self.search == "bayesian":
      oracle = ResumableBayesianOracle(
          max_trials=self.max_trials,
          num_initial_points=self.num_initial_points, **common)
    else:
      oracle = keras_tuner.oracles.HyperbandOracle(
          max_epochs=self.max_epochs, factor=self.factor, **common)
      oracle.max_trials = self.max_trials  # stop after T trials as well
    oracle.verbose = 0
    return oracle

  def trial_hyperparameters(self, oracle_values: Mapping[str, object]
                            ) -> dict:
    """What a trial's code depends on: the knobs, and Hyperband's budget.

    keras-tuner's bookkeeping values (``tuner/bracket``, ``tuner/round``,
    ``tuner/initial_epoch``, ``tuner/trial_id``) are dropped: trials start
    from scratch.
    """
    hparams = {k: v for k, v in oracle_values.items()
               if not k.startswith("tuner/")}
    if self.search == "hyperband":
      hparams[BUDGET] = int(oracle_values["tuner/epochs"])
    return hparams


@dataclasses.dataclass(frozen=True)
class TrialOutcome:
  """What running one trial's code returns."""
  codelength_bits: float
  test_accuracy: Optional[float] = None
  workdir: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class TrialRecord:
  """A finished trial, as saved and reloaded.

  Attributes:
    index: 0-based position in the search.
    oracle_values: the values the oracle proposed (checked on replay).
    hyperparameters: what the trial's code depends on.
    codelength_bits: L_t, the trial's codelength.
    hyperparameter_bits: H(c_t), the explicit cost of its hyperparameters.
    test_accuracy: the trial's test accuracy, if measured.
    workdir: where the trial's code ran.
    wall_s: seconds the trial took (0 for a duplicate).
    finished_at: ISO time when it finished.
    duplicate_of: index of an earlier trial with the same hyperparameters
      whose result was reused, or None.
    tuner_id: the keras-tuner process that ran it (``tuner0`` alone;
      a worker's ``KERASTUNER_TUNER_ID`` on a cluster).
  """
  index: int
  oracle_values: dict
  hyperparameters: dict
  codelength_bits: float
  hyperparameter_bits: float
  test_accuracy: Optional[float]
  workdir: Optional[str]
  wall_s: float
  finished_at: str
  duplicate_of: Optional[int] = None
  tuner_id: str = ""

  def summary(self) -> dict:
    return dataclasses.asdict(self)

  @classmethod
  def from_summary(cls, summary: Mapping) -> "TrialRecord":
    return cls(**summary)


def mixture_bits(codelengths: Sequence[float],
                 prior_bits: Sequence[float]) -> float:
  """``-log2 sum_i 2^-(L_i + prior_i)``: a Bayes mixture's codelength.

  ``prior_bits[i]`` is ``-log2`` of component i's prior weight; the weights
  must sum to at most one (not checked). Computed stably from the smallest
  term.

  >>> mixture_bits([10.0, 10.0], [1.0, 1.0])
  10.0
  """
  total = np.asarray(codelengths, float) + np.asarray(prior_bits, float)
  if total.size == 0:
    raise ValueError("a mixture needs at least one component")
  low = total.min()
  if not np.isfinite(low):
    return float(low)
  return float(low - np.log2(np.sum(np.exp2(low - total))))


@dataclasses.dataclass(frozen=True)
class SearchResult:
  """The finished trials and the codelengths the search may report."""
  search: Search
  trials: tuple  # of TrialRecord, in index order

  def __post_init__(self):
    if not self.trials:
      raise ValueError("the search finished no trial")

  @property
  def rule(self) -> str:
    """``index`` (pay log2 T) or ``explicit`` (pay H(c)); see the module."""
    return "explicit" if self.search.adaptive else "index"

  def selection_bits(self, trial: TrialRecord) -> float:
    """What choosing ``trial`` costs under :attr:`rule`."""
    if self.rule == "index":
      return math.log2(self.search.max_trials)
    return trial.hyperparameter_bits

  @property
  def best(self) -> TrialRecord:
    """The trial with the least ``L_t`` + selection bits (first on ties)."""
    return min(self.trials, key=lambda t: (
        t.codelength_bits + self.selection_bits(t), t.index))

  @property
  def best_plus_selection_bits(self) -> float:
    """The best trial's codelength plus the price of choosing it."""
    return self.best.codelength_bits + self.selection_bits(self.best)

  @property
  def mixture_bits(self) -> float:
    """The Bayes mixture over trials (index rule) or an upper bound on the
    mixture over the whole space (explicit rule); see the module docstring."""
    if self.rule == "index":
      trials = self.trials
    else:
      distinct = {}
      for trial in self.trials:
        distinct.setdefault(_key(trial.hyperparameters), trial)
      trials = tuple(distinct.values())
    return mixture_bits([t.codelength_bits for t in trials],
                        [self.selection_bits(t) for t in trials])

  @property
  def codelength_bits(self) -> float:
    """The headline: :attr:`mixture_bits`."""
    return self.mixture_bits


def same_hyperparameters(a: Mapping, b: Mapping) -> bool:
  """Whether two trials' hyperparameters are the same (as JSON)."""
  return _key(a) == _key(b)


def _key(hyperparameters: Mapping) -> tuple:
  return tuple(sorted(results.json_round_trip(dict(hyperparameters)).items()))
