"""Loss-data curves and the measures read from them, in bits.

Whitney et al., "Evaluating representations by the complexity of learning
low-loss predictors" (2020), compare representations by their loss-data
curve ``L(n)``: the per-example loss, on held-out data, of a predictor
trained on ``n`` examples. From it they read:

* the surplus description length ``SDL(eps) = sum_{n>=1} max(0, L(n) - eps)``:
  the bits spent, beyond ``eps`` per example, while learning to predict
  with loss ``eps``;
* the eps-sample complexity ``eSC(eps) = min {n : L(n) <= eps}``;
* the online (prequential) codelength, Voita & Titov's MDL: each block of
  labels coded by the model trained on the examples before it.

A curve is measured at a few sizes ``n_1 < ... < n_S`` only. Every measure
here is read off one curve, defined everywhere by this rule:

* between measured sizes, ``L`` is the straight line joining them
  (``np.interp``, linear in n);
* below ``n_1`` nothing was measured: ``L(n) = L(n_1)``, the lowest value a
  non-increasing curve can have there (what Whitney et al.'s ``reprieve``
  library counts too);
* above ``n_S``: ``L(n) = L(n_S)``.

:func:`sdl_bits` is the area between this curve and ``eps`` from 0 to
``n_S``, ``integral max(0, L(t) - eps) dt``: the continuous form of the sum.
For a non-increasing curve the area exceeds ``sum_{n=1}^{n_S}`` by at most
``max(0, L(n_1) - eps)``, one example's excess. When ``L(n_S) > eps`` the
sum goes on past ``n_S`` (it is infinite if the loss never falls to
``eps``): the area is then a lower bound, flagged by
``LossDataMeasures.sdl_is_lower_bound`` (``reprieve`` prints ``> value``).

:func:`sample_complexity` is the smallest integer ``n >= n_1`` with
``L(n) <= eps`` on the interpolated curve, or None when the measured curve
never reaches ``eps``. It never goes below ``n_1``: when ``L(n_1) <= eps`` it
is ``n_1``, an upper bound.

:func:`online_estimate_bits` needs no interpolation: the first ``n_1``
labels cost ``log2 K`` each (uniform), and block ``[n_k, n_{k+1})`` costs
``(n_{k+1} - n_k) * L(n_k)``, the held-out loss of the model trained on the
prefix; ``L(n_S)`` is not used. It is an **estimate** of a prequential
codelength, not one: the losses come from held-out labels, not from the
labels a block would send, so no decoder could replay it. It equals tfmdl's
prequential code (without its uniform fallback) only when each ``L(n_k)``
is measured on block ``k`` itself with the code's seeds and split
(:mod:`tfmdl.loss_data_curves` trains its models that way). ``reprieve``'s
``MDL`` column prices ``(n_k, n_{k+1}]`` with ``L(n_{k+1})``, a model that
has seen those labels: on a falling curve it is lower than this estimate.

Losses are in bits per example: a loss in nats converts once with
:func:`tfmdl.bits.units.nats_to_bits`. This module is pure NumPy.

Example::

    curve = LossDataCurve(sizes=(10, 100, 1000), loss_bits=(2.9, 1.1, 0.4),
                          num_classes=10)
    m = measures(curve, epsilons=(1.0, 0.5))
    m.sdl_bits, m.sample_complexity, m.online_estimate_bits
"""

import dataclasses
import math
from typing import Optional, Sequence

import numpy as np


def _is_whole(value) -> bool:
  return (isinstance(value, (int, np.integer)) and
          not isinstance(value, (bool, np.bool_)))


@dataclasses.dataclass(frozen=True)
class LossDataCurve:
  """Held-out loss of a predictor against its training-set size.

  Attributes:
    sizes: training-set sizes ``n_1 < ... < n_S``, positive integers.
    loss_bits: per-example test loss (cross-entropy, bits) of the model
      trained on each size.
    num_classes: K; the uniform code costs ``log2 K`` bits per label.
    accuracy: test accuracy at each size, or None.
  """
  sizes: tuple
  loss_bits: tuple
  num_classes: int
  accuracy: Optional[tuple] = None

  def __post_init__(self):
    sizes = tuple(self.sizes)
    if not sizes:
      raise ValueError("a loss-data curve needs at least one size")
    if not all(_is_whole(n) for n in sizes):
      raise ValueError(f"sizes must be integers, got {list(sizes)}")
    sizes = tuple(int(n) for n in sizes)
    if sizes[0] < 1 or any(b <= a for a, b in zip(sizes, sizes[1:])):
      raise ValueError(
          f"sizes must be strictly increasing and >= 1, got {list(sizes)}")
    losses = tuple(float(v) for v in self.loss_bits)
    if len(losses) != len(sizes):
      raise ValueError(f"{len(sizes)} sizes but {len(losses)} losses")
    if not all(math.isfinite(v) and v >= 0 for v in losses):
      raise ValueError(f"losses must be finite and >= 0, got {list(losses)}")
    if self.num_classes < 2:
      raise ValueError(f"need at least 2 classes, got {self.num_classes}")
    object.__setattr__(self, "sizes", sizes)
    object.__setattr__(self, "loss_bits", losses)
    if self.accuracy is not None:
      accuracy = tuple(float(a) for a in self.accuracy)
      if len(accuracy) != len(sizes) or not all(0 <= a <= 1
                                                for a in accuracy):
        raise ValueError(f"accuracy needs {len(sizes)} values in [0, 1], "
                         f"got {list(accuracy)}")
      object.__setattr__(self, "accuracy", accuracy)

  @classmethod
  def from_record(cls, record, where: str = "a loss-data curve"):
    """The curve of ``dataclasses.asdict(curve)`` read back from JSON.

    Raises:
      ValueError: (one line, naming ``where``) not such a record, or one
        whose values a curve refuses.
    """
    fields = {f.name for f in dataclasses.fields(cls)}
    if not isinstance(record, dict) or set(record) != fields:
      raise ValueError(f"{where} is not a loss-data curve (a JSON object "
                       f"with the fields {', '.join(sorted(fields))})")
    try:
      return cls(**record)
    except (TypeError, ValueError) as e:
      raise ValueError(f"{where}: {e}") from e

  @property
  def uniform_loss_bits(self) -> float:
    """``log2 K``: the loss of the uniform prediction."""
    return math.log2(self.num_classes)

  def loss_at(self, n):
    """The interpolated loss ``L(n)`` (module docstring), for a number or
    an array of sizes."""
    return np.interp(n, self.sizes, self.loss_bits)

  def summary(self) -> dict:
    """The curve as JSON-friendly lists."""
    return {"sizes": list(self.sizes), "loss_bits": list(self.loss_bits),
            "num_classes": self.num_classes,
            "accuracy": None if self.accuracy is None else list(self.accuracy)}


