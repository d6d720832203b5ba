"""What each run paid for its setting, beside what the run ledger counts.

A result pays ``setting_bits`` for the choice of its setting among those
run on the same labels with the same code and model (:mod:`tfmdl.ledger`).
The ledger may hold more settings now than when the result was made (runs
after it): this table shows, for every run, the bits it paid, the distinct
settings the ledger holds for its labels, code and model, and ``log2`` of
that number; a run that paid less is flagged: its codelength is then not a
valid code of the choice made, and ``setting_bits`` should be raised by the
difference (rerun it).
"""

import dataclasses
import math
from typing import Sequence

from tfmdl import ledger
from tfmdl.report import loading

# Bits of float slack between a paid price and log2 of the count.
_SLACK = 1e-9


@dataclasses.dataclass(frozen=True)
class Paid:
  """One run's setting bits: ``paid``, and ``settings`` distinct settings
  in the ledger (``owed = log2 settings``)."""
  run: loading.Run
  paid: float
  settings: int

  @property
  def owed(self) -> float:
    return math.log2(self.settings) if self.settings else 0.0

  @property
  def short(self) -> bool:
    """Whether the run paid less than the ledger's count asks."""
    return self.paid < self.owed - _SLACK


def audit(runs: Sequence[loading.Run], book: ledger.Ledger) -> list:
  """A :class:`Paid` for every run that records its labels' fingerprint
  and what it paid (the searches' trials, and searches, are left out)."""
  entries = book.entries()
  found = []
  for run in runs:
    r = run.record
    if "labels_fingerprint" not in r or "setting_bits" not in r:
      continue
    key = (r["labels_fingerprint"], r["code"], r["model"])
    settings = {e.setting for e in entries
                if (e.labels, e.code, e.model) == key}
    found.append(Paid(run, float(r["setting_bits"]), len(settings)))
  return found


def audit_markdown(rows: Sequence[Paid], out: str, ledger_path: str) -> str:
  """The audit as a Markdown table (links relative to ``out``)."""
  lines = [f"Ledger: `{ledger_path}`.\n",
           "| run | code | model | setting bits paid | settings in the "
           "ledger | log2 of them | |",
           "| --- | --- | --- | ---: | ---: | ---: | --- |"]
  for row in rows:
    r = row.run.record
    lines.append(f"| {row.run.link(out)} | {r['code']} | {r['model']} | "
                 f"{row.paid:.3f} | {row.settings} | {row.owed:.3f} | "
                 f"{'**pays less**' if row.short else ''} |")
  short = sum(row.short for row in rows)
  return "\n".join(lines) + (
      f"\n\n{short} of {len(rows)} runs pay less than the ledger's count.\n")
