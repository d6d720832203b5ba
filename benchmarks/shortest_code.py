"""Bits against time: the recipes for Fashion-MNIST's shortest codes.

  python benchmarks/shortest_code.py                       # every recipe
  python benchmarks/shortest_code.py --recipes=mlp_fast,mlp --random_labels
  python benchmarks/shortest_code.py --parts=ablation      # MLP ablation

Parts:
  recipes    each recipe of configs/shortest_fashion_mnist.py on the 60,000
             training labels, through the experiment bin/prequential runs:
             codelength (kbits) and wall time (the code itself; the test
             accuracy of the final encoding model is measured after it), so
             a user can pick a point on the curve. With --random_labels each
             recipe also runs on random labels, which must cost at least
             the uniform code minus 10 bits.
  ablation   the ``mlp`` recipe with one ingredient taken out at a time
             (measurements for insight, not settings chosen among: the
             recipe was fixed before).

Each run appends a JSON line to --out; the table printed at the end reads
the whole file, so runs made in several invocations (or on another load)
appear together, each with its own wall time.
"""

import importlib.util
import json
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

from tfmdl.experiments import prequential  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, "configs", "shortest_fashion_mnist.py")

# name -> overrides of the mlp recipe's config: one ingredient out each.
ABLATION = {
    "mlp": {},
    "mlp - uniform fallback": {"online.uniform_fallback": False},
    "mlp - calibration": {"online.calibrate": False},
    "mlp - EMA weights": {"online.ema_decay": 0.0},
    "mlp - cosine schedule (lr 1e-3)": {"online.schedule": "constant",
                                        "online.learning_rate": 1e-3},
    "mlp - replay": {"online.replay": 0},
    "mlp - small minibatches (B=128)": {"online.batch_size": 128},
    "mlp + dropout 0.5": {"model_options.dropout": 0.5},
}

_RECIPES = flags.DEFINE_list("recipes", None,
                             "Recipes to run (default: all).")
_PARTS = flags.DEFINE_list("parts", ["recipes"], "recipes and/or ablation.")
_RANDOM_LABELS = flags.DEFINE_bool(
    "random_labels", False, "Also run each recipe on random labels.")
_OUT = flags.DEFINE_string(
    "out", os.path.join(REPO, "benchmarks", "results",
                        "shortest_code.jsonl"),
    "JSON-lines file the runs are appended to.")


def recipes_module():
  spec = importlib.util.spec_from_file_location("shortest", CONFIGS)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def run(name: str, config) -> dict:
  """One run of ``config`` in a fresh workdir; its bits and times."""
  with tempfile.TemporaryDirectory() as workdir:
    result = prequential.run(config, workdir)
  return {
      "run": name, "model": config.model,
      "random_labels": bool(config.random_labels),
      "codelength_kbits": round(result.codelength_bits / 1000, 3),
      "uniform_kbits": round(result.uniform_bits / 1000, 3),
      "test_accuracy": result.test_accuracy,
      "code_wall_s": round(result.wall_s, 1),
      "test_wall_s": round(result.final_model_wall_s, 1),
      "config": config.to_dict(),
  }


def _record(record: dict) -> None:
  print(json.dumps({k: v for k, v in record.items() if k != "config"}),
        flush=True)
  with open(_OUT.value, "a", encoding="utf-8") as f:
    f.write(json.dumps(record, default=list) + "\n")


def table(path: str) -> str:
  """The runs of ``path`` as a Markdown table (latest run of each name)."""
  latest = {}
  with open(path, encoding="utf-8") as f:
    for line in f:
      record = json.loads(line)
      latest[(record["run"], record["random_labels"])] = record
  rows = ["| run | labels | kbits | uniform kbits | code wall s | "
          "test acc. |", "| --- | --- | ---: | ---: | ---: | ---: |"]
  for (name, random), r in sorted(latest.items(),
                                  key=lambda kv: (kv[0][1],
                                                  kv[1]["code_wall_s"])):
    accuracy = ("" if r["test_accuracy"] is None or random
                else f"{r['test_accuracy']:.4f}")
    rows.append(f"| {name} | {'random' if random else 'true'} | "
                f"{r['codelength_kbits']:.3f} | {r['uniform_kbits']:.3f} | "
                f"{r['code_wall_s']:.1f} | {accuracy} |")
  return "\n".join(rows)


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  module = recipes_module()
  names = _RECIPES.value or list(module.RECIPES)
  os.makedirs(os.path.dirname(_OUT.value), exist_ok=True)
  if "recipes" in _PARTS.value:
    for name in names:
      _record(run(name, module.get_config(name)))
      if _RANDOM_LABELS.value:
        config = module.get_config(name)
        config.random_labels = True
        _record(run(name, config))
  if "ablation" in _PARTS.value:
    for name, overrides in ABLATION.items():
      config = module.get_config("mlp")
      for field, value in overrides.items():
        section, key = field.split(".")
        config[section][key] = value
      _record(run(name, config))
  print(table(_OUT.value))


if __name__ == "__main__":
  app.run(main)
