"""The paper's tables and figures from saved ``results.json`` files.

``bin/report --results=saved_results/`` reads every ``results.json`` below a
folder (written by bin/prequential, bin/variational, bin/twopart, bin/switch
and bin/tune) and writes into the output folder:

* ``table1.md``, ``table1.csv``: the paper's Table 1 (uniform, two-part
  float32, network compression, random subspace, variational, prequential);
* ``table2.md``, ``table2.csv``: its Table 2 (uniform, variational,
  prequential, switch, self-switch);
* ``report.md``: both tables with captions, the figures and an inventory of
  the runs with their wall times;
* ``figure1.png``: variational objective and its KL part per epoch, true
  against random labels;
* ``figure2_<dataset>.png``: the four panels of the paper's Figure 2 per
  prequential run, against samples transmitted;
* ``figure3_<dataset>.png``: switch and self-switch against the plain
  prequential codes, cumulative codelength minus uniform;
* ``tb/report/``: the same figures as TensorBoard images (tags
  ``report/<figure>``), those of the latest report only.

Tables have one row per (code, model) and per data set the codelength in
kbits, the compression ratio, the test accuracy and the run's results.json.
Runs on random labels appear in Figure 1 and the inventory only. The trials
of a bin/tune search (folders below its results.json) are not reported on
their own: the search's codelength pays for choosing among them.

Every file is read and checked (format version, fields, code) before
anything is written, with numpy only; TensorFlow loads for the TensorBoard
images at the end.
"""

import collections
import csv
import dataclasses
import glob
import io
import json
import math
import os
from typing import Optional, Sequence
import urllib.parse

from absl import logging
import numpy as np

from tfmdl import results
from tfmdl.codes import units
from tfmdl.codes.uniform import uniform_bits

RESULTS = "results.json"
REQUIRED_FIELDS = (
    "format_version", "code", "dataset", "model", "random_labels", "n",
    "num_classes", "codelength_bits", "uniform_bits", "compression_ratio",
    "test_accuracy", "wall_s")
TUNE_PREFIX = "tune/"
CODES = ("prequential", "variational", "twopart_float32",
         "twopart_compressed", "twopart_subspace", "switch", "self_switch",
         TUNE_PREFIX + "prequential", TUNE_PREFIX + "variational")
# Each table: (code name in the table, the results' codes it shows), in the
# paper's order, after the uniform row.
TABLE1 = (
    ("two-part, float32", ("twopart_float32",)),
    ("network compression", ("twopart_compressed",)),
    ("random subspace", ("twopart_subspace",)),
    ("variational", ("variational", TUNE_PREFIX + "variational")),
    ("prequential", ("prequential", TUNE_PREFIX + "prequential")),
)
TABLE2 = (
    ("variational", ("variational", TUNE_PREFIX + "variational")),
    ("prequential", ("prequential", TUNE_PREFIX + "prequential")),
    ("switch", ("switch",)),
    ("self-switch", ("self_switch",)),
)
UNIFORM = "uniform"
MISSING = "—"
TENSORBOARD = "tb/report"

DEFINITIONS = f"""What the columns are:

- **codelength**: bits to send the n training labels to a receiver who has
  the inputs, the model's cost included, in kbits (1 kbit = 1000 bits);
- **compression ratio**: codelength / uniform codelength (n·log2 K, K
  classes) of the same labels;
- **test accuracy**, on the test set, of: the transmitted model (two-part);
  weights sampled from the posterior, mean over the Monte Carlo passes
  (variational); a model trained on all n labels (prequential) or the final
  encoding model (prequential, online); the best trial's model (tuned); the
  most accurate final model of the runs switched between (switch,
  self-switch); {MISSING} for the uniform code, which has no model (chance
  would be 1/K);
- **bold**: the best codelength of a code on a data set among several runs
  (models), a choice made after the fact and not paid for;
- **run**: the results.json of the row. Runs on random labels are not in the
  tables.
"""
TABLE1_CAPTION = (
    "Compression bounds via deep learning, as in the paper's Table 1. "
    "Two-part codes count the model's actual bitstream, not only its weights.")
