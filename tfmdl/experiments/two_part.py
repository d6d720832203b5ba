"""A two-part experiment: config -> trained model -> payload + results.json.

``config.two_part.code`` picks the code (``float32``, ``compressed`` or
``subspace``, see :mod:`tfmdl.two_part`). The workdir gets ``results.json``
(every candidate of the code's grid and the best one), ``payload.npz`` (the
best candidate's model message, the bytes Bob decodes, as uint8) and
TensorBoard scalars ``twopart/model_kbits``, ``twopart/data_kbits``,
``twopart/codelength_kbits`` and ``twopart/train_accuracy``, with step b
(compressed), d (subspace, best precision of each d) or 0 (float32).
"""

import time

from absl import logging
import ml_collections
import numpy as np

from tfmdl import results
from tfmdl import summaries
from tfmdl import training
from tfmdl.codes import two_part
from tfmdl.bits import units
from tfmdl.experiments import common
from tfmdl.experiments import defaults

TAG = "twopart"
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
  """The paper's config for ``model`` on ``dataset`` plus the two-part fields.

  * ``two_part``: ``code`` and ``val_fraction`` (held out for early
    stopping; all n labels are encoded);
  * ``compression``: ``bits_grid``, ``quantizer``, ``prune_fraction``;
  * ``subspace``: ``dims``, ``precisions``, ``projection``,
    ``nonzeros_per_row``, ``dense_max_entries``, ``projection_seed`` and the
    training of z (``learning_rate``, ``max_epochs``; the rest of
    ``config.train`` applies too).

  Dropout (of every model that has it) and the learning rate of z are the
  data set's :func:`chosen_settings`, chosen on labels that no two-part code
  sends, so they cost no bits; results.json says so
  (:func:`settings_chosen_on`). Set them in the config to override.
  """
  chosen, _ = chosen_settings(dataset)
  config = defaults.paper_config(dataset, model)
  del config.prequential
  if "dropout" in config.model_options:
    config.model_options.dropout = chosen["model_options.dropout"]
  config.two_part = ml_collections.ConfigDict(dict(code=code,
                                                   val_fraction=0.1))
  config.compression = ml_collections.ConfigDict(dict(
      bits_grid=(1, 2, 3, 4, 5, 6, 8), quantizer="kmeans",
      prune_fraction=0.0))
  config.subspace = ml_collections.ConfigDict(dict(
      dims=(10, 30, 100, 300, 1000), precisions=(4, 6, 8, 10, 12, 16, 32),
      projection="auto", nonzeros_per_row=4, dense_max_entries=2**24,
      projection_seed=0,
      learning_rate=chosen["subspace.learning_rate"], max_epochs=20))
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


def two_part_configs(config: ml_collections.ConfigDict) -> tuple:
  """``(TwoPartConfig, CompressionConfig, SubspaceConfig)`` of ``config``."""
  c, s = config.compression, config.subspace
  return (
      two_part.TwoPartConfig(val_fraction=config.two_part.val_fraction,
                             seed=config.seed,
                             train=common.train_config(config)),
      two_part.CompressionConfig(
          bits_grid=tuple(c.bits_grid), quantizer=c.quantizer,
          prune_fraction=c.prune_fraction),
      two_part.SubspaceConfig(
          dims=tuple(s.dims), precisions=tuple(s.precisions),
          projection=s.projection, nonzeros_per_row=s.nonzeros_per_row,
          dense_max_entries=s.dense_max_entries,
          projection_seed=s.projection_seed,
          train=common.train_config(config, learning_rate=s.learning_rate,
                                    max_epochs=s.max_epochs)))


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
    The :class:`tfmdl.two_part.TwoPartResult`; ``results.json`` holds its
    numbers.
  """
  began = time.perf_counter()
  code = two_part.check_code(config.two_part.code)
  tp_config, compression, subspace = two_part_configs(config)
  training.make_deterministic(config.seed, config.deterministic)
  dataset = common.load_dataset(config)
  model_fn = common.model_fn(config, dataset)
  probe = model_fn(config.seed)  # bad model options fail before the workdir
  if code == "subspace":
    two_part.check_dims_fit(probe, subspace.dims)
  wd = common.Workdir(workdir, config, dataset.fingerprint())
  writer = summaries.SummaryWriter(wd.tensorboard_dir)
  own = {"compressed": ("compression",), "subspace": ("subspace",)}
  writer.hparams(common.hparams(
      config, ("train", "two_part") + own.get(code, ()), code=f"{TAG}_{code}"))
  args = dict(config=tp_config, x_test=dataset.x_test, y_test=dataset.y_test)
  x, y, k = dataset.x_train, dataset.y_train, dataset.num_classes
  logging.info("two-part code %s of %s (n=%d) with %s", code, config.dataset,
               len(x), config.model)
  if code == "float32":
    result = two_part.float32_code(
        model_fn, x, y, k, strategy=training.get_strategy(config.strategy),
        **args)
  elif code == "compressed":
    result = two_part.compressed_code(
        model_fn, x, y, k, compression=compression,
        strategy=training.get_strategy(config.strategy), **args)
  else:
    result = two_part.subspace_code(model_fn, x, y, k, subspace=subspace,
                                    **args)
  for step, c in _steps(result):
    writer.scalars({
        f"{TAG}/model_kbits": units.bits_to_kbits(c.model_bits),
        f"{TAG}/data_kbits": units.bits_to_kbits(c.data_bits),
        f"{TAG}/codelength_kbits": units.bits_to_kbits(c.codelength_bits),
        f"{TAG}/train_accuracy": c.train_accuracy}, step=step)
  writer.flush()
  results.write_npz(wd.file("payload.npz"),
                    payload=np.frombuffer(result.payload, np.uint8))
  results.write_json(wd.file("results.json"), result_record(
      result, config, dataset, time.perf_counter() - began))
  return result


def result_record(result: two_part.TwoPartResult,
                  config: ml_collections.ConfigDict, dataset,
                  wall_s: float) -> dict:
  """The results.json of a two-part run."""
  best = result.best
  return common.result_record(
      f"{TAG}_{result.code}", config, dataset, result.codelength_bits,
      wall_s=wall_s,
      num_params=result.num_params,
      test_accuracy=result.test_accuracy,
      train_accuracy=best.train_accuracy,
      choice=best.option,
      parts={"model_bits": best.model_bits, "data_bits": best.data_bits,
             "selection_bits": best.selection_bits},
      payload_bytes=len(result.payload),
      candidates=[c.summary() for c in result.candidates],
      training=result.training_info,
      settings_chosen_on=settings_chosen_on(config),
      code_wall_s=result.wall_s)
