"""A variational experiment: config -> grid points as they end -> results.json.

The config's ``variational`` section holds the prior grid and Monte Carlo
sizes (see :func:`variational_config`). Each finished grid point is written at
once (``grid/point_NNN.json``, with its per-epoch curve), so a crash loses at
most the running point; rerunning into the same workdir resumes. TensorBoard
gets one run per prior scale (``tb/prior_stddev_<s>``) with, per epoch (the
step), ``variational/codelength_kbits``, ``kl_kbits``, ``nll_kbits``,
``compression_ratio`` and ``train_accuracy``.
"""

import glob
import time

from absl import logging
import ml_collections
import numpy as np

from tfmdl import models
from tfmdl import results
from tfmdl import summaries
from tfmdl import training
from tfmdl.codes import variational
from tfmdl.bits import units
from tfmdl.experiments import common
from tfmdl.experiments.defaults import base_config

CODE = "variational"

# Appendix C: fully connected networks with two hidden layers of 256, and a
# LeNet-like network; no dropout (the posterior is the regulariser).
APPENDIX_C_MODELS = {
    "lenet": {},
    "mlp": dict(hidden_sizes=(256, 256), dropout=0.0),
}


def add_defaults(config: ml_collections.ConfigDict
                 ) -> ml_collections.ConfigDict:
  """Adds the ``variational`` section to a base config; drops ``prequential``.

  Fields: ``prior_stddevs`` (the grid, fixed in advance), ``num_samples`` (S,
  Monte Carlo passes for the reported NLL and sampled test accuracy),
  ``epoch_num_samples`` (passes per epoch for the curves, 0 for none) and
  ``posterior_scale_init`` (initial pre-softplus posterior scale). The model
  trains for ``train.max_epochs`` epochs, without early stopping;
  ``train.regularization_scale`` is ignored (the code uses 1/n).
  """
  if "prequential" in config:
    del config["prequential"]
  config.variational = ml_collections.ConfigDict(dict(
      prior_stddevs=(0.05, 0.1, 0.5, 1.0), num_samples=10,
      epoch_num_samples=1, posterior_scale_init=-4.0))
  return config


def appendix_c_config(dataset: str, model: str) -> ml_collections.ConfigDict:
  """Appendix C's setting for ``model`` (any zoo name) on ``dataset``.

  Mini-batches of 128, Adam with learning rate 1e-3 (the paper used SGD),
  50 epochs without early stopping, the default prior grid.
  """
  config = add_defaults(base_config(dataset, model,
                                    **APPENDIX_C_MODELS.get(model, {})))
  config.train.batch_size = 128
  config.train.learning_rate = 1e-3
  config.train.max_epochs = 50
  return config


def variational_config(config: ml_collections.ConfigDict
                       ) -> variational.VariationalConfig:
  v = config.variational
  return variational.VariationalConfig(
      prior_stddevs=tuple(float(s) for s in v.prior_stddevs),
      num_samples=v.num_samples, epoch_num_samples=v.epoch_num_samples,
      seed=config.seed, train=common.train_config(config))


def model_fn(config: ml_collections.ConfigDict, dataset):
  """``(seed, prior_stddev) -> fresh Flipout zoo model`` for the config."""
  options = config.model_options.to_dict()

  def build(seed, prior_stddev):
    return models.build(
        config.model, dataset.input_shape, dataset.num_classes,
        variational=True, prior_stddev=prior_stddev, seed=seed,
        posterior_scale_init=config.variational.posterior_scale_init,
        **options)

  return build


def save_point(workdir: common.Workdir,
               point: variational.PointResult) -> None:
  results.write_json(workdir.file("grid", f"point_{point.index:03d}.json"),
                     point.summary())


def load_points(workdir: common.Workdir) -> list:
  """Grid points that an earlier run into this workdir finished."""
  return [variational.PointResult.from_summary(results.read_json(path))
          for path in sorted(glob.glob(workdir.file("grid", "point_*.json")))]


class _EpochSummaries:
  """Per-epoch TensorBoard scalars, one TensorBoard run per prior scale."""

  def __init__(self, workdir: common.Workdir, prior_stddevs, n: int,
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
    The :class:`tfmdl.variational.VariationalResult`; ``results.json`` holds
    its numbers.
  """
  began = time.perf_counter()
  training.make_deterministic()
  dataset = common.load_dataset(config)
  vconfig = variational_config(config)
  wd = common.Workdir(workdir, config, dataset.fingerprint())
  done = load_points(wd)
  if done:
    logging.info("resuming: %d grid point(s) already in %s", len(done),
                 workdir)
  top = summaries.SummaryWriter(wd.tensorboard_dir)
  top.hparams(common.hparams(config, ("train", "variational"), code=CODE))
  top.flush()
  on_epoch = _EpochSummaries(wd, vconfig.prior_stddevs, len(dataset.x_train),
                             dataset.num_classes)
  result = variational.variational_code(
      model_fn(config, dataset), dataset.x_train, dataset.y_train,
      dataset.num_classes, config=vconfig, x_test=dataset.x_test,
      y_test=dataset.y_test, strategy=training.get_strategy(config.strategy),
      done_points=done, point_callback=lambda p: save_point(wd, p),
      epoch_callback=on_epoch)
  results.write_json(wd.file("results.json"), result_record(
      result, config, dataset, time.perf_counter() - began))
  return result


def result_record(result: variational.VariationalResult,
                  config: ml_collections.ConfigDict, dataset,
                  wall_s: float) -> dict:
  """The results.json of a variational run."""
  best = result.best
  return common.result_record(
      CODE, config, dataset, result.codelength_bits, wall_s=wall_s,
      bound="bits-back: achievable up to the discretisation overhead of "
            "bits-back coding; E_q[NLL] is a Monte Carlo estimate",
      test_accuracy=best.test_accuracy_sampled,
      test_accuracy_sampled=best.test_accuracy_sampled,
      test_accuracy_posterior_mean=best.test_accuracy_mean,
      parts=result.parts(),
      nll_bits_stderr=best.nll_bits_stderr,
      num_samples=result.num_samples,
      best_prior_stddev=best.prior_stddev,
      epochs_trained=best.epochs_trained,
      grid=[p.summary() for p in result.points],
      variational_wall_s=result.wall_s)
