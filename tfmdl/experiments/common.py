"""What every experiment shares: the data and model of a config, the
settings it records in TensorBoard, and the fields of every results.json."""

from typing import Optional, Sequence

import ml_collections

from tfmdl import data
from tfmdl import ledger
from tfmdl import models
from tfmdl.models import adapter
from tfmdl.models import memory
from tfmdl import results
from tfmdl.bits import units
from tfmdl.bits.uniform import uniform_bits


def load_dataset(config: ml_collections.ConfigDict) -> data.Dataset:
  """The data set named by ``config.dataset``, ordered by ``config.data_seed``."""
  return data.load(
      config.dataset, seed=config.data_seed, data_dir=config.data_dir,
      random_labels=config.random_labels,
      random_labels_seed=config.random_labels_seed,
      num_train=config.num_train, num_test=config.num_test)


# Copies of the weights that any training here holds at least: the model,
# its gradients and Adam's two moments.
TRAINING_COPIES = 4


def model_fn(config: ml_collections.ConfigDict, dataset: data.Dataset, *,
             copies: int = TRAINING_COPIES) -> adapter.ModelFn:
  """``seed -> fresh zoo model`` for ``config.model`` on ``dataset``, named
  by the zoo name and its options in the run ledger.

  The model is built once here, so that an unknown name or option, or a
  model whose ``copies`` copies of its weights exceed the machine's memory
  (:func:`tfmdl.models.memory.weights_within`), is refused (``ValueError``)
  before the experiment touches its workdir.
  """
  return zoo_model_fn(config.model, config.model_options.to_dict(), dataset,
                      copies=copies)


def zoo_model_fn(model: str, options: dict, dataset: data.Dataset,
                 name: Optional[str] = None, *,
                 copies: int = TRAINING_COPIES) -> adapter.ModelFn:
  """``seed -> fresh zoo model`` ``model`` with builder ``options``, built
  once here (a bad name or option, or weights that do not fit ``copies``
  times in memory, are refused now), named ``name`` (default ``model``)
  and described by its options in the run ledger."""
  options = dict(options)
  build = lambda seed: models.build(model, dataset.input_shape,
                                    dataset.num_classes, seed=seed, **options)
  with memory.weights_within(copies, what=f"model {name or model!r}"):
    return adapter.as_model_fn(build, dataset.num_classes,
                               example=dataset.train.inputs(0, 8),
                               name=name or model,
                               description=ledger.model_setting(options))


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
                  dataset: data.Dataset, fields: dict, *,
                  wall_s: float) -> dict:
  """A ``results.json``: the fields every code's file has, and ``fields``,
  the code's own (its result's ``to_json()``; ``codelength_bits`` among
  them).

  The shared fields say what the number is (``code``, ``codelength_bits``
  and kbits, the uniform codelength of the same labels and the compression
  ratio), of which labels (data set, n, K, random labels, the data's
  fingerprint and source) and how to rebuild it (the full config, seeds,
  library versions, and ``code_version``, the tfmdl code that wrote it:
  :func:`tfmdl.results.code_version`); ``format_version`` lets readers
  refuse files they do not know (``bin/report``). ``fields`` may override
  ``model``.
  """
  codelength_bits = fields["codelength_bits"]
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
      "codelength_kbits": units.bits_to_kbits(codelength_bits),
      "uniform_bits": uniform,
      "compression_ratio": codelength_bits / uniform,
      "seed": config.seed,
      "data_seed": config.data_seed,
      "data_fingerprint": dataset.fingerprint(),
      "labels_fingerprint": ledger.labels_fingerprint(dataset.y_train),
      "data_source": dataset.source,
      "config": config.to_dict(),
      "versions": results.library_versions(),
      "code_version": results.code_version(),
      "wall_s": wall_s,
      **fields,
  }
