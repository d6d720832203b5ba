"""The paper's Table 1 and Table 2 as data: columns (data sets) and rows.

:func:`build_table` turns the runs and a layout (:data:`TABLE1`,
:data:`TABLE2`: the table's codes in the paper's order) into a
:class:`Table`; :mod:`tfmdl.report.formats` prints it.
"""

import collections
import dataclasses
from typing import Optional, Sequence

from tfmdl.bits.uniform import uniform_bits
from tfmdl.report import loading

# Each table: (code name in the table, the results' codes it shows), in the
# paper's order, after the uniform row.
TABLE1 = (
    ("two-part, float32", ("two_part_float32",)),
    ("network compression", ("two_part_compressed",)),
    ("random subspace", ("two_part_subspace",)),
    ("variational", ("variational", loading.TUNE_PREFIX + "variational")),
    ("prequential", ("prequential", "online", "online_switch",
                     loading.TUNE_PREFIX + "prequential")),
)
TABLE2 = (
    ("variational", ("variational", loading.TUNE_PREFIX + "variational")),
    ("prequential", ("prequential", "online", "online_switch",
                     loading.TUNE_PREFIX + "prequential")),
    ("switch", ("switch",)),
    ("self-switch", ("self_switch",)),
    ("shortest", ("shortest",)),
)
# The README's headline: one row per code, the online learner's apart (its
# label says "online" or "online switch": :func:`row_label`).
HEADLINE = TABLE1[:4] + (
    ("prequential", ("prequential", loading.TUNE_PREFIX + "prequential")),
    ("prequential", ("online", "online_switch"))) + TABLE2[2:]
UNIFORM = "uniform"


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
  run: Optional[loading.Run] = None
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


def _columns(runs: Sequence[loading.Run]) -> tuple:
  """The columns of ``runs``, sorted; the label is the data set's name, with
  n added when runs of one data set differ in n or K."""
  keys = sorted({(r.record["dataset"], r.record["n"], r.record["num_classes"])
                 for r in runs})
  per_dataset = collections.Counter(dataset for dataset, _, _ in keys)
  return tuple(
      Column(dataset, n, k, dataset if per_dataset[dataset] == 1
             else f"{dataset} (n={n})") for dataset, n, k in keys)


def _column_of(columns: Sequence[Column], run: loading.Run) -> Column:
  r = run.record
  return next(c for c in columns if (c.dataset, c.n, c.num_classes) == (
      r["dataset"], r["n"], r["num_classes"]))


def _sized(model: str, options) -> str:
  """``model`` with the layer sizes of its ``options`` where they have them:
  ``mlp 2×256``, ``mlp 3×200``, ``shallow 5000``."""
  options = options or {}
  sizes = options.get("hidden_sizes")
  if sizes:
    sizes = list(sizes)
    shape = (f"{len(sizes)}×{sizes[0]}" if len(set(sizes)) == 1
             else "-".join(str(size) for size in sizes))
    return f"{model} {shape}"
  if options.get("width"):
    return f"{model} {options['width']}"
  return model


def model_label(run: loading.Run) -> str:
  """The model of a row, with its layer sizes where the run's config gives
  them, so that two networks of one zoo name (the paper's mlp of 2×256 and
  Figure 1's of 3×200) are told apart; a switch run's models joined by
  ``+``. A search's best model is shown by name only (its options are the
  trial's)."""
  record = run.record
  if run.code.startswith(loading.TUNE_PREFIX):
    return record["model"]
  if "runs" in record and "models" in record:
    return "+".join(_sized(r["model"], r.get("model_options"))
                    for r in record["runs"])
  return _sized(record["model"], record.get("config", {}).get(
      "model_options"))


def row_label(code: str, run: loading.Run) -> str:
  """``code (model)``, with ``tuned`` or ``online`` where that applies, the
  model as :func:`model_label` writes it, and the recipe of a config from
  configs/shortest_fashion_mnist.py (``config.recipe``)."""
  if run.code.startswith(loading.TUNE_PREFIX):
    code += ", tuned"
  elif run.code == "online":
    code += ", online"
  elif run.code == "online_switch":
    code += ", online switch"
  recipe = run.record.get("config", {}).get("recipe")
  model = model_label(run) + (f", recipe {recipe}" if recipe else "")
  return f"{code} ({model})"


def _cell(run: loading.Run, best: bool) -> Cell:
  r = run.record
  return Cell(r["codelength_bits"], r["compression_ratio"],
              r["test_accuracy"], run, best)


def _uniform_row(columns: Sequence[Column]) -> Row:
  return Row(UNIFORM, UNIFORM, {
      c: Cell(c.uniform_bits, 1.0, None) for c in columns})


def _best_runs(runs: Sequence[loading.Run], columns: Sequence[Column]) -> list:
  """The run of least codelength of each column that has several runs."""
  per_column = collections.defaultdict(list)
  for run in runs:
    per_column[_column_of(columns, run)].append(run)
  return [min(rs, key=lambda r: r.record["codelength_bits"])
          for rs in per_column.values() if len(rs) > 1]


def _code_rows(code: str, codes: Sequence[str], runs: Sequence[loading.Run],
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


def build_table(runs: Sequence[loading.Run], layout: Sequence[tuple]) -> Table:
  """The table of ``layout`` (:data:`TABLE1`, :data:`TABLE2`): the uniform
  row, then each code's rows, from the runs on true labels."""
  codes = {c for _, cs in layout for c in cs}
  shown = [r for r in runs if not r.random_labels and r.code in codes]
  columns = _columns(shown)
  rows = [_uniform_row(columns)]
  for code, its_codes in layout:
    rows += _code_rows(code, its_codes, shown, columns)
  return Table(columns, tuple(rows))

