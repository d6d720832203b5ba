"""Label compression as an experiment: config -> labels file -> labels back.

:func:`compress` is Alice: it loads the config's data set, range-codes its
training labels with the prequential models
(:func:`~tfmdl.codes.prequential.label_file.encode_labels`) and writes them behind a header
(:func:`file_header`) that says how to replay the training. :func:`decompress`
is Bob: from the file and the inputs alone it replays that training
(:func:`~tfmdl.codes.prequential.label_file.decode_labels`), checks the result and writes the
labels. The file format, its checks and its limits are
:mod:`tfmdl.codes.prequential.label_file`'s; this module fills and reads the header from a
config (``bin/compress``, ``bin/decompress``; docs/compression.md).
"""

import contextlib
import dataclasses
import io
import math
import time
from typing import Optional

import ml_collections
import numpy as np
import tensorflow as tf

from tfmdl import results
from tfmdl import training
from tfmdl.bits.uniform import uniform_bits
from tfmdl.codes import prequential as prequential_codes
from tfmdl.codes import registry
from tfmdl.codes.prequential import code as prequential_code
from tfmdl.codes.prequential import label_file
from tfmdl.data import Dataset
from tfmdl.data import labelled
from tfmdl.experiments import common
from tfmdl.experiments import config as config_lib
from tfmdl.experiments import prequential

# The top-level config fields that decide Bob's replay; the rest (where the
# data lie, the test set, how random labels are drawn) does not enter
# decoding and stays out of the file, as do the sections of the learner not
# used and the fields marked SAME_BITS (tfmdl.results).
DECODING_FIELDS = ("dataset", "data_seed", "num_train", "model",
                   "model_options", "seed", "strategy", "deterministic",
                   "learner")


@dataclasses.dataclass(frozen=True)
class CompressResult:
  """What :func:`compress` wrote and how it compares with the codelength.

  The file is ``header_bits`` (what Bob needs, labels-free) +
  ``payload_bits`` (the code) + ``checks_bits`` (a check of the labels and
  of the payload, not part of the code). ``overhead_bits = payload_bits -
  codelength_bits`` splits into the cost of quantising probabilities
  (``quantization_bits``) and the range coder's termination and word
  rounding (``coder_bits``). ``per_sample_bits`` are the codelength's
  bits of each label, in transmission order (the coder's guarantees,
  :func:`tfmdl.bits.label_coding.quantized_bits_bounds`, are per label).
  """
  path: str
  n: int
  num_classes: int
  header_bits: int
  payload_bits: int
  checks_bits: int
  codelength_bits: float
  quantized_bits: float
  wall_s: float
  per_sample_bits: np.ndarray = dataclasses.field(repr=False, compare=False)

  @property
  def file_bits(self) -> int:
    return self.header_bits + self.payload_bits + self.checks_bits

  @property
  def overhead_bits(self) -> float:
    return self.payload_bits - self.codelength_bits

  @property
  def quantization_bits(self) -> float:
    return self.quantized_bits - self.codelength_bits

  @property
  def coder_bits(self) -> float:
    return self.payload_bits - self.quantized_bits


def _decoding_sections(config: ml_collections.ConfigDict) -> dict:
  """The config sections of the run's learner: name -> dataclass."""
  code = "online" if config.learner == "online" else "prequential"
  return registry.get(code).section_classes()


def decoding_settings(config: ml_collections.ConfigDict) -> dict:
  """The part of ``config`` that Bob's replay depends on, as a dict:
  :data:`DECODING_FIELDS` and the learner's sections, less the fields that
  never change a probability."""
  settings = {field: config[field] for field in DECODING_FIELDS}
  settings["model_options"] = config.model_options.to_dict()
  for name, cls in _decoding_sections(config).items():
    same = {f.name for f in dataclasses.fields(cls)
            if f.metadata == results.SAME_BITS}
    settings[name] = {k: v for k, v in config[name].to_dict().items()
                      if k not in same}
  return results.json_round_trip(settings)


