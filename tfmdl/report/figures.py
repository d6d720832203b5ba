"""The paper's figures from saved runs, as matplotlib Figures and PNG bytes.

* :func:`figure1`: the variational objective and its KL part per epoch, true
  against random labels;
* :func:`figure2`: the prequential code per block (the paper's Figure 2),
  one figure per group of runs (:func:`figure2_groups`: block learner,
  online learner, recipes), at most :data:`MAX_CURVES` runs each, every
  curve labelled by what tells it apart (:func:`curve_labels`);
* :func:`figure3`: switch and self-switch codes against the prequential
  codes they switch between (the cumulative panel of the paper's Figure 3),
  drawn by :func:`switch_figure`, which ``bin/switch`` uses too;
* :func:`loss_data_figures`: the loss-data curves found beside the runs
  (:mod:`tfmdl.report.loss_data` draws them).

Figures are drawn on matplotlib's Agg canvas without pyplot: no display is
needed and no figure is left open in a global registry.
"""

import collections
import functools
import io
import math
import os
from typing import Mapping, Sequence

from absl import logging
import numpy as np

from tfmdl.bits import units
from tfmdl.bits.loss_data import LossDataCurve
from tfmdl.report import loading
from tfmdl.report import loss_data
from tfmdl.report import tables

# Runs per panel at most: more curves cannot be told apart.
MAX_CURVES = 5
# The gid of reference lines (uniform, chance), which are not runs.
REFERENCE = loss_data.REFERENCE


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
    _reference(ax, units.bits_to_kbits(true.record["uniform_bits"]),
               "uniform codelength")
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


def curve_labels(runs: Sequence[loading.Run]) -> list:
  """One legend label per run, no two alike: the model with its layer sizes
  (:func:`tables.model_label`), the recipe of a shortest-code config
  (``config.recipe``) and the learner where the runs mix learners; a label
  still shared by several runs gets each run's folder."""
  learners = {r.record.get("learner", "block") for r in runs}
  labels = []
  for run in runs:
    parts = [tables.model_label(run)]
    recipe = run.record.get("config", {}).get("recipe")
    if recipe:
      parts.append(f"recipe {recipe}")
    if len(learners) > 1:
      parts.append(f"{run.record.get('learner', 'block')} learner")
    labels.append(", ".join(parts))
  counts = collections.Counter(labels)
  return [f"{label} [{os.path.dirname(run.name) or run.name}]"
          if counts[label] > 1 else label
          for label, run in zip(labels, runs)]


def _reference(ax, y: float, label: str) -> None:
  """A horizontal reference line (uniform code, chance), not a run's
  curve: tagged ``gid="reference"``, so that tests count runs apart."""
  ax.axhline(y, color="gray", linestyle=":", label=label, gid=REFERENCE)


def figure2_groups(runs: Sequence[loading.Run], dataset: str) -> dict:
  """The prequential runs of Figure 2 on ``dataset`` (true labels), by
  figure: ``block`` (the block learner, the paper's code), ``online`` (the
  online learner) and ``recipes`` (configs of the shortest codes), each in
  parts of at most :data:`MAX_CURVES` runs (``online_1``, ``online_2``...
  where a group has more), so that every curve can be told apart."""
  groups = collections.defaultdict(list)
  for run in runs:
    if (run.code not in ("prequential", "online", "online_switch")
        or run.random_labels
        or run.record["dataset"] != dataset):
      continue
    recipe = run.record.get("config", {}).get("recipe")
    groups["recipes" if recipe else run.record.get("learner", "block")
           ].append(run)
  parts = {}
  for group in ("block", "online", "recipes"):
    mine = groups.get(group, [])
    count = math.ceil(len(mine) / MAX_CURVES)
    for i in range(count):
      name = group if count == 1 else f"{group}_{i + 1}"
      parts[name] = mine[i * MAX_CURVES:(i + 1) * MAX_CURVES]
  return parts


GROUP_TITLES = {"block": "block learner (a model per block, the paper's)",
                "online": "online learner",
                "recipes": "shortest-code recipes"}


def _common_ends(runs: Sequence[loading.Run]) -> np.ndarray:
  """The block ends that every run has, sorted."""
  ends = [{b["end"] for b in r.record["blocks"]} for r in runs]
  return np.array(sorted(set.intersection(*ends)))


