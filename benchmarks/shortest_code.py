"""Bits against time: the recipes for Fashion-MNIST's shortest codes.

  python benchmarks/shortest_code.py                     # every part
  python benchmarks/shortest_code.py --parts=table,shares \\
      --results=saved_results/fashion_mnist,/tmp/tfmdl/recipes

The recipes of configs/shortest_fashion_mnist.py are run by
saved_results/regenerate.sh like every other saved result (bin/prequential,
true and random labels), so that one run serves both; this benchmark reads
their results.json (in the --results folders, ``shortest_<recipe>[_random_
labels]``) and adds what they do not hold:

  table      each recipe's codelength (kbits) against the wall time of the
             code itself (the test accuracy of the final encoding model is
             measured after it), shortest first within each time budget
             (10, 30, 60 minutes), so a user can pick a point on the curve;
             and on random labels, which must cost at least the uniform code;
  shares     the online switch recipes: each learner's own code and its
             share of every block (the mixture's mean weight on it), i.e.
             which learner the mixture follows where;
  plain      ``bin/prequential --dataset=fashion_mnist --model=mlp
             --learner=online`` with nothing else, whole process timed,
             beside the independent plain-TensorFlow loop of the block code
             (benchmarks/hand_loop.py), run one after the other;
  new_parts  the new parts of rounds 2 and 3 one at a time, on
             Fashion-MNIST's 10,000 test labels (no code of the training labels sends them,
             so these runs cost the coded labels nothing): the lines of
             benchmarks/results/online_settings.jsonl written by
             ``python benchmarks/online_settings.py --settings=<name>``;
  ablation   side by side in one process, on the 60,000 training labels:
             the online learner's previous defaults, round 2's mlp
             recipe, the two MLP recipes, and the ``mlp`` recipe with one
             ingredient taken out at a time (each a setting counted in
             the ledger).

Wall times depend on the machine's load: the file says so. Writes the
Markdown tables to --out (and prints them).
"""

import glob
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, "configs", "shortest_fashion_mnist.py")
SETTINGS_LOG = os.path.join(REPO, "benchmarks", "results",
                            "online_settings.jsonl")
BUDGETS_S = (600, 1800, 3600)

# Round 2's mlp recipe: ReLU, Adam at a constant 1e-3, EMA 0.99, uncompiled.
_ROUND_2 = {"model_options.activation": "relu", "online.schedule": "constant",
            "online.ema_decay": 0.99, "online.jit_compile": False}

# name -> (recipe, overrides of its config): the previous learners, the MLP
# recipes, then the mlp recipe with one ingredient out each.
ABLATION = {
    "previous online defaults": ("mlp", dict(_ROUND_2, **{
        "online.batch_size": 128, "prequential.uniform_fallback": False,
        "prequential.setting_bits": 4.0, "model_options.dropout": 0.5})),
    "round 2's mlp recipe": ("mlp", _ROUND_2),
    "mlp_fast (the recipe)": ("mlp_fast", {}),
    "mlp (the recipe)": ("mlp", {}),
    "- GELU (ReLU)": ("mlp", {"model_options.activation": "relu"}),
    "- cosine decay (constant 1e-3)": ("mlp", {"online.schedule": "constant"}),
    "- EMA 0.998 (0.99)": ("mlp", {"online.ema_decay": 0.99}),
    "- XLA (uncompiled)": ("mlp", {"online.jit_compile": False}),
    "- uniform fallback": ("mlp", {"prequential.uniform_fallback": False}),
    "- calibration": ("mlp", {"online.calibrate": False}),
    "- EMA weights": ("mlp", {"online.ema_decay": 0.0}),
    "- replay": ("mlp", {"online.replay": 0}),
    "- small minibatches (B=128)": ("mlp", {"online.batch_size": 128}),
    "+ dropout 0.5 (the paper's mlp)": ("mlp", {"model_options.dropout": 0.5}),
}