def decoding_config(settings: dict) -> ml_collections.ConfigDict:
  """A complete config from a header's :func:`decoding_settings`: the
  dataclasses' defaults elsewhere."""
  config = prequential.default_config(settings["dataset"], settings["model"])
  config.model_options = ml_collections.ConfigDict(settings["model_options"])
  for field, value in settings.items():
    if field == "model_options":
      continue
    if isinstance(value, dict):
      config[field].update(value)
    else:
      config[field] = value
  return config


def file_header(config: ml_collections.ConfigDict, dataset: Dataset,
                replicas: int = 1) -> dict:
  """The header of a labels file: what Bob needs to decode, and can check
  before he does. Nothing in it depends on the labels.

  Fields: ``code`` (the registry's name of the code: ``"prequential"``
  for the block learner, ``"online"``), ``config``
  (:func:`decoding_settings`), ``inputs_fingerprint``
  (:func:`tfmdl.data.labelled.inputs_fingerprint`), ``environment``
  (:func:`label_file.environment`) and ``replicas``, the number of replicas
  the training was split over (its gradients are summed in an order that
  depends on it: :func:`label_file.check_replicas`). The schedule, the
  seeds, n and K follow from the config and the inputs.
  """
  return {
      "code": prequential_code.code_name(
          prequential.learner_config(config)),
      "config": decoding_settings(config),
      "inputs_fingerprint": labelled.inputs_fingerprint(dataset.x_train),
      "environment": label_file.environment(),
      "replicas": replicas,
  }


def compress(config: ml_collections.ConfigDict, path: str) -> CompressResult:
  """Encode the training labels of ``config``'s data set into ``path``.

  The file's header is :func:`file_header`; the labels' checksum follows
  the payload.

  Raises:
    ValueError: on a bad config, or ``config.deterministic`` off.
  """
  began = time.perf_counter()
  if not config.deterministic:
    raise ValueError("compression needs config.deterministic=True: the "
                     "decoder must replay the training bit for bit")
  learner = prequential.learner_config(config)
  strategy = training.get_strategy(config.strategy)
  training.make_deterministic(config.seed, config.deterministic)
  dataset = common.load_dataset(config)
  with _out_of_memory_in_one_line():
    encoded = label_file.encode_labels(
        _model_fn(config, dataset, learner), dataset.x_train,
        dataset.y_train, dataset.num_classes, _protocol_config(config),
        learner, strategy, source="bin/compress")
  written = label_file.write_file(
      path, file_header(config, dataset, strategy.num_replicas_in_sync),
      encoded.payload, label_file.labels_checksum(dataset.y_train))
  return CompressResult(
      path=path, n=len(dataset.y_train), num_classes=dataset.num_classes,
      header_bits=written.header_bits, payload_bits=written.payload_bits,
      checks_bits=written.checks_bits, codelength_bits=encoded.float_bits,
      quantized_bits=encoded.quantized_bits,
      wall_s=time.perf_counter() - began,
      per_sample_bits=encoded.per_sample_bits)


@dataclasses.dataclass(frozen=True)
class DecompressResult:
  """What :func:`decompress` decoded and wrote."""
  path: str
  n: int
  num_classes: int
  environment_diffs: tuple
  wall_s: float


