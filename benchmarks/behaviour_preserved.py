"""Codelengths that a change of the code's structure must keep, bit for bit.

  python benchmarks/behaviour_preserved.py [--parts=prequential,two_part,file]

Runs each of these with this checkout's tfmdl and prints it beside the number
the saved results (saved_results/, written by an earlier version of the
code) hold for it:

  prequential  digits, block code, mlp, uniform fallback off; the online
               learner's previous defaults on Fashion-MNIST (minibatches of
               128, dropout 0.5, no fallback, 4 setting bits) and the
               ``mlp`` recipe of configs/shortest_fashion_mnist.py;
  two_part     every float32 and network-compression row of the saved
               results (digits: mlp, lenet; Fashion-MNIST: mlp, lenet,
               tinycnn), ~15 minutes;
  file         the digits labels file of saved_results/compress_digits.sh:
               its payload and header sizes.

Writes a Markdown table to --out (and prints it).
"""

import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAVED = os.path.join(REPO, "saved_results")
_PARTS = flags.DEFINE_list("parts", ["prequential", "two_part", "file"],
                           "prequential, two_part and/or file.")
_OUT = flags.DEFINE_string(
    "out", os.path.join(REPO, "benchmarks", "results",
                        "behaviour_preserved.md"),
    "Markdown file the table is written to.")


def _saved_bits(path: str) -> float:
  with open(os.path.join(SAVED, path, "results.json"), encoding="utf-8") as f:
    return json.load(f)["codelength_bits"]


def _recipes():
  spec = importlib.util.spec_from_file_location(
      "recipes", os.path.join(REPO, "configs", "shortest_fashion_mnist.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _run(config, module) -> float:
  with tempfile.TemporaryDirectory() as workdir:
    return module.run(config, workdir).codelength_bits


def prequential_rows() -> list:
  from tfmdl.experiments import prequential  # pylint: disable=g-import-not-at-top
  rows = []
  config = prequential.default_config("digits", "mlp")
  config.train.batch_size, config.train.patience = 32, 5
  config.prequential.uniform_fallback = False
  # (run, saved bits, bits now, decimals compared: None for every bit)
  rows.append(("digits, block, mlp, fallback off (quoted)", 558.247,
               _run(config, prequential), 3))
  recipes = _recipes()
  previous = recipes.get_config("mlp")
  previous.online.batch_size = 128
  previous.online.schedule = "constant"
  previous.prequential.uniform_fallback = False
  previous.prequential.setting_bits = 4.0
  previous.model_options.dropout = 0.5
  rows.append(("fashion_mnist, online, previous defaults (quoted, kbits)",
               32651.0, _run(previous, prequential), 0))
  rows.append(("fashion_mnist, online, recipe mlp",
               _saved_bits("fashion_mnist/shortest_mlp"),
               _run(recipes.get_config("mlp"), prequential), None))
  return rows


def two_part_rows() -> list:
  from tfmdl.experiments import two_part  # pylint: disable=g-import-not-at-top
  rows = []
  runs = [("digits", m, c) for m in ("mlp", "lenet")
          for c in ("float32", "compressed")]
  runs += [("fashion_mnist", m, c) for m in ("mlp", "lenet", "tinycnn")
           for c in ("float32", "compressed")]
  for dataset, model, code in runs:
    spec = importlib.util.spec_from_file_location(
        "c", os.path.join(REPO, "configs", f"twopart_{dataset}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config(model)
    config.code = code
    rows.append((f"{dataset}, two-part {code}, {model}",
                 _saved_bits(f"{dataset}/twopart_{code}_{model}"),
                 _run(config, two_part), None))
    print(rows[-1], flush=True)
  return rows


def file_rows() -> list:
  with open(os.path.join(SAVED, "digits", "compress.txt"),
            encoding="utf-8") as f:
    saved = f.read()
  with tempfile.TemporaryDirectory() as work:
    proc = subprocess.run(
        [sys.executable, "bin/compress", f"--out={work}/digits.tfmdl"],
        cwd=REPO, capture_output=True, text=True, check=True,
        env=dict(os.environ, PYTHONPATH=REPO))
  sizes = lambda text: [int(v) for v in re.search(
      r"(\d+) bits = header (\d+) .* payload (\d+) .* checks (\d+)",
      text).groups()]
  before, now = sizes(saved), sizes(proc.stdout)
  return [(f"digits labels file, {part} bits", float(b), float(a), None)
          for part, b, a in zip(("file", "header", "payload", "checks"),
                                before, now)]


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  rows = []
  if "prequential" in _PARTS.value:
    rows += prequential_rows()
  if "two_part" in _PARTS.value:
    rows += two_part_rows()
  if "file" in _PARTS.value:
    rows += file_rows()
  lines = [f"# Behaviour preserved\n\nMade by `python benchmarks/"
           f"behaviour_preserved.py --parts={','.join(_PARTS.value)}`: the "
           "saved number (an earlier version of the code; rows marked "
           "quoted are the figures quoted before, compared at their "
           "rounding, the others to the last bit) beside this checkout's.\n",
           "| run | saved | now | same |", "| --- | ---: | ---: | --- |"]
  for name, saved, now, decimals in rows:
    same = now == saved if decimals is None else round(now, decimals) == saved
    lines.append(f"| {name} | {saved:,.3f} | {now:,.3f} | "
                 f"{'yes' if same else 'NO'} |")
  text = "\n".join(lines) + "\n"
  print(text)
  os.makedirs(os.path.dirname(_OUT.value), exist_ok=True)
  with open(_OUT.value, "w", encoding="utf-8") as f:
    f.write(text)


if __name__ == "__main__":
  app.run(main)