# The new parts, one at a time, as test-split settings of
# benchmarks/online_settings.py: (what, setting).
NEW_PARTS = (
    ("tinycnn (the recipe)", "tinycnn_cosine"),
    ("+ test-time augmentation", "tinycnn_tta"),
    ("wider: 64 filters", "tinycnn_w64"),
    ("ensemble of 2, 12 replay steps (the tinycnn_ensemble recipe)",
     "tinycnn_ensemble"),
    ("ensemble of 2 + test-time augmentation", "tinycnn_ensemble_tta"),
    ("ensemble of 3 + test-time augmentation", "tinycnn_ensemble3_r12_tta"),
    ("mlp (round 2's recipe)", "mlp_b32_r8"),
    ("mlp + GELU (round 3)", "mlp_gelu"),
    ("mlp + GELU, Adam 2e-3 with a cosine decay", "mlp_gelu_cosine"),
    ("lenet", "lenet"),
    ("online switch of mlp and lenet (and their average)",
     "switch_mlp_lenet"),
)

_PARTS = flags.DEFINE_list(
    "parts", ["table", "shares", "plain", "new_parts", "ablation"],
    "Which parts to make: table, shares, plain, new_parts, ablation.")
_RESULTS = flags.DEFINE_list(
    "results", [os.path.join(REPO, "saved_results", "fashion_mnist")],
    "Folders holding the recipes' runs, shortest_<recipe>[_random_labels].")
_OUT = flags.DEFINE_string(
    "out", os.path.join(REPO, "benchmarks", "results", "shortest_code.md"),
    "Markdown file the tables are written to.")


def recipes_module():
  spec = importlib.util.spec_from_file_location("shortest", CONFIGS)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def recipe_runs(folders) -> list:
  """Every recipe run's results.json in ``folders`` (the last folder wins
  for a recipe found twice), its recipe's name added."""
  found = {}
  for folder in folders:
    for path in glob.glob(os.path.join(folder, "shortest_*",
                                       "results.json")):
      with open(path, encoding="utf-8") as f:
        record = json.load(f)
      name = os.path.basename(os.path.dirname(path))[len("shortest_"):]
      record["recipe"] = name.replace("_random_labels", "")
      found[name] = record
  return list(found.values())


def _wall(record: dict) -> float:
  return record["prequential_wall_s"]


def recipe_table(runs: list, recipes) -> str:
  """Bits against time of every recipe run, and the best in each budget."""
  rows = ["| recipe | labels | kbits | uniform kbits | code wall (s) | "
          "test acc. |", "| --- | --- | ---: | ---: | ---: | ---: |"]
  order = {name: i for i, name in enumerate(recipes)}
  for r in sorted(runs, key=lambda r: (r["random_labels"], _wall(r),
                                       order.get(r["recipe"], len(order)))):
    accuracy = ("—" if r["random_labels"] or r["test_accuracy"] is None
                else f"{r['test_accuracy']:.4f}")
    rows.append(f"| {r['recipe']} | "
                f"{'random' if r['random_labels'] else 'true'} | "
                f"{r['codelength_kbits']:.3f} | "
                f"{r['uniform_bits'] / 1000:.3f} | "
                f"{_wall(r):.1f} | {accuracy} |")
  true = [r for r in runs if not r["random_labels"]]
  rows += ["", "| time budget | shortest recipe | kbits |",
           "| --- | --- | ---: |"]
  for budget in BUDGETS_S:
    within = [r for r in true if _wall(r) <= budget]
    best = min(within, key=lambda r: r["codelength_kbits"], default=None)
    rows.append(f"| {budget // 60} min | "
                f"{best['recipe'] if best else '—'} | "
                f"{best['codelength_kbits'] if best else float('nan'):.3f} |")
  return "\n".join(rows)


def shares_table(runs: list) -> str:
  """Each online switch run's learners: their own codes and shares."""
  parts = []
  for r in runs:
    strategies = r.get("strategies")
    if r["random_labels"] or not strategies:
      continue
    names = strategies["names"]
    own = strategies["codelength_bits"]
    parts.append(f"### {r['recipe']}: {r['codelength_kbits']:.3f} kbits; "
                 "alone: " + ", ".join(f"{n} {own[n] / 1000:.3f}"
                                       for n in names) + " kbits\n")
    rows = ["| block | labels | " + " | ".join(names) + " |",
            "| ---: | --- |" + " ---: |" * len(names)]
    starts = (0,) + tuple(r["timesteps"][:-1])
    for k, (start, end) in enumerate(zip(starts, r["timesteps"])):
      rows.append(f"| {k} | [{start}, {end}) | " + " | ".join(
          f"{strategies['block_shares'][n][k]:.3f}" for n in names) + " |")
    parts.append("\n".join(rows) + "\n")
  return "\n".join(parts) or "(no online switch run found)"


