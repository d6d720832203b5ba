"""The report's text: tables in Markdown and CSV, captions, the inventory.

Markdown is for people (kbits to 3 decimals, links to each row's
results.json, relative to the report's folder); CSV is for programs (one
line per row and data set, numbers in full precision).
"""

import csv
import io
import os
from typing import Optional, Sequence

from tfmdl.bits import units
from tfmdl.report import loading
from tfmdl.report import tables

MISSING = "—"

DEFINITIONS = f"""What the columns are:

- **codelength**: bits to send the n training labels to a receiver who has
  the inputs, the model's cost included, in kbits (1 kbit = 1000 bits): the
  length of a code the receiver can decode, every choice made after seeing
  the labels paid for (variational: a Monte Carlo estimate of a bits-back
  code);
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
    "Two-part codes count the model's actual bitstream, not only its weights. "
    "Variational rows are a Monte Carlo estimate of a bits-back code.")
TABLE2_CAPTION = (
    "Switching between models, as in the paper's Table 2. Switch and "
    "self-switch are decodable codes (the mixture, with a uniform prior, of "
    "every switching code computed, each with a prior fixed in advance), "
    "not the paper's best model of each block chosen in hindsight "
    "(results.json's hindsight_bound_bits). Variational rows are a Monte "
    "Carlo estimate of a bits-back code.")


def _kbits(bits: float) -> str:
  return f"{units.bits_to_kbits(bits):.3f}"


def accuracy_text(accuracy: Optional[float]) -> str:
  """A test accuracy in percent, or :data:`MISSING`."""
  return MISSING if accuracy is None else f"{100 * accuracy:.2f}%"


def table_markdown(table: tables.Table, out: str) -> str:
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
                 accuracy_text(cell.test_accuracy),
                 MISSING if cell.run is None else cell.run.link(out)]
    lines.append("| " + " | ".join(values) + " |")
  return "\n".join(lines) + "\n"


CSV_FIELDS = ("code", "row", "dataset", "n", "num_classes", "codelength_bits",
              "codelength_kbits", "compression_ratio", "test_accuracy",
              "best_of_code", "results_json")


def table_csv(table: tables.Table, out: str) -> str:
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


def _wall(record: dict) -> str:
  """The wall time of a run; a switch code's includes the runs it mixes."""
  if "own_wall_s" in record:
    return f"{record['wall_s']:.1f} (own {record['own_wall_s']:.1f})"
  return f"{record['wall_s']:.1f}"


def inventory_markdown(runs: Sequence[loading.Run], out: str) -> str:
  """Every run: what it is, its codelength, its wall time and its code
  version."""
  lines = ["| run | code | dataset | model | labels | n | codelength (kbits) "
           "| wall time (s) | code version |", "| --- | --- | --- | --- | --- "
           "| ---: | ---: | ---: | --- |"]
  for run in runs:
    r = run.record
    code = r["code"] + (f" ({r['learner']})" if "learner" in r else "")
    labels = "random" if run.random_labels else "true"
    version = (MISSING if run.code_version is None
               else f"`{run.code_version[:12]}`")
    lines.append(f"| {run.link(out)} | {code} | {r['dataset']} | "
                 f"{tables.model_label(run)} | {labels} | {r['n']} | "
                 f"{_kbits(r['codelength_bits'])} | {_wall(r)} | {version} |")
  alone = sum(run.record.get("own_wall_s", run.record["wall_s"])
              for run in runs)
  return "\n".join(lines) + (
      f"\n\n{len(runs)} runs, {alone:.1f} s of wall time in all. The wall "
      "time of a switch or self-switch run includes the prequential runs it "
      "mixes (its own time in parentheses); the total counts each run "
      "once.\n")


def versions_markdown(runs: Sequence[loading.Run]) -> str:
  """One line on the code versions that wrote the runs (results.json's
  ``code_version``), a warning when there are several."""
  versions = loading.code_versions(runs)
  if not versions:
    return ""

  def described(version, its_runs):
    if version is None:
      return f"{len(its_runs)} runs with no recorded version"
    commits = sorted({
        r.record["code_version"].get("git_commit", "")[:10]
        + (" with uncommitted changes"
           if r.record["code_version"].get("git_dirty") else "")
        for r in its_runs if r.record["code_version"].get("git_commit")})
    named = ("" if not commits else
             f", commit{'s' if len(commits) > 1 else ''} "
             + ", ".join(commits))
    return f"{len(its_runs)} runs of `{version[:12]}`{named}"

  if len(versions) == 1:
    ((version, its_runs),) = versions.items()
    if version is not None:
      return (f"Code version: all runs come from the same code "
              f"({described(version, its_runs)}).\n")
  return ("**Warning: the runs come from different or unrecorded versions of "
          "the code**, so their rows may not be comparable: "
          + "; ".join(described(v, rs) for v, rs in versions.items())
          + ". Rerun the stale ones (`saved_results/regenerate.sh` reruns "
          "every run whose code version is not the current one).\n")


def report_markdown(runs: Sequence[loading.Run], markdown_tables: Sequence[str],
                    figure_names: Sequence[str], out: str,
                    paid_markdown: str) -> str:
  """``report.md``: the tables (Markdown, Table 1 then Table 2) with
  captions, the figures (``<name>.png`` beside it), the inventory and the
  setting bits paid against the run ledger (``paid_markdown``)."""
  random = sum(r.random_labels for r in runs)
  parts = [
      "# Description lengths of the saved runs\n",
      f"Made by `bin/report` from {len(runs)} results.json files "
      f"({random} on random labels, in Figure 1 and the inventory only).\n",
      versions_markdown(runs),
      DEFINITIONS,
      "## Table 1\n", TABLE1_CAPTION + "\n", markdown_tables[0],
      "## Table 2\n", TABLE2_CAPTION + "\n", markdown_tables[1],
      "## Figures\n"]
  parts += [f"![{name}]({name}.png)\n" for name in figure_names] or [
      "_No figure: see the log for why._\n"]
  parts += ["## Runs\n", inventory_markdown(runs, out),
            "## Setting bits, paid and counted\n", paid_markdown]
  return "\n".join(parts)