def _check_epsilon(epsilon: float) -> float:
  epsilon = float(epsilon)
  if not (math.isfinite(epsilon) and epsilon >= 0):
    raise ValueError(f"epsilon must be finite and >= 0, got {epsilon}")
  return epsilon


def sdl_bits(curve: LossDataCurve, epsilon: float) -> float:
  """Surplus description length ``SDL(epsilon)``, in bits.

  The area between the interpolated curve and ``epsilon`` over ``[0, n_S]``
  (module docstring); a lower bound when ``L(n_S) > epsilon``.
  """
  epsilon = _check_epsilon(epsilon)
  knots = np.array((0,) + curve.sizes, np.float64)
  excess = np.array(curve.loss_bits[:1] + curve.loss_bits) - epsilon
  width, left, right = np.diff(knots), excess[:-1], excess[1:]
  above = np.maximum(left, 0) + np.maximum(right, 0)
  crossing = (left > 0) != (right > 0)
  # A segment above epsilon is a trapezoid; one crossing it, a triangle of
  # height max(left, right) on the share of the width that lies above.
  spread = np.where(crossing, np.abs(left - right), 1.0)
  area = np.where(crossing, np.maximum(left, right)**2 / (2 * spread),
                  above / 2)
  return float(np.sum(width * area))


def sample_complexity(curve: LossDataCurve, epsilon: float) -> Optional[int]:
  """``eSC(epsilon)``: the smallest ``n >= n_1`` with ``L(n) <= epsilon``.

  Returns:
    The size, read off the interpolated curve; None when no measured size
    reaches ``epsilon`` (the curve would have to be measured further).
  """
  epsilon = _check_epsilon(epsilon)
  losses = curve.loss_bits
  if losses[0] <= epsilon:
    return curve.sizes[0]
  for k in range(1, len(losses)):
    if losses[k] <= epsilon:
      a, b = curve.sizes[k - 1], curve.sizes[k]
      crossing = a + (losses[k - 1] - epsilon) * (b - a) / (
          losses[k - 1] - losses[k])
      n = max(a + 1, math.floor(crossing))
      return n if curve.loss_at(n) <= epsilon else n + 1
  return None


def online_estimate_bits(curve: LossDataCurve) -> float:
  """The online codelength estimated from the curve, in bits, for the first
  ``n_S`` labels: ``n_1 log2 K + sum_k (n_{k+1} - n_k) L(n_k)``.

  An estimate from held-out losses, not a codelength (module docstring).
  """
  sizes = np.array(curve.sizes, np.float64)
  return float(sizes[0] * curve.uniform_loss_bits +
               np.sum(np.diff(sizes) * np.array(curve.loss_bits[:-1])))


@dataclasses.dataclass(frozen=True)
class LossDataMeasures:
  """What a loss-data curve says, at a few values of epsilon.

  Attributes:
    curve: the curve measured.
    epsilons: the loss thresholds, bits per example.
    sdl_bits: :func:`sdl_bits` at each epsilon.
    sdl_is_lower_bound: whether the curve ends above each epsilon (its SDL
      goes on past the largest size).
    sample_complexity: :func:`sample_complexity` at each epsilon (None: not
      reached).
    online_estimate_bits: :func:`online_estimate_bits`.
  """
  curve: LossDataCurve
  epsilons: tuple
  sdl_bits: tuple
  sdl_is_lower_bound: tuple
  sample_complexity: tuple
  online_estimate_bits: float

  def summary(self) -> dict:
    """The measures and the curve as JSON-friendly values."""
    return {"epsilons": list(self.epsilons), "sdl_bits": list(self.sdl_bits),
            "sdl_is_lower_bound": list(self.sdl_is_lower_bound),
            "sample_complexity": list(self.sample_complexity),
            "online_estimate_bits": self.online_estimate_bits,
            "curve": self.curve.summary()}


def measures(curve: LossDataCurve,
             epsilons: Sequence[float]) -> LossDataMeasures:
  """SDL and eSC at each of ``epsilons``, and the online estimate."""
  epsilons = tuple(_check_epsilon(e) for e in epsilons)
  return LossDataMeasures(
      curve=curve, epsilons=epsilons,
      sdl_bits=tuple(sdl_bits(curve, e) for e in epsilons),
      sdl_is_lower_bound=tuple(curve.loss_bits[-1] > e for e in epsilons),
      sample_complexity=tuple(sample_complexity(curve, e) for e in epsilons),
      online_estimate_bits=online_estimate_bits(curve))
