"""The numbers of hand-written pages (README.md, docs/results.md), filled in
from the runs.

A page marks each part made from the runs by a pair of HTML comments, each
on a line of its own, which Markdown does not show; the prose around them
is written by hand::

    <!-- report:headline fashion_mnist -->
    (made by bin/report: do not edit)
    <!-- /report -->

:func:`fill` replaces what lies between the two with the section the
opening comment names, made from the runs (:data:`SECTIONS`), for the data
set it names; links are relative to the page's folder. ``bin/report
--results=saved_results --pages=README.md,docs/results.md`` does it
(saved_results/regenerate.sh too), and tests/test_docs_results.py checks
that the committed pages are what saved_results/ gives, so that no number
in them drifts from the runs.

Sections (each takes a data set):

* ``headline``: one row per code, its shortest run, the shortest in bold;
* ``table1``, ``table2``: the paper's tables for the data set, with wall
  times;
* ``recipes``: the shortest-code recipes (runs whose config names a
  ``recipe``), each beside its run on random labels;
* ``figures``: the report's figures of the data set, with what they show
  in numbers.
"""

import dataclasses
import math
import os
import re
import urllib.parse
from typing import Sequence

from tfmdl import results
from tfmdl.bits import units
from tfmdl.report import figures
from tfmdl.report import formats
from tfmdl.report import loading
from tfmdl.report import tables

MARK = re.compile(
    r"^<!-- report:(\S+) (\S+) -->\n(.*?)^<!-- /report -->$",
    re.DOTALL | re.MULTILINE)
OPENING = "<!-- report:"
OPENINGS = re.compile(r"^<!-- report:", re.MULTILINE)
NOTE = "<!-- made by bin/report from the runs: edit the runs, not this -->\n"


@dataclasses.dataclass(frozen=True)
class Where:
  """Where a page is (links are relative to its folder) and where
  bin/report writes the figures."""
  page_dir: str
  figures_dir: str

  def link(self, path: str) -> str:
    """``path`` relative to the page's folder, for a Markdown link."""
    return urllib.parse.quote(
        os.path.relpath(path, self.page_dir).replace(os.sep, "/"))


def _kbits(bits: float) -> str:
  return f"{units.bits_to_kbits(bits):,.3f}"


def _of(runs: Sequence[loading.Run], dataset: str) -> list:
  return [r for r in runs
          if r.record["dataset"] == dataset and not r.random_labels]


def _linked(label: str, run: loading.Run, where: Where) -> str:
  return f"[{label}]({where.link(run.file)})"


def headline(runs: Sequence[loading.Run], dataset: str, where: Where) -> str:
  """One row per code (:data:`tables.HEADLINE`): its shortest run on the
  data set's largest n, with the model; the shortest of all in bold."""
  mine = _of(runs, dataset)
  if not mine:
    raise ValueError(f"no run on {dataset}'s true labels for the headline")
  n = max(r.record["n"] for r in mine)
  mine = [r for r in mine if r.record["n"] == n]
  best = []
  for code, codes in tables.HEADLINE:
    its = [r for r in mine if r.code in codes]
    if its:
      best.append((code, min(its, key=lambda r: r.record["codelength_bits"])))
  shortest = min((run for _, run in best),
                 key=lambda r: r.record["codelength_bits"])
  k = mine[0].record["num_classes"]
  lines = ["| code (model) | codelength (kbits) | ratio | test accuracy |",
           "| --- | ---: | ---: | ---: |",
           f"| uniform | {_kbits(n * math.log2(k))} | 1.0000 | "
           f"{formats.MISSING} |"]
  for code, run in best:
    r = run.record
    cells = [_linked(tables.row_label(code, run), run, where),
             _kbits(r["codelength_bits"]),
             f"{r['compression_ratio']:.4f}",
             formats.accuracy_text(r["test_accuracy"])]
    if run is shortest:
      cells = [f"**{c}**" for c in cells]
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines) + (
      f"\n\n{dataset}, n = {n:,} training labels, K = {k}. Per code its "
      "shortest run of those made (the model is named: that choice, made "
      "afterwards, is not paid for); **bold**: the shortest code.\n")


