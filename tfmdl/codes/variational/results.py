"""What the variational code gives: each grid point's bits-back codelength
and the best plus the grid's cost."""

import dataclasses
import math
from typing import Optional

from tfmdl.bits.uniform import ComparedToUniform


@dataclasses.dataclass(frozen=True)
class EpochPoint:
  """The code of one grid point after an epoch (epoch 0: untrained).

  ``nll_bits`` is estimated with ``epoch_num_samples`` passes; accuracy is on
  the training set with sampled weights.
  """
  epoch: int
  kl_bits: float
  nll_bits: float
  deterministic_bits: float
  train_accuracy: float

  @property
  def codelength_bits(self) -> float:
    return self.kl_bits + self.nll_bits + self.deterministic_bits


@dataclasses.dataclass(frozen=True)
class PointResult:
  """The variational code of one prior scale of the grid.

  Attributes:
    index: position in the grid.
    prior_stddev: the prior scale s0.
    kl_bits: KL(q || prior) in bits.
    nll_bits: Monte Carlo estimate of E_q[NLL] over the training set, bits.
    nll_bits_stderr: its standard error (None when ``num_samples`` is 1).
    nll_bits_samples: the S per-pass totals the estimate averages.
    deterministic_bits: 32 bits per scalar outside a posterior.
    num_posterior_scalars: weights under a Normal posterior.
    num_deterministic_scalars: weights sent as float32.
    train_accuracy: training accuracy with sampled weights.
    test_accuracy_sampled: test accuracy with weights sampled from q
      (mean over S passes), or None without test data.
    test_accuracy_mean: test accuracy at the posterior means, or None.
    epochs_trained: epochs of training.
    seed: model and training seed.
    wall_s: seconds for this grid point.
    history: :class:`EpochPoint` per epoch, epoch 0 first (may be empty).
  """
  index: int
  prior_stddev: float
  kl_bits: float
  nll_bits: float
  nll_bits_stderr: Optional[float]
  nll_bits_samples: tuple
  deterministic_bits: float
  num_posterior_scalars: int
  num_deterministic_scalars: int
  train_accuracy: float
  test_accuracy_sampled: Optional[float]
  test_accuracy_mean: Optional[float]
  epochs_trained: int
  seed: int
  wall_s: float
  history: tuple = ()

  @property
  def codelength_bits(self) -> float:
    """This point's bits-back codelength, without the grid's cost."""
    return self.kl_bits + self.nll_bits + self.deterministic_bits

  def summary(self) -> dict:
    """JSON-friendly record (the history as lists of per-epoch values)."""
    record = {f.name: getattr(self, f.name)
              for f in dataclasses.fields(self) if f.name != "history"}
    record["codelength_bits"] = self.codelength_bits
    record["history"] = {
        f.name: [getattr(e, f.name) for e in self.history]
        for f in dataclasses.fields(EpochPoint)}
    return record

  @classmethod
  def from_summary(cls, record: dict) -> "PointResult":
    """Inverse of :meth:`summary`."""
    fields = {f.name for f in dataclasses.fields(cls)} - {"history"}
    values = {k: record[k] for k in fields}
    values["nll_bits_samples"] = tuple(values["nll_bits_samples"])
    hist = record["history"]
    history = tuple(EpochPoint(*row) for row in zip(
        *(hist[f.name] for f in dataclasses.fields(EpochPoint))))
    return cls(history=history, **values)


@dataclasses.dataclass(frozen=True)
class VariationalResult(ComparedToUniform):
  """The variational codelength: the best grid point plus the grid's cost."""
  n: int
  num_classes: int
  points: tuple  # of PointResult, in grid order
  num_samples: int
  wall_s: float
  setting_bits: float = 0.0  # paid for the setting (tfmdl.ledger)
  data_fingerprint: Optional[str] = None  # set by tfmdl.description_length

  @property
  def best(self) -> PointResult:
    return min(self.points, key=lambda p: p.codelength_bits)

  @property
  def grid_bits(self) -> float:
    return math.log2(len(self.points))

  @property
  def codelength_bits(self) -> float:
    return self.best.codelength_bits + self.grid_bits + self.setting_bits

  def parts(self) -> dict:
    """The codelength's breakdown in bits (sums to ``codelength_bits``)."""
    best = self.best
    return {"kl_bits": best.kl_bits, "nll_bits": best.nll_bits,
            "deterministic_weights_bits": best.deterministic_bits,
            "grid_choice_bits": self.grid_bits,
            "setting_bits": self.setting_bits}

  def to_json(self) -> dict:
    """The JSON-friendly record of the result (results.json's fields)."""
    best = self.best
    return {
        "codelength_bits": self.codelength_bits,
        "bound": "bits-back: achievable up to the discretisation overhead "
                 "of bits-back coding; E_q[NLL] is a Monte Carlo estimate",
        "test_accuracy": best.test_accuracy_sampled,
        "test_accuracy_sampled": best.test_accuracy_sampled,
        "test_accuracy_posterior_mean": best.test_accuracy_mean,
        "parts": self.parts(),
        "nll_bits_stderr": best.nll_bits_stderr,
        "num_samples": self.num_samples,
        "best_prior_stddev": best.prior_stddev,
        "epochs_trained": best.epochs_trained,
        "grid": [p.summary() for p in self.points],
        "variational_wall_s": self.wall_s,
        "setting_bits": self.setting_bits,
    }

  @classmethod
  def from_json(cls, record: dict) -> "VariationalResult":
    """The result of a :meth:`to_json` record (with ``n`` and
    ``num_classes``, as in results.json)."""
    return cls(n=record["n"], num_classes=record["num_classes"],
               points=tuple(PointResult.from_summary(p)
                            for p in record["grid"]),
               num_samples=record["num_samples"],
               wall_s=record["variational_wall_s"],
               setting_bits=record.get("setting_bits", 0.0),
               data_fingerprint=record.get("data_fingerprint"))


# ---------------------------------------------------------------------------
# Pricing a model: which weights are under a posterior, and their KL.
