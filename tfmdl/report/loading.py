"""The report's input: every ``results.json`` below a folder, read and checked,
and every loss-data curve (:func:`load_curves`).

:func:`load_runs` refuses, in one line naming the file, one this tfmdl cannot
read (not JSON, another format version, a missing field, an unknown code), so
that the report fails before it writes anything. The tables and the figures
take its :class:`Run` objects.
"""

import dataclasses
import json
import os
import urllib.parse
from typing import Optional

from absl import logging

from tfmdl import results
from tfmdl.bits.loss_data import LossDataCurve
from tfmdl.codes import registry

RESULTS = "results.json"
REQUIRED_FIELDS = (
    "format_version", "code", "dataset", "model", "random_labels", "n",
    "num_classes", "codelength_bits", "uniform_bits", "compression_ratio",
    "test_accuracy", "wall_s")
TUNE_PREFIX = "tune/"
# The registry's codes, and searches over the tunable ones.
CODES = tuple(registry.CODES) + (TUNE_PREFIX + "prequential",
                                 TUNE_PREFIX + "variational")
# Codes as results.json files of format version 1 named them before the
# code registry (the online learner was then code "prequential" with
# ``learner: "online"``): read under today's names.
FORMER_NAMES = {"twopart_float32": "two_part_float32",
                "twopart_compressed": "two_part_compressed",
                "twopart_subspace": "two_part_subspace"}


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

  @property
  def code_version(self) -> Optional[str]:
    """The ``source_sha256`` of the code that wrote the run (None for a file
    written before results recorded it)."""
    return (self.record.get("code_version") or {}).get("source_sha256")

  def link(self, out: str) -> str:
    """A Markdown link to the file, relative to the folder ``out``."""
    target = os.path.relpath(self.file, out).replace(os.sep, "/")
    folder = os.path.dirname(self.name) or self.name
    return f"[{folder}]({urllib.parse.quote(target)})"


def read_record(path: str) -> dict:
  """A results.json that this tfmdl can read.

  Raises:
    ValueError: (one line, naming ``path``) not a JSON object, another (or
      no) ``format_version``, a missing field or an unknown code (a
      former name, :data:`FORMER_NAMES`, is read as today's).
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
  record["code"] = FORMER_NAMES.get(record["code"], record["code"])
  if record["code"] == "prequential" and record.get("learner") == "online":
    record["code"] = "online"
  if record["code"] not in CODES:
    raise ValueError(f"{path} holds the unknown code {record['code']!r}; "
                     f"known: {', '.join(CODES)}")
  return record


def load_runs(root: str, allow_none: bool = False) -> list:
  """Every results.json below ``root``, in folder order, checked.

  A search's results.json (code ``tune/...``) stands for its trials: the
  folders below it are not read.

  Raises:
    ValueError: ``root`` is not a folder or holds no results.json (unless
      ``allow_none``), or a file is refused by :func:`read_record`.
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
  if not runs and not allow_none:
    raise ValueError(f"no {RESULTS} under {root}")
  versions = code_versions(runs)
  if len(versions) > 1:
    logging.warning(
        "the results under %s come from %d versions of the code: %s; rerun "
        "the stale ones (saved_results/regenerate.sh does)", root,
        len(versions), "; ".join(
            f"{version_label(v)}: {len(rs)} runs"
            for v, rs in versions.items()))
  return runs


def load_curves(root: str) -> dict:
  """Every loss-data curve below ``root`` (``tfmdl.loss_data_curve(...,
  logdir=...)`` writes :data:`tfmdl.results.LOSS_DATA_CURVE`), in folder
  order: ``{its folder relative to root: LossDataCurve}``.

  Raises:
    ValueError: (one line, naming the file) a file that is not a curve.
  """
  curves = {}
  for folder, subfolders, files in os.walk(root):
    subfolders.sort()
    if results.LOSS_DATA_CURVE in files:
      path = os.path.join(folder, results.LOSS_DATA_CURVE)
      try:
        record = results.read_json(path)
      except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not JSON: {e}") from e
      name = os.path.relpath(folder, root)
      if name == os.curdir:
        name = os.path.basename(os.path.abspath(root))
      curves[name] = LossDataCurve.from_record(record, path)
  return curves


def load(root: str) -> tuple:
  """``(runs, curves)`` below ``root``: :func:`load_runs` and
  :func:`load_curves`.

  Raises:
    ValueError: as they do, and when ``root`` holds neither.
  """
  runs = load_runs(root, allow_none=True)
  curves = load_curves(root)
  if not runs and not curves:
    raise ValueError(f"no {RESULTS} or {results.LOSS_DATA_CURVE} under "
                     f"{root}")
  return runs, curves


def code_versions(runs) -> dict:
  """``{source_sha256 or None: [runs written by that code]}``, the most
  common version first."""
  groups = {}
  for run in runs:
    groups.setdefault(run.code_version, []).append(run)
  return dict(sorted(groups.items(), key=lambda item: -len(item[1])))


def version_label(source_sha256: Optional[str]) -> str:
  """A code version for people: the hash's first 12 digits."""
  return ("not recorded" if source_sha256 is None
          else f"source {source_sha256[:12]}")