def decompress(path: str, out: str, *, force: bool = False,
               data_dir: Optional[str] = None) -> DecompressResult:
  """Decode the labels in ``path`` and write them to ``out`` (``.npy``).

  Loads the inputs named by the header's config (``data_dir`` overrides
  where to find them), checks them and the environment, refuses a model
  larger than the machine's memory before building it, replays the training
  and checks the decoded labels' checksum before writing anything.

  Raises:
    ValueError: bad or damaged file, other inputs, another environment
      (unless ``force``), another number of replicas, a model or training
      that needs more memory than there is, or decoded labels that fail the
      checksum.
  """
  began = time.perf_counter()
  labels_file = label_file.read_file(path)
  saved = labels_file.header
  config = decoding_config(saved["config"])
  learner = prequential.learner_config(config)
  if data_dir is not None:
    config.data_dir = data_dir
  # First: a multi-worker strategy must exist before TensorFlow runs anything.
  strategy = training.get_strategy(config.strategy)
  diffs = label_file.check_environment(saved["environment"], force)
  label_file.check_replicas(saved, strategy)
  training.make_deterministic(config.seed, config.deterministic)
  dataset = common.load_dataset(config)
  x = dataset.x_train  # Bob's inputs; the loader's labels are never read.
  if labelled.inputs_fingerprint(x) != saved["inputs_fingerprint"]:
    raise ValueError(f"the inputs differ from those {path} was encoded with "
                     "(inputs fingerprint mismatch: other data, order or "
                     "preprocessing)")
  with _out_of_memory_in_one_line():
    y = label_file.decode_labels(
        _model_fn(config, dataset, learner), x, dataset.num_classes,
        labels_file.payload, _protocol_config(config), learner, strategy)
  y = y.astype(dataset.y_train.dtype)
  if label_file.labels_checksum(y) != labels_file.labels_checksum:
    raise ValueError(
        "checksum mismatch: the decoded labels differ from the encoded ones "
        "(the replayed training gave other floats" +
        (", as the environment differs" if diffs else "") +
        "); nothing written")
  buffer = io.BytesIO()
  np.save(buffer, y, allow_pickle=False)
  results.write_bytes(out, buffer.getvalue())
  return DecompressResult(path=out, n=len(y), num_classes=dataset.num_classes,
                          environment_diffs=tuple(diffs),
                          wall_s=time.perf_counter() - began)


def _model_fn(config: ml_collections.ConfigDict, dataset: Dataset,
              learner: prequential_code.LearnerConfig):
  """The config's model, refused before it is built when the weights that
  ``learner`` holds exceed the machine's memory."""
  return common.model_fn(config, dataset,
                         copies=prequential_code.weight_copies(learner))


@contextlib.contextmanager
def _out_of_memory_in_one_line():
  """TensorFlow's ``ResourceExhaustedError`` (a GPU's memory, which
  :func:`_model_fn` does not check, or the batches) as a one-line
  ``ValueError``."""
  try:
    yield
  except tf.errors.ResourceExhaustedError as e:
    first = (e.message or type(e).__name__).strip().splitlines()[0]
    raise ValueError(f"out of memory: the model or its batches need more "
                     f"memory than this device has ({first})") from e


def _protocol_config(config: ml_collections.ConfigDict
                     ) -> prequential_codes.PrequentialConfig:
  return config_lib.instance(prequential_codes.PrequentialConfig, config,
                             "prequential")


def bits_summary(result: CompressResult) -> str:
  """Sizes and overhead of a :class:`CompressResult`, for ``bin/compress``."""
  uniform = uniform_bits(result.n, result.num_classes)
  return (
      f"wrote {result.path}: {result.file_bits} bits = header "
      f"{result.header_bits} (decoding settings, no labels) + payload "
      f"{result.payload_bits} (the code) + checks {result.checks_bits} "
      "(labels checksum and payload CRC: a check, not part of the code)\n"
      f"prequential codelength {result.codelength_bits:.1f} bits "
      f"(uniform {uniform:.1f}, ratio {result.codelength_bits / uniform:.4f})\n"
      f"payload overhead {result.overhead_bits:+.1f} bits "
      f"({100 * result.overhead_bits / max(result.codelength_bits, 1):+.3f}%): "
      f"quantisation {result.quantization_bits:+.1f}, range coder "
      f"{result.coder_bits:+.1f}\n"
      f"{result.n} labels, {result.payload_bits / result.n:.4f} bits/label "
      f"(log2 K = {math.log2(result.num_classes):.4f}); {result.wall_s:.1f}s")