TABLE2_CAPTION = (
    "Switching between models, as in the paper's Table 2. Switch and "
    "self-switch are decodable codes (a mixture of switching codes whose "
    "priors are fixed in advance and paid for), not the paper's best model "
    "of each block chosen in hindsight (results.json's hindsight_bound_bits).")


@dataclasses.dataclass(frozen=True)
class Run:
  """One results.json: ``file`` (its path), ``name`` (relative to the results
  folder, for people) and ``record`` (its content)."""
  file: str
  name: str
  record: dict

  @property
  def code(self) -> str:
    return self.record["code"]

  @property
  def random_labels(self) -> bool:
    return bool(self.record["random_labels"])

  def link(self, out: str) -> str:
    """A Markdown link to the file, relative to the folder ``out``."""
    target = os.path.relpath(self.file, out).replace(os.sep, "/")
    folder = os.path.dirname(self.name) or self.name
    return f"[{folder}]({urllib.parse.quote(target)})"


def read_record(path: str) -> dict:
  """A results.json that this tfmdl can read.

  Raises:
    ValueError: (one line, naming ``path``) not a JSON object, another (or
      no) ``format_version``, a missing field or an unknown code.
  """
  try:
    record = results.read_json(path)
  except json.JSONDecodeError as e:
    raise ValueError(f"{path} is not JSON: {e}") from e
  if not isinstance(record, dict):
    raise ValueError(f"{path} is not a results.json (a JSON "
                     f"{type(record).__name__}, not an object)")
  expected = results.FORMAT_VERSION
  if "format_version" not in record:
    raise ValueError(f"{path} has no format_version; this tfmdl reads "
                     f"results format version {expected} only")
  if record["format_version"] != expected:
    raise ValueError(
        f"{path} has results format version "
        f"{record['format_version']!r}; this tfmdl reads version {expected} "
        "only (rerun the experiment, or use the tfmdl that wrote it)")
  missing = [f for f in REQUIRED_FIELDS if f not in record]
  if missing:
    raise ValueError(f"{path} lacks the field(s) {', '.join(missing)}")
  if record["code"] not in CODES:
    raise ValueError(f"{path} holds the unknown code {record['code']!r}; "
                     f"known: {', '.join(CODES)}")
  return record


def load_runs(root: str) -> list:
  """Every results.json below ``root``, in folder order, checked.

  A search's results.json (code ``tune/...``) stands for its trials: the
  folders below it are not read.

  Raises:
    ValueError: ``root`` is not a folder or holds no results.json, or a file
      is refused by :func:`read_record`.
  """
  if not os.path.isdir(root):
    raise ValueError(f"--results={root} is not a folder")
  runs = []
  for folder, subfolders, files in os.walk(root):
    subfolders.sort()
    if RESULTS not in files:
      continue
    path = os.path.join(folder, RESULTS)
    run = Run(path, os.path.relpath(path, root), read_record(path))
    runs.append(run)
    if run.code.startswith(TUNE_PREFIX):
      logging.info("%s: a search; its trials are not reported on their own",
                   run.name)
      subfolders.clear()
  if not runs:
    raise ValueError(f"no {RESULTS} under {root}")
  return runs


# ---------------------------------------------------------------- tables


@dataclasses.dataclass(frozen=True)
class Column:
  """A data set of a table: its name, n and K (runs on another n of the same
  data set are another column), and the column's label."""
  dataset: str
  n: int
  num_classes: int
  label: str

  @property
  def uniform_bits(self) -> float:
    return uniform_bits(self.n, self.num_classes)


@dataclasses.dataclass(frozen=True)
class Cell:
  """A row's numbers on one column, and the run they come from (None for the
  uniform code, computed from n and K)."""
  codelength_bits: float
  compression_ratio: float
  test_accuracy: Optional[float]
  run: Optional[Run] = None
  best: bool = False


@dataclasses.dataclass(frozen=True)
class Row:
  """A line of a table: one model's run of a code, per column."""
  code: str  # the table's code name, e.g. "prequential"
  label: str  # e.g. "prequential (lenet)"
  cells: dict  # Column -> Cell; missing columns have no run