def figure2(runs: Sequence[loading.Run], dataset: str, title: str = ""):
  """The paper's Figure 2 for ``runs`` (prequential runs on ``dataset``),
  or None without one: per block, against samples transmitted (block end,
  log axis), the block's bits per sample and accuracy, the compression
  ratio so far (log axis, where the codes separate) and the cumulative
  codelength minus that of the figure's shortest run (of the uniform code
  for a run alone), in bits (symlog: gaps of a few bits and of kbits both
  show), at the block ends the runs share. ``title`` says which runs these
  are (see :func:`figure2_groups`)."""
  if not runs:
    logging.info("figure 2 skipped for %s: no prequential run", dataset)
    return None
  fig, axes = _new_figure(2, 2, 5.5, 3.8)
  bits_ax, gap_ax, accuracy_ax, ratio_ax = axes
  ends = _common_ends(runs)
  cumulative = {}
  for run, label in zip(runs, curve_labels(runs)):
    blocks = run.record["blocks"]
    end = np.array([b["end"] for b in blocks])
    log2k = math.log2(run.record["num_classes"])
    total = np.cumsum([b["bits"] for b in blocks])
    cumulative[label] = total[np.isin(end, ends)]
    style = dict(marker="o", markersize=3, label=label)
    bits_ax.plot(end, [b["bits_per_sample"] for b in blocks], **style)
    accuracy_ax.plot(end, [b["accuracy"] for b in blocks], **style)
    ratio_ax.plot(end, total / (end * log2k), **style)
  k = runs[0].record["num_classes"]
  # The gap between codes; a run alone is compared with the uniform code.
  if len(runs) > 1:
    shortest = min(cumulative, key=lambda label: cumulative[label][-1])
    against, reference = f"the shortest run here, {shortest}", cumulative[
        shortest]
  else:
    against, reference = "the uniform code", ends * math.log2(k)
  for label, total in cumulative.items():
    gap_ax.plot(ends, total - reference, marker="o", markersize=3,
                label=label)
  _reference(bits_ax, math.log2(k), "uniform (log2 K)")
  _reference(accuracy_ax, 1 / k, "chance (1/K)")
  _reference(ratio_ax, 1, "uniform")
  from matplotlib import ticker  # pylint: disable=g-import-not-at-top
  ratio_ax.set_yscale("log")
  ratio_ax.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
  ratio_ax.yaxis.set_minor_formatter(ticker.FormatStrFormatter("%g"))
  gap_ax.set_yscale("symlog", linthresh=10.0)
  gap_ax.set_title(f"gap to {against}", fontsize="small")
  for ax, ylabel in (
      (bits_ax, "block codelength (bits per sample)"),
      (accuracy_ax, "block accuracy"),
      (gap_ax, "cumulative codelength gap (bits, symlog)"),
      (ratio_ax, "compression ratio so far (log scale)")):
    ax.set_xscale("log")
    ax.set_xlabel("samples transmitted (block end, log scale)")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="small")
  fig.suptitle(f"Figure 2: prequential code on {dataset}"
               + (f", {title}" if title else ""))
  fig.tight_layout()
  return fig


def _switch_runs(runs: Sequence[loading.Run], dataset: str) -> list:
  """The switch and self-switch runs on ``dataset``'s true labels that
  saved their curves (Figure 3's)."""
  mine = [r for r in runs if r.code in ("switch", "self_switch")
          and r.record["dataset"] == dataset and not r.random_labels]
  without = [r.name for r in mine if "curves" not in r.record]
  if without:
    logging.info("figure 3: %s hold no curves (written before results.json "
                 "had them; rerun bin/switch); skipped", ", ".join(without))
  return [r for r in mine if "curves" in r.record]


def figure3(runs: Sequence[loading.Run], dataset: str):
  """The paper's Figure 3 (cumulative panel) for ``dataset``, or None
  without a switch run that saved its curves: :func:`switch_figure` of the
  switch and self-switch runs on true labels."""
  mine = _switch_runs(runs, dataset)
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
    ax.axhline(0.0, color="gray", linestyle=":", linewidth=1.0,
               gid=REFERENCE)
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


def figure_plan(runs: Sequence[loading.Run]) -> dict:
  """``name -> function drawing it`` of every figure the runs allow, in
  report order, without drawing: ``figure1``, then per data set
  ``figure2_<dataset>_<group>`` (:func:`figure2_groups`) and
  ``figure3_<dataset>``."""
  plan = {}
  if figure1_pairs(runs):
    plan["figure1"] = functools.partial(figure1, runs)
  for dataset in datasets(runs):
    groups = figure2_groups(runs, dataset)
    if not groups:
      logging.info("figure 2 skipped for %s: no prequential run", dataset)
    for name, mine in groups.items():
      plan[f"figure2_{dataset}_{name}"] = functools.partial(
          figure2, mine, dataset, GROUP_TITLES[name.split("_")[0]])
    if _switch_runs(runs, dataset):
      plan[f"figure3_{dataset}"] = functools.partial(figure3, runs, dataset)
  return plan


def all_figures(runs: Sequence[loading.Run]) -> dict:
  """``name -> matplotlib Figure`` of every figure the runs allow."""
  return {name: draw() for name, draw in figure_plan(runs).items()}


def loss_data_figures(curves: Mapping[str, LossDataCurve]) -> dict:
  """The loss-data curves (``{folder: curve}``,
  :func:`loading.load_curves`), each labelled by its folder, as
  ``loss_data`` (``loss_data_1``, ``loss_data_2``... by :data:`MAX_CURVES`)
  -> matplotlib Figure."""
  names = list(curves)
  count = math.ceil(len(names) / MAX_CURVES)
  return {("loss_data" if count == 1 else f"loss_data_{i + 1}"):
          loss_data.loss_data_figure({
              name: curves[name]
              for name in names[i * MAX_CURVES:(i + 1) * MAX_CURVES]})
          for i in range(count)}


def png_bytes(fig) -> bytes:
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png")
  return buffer.getvalue()

