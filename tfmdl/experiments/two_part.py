"""A two-part experiment: config -> trained model -> payload + results.json.

``config.code`` picks the code (``float32``, ``compressed`` or
``subspace``, see :mod:`tfmdl.codes.two_part`). The workdir gets ``results.json``
(every candidate of the code's grid and the best one), ``payload.npz`` (the
best candidate's model message, the bytes Bob decodes, as uint8) and
TensorBoard scalars ``two_part/model_kbits``, ``two_part/data_kbits``,
``two_part/codelength_kbits`` and ``two_part/train_accuracy``, with step b
(compressed), d (subspace, best precision of each d) or 0 (float32).
"""

import time

from absl import logging
import ml_collections
import numpy as np

from tfmdl import results
from tfmdl import summaries
from tfmdl import training
from tfmdl.bits import units
from tfmdl.codes import registry
from tfmdl.codes import two_part
from tfmdl.experiments import common
from tfmdl.experiments import config as config_lib
from tfmdl.experiments.workdir import PAYLOAD
from tfmdl.experiments.workdir import Workdir

# The config sections of the two-part codes.
SECTIONS = {**registry.get("two_part_compressed").section_classes(),
            **registry.get("two_part_subspace").section_classes()}

TAG = "two_part"
# The settings of default_config chosen per data set, on labels that no
# two-part code sends, by selection/two_part_settings.py; each data set's
# values equal the "chosen" of its committed output,
# selection/two_part_settings_<dataset>.json (tests/test_two_part.py checks).
SETTINGS = ("model_options.dropout", "subspace.learning_rate")
CHOSEN_SETTINGS = {
    "digits": {"model_options.dropout": 0.0, "subspace.learning_rate": 0.2},
    "fashion_mnist": {"model_options.dropout": 0.0,
                      "subspace.learning_rate": 0.1},
}
# Data sets without a selection of their own take these, chosen on another
# data set (the closest in size and kind to MNIST and CIFAR-10).
FALLBACK_DATASET = "fashion_mnist"


def chosen_settings(dataset: str) -> tuple:
  """``(settings, chosen_on)``: :data:`CHOSEN_SETTINGS` for ``dataset`` and
  where they were chosen (a sentence for results.json)."""
  source = dataset if dataset in CHOSEN_SETTINGS else FALLBACK_DATASET
  which = "this" if source == dataset else "another"
  where = (f"the test split of {source} ({which} data set; labels that no "
           "two-part code sends), by selection/two_part_settings.py; its "
           f"output: selection/two_part_settings_{source}.json")
  return CHOSEN_SETTINGS[source], where

def default_config(dataset: str, model: str,
                   code: str = "compressed") -> ml_collections.ConfigDict:
  """The paper's config for ``model`` on ``dataset`` with the two-part
  sections (``two_part``, ``compression``, ``subspace``, ``train``: the
  fields of their dataclasses) and ``code``.

  Dropout (of every model that has it) and the learning rate of z are the
  data set's :func:`chosen_settings`, chosen on labels that no two-part code
  sends, so they cost no bits; results.json says so
  (:func:`settings_chosen_on`). Set them in the config to override.
  """
  chosen, _ = chosen_settings(dataset)
  config = config_lib.paper_config(dataset, model, SECTIONS)
  if "dropout" in config.model_options:
    config.model_options.dropout = chosen["model_options.dropout"]
  config.subspace.learning_rate = chosen["subspace.learning_rate"]
  config.code = code
  return config


def settings_chosen_on(config: ml_collections.ConfigDict) -> dict:
  """Where each of :data:`SETTINGS` in ``config`` was chosen.

  Returns:
    ``{setting: {"value": ..., "chosen_on": ...}}``: where the data set's
    :func:`chosen_settings` were chosen if the config holds the chosen value,
    else that the run's config set it (value None: not in the config, e.g. a
    model without dropout).
  """
  settings, where_chosen = chosen_settings(config.dataset)
  chosen_on = {}
  for name in SETTINGS:
    section, field = name.split(".")
    value, chosen = config.get(section, {}).get(field), settings[name]
    if value is None:
      where = "not in the run's config"
    elif value == chosen:
      where = where_chosen
    else:
      where = ("set in the run's config, not the value chosen on "
               f"labels no code sends ({chosen})")
    chosen_on[name] = {"value": value, "chosen_on": where}
  return chosen_on


def two_part_configs(config: ml_collections.ConfigDict) -> dict:
  """The code's config instances, by section name."""
  return {name: config_lib.instance(cls, config, name)
          for name, cls in SECTIONS.items()}


def _steps(result: two_part.TwoPartResult) -> list:
  """``(step, candidate)`` for TensorBoard: one point per b or d."""
  if result.code == "compressed":
    return [(c.option["bits"], c) for c in result.candidates]
  if result.code == "subspace":
    best = {}
    for c in result.candidates:
      d = c.option["dim"]
      if d not in best or c.codelength_bits < best[d].codelength_bits:
        best[d] = c
    return sorted(best.items())
  return [(0, result.best)]


def run(config: ml_collections.ConfigDict,
        workdir: str) -> two_part.TwoPartResult:
  """Run the two-part code of ``config`` into ``workdir``.

  Returns:
    The :class:`tfmdl.codes.two_part.TwoPartResult`; ``results.json`` holds its
    numbers.
  """
  began = time.perf_counter()
  code = two_part.check_code(config.code)
  configs = two_part_configs(config)
  training.make_deterministic(config.seed, config.deterministic)
  dataset = common.load_dataset(config)
  model_fn = common.model_fn(config, dataset)
  probe = model_fn(config.seed)  # bad model options fail before the workdir
  if code == "subspace":
    two_part.check_dims_fit(probe, configs["subspace"].dims)
  wd = Workdir(workdir, config, dataset.fingerprint())
  writer = summaries.SummaryWriter(wd.tensorboard_dir)
  own = {"compressed": ("compression",), "subspace": ("subspace",)}
  name = f"{TAG}_{code}"
  writer.hparams(common.hparams(
      config, ("train", "two_part") + own.get(code, ()), code=name))
  logging.info("two-part code %s of %s (n=%d) with %s", code, config.dataset,
               len(dataset.y_train), config.model)
  result = registry.get(name).run(
      model_fn, dataset.train, configs, x_test=dataset.x_test,
      y_test=dataset.y_test, strategy=training.get_strategy(config.strategy),
      source="bin/twopart", split="train")
  for step, c in _steps(result):
    writer.scalars({
        f"{TAG}/model_kbits": units.bits_to_kbits(c.model_bits),
        f"{TAG}/data_kbits": units.bits_to_kbits(c.data_bits),
        f"{TAG}/codelength_kbits": units.bits_to_kbits(c.codelength_bits),
        f"{TAG}/train_accuracy": c.train_accuracy}, step=step)
  writer.flush()
  results.write_npz(wd.file(PAYLOAD),
                    payload=np.frombuffer(result.payload, np.uint8))
  wd.write_results(result_record(result, config, dataset,
                                 time.perf_counter() - began))
  return result


def result_record(result: two_part.TwoPartResult,
                  config: ml_collections.ConfigDict, dataset,
                  wall_s: float) -> dict:
  """The results.json of a two-part run."""
  return common.result_record(
      f"{TAG}_{result.code}", config, dataset,
      dict(result.to_json(), settings_chosen_on=settings_chosen_on(config)),
      wall_s=wall_s)