@dataclasses.dataclass(frozen=True)
class Table:
  """Columns (data sets) and rows (the uniform code first), ready to print."""
  columns: tuple
  rows: tuple


def _columns(runs: Sequence[Run]) -> tuple:
  """The columns of ``runs``, sorted; the label is the data set's name, with
  n added when runs of one data set differ in n or K."""
  keys = sorted({(r.record["dataset"], r.record["n"], r.record["num_classes"])
                 for r in runs})
  per_dataset = collections.Counter(dataset for dataset, _, _ in keys)
  return tuple(
      Column(dataset, n, k, dataset if per_dataset[dataset] == 1
             else f"{dataset} (n={n})") for dataset, n, k in keys)


def _column_of(columns: Sequence[Column], run: Run) -> Column:
  r = run.record
  return next(c for c in columns if (c.dataset, c.n, c.num_classes) == (
      r["dataset"], r["n"], r["num_classes"]))


def row_label(code: str, run: Run) -> str:
  """``code (model)``, with ``tuned`` or ``online`` where that applies."""
  if run.code.startswith(TUNE_PREFIX):
    code += ", tuned"
  elif run.record.get("learner") == "online":
    code += ", online"
  return f"{code} ({run.record['model']})"


def _cell(run: Run, best: bool) -> Cell:
  r = run.record
  return Cell(r["codelength_bits"], r["compression_ratio"],
              r["test_accuracy"], run, best)


def _uniform_row(columns: Sequence[Column]) -> Row:
  return Row(UNIFORM, UNIFORM, {
      c: Cell(c.uniform_bits, 1.0, None) for c in columns})


def _best_runs(runs: Sequence[Run], columns: Sequence[Column]) -> list:
  """The run of least codelength of each column that has several runs."""
  per_column = collections.defaultdict(list)
  for run in runs:
    per_column[_column_of(columns, run)].append(run)
  return [min(rs, key=lambda r: r.record["codelength_bits"])
          for rs in per_column.values() if len(rs) > 1]


def _code_rows(code: str, codes: Sequence[str], runs: Sequence[Run],
               columns: Sequence[Column]) -> list:
  """The rows of one code: one per label (runs of a label on one column
  beyond the first get rows ``label #2``...), the best cell of each column
  marked when the code has several there; one empty row without runs."""
  mine = sorted((r for r in runs if r.code in codes),
                key=lambda r: (codes.index(r.code), row_label(code, r),
                               r.name))
  if not mine:
    return [Row(code, code, {})]
  best = _best_runs(mine, columns)
  by_label = collections.defaultdict(lambda: collections.defaultdict(list))
  for run in mine:
    by_label[row_label(code, run)][_column_of(columns, run)].append(run)
  rows = []
  for label, per_column in by_label.items():
    for k in range(max(len(v) for v in per_column.values())):
      rows.append(Row(code, label if k == 0 else f"{label} #{k + 1}", {
          c: _cell(v[k], v[k] in best) for c, v in per_column.items()
          if k < len(v)}))
  return rows


def build_table(runs: Sequence[Run], layout: Sequence[tuple]) -> Table:
  """The table of ``layout`` (:data:`TABLE1`, :data:`TABLE2`): the uniform
  row, then each code's rows, from the runs on true labels."""
  codes = {c for _, cs in layout for c in cs}
  shown = [r for r in runs if not r.random_labels and r.code in codes]
  columns = _columns(shown)
  rows = [_uniform_row(columns)]
  for code, its_codes in layout:
    rows += _code_rows(code, its_codes, shown, columns)
  return Table(columns, tuple(rows))


def _kbits(bits: float) -> str:
  return f"{units.bits_to_kbits(bits):.3f}"


def _accuracy(accuracy: Optional[float]) -> str:
  return MISSING if accuracy is None else f"{100 * accuracy:.2f}%"