def _table(layout):
  def section(runs, dataset, where):
    """The paper's table of ``layout`` for one data set: code (model)
    linked to its results.json, kbits, ratio, test accuracy, wall time."""
    table = tables.build_table(_of(runs, dataset), layout)
    if not table.columns:
      return "_No run of these codes._\n"
    parts = []
    for column in table.columns:
      if len(table.columns) > 1:
        parts.append(f"n = {column.n:,}:\n")
      lines = ["| code (model) | codelength (kbits) | ratio | test accuracy "
               "| wall time |", "| --- | ---: | ---: | ---: | ---: |"]
      for row in table.rows:
        cell = row.cells.get(column)
        if cell is None:
          continue
        label = (row.label if cell.run is None
                 else _linked(row.label, cell.run, where))
        wall = (formats.MISSING if cell.run is None
                else _wall(cell.run.record["wall_s"]))
        lines.append(
            f"| {label} | {_kbits(cell.codelength_bits)} | "
            f"{cell.compression_ratio:.4f} | "
            f"{formats.accuracy_text(cell.test_accuracy)} | {wall} |")
      parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)
  return section


def _settings(record: dict) -> str:
  """An online run's settings in words: activation (other than ReLU),
  minibatches, replay, schedule, ensemble, augmentation, XLA; for the
  online switch, its mixture."""
  if record.get("learner") == "switch":
    switch = record["config"]["switch"]
    return (f"online switch ({switch['mixture'].replace('_', ' ')}"
            + (", with the learners' average" if switch.get("average")
               else "") + "), each learner with its online settings")
  if record.get("learner") != "online":
    return "block learner"
  online = record["config"]["online"]
  activation = record["config"].get("model_options", {}).get("activation")
  words = ([f"{activation.upper()}"] if activation not in (None, "relu")
           else []) + [f"minibatches of {online['batch_size']}",
                       f"{online['replay']} replay steps"]
  if online.get("schedule") == "cosine":
    words.append("cosine decay")
  if online.get("ensemble", 1) > 1:
    words.append(f"ensemble of {online['ensemble']}")
  if online.get("augment"):
    words.append(f"shifts of {online['shift_pixels']} px")
  if online.get("tta_shifts"):
    words.append(f"test-time shifts of {online['tta_shifts']} px")
  if online.get("jit_compile"):
    words.append("XLA")
  return ", ".join(words)


def _wall(seconds: float) -> str:
  return f"{seconds:.0f} s" if seconds < 60 else f"{seconds / 60:.1f} min"


def recipes(runs: Sequence[loading.Run], dataset: str, where: Where) -> str:
  """The runs of recipes (``config.recipe``) on the data set, longest code
  first: model and settings, bits, the code's wall time, and the same
  recipe's codelength on random labels."""
  def recipe(run):
    return run.record.get("config", {}).get("recipe")

  mine = sorted((r for r in _of(runs, dataset) if recipe(r)),
                key=lambda r: -r.record["codelength_bits"])
  if not mine:
    return "_No recipe run._\n"
  random = {recipe(r): r for r in runs if r.random_labels and recipe(r)
            and r.record["dataset"] == dataset}
  uniform = _kbits(mine[0].record["uniform_bits"])
  lines = ["| recipe | model | settings | codelength (kbits) | ratio | code "
           f"wall time | random labels (kbits; uniform {uniform}) |",
           "| --- | --- | --- | ---: | ---: | ---: | ---: |"]
  for run in mine:
    r = run.record
    twin = random.get(recipe(run))
    lines.append(
        f"| {_linked(f'`{recipe(run)}`', run, where)} | "
        f"{tables.model_label(run)} | {_settings(r)} | "
        f"{_kbits(r['codelength_bits'])} | "
        f"{r['compression_ratio']:.4f} | "
        f"{_wall(r.get('prequential_wall_s', r['wall_s']))} | "
        + (formats.MISSING if twin is None else _linked(
            _kbits(twin.record["codelength_bits"]), twin, where))
        + " |")
  return "\n".join(lines) + "\n"


def _kl_kbits(run: loading.Run) -> float:
  """The KL part of a variational run's best grid point, in kbits."""
  best = min(run.record["grid"], key=lambda p: p["codelength_bits"])
  return units.bits_to_kbits(best["kl_bits"])


