"""Bits against time: the recipes for Fashion-MNIST's shortest codes.

  python benchmarks/shortest_code.py               # table + ablation, ~7 min
  python benchmarks/shortest_code.py --parts=table

The recipes of configs/shortest_fashion_mnist.py are run by
saved_results/regenerate.sh like every other saved result (bin/prequential,
true and random labels), so that one run serves both; this benchmark reads
their results.json and adds what they do not hold:

  table      each recipe's codelength (kbits) against the wall time of the
             code itself (the test accuracy of the final encoding model is
             measured after it), so a user can pick a point on the curve;
             and on random labels, which must cost at least the uniform code
             minus 10 bits;
  ablation   side by side in one process, on the 60,000 training labels:
             the online learner's previous defaults (what
             ``bin/prequential --learner=online`` ran before the recipes:
             minibatches of 128, the paper's dropout, no uniform fallback,
             4 setting bits), the two MLP recipes, and the ``mlp`` recipe
             with one ingredient taken out at a time (measurements for
             insight, not settings chosen among: the recipe was fixed
             before).

Writes the Markdown tables to --out (and prints them).
"""

import glob
import importlib.util
import json
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, "configs", "shortest_fashion_mnist.py")

# name -> (recipe, overrides of its config): the previous learner, the MLP
# recipes, then the mlp recipe with one ingredient out each.
ABLATION = {
    "previous online defaults": ("mlp", {
        "online.batch_size": 128, "online.schedule": "constant",
        "prequential.uniform_fallback": False,
        "prequential.setting_bits": 4.0,
        "model_options.dropout": 0.5}),
    "mlp_fast (the recipe)": ("mlp_fast", {}),
    "mlp (the recipe)": ("mlp", {}),
    "- uniform fallback": ("mlp", {"prequential.uniform_fallback": False}),
    "- calibration": ("mlp", {"online.calibrate": False}),
    "- EMA weights": ("mlp", {"online.ema_decay": 0.0}),
    "- replay": ("mlp", {"online.replay": 0}),
    "- small minibatches (B=128)": ("mlp", {"online.batch_size": 128}),
    "+ dropout 0.5 (the paper's mlp)": ("mlp", {"model_options.dropout": 0.5}),
}

_PARTS = flags.DEFINE_list("parts", ["table", "ablation"],
                           "table and/or ablation.")
_RESULTS = flags.DEFINE_string(
    "results", os.path.join(REPO, "saved_results", "fashion_mnist"),
    "Folder holding the recipes' runs, shortest_<recipe>[_random_labels].")
_OUT = flags.DEFINE_string(
    "out", os.path.join(REPO, "benchmarks", "results", "shortest_code.md"),
    "Markdown file the tables are written to.")


def recipes_module():
  spec = importlib.util.spec_from_file_location("shortest", CONFIGS)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def recipe_table(results_dir: str, recipes) -> str:
  """Bits against time of every recipe run found in ``results_dir``."""
  rows = ["| recipe | labels | kbits | uniform kbits | code wall (s) | "
          "test acc. |", "| --- | --- | ---: | ---: | ---: | ---: |"]
  found = []
  for path in glob.glob(os.path.join(results_dir, "shortest_*",
                                     "results.json")):
    with open(path, encoding="utf-8") as f:
      record = json.load(f)
    folder = os.path.basename(os.path.dirname(path))
    record["recipe"] = folder[len("shortest_"):].replace("_random_labels", "")
    found.append(record)
  order = {name: i for i, name in enumerate(recipes)}
  for r in sorted(found, key=lambda r: (r["random_labels"],
                                        order.get(r["recipe"], len(order)))):
    accuracy = ("—" if r["random_labels"] or r["test_accuracy"] is None
                else f"{r['test_accuracy']:.4f}")
    rows.append(f"| {r['recipe']} | "
                f"{'random' if r['random_labels'] else 'true'} | "
                f"{r['codelength_kbits']:.3f} | "
                f"{r['uniform_bits'] / 1000:.3f} | "
                f"{r['prequential_wall_s']:.1f} | {accuracy} |")
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
  parts = [f"# Shortest codes of Fashion-MNIST's 60,000 training labels\n\n"
           f"Made by `python benchmarks/shortest_code.py "
           f"--parts={','.join(_PARTS.value)}`.\n"]
  if "table" in _PARTS.value:
    parts += ["## Bits against time\n",
              recipe_table(_RESULTS.value, list(module.RECIPES)) + "\n"]
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