def table_markdown(table: Table, out: str) -> str:
  """The table in Markdown, links relative to the folder ``out``."""
  if not table.columns:
    return "_No run of these codes._\n"
  header = ["code"]
  for c in table.columns:
    header += [f"{c.label} codelength (kbits)", f"{c.label} compression "
               "ratio", f"{c.label} test accuracy", f"{c.label} run"]
  lines = ["| " + " | ".join(header) + " |",
           "| --- |" + " ---: | ---: | ---: | --- |" * len(table.columns)]
  for row in table.rows:
    values = [row.label]
    for column in table.columns:
      cell = row.cells.get(column)
      if cell is None:
        values += [MISSING] * 4
        continue
      kbits = _kbits(cell.codelength_bits)
      values += [f"**{kbits}**" if cell.best else kbits,
                 f"{cell.compression_ratio:.4f}",
                 _accuracy(cell.test_accuracy),
                 MISSING if cell.run is None else cell.run.link(out)]
    lines.append("| " + " | ".join(values) + " |")
  return "\n".join(lines) + "\n"


CSV_FIELDS = ("code", "row", "dataset", "n", "num_classes", "codelength_bits",
              "codelength_kbits", "compression_ratio", "test_accuracy",
              "best_of_code", "results_json")


def table_csv(table: Table, out: str) -> str:
  """The table in long form, one line per (row, data set), numbers in full
  precision; ``results_json`` relative to the folder ``out`` (empty for the
  uniform code)."""
  text = io.StringIO()
  writer = csv.writer(text, lineterminator="\n")
  writer.writerow(CSV_FIELDS)
  for row in table.rows:
    for column in table.columns:
      cell = row.cells.get(column)
      if cell is None:
        continue
      writer.writerow([
          row.code, row.label, column.dataset, column.n, column.num_classes,
          repr(cell.codelength_bits),
          repr(units.bits_to_kbits(cell.codelength_bits)),
          repr(cell.compression_ratio),
          "" if cell.test_accuracy is None else repr(cell.test_accuracy),
          cell.best,
          "" if cell.run is None else os.path.relpath(cell.run.file, out)])
  return text.getvalue()


def inventory_markdown(runs: Sequence[Run], out: str) -> str:
  """Every run: what it is, its codelength and its wall time."""
  lines = ["| run | code | dataset | model | labels | n | codelength (kbits) "
           "| wall time (s) |", "| --- | --- | --- | --- | --- | ---: | ---: "
           "| ---: |"]
  for run in runs:
    r = run.record
    code = r["code"] + (f" ({r['learner']})" if "learner" in r else "")
    labels = "random" if run.random_labels else "true"
    lines.append(f"| {run.link(out)} | {code} | {r['dataset']} | "
                 f"{r['model']} | {labels} | {r['n']} | "
                 f"{_kbits(r['codelength_bits'])} | {r['wall_s']:.1f} |")
  total = sum(run.record["wall_s"] for run in runs)
  return "\n".join(lines) + (f"\n\n{len(runs)} runs, {total:.1f} s of wall "
                             "time in all.\n")


# ---------------------------------------------------------------- figures


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


def figure1_pairs(runs: Sequence[Run]) -> list:
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


def figure1(runs: Sequence[Run]):
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


def datasets(runs: Sequence[Run]) -> list:
  """The data sets of the runs on true labels, sorted."""
  return sorted({r.record["dataset"] for r in runs if not r.random_labels})


def _run_label(run: Run) -> str:
  r = run.record
  learner = r.get("learner", "block")
  return r["model"] + ("" if learner == "block" else f" ({learner})")


