"""The paper's figures from saved runs, as matplotlib Figures and PNG bytes.

* :func:`figure1`: the variational objective and its KL part per epoch, true
  against random labels;
* :func:`figure2`: the prequential code per block (the paper's Figure 2);
* :func:`figure3`: switch and self-switch codes against the prequential
  codes they switch between (the cumulative panel of the paper's Figure 3),
  drawn by :func:`switch_figure`, which ``bin/switch`` uses too.

Figures are drawn on matplotlib's Agg canvas without pyplot: no display is
needed and no figure is left open in a global registry.
"""

import collections
import io
import math
from typing import Mapping, Sequence

from absl import logging
import numpy as np

from tfmdl.bits import units
from tfmdl.report import loading


def _new_figure(rows: int, cols: int, width: float, height: float):
  """A matplotlib Figure on the Agg canvas (no pyplot, no display) and its
  axes as a flat list."""
  from matplotlib.backends.backend_agg import FigureCanvasAgg  # pylint: disable=g-import-not-at-top
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  fig = Figure(figsize=(width * cols, height * rows), dpi=110)
  FigureCanvasAgg(fig)
  axes = fig.subplots(rows, cols, squeeze=False)
  return fig, list(axes.flat)


def _grid(count: int) -> tuple:
  cols = min(count, 2)
  return math.ceil(count / cols), cols


def best_history(record: dict) -> dict:
  """The per-epoch history of a variational run's best grid point."""
  best = min(record["grid"], key=lambda p: p["codelength_bits"])
  return best["history"]


def figure1_pairs(runs: Sequence[loading.Run]) -> list:
  """``(true, random)`` variational runs of the same data set and model,
  the first of each by folder order, when both have per-epoch histories."""
  found = collections.defaultdict(dict)
  for run in runs:
    if run.code == "variational":
      key = (run.record["dataset"], run.record["model"])
      found[key].setdefault(run.random_labels, run)
  pairs = []
  for (dataset, model), pair in sorted(found.items()):
    if len(pair) < 2:
      continue
    if not all(best_history(r.record)["epoch"] for r in pair.values()):
      logging.info("figure 1: %s/%s has no per-epoch history (ran with "
                   "variational.epoch_num_samples=0); skipped", dataset, model)
      continue
    pairs.append((pair[False], pair[True]))
  return pairs


def figure1(runs: Sequence[loading.Run]):
  """The paper's Figure 1, or None without a true/random pair: the
  variational objective and its KL part per epoch, true against random
  labels, the uniform codelength as a line; one panel per data set and
  model."""
  pairs = figure1_pairs(runs)
  if not pairs:
    logging.info("figure 1 skipped: no variational runs with true and random "
                 "labels of the same data set and model")
    return None
  from matplotlib import ticker  # pylint: disable=g-import-not-at-top
  fig, axes = _new_figure(*_grid(len(pairs)), 6.0, 4.2)
  for ax, (true, random) in zip(axes, pairs):
    for run, color, name in ((true, "tab:blue", "true labels"),
                             (random, "tab:red", "random labels")):
      h = best_history(run.record)
      total = np.add(np.add(h["kl_bits"], h["nll_bits"]),
                     h["deterministic_bits"])
      ax.plot(h["epoch"], units.bits_to_kbits(total), color=color,
              label=f"{name}: codelength")
      ax.plot(h["epoch"], units.bits_to_kbits(np.asarray(h["kl_bits"])),
              color=color, linestyle="--", label=f"{name}: KL(q‖prior) part")
    ax.axhline(units.bits_to_kbits(true.record["uniform_bits"]),
               color="gray", linestyle=":", label="uniform codelength")
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("variational objective (kbits, log scale)")
    ax.set_title(f"{true.record['dataset']}, {true.record['model']} "
                 "(best prior scale of each run)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
  _hide_unused(axes, len(pairs))
  fig.suptitle("Figure 1: random labels cannot be compressed (variational "
               "code)")
  fig.tight_layout()
  return fig


def _hide_unused(axes: Sequence, used: int) -> None:
  for ax in axes[used:]:
    ax.set_visible(False)


def datasets(runs: Sequence[loading.Run]) -> list:
  """The data sets of the runs on true labels, sorted."""
  return sorted({r.record["dataset"] for r in runs if not r.random_labels})


def _run_label(run: loading.Run) -> str:
  r = run.record
  learner = r.get("learner", "block")
  return r["model"] + ("" if learner == "block" else f" ({learner})")


def figure2(runs: Sequence[loading.Run], dataset: str):
  """The paper's Figure 2 for ``dataset``, or None without a prequential
  run: per block, against samples transmitted (block end, log axis), the
  block's bits per sample and accuracy, the cumulative gap to uniform and
  the compression ratio so far."""
  mine = [r for r in runs if r.code in ("prequential", "online")
          and r.record["dataset"] == dataset and not r.random_labels]
  if not mine:
    logging.info("figure 2 skipped for %s: no prequential run", dataset)
    return None
  fig, axes = _new_figure(2, 2, 5.5, 3.8)
  bits_ax, gap_ax, accuracy_ax, ratio_ax = axes
  for run in mine:
    blocks = run.record["blocks"]
    end = np.array([b["end"] for b in blocks])
    log2k = math.log2(run.record["num_classes"])
    cumulative = np.cumsum([b["bits"] for b in blocks])
    style = dict(marker="o", markersize=3, label=_run_label(run))
    bits_ax.plot(end, [b["bits_per_sample"] for b in blocks], **style)
    accuracy_ax.plot(end, [b["accuracy"] for b in blocks], **style)
    gap_ax.plot(end, units.bits_to_kbits(end * log2k - cumulative), **style)
    ratio_ax.plot(end, cumulative / (end * log2k), **style)
  k = mine[0].record["num_classes"]
  bits_ax.axhline(math.log2(k), color="gray", linestyle=":",
                  label="uniform (log2 K)")
  accuracy_ax.axhline(1 / k, color="gray", linestyle=":",
                      label="chance (1/K)")
  gap_ax.axhline(0, color="gray", linestyle=":", label="uniform")
  ratio_ax.axhline(1, color="gray", linestyle=":", label="uniform")
  for ax, ylabel in ((bits_ax, "block codelength (bits per sample)"),
                     (accuracy_ax, "block accuracy"),
                     (gap_ax, "uniform - prequential, cumulative (kbits)"),
                     (ratio_ax, "compression ratio so far")):
    ax.set_xscale("log")
    ax.set_xlabel("samples transmitted (block end, log scale)")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="small")
  fig.suptitle(f"Figure 2: prequential code on {dataset}")
  fig.tight_layout()
  return fig


