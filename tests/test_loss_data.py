"""Loss-data measures against values computed by hand, and their figure."""

import math
import subprocess
import sys

import numpy as np
import pytest

from tfmdl.bits import loss_data
from tfmdl.bits.loss_data import LossDataCurve
from tfmdl.report.loss_data import loss_data_figure

# From 3 bits at n=10 down to 1 bit at n=30, a straight line.
LINEAR = LossDataCurve(sizes=(10, 30), loss_bits=(3.0, 1.0), num_classes=8)
# 2 bits up to n=20, 0 bits from n=21: a step.
STEP = LossDataCurve(sizes=(10, 20, 21, 40), loss_bits=(2.0, 2.0, 0.0, 0.0),
                     num_classes=4)


def test_sdl_of_a_straight_line_is_a_rectangle_and_a_triangle():
  # eps=1: [0, 10] at 3 bits is 10 * 2; [10, 30] a triangle 20 * 2 / 2.
  assert loss_data.sdl_bits(LINEAR, 1.0) == pytest.approx(40.0)
  # eps=2: 10 * 1, then the line crosses 2 bits at n=20: 10 * 1 / 2.
  assert loss_data.sdl_bits(LINEAR, 2.0) == pytest.approx(15.0)
  # eps=0.5: 10 * 2.5, then a trapezoid 20 * (2.5 + 0.5) / 2.
  assert loss_data.sdl_bits(LINEAR, 0.5) == pytest.approx(55.0)
  assert loss_data.sample_complexity(LINEAR, 2.0) == 20
  assert loss_data.sample_complexity(LINEAR, 1.0) == 30
  assert loss_data.sample_complexity(LINEAR, 2.5) == 15
  # The line reaches 1.3 bits at n=27 exactly, 1.31 between 26 and 27.
  assert loss_data.sample_complexity(LINEAR, 1.3) == 27
  assert loss_data.sample_complexity(LINEAR, 1.31) == 27


def test_step_curve():
  # 20 examples at 2 bits, then half of the one-example drop.
  assert loss_data.sdl_bits(STEP, 0.0) == pytest.approx(41.0)
  assert loss_data.sdl_bits(STEP, 1.0) == pytest.approx(20.25)
  assert loss_data.sample_complexity(STEP, 1.0) == 21
  assert loss_data.sample_complexity(STEP, 2.0) == 10
  # Uniform 10 * log2 4, then 10 and 1 examples at 2 bits, 19 at 0.
  assert loss_data.online_estimate_bits(STEP) == pytest.approx(42.0)


def test_epsilon_above_every_loss_and_below_every_loss():
  assert loss_data.sdl_bits(LINEAR, 3.0) == 0.0
  assert loss_data.sdl_bits(LINEAR, 7.5) == 0.0
  assert loss_data.sample_complexity(LINEAR, 3.0) == 10
  assert loss_data.sample_complexity(LINEAR, 0.99) is None
  m = loss_data.measures(LINEAR, (3.0, 0.5))
  assert m.sdl_is_lower_bound == (False, True)
  assert m.sample_complexity == (10, None)
  assert m.sdl_bits == pytest.approx((0.0, 55.0))


def test_online_estimate_prices_each_block_with_the_prefix_model():
  curve = LossDataCurve(sizes=(10, 20, 40), loss_bits=(1.5, 1.0, 0.5),
                        num_classes=4)
  # 10 * log2 4 + 10 * 1.5 + 20 * 1.0; the last loss codes nothing.
  assert loss_data.online_estimate_bits(curve) == pytest.approx(55.0)
  changed = LossDataCurve(sizes=(10, 20, 40), loss_bits=(1.5, 1.0, 0.1),
                          num_classes=4)
  assert loss_data.online_estimate_bits(changed) == pytest.approx(55.0)
  one = LossDataCurve(sizes=(7,), loss_bits=(0.2,), num_classes=2)
  assert loss_data.online_estimate_bits(one) == pytest.approx(7.0)


def test_the_area_is_the_sum_up_to_one_examples_excess():
  """For a non-increasing curve, the area of SDL exceeds the sum over
  n = 1..n_S of the interpolated excess by at most max(0, L(n_1) - eps)."""
  rng = np.random.default_rng(0)
  for _ in range(20):
    sizes = tuple(np.cumsum(rng.integers(1, 60, 5)).tolist())
    losses = tuple(np.sort(rng.uniform(0, 3.3, 5))[::-1].tolist())
    curve = LossDataCurve(sizes=sizes, loss_bits=losses, num_classes=10)
    for eps in (0.0, 0.5, 1.5, 3.0):
      n = np.arange(1, sizes[-1] + 1)
      total = np.maximum(curve.loss_at(n) - eps, 0).sum()
      gap = loss_data.sdl_bits(curve, eps) - total
      assert -1e-9 <= gap <= max(0.0, losses[0] - eps) + 1e-9