def figure2(runs: Sequence[Run], dataset: str):
  """The paper's Figure 2 for ``dataset``, or None without a prequential
  run: per block, against samples transmitted (block end, log axis), the
  block's bits per sample and accuracy, the cumulative gap to uniform and
  the compression ratio so far."""
  mine = [r for r in runs if r.code == "prequential"
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


def figure3(runs: Sequence[Run], dataset: str):
  """The paper's Figure 3 (cumulative panel) for ``dataset``, or None
  without a switch run that saved its curves: per switch or self-switch
  run, its code and the prequential codes it switches between, cumulative
  codelength minus that of the best of those prequential codes, in bits,
  against samples transmitted (log axis). Against uniform, as in TensorBoard,
  the curves differ by less than the line width; here what switching saves
  (below 0) and what it risks (its overhead) are visible. The y axis is
  symmetric-log: linear within +-10 bits, logarithmic beyond."""
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
  fig, axes = _new_figure(*_grid(len(mine)), 6.0, 4.2)
  for ax, run in zip(axes, mine):
    curves = {label: np.asarray(values)
              for label, values in run.record["curves"].items()}
    steps = curves.pop("steps")
    headline = run.record["headline_curve"]
    reference = min((label for label in curves if label != headline),
                    key=lambda label: curves[label][-1])
    for label, cumulative in curves.items():
      style = (dict(color="black", linewidth=2.0, linestyle="--", zorder=3)
               if label == headline else dict(linewidth=1.5))
      ax.plot(steps, cumulative - curves[reference], label=label, **style)
    ax.axhline(0.0, color="gray", linestyle=":", linewidth=1.0)
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=10.0)
    ax.set_xlabel("samples transmitted (log scale)")
    ax.set_ylabel(f"cumulative codelength - {reference}\n(bits, symlog)")
    ax.set_title(f"{headline} ({run.record['model']}): "
                 f"{run.record['codelength_bits'] - curves[reference][-1]:+.0f}"
                 " bits at n")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="small")
  _hide_unused(axes, len(mine))
  fig.suptitle(f"Figure 3: switching on {dataset}")
  fig.tight_layout()
  return fig


def figures(runs: Sequence[Run]) -> dict:
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


# ---------------------------------------------------------------- the report


def report_markdown(runs: Sequence[Run], tables: Sequence[str],
                    figure_names: Sequence[str], out: str) -> str:
  """``report.md``: the tables (Markdown) with captions, the figures, the
  inventory."""
  random = sum(r.random_labels for r in runs)
  parts = [
      "# Description lengths of the saved runs\n",
      f"Made by `bin/report` from {len(runs)} results.json files "
      f"({random} on random labels, in Figure 1 and the inventory only).\n",
      DEFINITIONS,
      "## Table 1\n", TABLE1_CAPTION + "\n", tables[0],
      "## Table 2\n", TABLE2_CAPTION + "\n", tables[1],
      "## Figures\n"]
  parts += [f"![{name}]({name}.png)\n" for name in figure_names] or [
      "_No figure: see the log for why._\n"]
  parts += ["## Runs\n", inventory_markdown(runs, out)]
  return "\n".join(parts)


def write_tensorboard(pngs: dict, logdir: str) -> None:
  """Each figure as a TensorBoard image, tag ``report/<name>``, step 0.

  ``logdir`` is the report's own: the event files of an earlier report there
  are removed, so that TensorBoard shows this report's figures only.
  """
  from tfmdl import summaries  # pylint: disable=g-import-not-at-top
  for old in glob.glob(os.path.join(logdir, "events.out.tfevents.*")):
    os.remove(old)
  writer = summaries.SummaryWriter(logdir)
  for name, png in pngs.items():
    writer.image(f"report/{name}", png)
  writer.flush()


def write_report(runs: Sequence[Run], out: str) -> list:
  """Write the tables, report.md, the figures and their TensorBoard images
  into ``out``.

  Returns:
    The names of the files written (relative to ``out``), the TensorBoard
    folder last.
  """
  os.makedirs(out, exist_ok=True)
  written = {}
  markdown = []
  for name, layout in (("table1", TABLE1), ("table2", TABLE2)):
    table = build_table(runs, layout)
    markdown.append(table_markdown(table, out))
    written[f"{name}.md"] = markdown[-1]
    written[f"{name}.csv"] = table_csv(table, out)
  pngs = {name: png_bytes(fig) for name, fig in figures(runs).items()}
  written["report.md"] = report_markdown(runs, markdown, list(pngs), out)
  for name, text in written.items():
    results.write_bytes(os.path.join(out, name), text.encode("utf-8"))
  for name, png in pngs.items():
    results.write_bytes(os.path.join(out, f"{name}.png"), png)
  write_tensorboard(pngs, os.path.join(out, TENSORBOARD))
  return list(written) + [f"{name}.png" for name in pngs] + [
      TENSORBOARD + "/"]