def figure3(runs: Sequence[loading.Run], dataset: str):
  """The paper's Figure 3 (cumulative panel) for ``dataset``, or None
  without a switch run that saved its curves: :func:`switch_figure` of the
  switch and self-switch runs on true labels."""
  mine = [r for r in runs if r.code in ("switch", "self_switch")
          and r.record["dataset"] == dataset and not r.random_labels]
  without = [r.name for r in mine if "curves" not in r.record]
  if without:
    logging.info("figure 3: %s hold no curves (written before results.json "
                 "had them; rerun bin/switch); skipped", ", ".join(without))
  mine = [r for r in mine if "curves" in r.record]
  if not mine:
    logging.info("figure 3 skipped for %s: no switch or self-switch run with "
                 "curves", dataset)
    return None
  return switch_figure([r.record for r in mine], dataset)


def switch_figure(records: Sequence[Mapping], dataset: str):
  """Figure 3's cumulative panel of each switch or self-switch code.

  Per code, its curve and those of the prequential codes it switches
  between: cumulative codelength minus that of the best of those prequential
  codes, in bits, against samples transmitted (log axis). Against uniform,
  as in TensorBoard, the curves differ by less than the line width; here
  what switching saves (below 0) and what it risks (its overhead) are
  visible. The y axis is symmetric-log: linear within +-10 bits, logarithmic
  beyond. ``bin/report`` draws it from saved runs, ``bin/switch`` for the run
  it makes.

  Args:
    records: one per panel, the content of a switch or self-switch
      results.json; its fields used are ``curves`` (``{"steps": [t, ...],
      label: [cumulative bits of labels 1..t, ...], ...}``),
      ``headline_curve`` (the label of the switching code's curve) and
      ``model``.
    dataset: the data set's name, for the title.

  Returns:
    A matplotlib Figure.
  """
  fig, axes = _new_figure(*_grid(len(records)), 6.0, 4.2)
  for ax, record in zip(axes, records):
    curves = {label: np.asarray(values)
              for label, values in record["curves"].items()}
    steps = curves.pop("steps")
    headline = record["headline_curve"]
    # Sorted, as results.json holds them, so that a run's curves keep their
    # colours whether they come from the file or from bin/switch.
    prequential = sorted(label for label in curves if label != headline)
    reference = min(prequential, key=lambda label: curves[label][-1])
    for label in prequential + [headline]:
      style = (dict(color="black", linewidth=2.0, linestyle="--", zorder=3)
               if label == headline else dict(linewidth=1.5))
      ax.plot(steps, curves[label] - curves[reference], label=label, **style)
    ax.axhline(0.0, color="gray", linestyle=":", linewidth=1.0)
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=10.0)
    ax.set_xlabel("samples transmitted (log scale)")
    ax.set_ylabel(f"cumulative codelength - {reference}\n(bits, symlog)")
    ax.set_title(f"{headline} ({record['model']}): "
                 f"{curves[headline][-1] - curves[reference][-1]:+.0f} bits "
                 "at n")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="small")
  _hide_unused(axes, len(records))
  fig.suptitle(f"Figure 3: switching on {dataset}")
  fig.tight_layout()
  return fig


def all_figures(runs: Sequence[loading.Run]) -> dict:
  """``name -> matplotlib Figure`` of every figure the runs allow."""
  made = {"figure1": figure1(runs)}
  for dataset in datasets(runs):
    made[f"figure2_{dataset}"] = figure2(runs, dataset)
    made[f"figure3_{dataset}"] = figure3(runs, dataset)
  return {name: fig for name, fig in made.items() if fig is not None}


def png_bytes(fig) -> bytes:
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png")
  return buffer.getvalue()

