"""What every experiment shares: data, model and training config from a
ConfigDict, and a workdir that refuses to mix runs.

A workdir holds ``config.json`` (the full config and the data's fingerprint),
per-part files written as each part finishes, ``results.json`` at the end and
TensorBoard event files under ``tb/``. Rerunning into the same workdir resumes;
a run whose config or data differ from the workdir's is refused.
"""

import dataclasses
import os
from typing import Sequence

import ml_collections

from tfmdl import data
from tfmdl import models
from tfmdl import results
from tfmdl import training
from tfmdl.bits import units
from tfmdl.bits.uniform import uniform_bits


def load_dataset(config: ml_collections.ConfigDict) -> data.Dataset:
  """The data set named by ``config.dataset``, ordered by ``config.data_seed``."""
  return data.load(
      config.dataset, seed=config.data_seed, data_dir=config.data_dir,
      random_labels=config.random_labels,
      random_labels_seed=config.random_labels_seed,
      num_train=config.num_train, num_test=config.num_test)


def model_fn(config: ml_collections.ConfigDict, dataset: data.Dataset,
             **overrides):
  """``seed -> fresh zoo model`` for ``config.model`` on ``dataset``.

  The model is built once here, so that an unknown name or option is refused
  (``ValueError``) before the experiment touches its workdir.
  """
  options = dict(config.model_options.to_dict(), **overrides)
  build = lambda seed: models.build(config.model, dataset.input_shape,
                                    dataset.num_classes, seed=seed, **options)
  build(0)
  return build


def train_config(config: ml_collections.ConfigDict,
                 **overrides) -> training.TrainConfig:
  """A :class:`TrainConfig` from ``config.train``; unknown fields refused."""
  fields = {f.name for f in dataclasses.fields(training.TrainConfig)}
  values = dict(config.train.to_dict(), **overrides)
  unknown = sorted(set(values) - fields)
  if unknown:
    raise ValueError(f"unknown train field(s) {unknown}; known: "
                     f"{sorted(fields)}")
  return training.TrainConfig(**values)


def _flat(prefix: str, values: dict) -> dict:
  """``{"a": {"b": 1}}`` as ``{"<prefix>.a.b": 1}``."""
  flat = {}
  for key, value in values.items():
    if isinstance(value, dict):
      flat.update(_flat(f"{prefix}.{key}", value))
    else:
      flat[f"{prefix}.{key}"] = value
  return flat


def hparams(config: ml_collections.ConfigDict, sections: Sequence[str],
            **fields) -> dict:
  """The settings that define a run, for TensorBoard's HParams dashboard.

  Always the data set, its order and labels (``data_seed``, ``num_train``,
  ``random_labels``), the model and its ``model_options.*`` and the seed;
  then ``<section>.*`` for each of ``sections``, the parts of the config
  that the run used (an online run: ``online``, not ``train``), less
  ``train.verbose``; ``fields`` (``code``, ``learner``) last.
  """
  values = {"dataset": config.dataset, "data_seed": config.data_seed,
            "num_train": config.num_train,
            "random_labels": config.random_labels, "model": config.model,
            "seed": config.seed,
            **_flat("model_options", config.model_options.to_dict())}
  for section in sections:
    values.update(_flat(section, config[section].to_dict()))
  values.pop("train.verbose", None)
  values.update(fields)
  return values


def result_record(code: str, config: ml_collections.ConfigDict,
                  dataset: data.Dataset, codelength_bits: float, *,
                  wall_s: float, **fields) -> dict:
  """A ``results.json``: the fields every code's file has, plus ``fields``.

  The shared fields say what the number is (``code``, ``codelength_bits``
  and kbits, the uniform codelength of the same labels and the compression
  ratio), of which labels (data set, n, K, random labels, the data's
  fingerprint and source) and how to rebuild it (the full config, seeds,
  library versions, and ``code_version``, the tfmdl code that wrote it:
  :func:`tfmdl.results.code_version`); ``format_version`` lets readers
  refuse files they do not know (``bin/report``). ``fields`` (``model`` and
  ``test_accuracy`` included) are the code's own; they may override
  ``model``.
  """
  n = len(dataset.y_train)
  uniform = uniform_bits(n, dataset.num_classes)
  return {
      "format_version": results.FORMAT_VERSION,
      "code": code,
      "dataset": config.dataset,
      "model": config.model,
      "random_labels": dataset.random_labels,
      "n": n,
      "num_classes": dataset.num_classes,
      "codelength_bits": codelength_bits,
      "codelength_kbits": units.bits_to_kbits(codelength_bits),
      "uniform_bits": uniform,
      "compression_ratio": codelength_bits / uniform,
      "seed": config.seed,
      "data_seed": config.data_seed,
      "data_fingerprint": dataset.fingerprint(),
      "data_source": dataset.source,
      "config": config.to_dict(),
      "versions": results.library_versions(),
      "code_version": results.code_version(),
      "wall_s": wall_s,
      **fields,
  }


def _without_verbosity(identity: dict) -> dict:
  """A workdir's identity without ``train.verbose``, which changes the log,
  not the run: a rerun with ``--verbose`` resumes."""
  train = identity["config"].get("train")
  if not isinstance(train, dict) or "verbose" not in train:
    return identity
  train = {k: v for k, v in train.items() if k != "verbose"}
  return dict(identity, config=dict(identity["config"], train=train))


class Workdir:
  """A run's folder: checks that it is writable and that it holds this run.

  ``config.json`` (the config and the data's fingerprint) is created once,
  race-free: several processes may start on the same workdir at the same
  time (shards of one run, see ``--blocks``); the first creates it and all
  others compare theirs with it (all but ``train.verbose``). A process with
  ``writable=False`` (a non-chief worker of a multi-worker run) compares but
  creates nothing.
  """

  def __init__(self, path: str, config: ml_collections.ConfigDict,
               fingerprint: str, *, writable: bool = True):
    self.path = path
    self._identity = {"config": config.to_dict(), "data_fingerprint": fingerprint}
    if writable:
      try:
        os.makedirs(path, exist_ok=True)
      except OSError as e:
        raise ValueError(f"cannot create workdir {path}: {e.strerror}") from e
      if not os.access(path, os.W_OK):
        raise ValueError(f"workdir {path} is not writable")
      try:
        if results.write_json_if_absent(self.file("config.json"),
                                        self._identity):
          return
      except OSError as e:
        raise ValueError(f"cannot write to workdir {path}: {e.strerror}"
                         ) from e
    if os.path.exists(self.file("config.json")):
      self._check_same_run()

  def _check_same_run(self) -> None:
    saved = _without_verbosity(results.read_json(self.file("config.json")))
    mine = _without_verbosity(results.json_round_trip(self._identity))
    if saved != mine:
      diff = sorted(k for k in set(saved["config"]) | set(mine["config"])
                    if saved["config"].get(k) != mine["config"].get(k))
      what = (f"config fields {diff}" if diff else "data order/fingerprint")
      raise ValueError(f"workdir {self.path} holds another run (different "
                       f"{what}); use a new --workdir")

  def file(self, *parts: str) -> str:
    return os.path.join(self.path, *parts)

  @property
  def tensorboard_dir(self) -> str:
    return self.file("tb")