def test_random_labels_sdl_grows_linearly_and_never_reaches_epsilon():
  """A flat curve at log2 K (nothing learned): SDL(eps) = n_S (log2 K -
  eps), proportional to the sizes measured."""
  for last in (100, 200, 400):
    sizes = (25, 50, 100, 200, 400)[:(100, 200, 400).index(last) + 3]
    flat = LossDataCurve(sizes=sizes, loss_bits=(math.log2(10),) * len(sizes),
                         num_classes=10)
    assert loss_data.sdl_bits(flat, 0.1) == pytest.approx(
        last * (math.log2(10) - 0.1))
    assert loss_data.sample_complexity(flat, 0.1) is None
    assert loss_data.online_estimate_bits(flat) == pytest.approx(
        last * math.log2(10))


def test_sdl_decreases_as_epsilon_grows():
  epsilons = np.linspace(0, 3.5, 36)
  sdl = [loss_data.sdl_bits(STEP, e) for e in epsilons]
  assert all(b <= a for a, b in zip(sdl, sdl[1:]))


def test_summary_is_json_friendly():
  import json  # pylint: disable=g-import-not-at-top
  m = loss_data.measures(LINEAR, (2.0,))
  back = json.loads(json.dumps(m.summary()))
  assert back["sdl_bits"] == [15.0]
  assert back["sample_complexity"] == [20]
  assert back["curve"]["sizes"] == [10, 30]


@pytest.mark.parametrize("kwargs, message", [
    (dict(sizes=(), loss_bits=()), "at least one size"),
    (dict(sizes=(10, 10), loss_bits=(1.0, 1.0)), "strictly increasing"),
    (dict(sizes=(20, 10), loss_bits=(1.0, 1.0)), "strictly increasing"),
    (dict(sizes=(0, 10), loss_bits=(1.0, 1.0)), "strictly increasing"),
    (dict(sizes=(1.5, 10), loss_bits=(1.0, 1.0)), "integers"),
    (dict(sizes=(5, 10), loss_bits=(1.0,)), "2 sizes but 1 losses"),
    (dict(sizes=(5,), loss_bits=(float("nan"),)), "finite and >= 0"),
    (dict(sizes=(5,), loss_bits=(-0.1,)), "finite and >= 0"),
    (dict(sizes=(5,), loss_bits=(1.0,), accuracy=(1.2,)), "in [0, 1]"),
    (dict(sizes=(5,), loss_bits=(1.0,), num_classes=1), "2 classes"),
])
def test_bad_curves_are_refused_in_one_line(kwargs, message):
  with pytest.raises(ValueError) as excinfo:
    LossDataCurve(**dict(dict(num_classes=10), **kwargs))
  assert message in str(excinfo.value)
  assert "\n" not in str(excinfo.value)


def test_bad_epsilon_is_refused():
  for eps in (-0.1, float("inf"), float("nan")):
    with pytest.raises(ValueError, match="epsilon must be finite"):
      loss_data.sdl_bits(LINEAR, eps)
    with pytest.raises(ValueError, match="epsilon must be finite"):
      loss_data.measures(LINEAR, (eps,))


def test_the_measures_need_no_tensorflow():
  code = ("import sys, tfmdl.bits.loss_data, tfmdl.report.loss_data; "
          "assert 'tensorflow' not in sys.modules")
  subprocess.run([sys.executable, "-c", code], check=True)


def test_figure_has_a_labelled_line_per_curve_and_dashed_epsilons():
  fig = loss_data_figure({"trained": STEP, "random": LINEAR}, (0.5, 1.0))
  ax = fig.axes[0]
  assert ax.get_xscale() == "log"
  lines = {line.get_label(): line for line in ax.get_lines()}
  for label, curve in (("trained", STEP), ("random", LINEAR)):
    drawn = lines[label]
    assert drawn.get_xdata()[0] == curve.sizes[0]
    assert drawn.get_xdata()[-1] == curve.sizes[-1]
    np.testing.assert_allclose(drawn.get_ydata(),
                               curve.loss_at(drawn.get_xdata()))
    np.testing.assert_allclose(
        np.interp(curve.sizes, drawn.get_xdata(), drawn.get_ydata()),
        curve.loss_bits)
  for eps in ("0.5", "1"):
    assert lines[f"ε = {eps}"].get_linestyle() == "--"
  assert {"uniform, log2 4", "uniform, log2 8"} <= set(lines)
  with pytest.raises(ValueError, match="no loss-data curves"):
    loss_data_figure({})
