"""A variational experiment: config -> grid points as they end -> results.json.

The config's ``variational`` section holds the prior grid and Monte Carlo
sizes (:class:`tfmdl.codes.variational.VariationalConfig`). Each finished grid point is written at
once (``grid/point_NNN.json``, with its per-epoch curve), so a crash loses at
most the running point; rerunning into the same workdir resumes. TensorBoard
gets one run per prior scale (``tb/prior_stddev_<s>``) with, per epoch (the
step), ``variational/codelength_kbits``, ``kl_kbits``, ``nll_kbits``,
``compression_ratio`` and ``train_accuracy``.
"""

import time

from absl import logging
import ml_collections
import numpy as np

from tfmdl import models
from tfmdl import summaries
from tfmdl import training
from tfmdl.bits import units
from tfmdl.codes import registry
from tfmdl.codes import variational
from tfmdl.experiments import common
from tfmdl.experiments import config as config_lib
from tfmdl.experiments.workdir import Workdir
from tfmdl.models import adapter
from tfmdl.models import flipout

CODE = "variational"
SECTIONS = registry.get(CODE).section_classes()

# Appendix C: fully connected networks with two hidden layers of 256, and a
# LeNet-like network; no dropout (the posterior is the regulariser).
APPENDIX_C_MODELS = {
    "lenet": {},
    "mlp": dict(hidden_sizes=(256, 256), dropout=0.0),
}


def add_defaults(config: ml_collections.ConfigDict
                 ) -> ml_collections.ConfigDict:
  """``config`` with the variational code's sections (``variational``,
  ``train``: their dataclasses' fields) where missing. The model trains for
  ``train.max_epochs`` epochs, without early stopping;
  ``train.regularization_scale`` is ignored (the code uses 1/n)."""
  return config_lib.add_sections(config, SECTIONS)


def appendix_c_config(dataset: str, model: str) -> ml_collections.ConfigDict:
  """Appendix C's setting for ``model`` (any zoo name) on ``dataset``.

  Mini-batches of 128, Adam with learning rate 1e-3 (the paper used SGD),
  50 epochs without early stopping, the default prior grid.
  """
  config = add_defaults(config_lib.base_config(
      dataset, model, **APPENDIX_C_MODELS.get(model, {})))
  config.train.batch_size = 128
  config.train.learning_rate = 1e-3
  config.train.max_epochs = 50
  return config


def model_fn(config: ml_collections.ConfigDict, dataset,
             vconfig: variational.VariationalConfig) -> adapter.ModelFn:
  """``(seed, prior_stddev) -> fresh Flipout zoo model`` for the config."""
  options = config.model_options.to_dict()

  def build(seed, prior_stddev):
    return models.build(
        config.model, dataset.input_shape, dataset.num_classes,
        variational=True, prior_stddev=prior_stddev, seed=seed,
        posterior_scale_init=vconfig.posterior_scale_init, **options)

  return adapter.as_model_fn(build, dataset.num_classes,
                             transform=flipout.BUILT, name=config.model,
                             description=options)


class _EpochSummaries:
  """Per-epoch TensorBoard scalars, one TensorBoard run per prior scale."""

  def __init__(self, workdir: Workdir, prior_stddevs, n: int,
               num_classes: int):
    self._workdir = workdir
    self._prior_stddevs = prior_stddevs
    self._uniform = n * np.log2(num_classes)
    self._writers = {}

  def writer(self, index: int) -> summaries.SummaryWriter:
    if index not in self._writers:
      self._writers[index] = summaries.SummaryWriter(self._workdir.file(
          "tb", f"prior_stddev_{self._prior_stddevs[index]:g}"))
    return self._writers[index]

  def __call__(self, index: int, point: variational.EpochPoint) -> None:
    writer = self.writer(index)
    writer.scalars({
        f"{CODE}/codelength_kbits": units.bits_to_kbits(point.codelength_bits),
        f"{CODE}/kl_kbits": units.bits_to_kbits(point.kl_bits),
        f"{CODE}/nll_kbits": units.bits_to_kbits(point.nll_bits),
        f"{CODE}/compression_ratio": point.codelength_bits / self._uniform,
        f"{CODE}/train_accuracy": point.train_accuracy,
    }, step=point.epoch)
    writer.flush()


def run(config: ml_collections.ConfigDict, workdir: str):
  """Run (or resume) the variational experiment of ``config`` in ``workdir``.

  Returns:
    The :class:`tfmdl.codes.variational.VariationalResult`; ``results.json`` holds
    its numbers.
  """
  began = time.perf_counter()
  training.make_deterministic()
  dataset = common.load_dataset(config)
  vconfig = config_lib.instance(variational.VariationalConfig, config,
                                "variational")
  wd = Workdir(workdir, config, dataset.fingerprint())
  done = [variational.PointResult.from_summary(r) for r in wd.load_points()]
  if done:
    logging.info("resuming: %d grid point(s) already in %s", len(done),
                 workdir)
  top = summaries.SummaryWriter(wd.tensorboard_dir)
  top.hparams(common.hparams(config, ("train", "variational"), code=CODE))
  top.flush()
  on_epoch = _EpochSummaries(wd, vconfig.prior_stddevs, len(dataset.x_train),
                             dataset.num_classes)
  result = variational.variational_code(
      model_fn(config, dataset, vconfig), dataset.x_train, dataset.y_train,
      dataset.num_classes, config=vconfig, x_test=dataset.x_test,
      y_test=dataset.y_test, strategy=training.get_strategy(config.strategy),
      done_points=done,
      point_callback=lambda p: wd.save_point(p.index, p.summary()),
      epoch_callback=on_epoch, source="bin/variational", split="train")
  wd.write_results(common.result_record(
      CODE, config, dataset, result.to_json(),
      wall_s=time.perf_counter() - began))
  return result