def _timed(argv) -> tuple:
  began = time.perf_counter()
  proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True,
                        check=True, env=dict(os.environ, PYTHONPATH=REPO))
  return time.perf_counter() - began, proc.stdout


def plain_table() -> str:
  """The plain online command and the hand-written block loop, each a whole
  process (start-up and test accuracy included)."""
  rows = ["| command | kbits | whole process (s) |", "| --- | ---: | ---: |"]
  with tempfile.TemporaryDirectory() as workdir:
    command = [sys.executable, os.path.join(REPO, "bin", "prequential"),
               "--dataset=fashion_mnist", "--model=mlp", "--learner=online",
               f"--workdir={workdir}"]
    wall, out = _timed(command)
    kbits = float(re.search(r"([\d.]+) kbits", out).group(1))
    rows.append(f"| `bin/prequential --dataset=fashion_mnist --model=mlp "
                f"--learner=online` | {kbits:.3f} | {wall:.1f} |")
  wall, out = _timed([sys.executable,
                      os.path.join(REPO, "benchmarks", "hand_loop.py")])
  kbits = float(re.search(r"([\d.]+) kbits", out).group(1))
  rows.append(f"| `python benchmarks/hand_loop.py` (block code, plain "
              f"TensorFlow) | {kbits:.3f} | {wall:.1f} |")
  return "\n".join(rows)


def new_parts_table() -> str:
  """The latest test-split line of each :data:`NEW_PARTS` setting."""
  latest = {}
  with open(SETTINGS_LOG, encoding="utf-8") as f:
    for line in f:
      record = json.loads(line)
      latest[record["setting"]] = record
  rows = ["| part (10,000 test labels) | setting | kbits | wall (s) |",
          "| --- | --- | ---: | ---: |"]
  for what, name in NEW_PARTS:
    r = latest.get(name)
    rows.append(f"| {what} | `{name}` | " + (
        f"{r['codelength_kbits']:.3f} | {r['wall_s']:.1f} |" if r else
        "not run | |"))
  return "\n".join(rows)


def ablation_table(module) -> str:
  """Every :data:`ABLATION` setting run in turn: kbits and wall time."""
  from tfmdl.experiments import prequential  # pylint: disable=g-import-not-at-top
  rows = ["| setting | kbits | code wall (s) |", "| --- | ---: | ---: |"]
  for name, (recipe, overrides) in ABLATION.items():
    config = module.get_config(recipe)
    for field, value in overrides.items():
      section, key = field.split(".")
      config[section][key] = value
    with tempfile.TemporaryDirectory() as workdir:
      result = prequential.run(config, workdir)
    rows.append(f"| {name} | {result.codelength_bits / 1000:.3f} | "
                f"{result.wall_s:.1f} |")
    print(rows[-1], flush=True)
  return "\n".join(rows)


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  module = recipes_module()
  runs = recipe_runs(_RESULTS.value)
  parts = [f"# Shortest codes of Fashion-MNIST's 60,000 training labels\n\n"
           f"Made by `python benchmarks/shortest_code.py "
           f"--parts={','.join(_PARTS.value)}` (results from "
           f"{', '.join(os.path.relpath(r, REPO) for r in _RESULTS.value)})."
           " Wall times were taken on 2 CPU cores shared with other work; "
           "rerun on a quiet machine to compare them.\n"]
  if "table" in _PARTS.value:
    parts += ["## Bits against time\n",
              recipe_table(runs, list(module.RECIPES)) + "\n"]
  if "shares" in _PARTS.value:
    parts += ["## The online switch: which learner the mixture follows "
              "where\n", shares_table(runs) + "\n"]
  if "plain" in _PARTS.value:
    parts += ["## The plain command\n", plain_table() + "\n"]
  if "new_parts" in _PARTS.value:
    parts += ["## The new parts, on the test split\n",
              new_parts_table() + "\n"]
  if "ablation" in _PARTS.value:
    parts += ["## Side by side, and the mlp recipe without each ingredient\n",
              ablation_table(module) + "\n"]
  text = "\n".join(parts)
  print(text)
  os.makedirs(os.path.dirname(_OUT.value), exist_ok=True)
  with open(_OUT.value, "w", encoding="utf-8") as f:
    f.write(text)


if __name__ == "__main__":
  app.run(main)
