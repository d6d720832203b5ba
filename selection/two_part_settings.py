#!/usr/bin/env python3
"""Chooses the two-part codes' dropout and subspace learning rate of a data
set on labels that no two-part code sends: the data set's test split.

  python selection/two_part_settings.py                      # digits, ~3 min
  python selection/two_part_settings.py \\
      --config=configs/twopart_fashion_mnist.py:mlp \\
      --config.subspace.dims='(100,1000)' --config.subspace.max_epochs=8
                                         # fashion_mnist as regenerated, ~5 min

The two-part configs (:func:`tfmdl.experiments.two_part.default_config`)
have two settings that were first picked by looking at codelengths of
digits' training labels, the labels the digits rows encode, without paying
for the choice: dropout (on, 0.5, as in the paper, or off) and the learning
rate of the subspace code's z. This script makes that choice again, on the
test split of ``--config``'s data set, which the two-part codes never send
(they encode the training split; the test split only gives their test
accuracy, which the choice may favour slightly): for every dropout of
:data:`DROPOUTS` and every learning rate of :data:`LEARNING_RATES`, the
subspace code of ``--config`` (its model, grids of d and p and training;
give it the overrides of the runs it is for) encodes the test split, and the
setting of the least codelength is chosen. Dropout then holds for every
two-part code and model of that data set (it is a config value shared by
the codes). (A first grid of learning rates stopped at 0.2, which won on
digits; it was extended to 1.0. Looking at these labels costs nothing: no
code sends them.)

The output, ``selection/two_part_settings_<dataset>.json`` (committed),
holds every trial, the choice, the config, the data and the code version;
``tfmdl.experiments.two_part.CHOSEN_SETTINGS[<dataset>]`` must equal its
``chosen`` (tests/test_two_part.py checks), and every two-part results.json
says where its settings were chosen (``settings_chosen_on``).
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402
import ml_collections  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from tfmdl import data  # noqa: E402
from tfmdl import results  # noqa: E402
from tfmdl import training  # noqa: E402
from tfmdl.codes import two_part  # noqa: E402
from tfmdl.experiments import common  # noqa: E402
from tfmdl.experiments import two_part as experiment  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CODE = "subspace"
DROPOUTS = (0.0, 0.5)  # off, or the paper's
LEARNING_RATES = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)

_CONFIG = config_flags.DEFINE_config_file(
    "config", os.path.join(REPO, "configs", "twopart_digits.py:mlp"),
    "The two-part config whose settings are chosen (and its data set).")
_OUT = flags.DEFINE_string(
    "out", None, "Where the JSON output goes (default "
    "selection/two_part_settings_<dataset>.json).")


def output_path(dataset: str) -> str:
  """The committed output of the selection for ``dataset``."""
  return os.path.join(REPO, "selection", f"two_part_settings_{dataset}.json")


def trial(config: ml_collections.ConfigDict, dataset: data.Dataset,
          dropout: float, learning_rate: float) -> dict:
  """The subspace code of ``dataset``'s test split with one setting."""
  config = config.copy_and_resolve_references()
  config.model_options.dropout = dropout
  config.subspace.learning_rate = learning_rate
  configs = experiment.two_part_configs(config)
  training.make_deterministic(config.seed, config.deterministic)
  began = time.perf_counter()
  result = two_part.subspace_code(
      common.model_fn(config, dataset), dataset.x_test, dataset.y_test,
      dataset.num_classes, config=configs["two_part"],
      subspace=configs["subspace"])
  logging.info("dropout %s, learning rate %s: %.1f bits", dropout,
               learning_rate, result.codelength_bits)
  return {"model_options.dropout": dropout,
          "subspace.learning_rate": learning_rate,
          "codelength_bits": result.codelength_bits,
          "best": result.best.summary(),
          "wall_s": time.perf_counter() - began}


def select(config: ml_collections.ConfigDict, dataset: data.Dataset) -> tuple:
  """``(trials, chosen)``: every setting's trial on ``dataset``'s test split
  (its training labels are never read) and the setting of the least
  codelength (the first on ties)."""
  trials = [trial(config, dataset, d, lr)
            for d in DROPOUTS for lr in LEARNING_RATES]
  best = min(trials, key=lambda t: t["codelength_bits"])
  return trials, {k: best[k] for k in experiment.SETTINGS}


def main(argv):
  del argv
  began = time.perf_counter()
  config = _CONFIG.value
  config.train.verbose = 0
  if "dropout" not in config.model_options:
    raise app.UsageError(f"{config.model} has no dropout to choose")
  dataset = common.load_dataset(config)
  trials, chosen = select(config, dataset)
  out = _OUT.value or output_path(config.dataset)
  results.write_json(out, {
      "purpose": "settings of the two-part configs, chosen on labels that "
                 "no two-part code sends",
      "dataset": config.dataset, "split": "test",
      "n": len(dataset.y_test), "model": config.model, "code": CODE,
      "criterion": "least subspace codelength of the test split's labels",
      "grid": {"model_options.dropout": DROPOUTS,
               "subspace.learning_rate": LEARNING_RATES},
      "trials": trials, "chosen": chosen,
      "config": config.to_dict(),
      "code_version": results.code_version(),
      "versions": results.library_versions(),
      "wall_s": time.perf_counter() - began})
  print(f"chosen on the test split of {config.dataset}: {chosen}; wrote "
        f"{out}")


if __name__ == "__main__":
  app.run(main)