def _figure1_note(runs, dataset) -> list:
  return [
      f"Figure 1, {dataset}, {tables.model_label(true)}: with random labels "
      "the variational codelength is "
      f"{_kbits(random.record['codelength_bits'])} kbits, above the uniform "
      f"{_kbits(true.record['uniform_bits'])}, with a KL of "
      f"{_kl_kbits(random):.1f} kbits; with the true labels "
      f"{_kbits(true.record['codelength_bits'])} kbits, of which "
      f"{_kl_kbits(true):.1f} kbits KL."
      for true, random in figures.figure1_pairs(runs)
      if true.record["dataset"] == dataset]


def _figure3_note(runs, dataset) -> list:
  notes = []
  for code in ("self_switch", "switch"):
    saved = sorted(r.record["saved_vs_best_prequential_bits"]
                   for r in _of(runs, dataset) if r.code == code
                   and "saved_vs_best_prequential_bits" in r.record)
    if saved:
      span = " to ".join(f"{bits:,.0f}" for bits in sorted({
          saved[0], saved[-1]}))
      notes.append(f"Figure 3, {dataset}: {code.replace('_', '-')} saves "
                   f"{span} bits over the best prequential code it switches "
                   f"between ({len(saved)} run{'s' * (len(saved) > 1)}).")
  return notes


def figures_section(runs: Sequence[loading.Run], dataset: str,
                    where: Where) -> str:
  """The report's figures of the data set (the names
  :func:`figures.figure_plan` gives, in bin/report's folder), each an
  image, and what Figures 1 and 3 show in numbers."""
  names = [name for name in figures.figure_plan(runs)
           if name == "figure1" or name.startswith(
               (f"figure2_{dataset}", f"figure3_{dataset}"))]
  parts = [f"![{name}]({where.link(os.path.join(where.figures_dir, name))}"
           ".png)" for name in names]
  notes = _figure1_note(runs, dataset) + _figure3_note(runs, dataset)
  return "\n\n".join(parts + notes) + "\n"


SECTIONS = {"headline": headline, "table1": _table(tables.TABLE1),
            "table2": _table(tables.TABLE2), "recipes": recipes,
            "figures": figures_section}


def fill(text: str, runs: Sequence[loading.Run], where: Where,
         name: str = "the page") -> str:
  """``text`` with every marked section made anew from ``runs``.

  Raises:
    ValueError: (one line, naming the page) an unknown section, or an
      opening comment without its closing one.
  """
  if len(OPENINGS.findall(text)) != len(MARK.findall(text)):
    raise ValueError(f"{name}: a '{OPENING}<section> <dataset> -->' line "
                     "has no '<!-- /report -->' after it")

  def made(match):
    section, dataset = match.group(1), match.group(2)
    if section not in SECTIONS:
      raise ValueError(f"{name}: unknown report section {section!r}; known: "
                       f"{', '.join(SECTIONS)}")
    body = SECTIONS[section](runs, dataset, where)
    return f"{OPENING}{section} {dataset} -->\n{NOTE}{body}<!-- /report -->"

  return MARK.sub(made, text)


def make_pages(paths: Sequence[str], runs: Sequence[loading.Run],
               figures_dir: str) -> dict:
  """The new text of each page whose marked sections the runs change
  (:func:`fill`), every page read and made before any is written.

  Returns:
    ``path -> text`` of the pages that change; :func:`write_pages` writes
    them.

  Raises:
    ValueError: a page that is not a file, or see :func:`fill`.
  """
  made = {}
  for path in paths:
    if not os.path.isfile(path):
      raise ValueError(f"--pages: {path} is not a file")
    with open(path, encoding="utf-8") as f:
      text = f.read()
    where = Where(os.path.dirname(os.path.abspath(path)),
                  os.path.abspath(figures_dir))
    new = fill(text, runs, where, path)
    if new != text:
      made[path] = new
  return made


def write_pages(made: dict) -> None:
  """Write each page of :func:`make_pages` atomically."""
  for path, text in made.items():
    results.write_bytes(path, text.encode("utf-8"))
