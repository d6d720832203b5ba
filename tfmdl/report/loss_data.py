"""Loss-data curves as a matplotlib figure (Whitney et al. 2020, Figure 1).

Test loss in bits per example against training-set size (log axis), one
labelled curve per encoder or model, the thresholds epsilon of the surplus
description length as dashed lines and the uniform code's ``log2 K`` dotted.
Each curve is drawn as the measures read it
(:mod:`tfmdl.bits.loss_data`: linear in n between the measured sizes,
which are dots).
The figure is drawn on matplotlib's Agg canvas without pyplot, as
:mod:`tfmdl.report.figures` draws; ``figures.png_bytes`` turns it into a
PNG.
"""

import math
from typing import Mapping, Sequence

import numpy as np

from tfmdl.bits.loss_data import LossDataCurve

# The gid of lines that are not curves (uniform, thresholds): the report's
# figures tag theirs alike (:data:`tfmdl.report.figures.REFERENCE`).
REFERENCE = "reference"


def loss_data_figure(curves: Mapping[str, LossDataCurve],
                     epsilons: Sequence[float] = ()):
  """Loss-data curves, one per label, with the thresholds ``epsilons``.

  Args:
    curves: label (an encoder, a model) -> its curve.
    epsilons: thresholds in bits per example, drawn as dashed lines.

  Returns:
    A matplotlib Figure.

  Raises:
    ValueError: without curves.
  """
  if not curves:
    raise ValueError("no loss-data curves to draw")
  from matplotlib.backends.backend_agg import FigureCanvasAgg  # pylint: disable=g-import-not-at-top
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  fig = Figure(figsize=(6.5, 4.5), dpi=110)
  FigureCanvasAgg(fig)
  ax = fig.subplots()
  for label, curve in curves.items():
    # The curve the measures read, linear in n between the measured sizes
    # (curved on the log axis), and the measured sizes as dots.
    sizes = np.unique(np.concatenate(
        [np.geomspace(curve.sizes[0], curve.sizes[-1], 200), curve.sizes]))
    line, = ax.plot(sizes, curve.loss_at(sizes), label=label)
    ax.plot(curve.sizes, curve.loss_bits, "o", markersize=4,
            color=line.get_color())
  for k in sorted({c.num_classes for c in curves.values()}):
    ax.axhline(math.log2(k), color="gray", linestyle=":",
               label=f"uniform, log2 {k}", gid=REFERENCE)
  for epsilon in epsilons:
    ax.axhline(epsilon, color="black", linestyle="--", linewidth=0.8,
               label=f"ε = {epsilon:g}", gid=REFERENCE)
  ax.set_xscale("log")
  ax.set_ylim(bottom=0)
  ax.set_xlabel("training-set size n (log scale)")
  ax.set_ylabel("test loss (bits per example)")
  ax.set_title("Loss-data curves")
  ax.grid(True, which="both", alpha=0.3)
  ax.legend(fontsize="small")
  fig.tight_layout()
  return fig
