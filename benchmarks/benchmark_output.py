"""Where a benchmark's measurements go: printed, and kept in the repo.

Every benchmark prints one JSON object per measurement and appends it, as one
line, to ``--out`` (default ``benchmarks/results/<benchmark>.jsonl``, a file
that is committed), so that every figure quoted from a benchmark (the
README's speed table) has its saved output behind it. Each line also holds
the invocation: when it started, its command line, the tfmdl code version
(:func:`tfmdl.results.code_version`) and the library versions. Lines
accumulate across invocations; compare measurements within one invocation
(same ``started``), since wall times depend on the machine's load.
"""

import datetime
import json
import os
import sys

from absl import flags

from tfmdl import results

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "results")


def define_out_flag(name: str) -> flags.FlagHolder:
  """``--out``, defaulting to ``benchmarks/results/<name>.jsonl``."""
  return flags.DEFINE_string(
      "out", os.path.join(RESULTS_DIR, f"{name}.jsonl"),
      "JSON Lines file the measurements are appended to (empty: print "
      "only).")


class Output:
  """Prints measurements and appends them to a JSON Lines file."""

  def __init__(self, path: str):
    """Starts an invocation whose measurements go to ``path`` ('' : none)."""
    self.path = path
    self.invocation = {
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"),
        "argv": sys.argv,
        "code_version": results.code_version(),
        "versions": results.library_versions(),
    }

  def write(self, record: dict) -> None:
    """Print ``record`` and append it, with the invocation, to the file."""
    print(json.dumps(record), flush=True)
    if not self.path:
      return
    os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
    line = json.dumps(dict(record, invocation=self.invocation),
                      sort_keys=True, default=results.to_jsonable)
    with open(self.path, "a", encoding="utf-8") as f:
      f.write(line + "\n")
