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
* ``figure2_<dataset>_<group>.png``: the four panels of the paper's
  Figure 2, against samples transmitted, one figure per group of
  prequential runs (``block``, ``online``, ``recipes``; at most five runs
  each, every curve labelled by what tells it apart);
* ``figure3_<dataset>.png``: switch and self-switch against the plain
  prequential codes, cumulative codelength minus the best of those (the
  design of ``bin/switch``'s ``figure3_cumulative.png`` too);
* ``loss_data.png``: the loss-data curves found below the folder
  (``tfmdl.loss_data_curve(..., logdir=...)`` writes them), labelled by
  folder;
* ``tb/report/``: the same figures as TensorBoard images (tags
  ``report/<figure>``), those of the latest report only;
* in report.md, each run's setting bits beside the run ledger's count of
  the settings tried on its labels (:mod:`tfmdl.report.paid`), a run that
  paid less flagged.

Tables have one row per (code, model) and per data set the codelength in
kbits, the compression ratio, the test accuracy and the run's results.json.
Runs on random labels appear in Figure 1 and the inventory only. The trials
of a bin/tune search (folders below its results.json) are not reported on
their own: the search's codelength pays for choosing among them.

Every file is read and checked (format version, fields, code) before
anything is written, with numpy only; TensorFlow loads for the TensorBoard
images at the end.

One job per module; each imports only from the modules above it:

* ``loading``: read and check the results.json files (:func:`load_runs`);
* ``tables``: Table 1 and Table 2 as data;
* ``formats``: the tables in Markdown and CSV, the inventory, report.md;
* ``figures``: Figures 1 to 3 with matplotlib, as PNG bytes;
* ``pages``: the marked sections of hand-written pages (README.md,
  docs/results.md) made from the runs (``bin/report --pages``);
* ``paid``: the setting bits paid against the run ledger;
* ``tensorboard``: the figures as TensorBoard images;
* this module: :func:`write_report`, which writes them all.
"""

import os
from typing import Mapping, Optional, Sequence

from tfmdl import ledger
from tfmdl import results
from tfmdl.report import figures
from tfmdl.report import formats
from tfmdl.report import paid
from tfmdl.report import tables
from tfmdl.report import tensorboard
from tfmdl.report.loading import load
from tfmdl.report.loading import load_runs
from tfmdl.report.loading import Run

__all__ = ["load", "load_runs", "write_report"]

TENSORBOARD = "tb/report"


def write_report(runs: Sequence[Run], out: str,
                 book: Optional[ledger.Ledger] = None,
                 curves: Optional[Mapping] = None) -> list:
  """Write the tables, report.md, the figures and their TensorBoard images
  into ``out``; ``book`` is the run ledger the setting bits are checked
  against (the default one when None); ``curves`` the loss-data curves
  drawn (:func:`tfmdl.report.loading.load_curves`).

  Returns:
    The names of the files written (relative to ``out``), the TensorBoard
    folder last.
  """
  os.makedirs(out, exist_ok=True)
  written = {}
  markdown = []
  for name, layout in (("table1", tables.TABLE1), ("table2", tables.TABLE2)):
    table = tables.build_table(runs, layout)
    markdown.append(formats.table_markdown(table, out))
    written[f"{name}.md"] = markdown[-1]
    written[f"{name}.csv"] = formats.table_csv(table, out)
  made = {**figures.all_figures(runs),
          **figures.loss_data_figures(curves or {})}
  pngs = {name: figures.png_bytes(fig) for name, fig in made.items()}
  book = book or ledger.Ledger()
  written["report.md"] = formats.report_markdown(
      runs, markdown, list(pngs), out,
      paid.audit_markdown(paid.audit(runs, book), out, book.path))
  for name, text in written.items():
    results.write_bytes(os.path.join(out, name), text.encode("utf-8"))
  for name, png in pngs.items():
    results.write_bytes(os.path.join(out, f"{name}.png"), png)
  tensorboard.write_tensorboard(pngs, os.path.join(out, TENSORBOARD))
  return list(written) + [f"{name}.png" for name in pngs] + [
      TENSORBOARD + "/"]
