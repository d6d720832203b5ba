"""The pages' numbers and links: README.md and docs/*.md stay true.

* the sections that bin/report makes from the runs (README's headline,
  docs/results.md's tables and figures) are what saved_results/ gives now:
  a regenerated run that changes a number fails here until
  ``bin/report --results=saved_results --pages=README.md,docs/results.md``
  is rerun;
* every local link resolves (a file, a heading), a figure of saved_results/
  being one that bin/report draws from its runs;
* every measured figure of docs/results.md's speed and ablation tables is in
  a benchmark output of benchmarks/results/, to its printed precision.
"""

import glob
import json
import os
import re

import pytest

from tfmdl import report
from tfmdl.report import figures
from tfmdl.report import pages

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAVED = os.path.join(REPO, "saved_results")
PAGES = [os.path.join(REPO, "README.md")] + sorted(
    glob.glob(os.path.join(REPO, "docs", "*.md")))
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
NUMBER = re.compile(r"(?<![\w.])-?\d+\.\d+(?![\w.])")


@pytest.fixture(scope="module")
def saved_runs():
  return report.load_runs(SAVED)


def _read(path: str) -> str:
  with open(path, encoding="utf-8") as f:
    return f.read()


def test_generated_sections_are_what_saved_results_give(saved_runs):
  marked = [p for p in PAGES if pages.OPENINGS.search(_read(p))]
  assert [os.path.relpath(p, REPO) for p in marked] == [
      "README.md", os.path.join("docs", "results.md")]
  stale = pages.make_pages(marked, saved_runs, SAVED)
  assert not stale, (
      f"{', '.join(stale)} differ from saved_results/: run bin/report "
      "--results=saved_results --pages=README.md,docs/results.md")
  assert "<!-- report:headline fashion_mnist -->" in _read(PAGES[0])


def _slug(heading: str) -> str:
  """A Markdown heading's anchor, as GitHub makes it."""
  return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_local_links_resolve(saved_runs):
  planned = {os.path.join(SAVED, f"{name}.png")
             for name in figures.figure_plan(saved_runs)}
  broken = []
  for page in PAGES:
    for target in LINK.findall(_read(page)):
      if re.match(r"[a-z]+:", target):
        continue  # a URL
      path, _, anchor = target.partition("#")
      path = (os.path.normpath(os.path.join(os.path.dirname(page), path))
              if path else page)  # "#anchor": a heading of the page itself
      if not os.path.exists(path) and path not in planned:
        broken.append(f"{os.path.relpath(page, REPO)}: {target}")
      elif anchor and anchor not in {
          _slug(h) for h in re.findall(r"^#+ (.*)$", _read(path),
                                       re.MULTILINE)}:
        broken.append(f"{os.path.relpath(page, REPO)}: {target} (anchor)")
  assert not broken


def _benchmark_numbers() -> list:
  """Every number in the benchmark outputs."""
  numbers = []

  def collect(value):
    if isinstance(value, dict):
      for v in value.values():
        collect(v)
    elif isinstance(value, list):
      for v in value:
        collect(v)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
      numbers.append(float(value))

  for path in glob.glob(os.path.join(REPO, "benchmarks", "results", "*")):
    text = _read(path)
    if path.endswith(".jsonl"):
      for line in text.splitlines():
        collect(json.loads(line))
    else:
      numbers += [float(n) for n in re.findall(r"\d+\.\d+", text)]
  return numbers


def _table_cells(text: str, header: str, columns: slice) -> str:
  """The cells in ``columns`` of the Markdown table whose header line
  starts with ``header``."""
  table = text[text.index(header):]
  rows = table[:table.index("\n\n")].splitlines()[2:]
  return " ".join(" ".join(row.split("|")[1:-1][columns]) for row in rows)


def test_speed_and_ablation_figures_are_benchmark_outputs():
  text = _read(os.path.join(REPO, "docs", "results.md"))
  measured = (_table_cells(text, "| what | measured |", slice(1, 2))
              + _table_cells(text, "| setting | kbits |", slice(1, 3)))
  numbers = _benchmark_numbers()
  quoted = NUMBER.findall(measured)
  assert len(quoted) > 30
  missing = [q for q in quoted if not any(
      round(n, len(q.split(".")[1])) == float(q) for n in numbers)]
  assert not missing
