"""Label compression as an experiment: config -> labels file -> labels back.

:func:`compress` is Alice: it loads the config's data set, range-codes its
training labels with the prequential models
(:func:`tfmdl.compression.encode_labels`) and writes them behind a header
(:func:`file_header`) that says how to replay the training. :func:`decompress`
is Bob: from the file and the inputs alone it replays that training
(:func:`tfmdl.compression.decode_labels`), checks the result and writes the
labels. The file format, its checks and its limits are
:mod:`tfmdl.compression`'s; this module fills and reads the header from a
config (``bin/compress``, ``bin/decompress``; docs/compression.md).
"""

import dataclasses
import hashlib
import io
import math
import os
import time
from typing import Optional

import ml_collections
import numpy as np

from tfmdl import compression
from tfmdl import prequential
from tfmdl import results
from tfmdl import training
from tfmdl.codes import label_coding
from tfmdl.codes.uniform import uniform_bits
from tfmdl.data import Dataset
from tfmdl.experiments import common
from tfmdl.experiments.prequential import prequential_config


@dataclasses.dataclass(frozen=True)
class CompressResult:
  """What :func:`compress` wrote and how it compares with the codelength.

  ``overhead_bits = payload_bits - codelength_bits`` splits into the cost of
  quantising probabilities (``quantization_bits``) and the range coder's
  termination and word rounding (``coder_bits``).
  """
  path: str
  n: int
  num_classes: int
  file_bits: int
  header_bits: int
  payload_bits: int
  codelength_bits: float
  quantized_bits: float
  wall_s: float

  @property
  def overhead_bits(self) -> float:
    return self.payload_bits - self.codelength_bits

  @property
  def quantization_bits(self) -> float:
    return self.quantized_bits - self.codelength_bits

  @property
  def coder_bits(self) -> float:
    return self.payload_bits - self.quantized_bits


def file_header(config: ml_collections.ConfigDict, dataset: Dataset,
           encoded: compression.EncodedLabels) -> dict:
  """The header of a labels file: what Bob needs to decode and to check.

  Fields: ``format_version``, ``code``, the full ``config``, ``seed``,
  ``data_seed``, ``block_seeds``, ``n``, ``num_classes``, ``timesteps``,
  ``precision_bits``, ``data_fingerprint`` (inputs and labels,
  :meth:`tfmdl.data.Dataset.fingerprint`), ``inputs_fingerprint``,
  ``labels_dtype``, ``labels_sha256``, ``payload_bytes``, ``payload_sha256``,
  ``codelength_bits`` (float prequential codelength), ``quantized_bits`` and
  ``environment`` (:func:`tfmdl.compression.environment`).
  """
  return {
      "format_version": compression.FORMAT_VERSION,
      "code": "prequential",
      "config": config.to_dict(),
      "seed": config.seed,
      "data_seed": config.data_seed,
      "block_seeds": [prequential.block_seed(config.seed, i)
                      for i in range(1, len(encoded.timesteps))],
      "n": len(dataset.y_train),
      "num_classes": dataset.num_classes,
      "timesteps": encoded.timesteps,
      "precision_bits": label_coding.PRECISION,
      "data_fingerprint": dataset.fingerprint(),
      "inputs_fingerprint": compression.inputs_fingerprint(dataset.x_train),
      "labels_dtype": dataset.y_train.dtype.str,
      "labels_sha256": compression.labels_checksum(dataset.y_train),
      "payload_bytes": len(encoded.payload),
      "payload_sha256": hashlib.sha256(encoded.payload).hexdigest(),
      "codelength_bits": encoded.float_bits,
      "quantized_bits": encoded.quantized_bits,
      "environment": compression.environment(),
  }


def compress(config: ml_collections.ConfigDict, path: str) -> CompressResult:
  """Encode the training labels of ``config``'s data set into ``path``.

  The file's header is :func:`file_header`.

  Raises:
    ValueError: on a bad config, ``config.deterministic`` off, or a learner
      other than ``"block"``.
  """
  began = time.perf_counter()
  if not config.deterministic:
    raise ValueError("compression needs config.deterministic=True: the "
                     "decoder must replay the training bit for bit")
  if config.get("learner", "block") != "block":
    raise ValueError(f"compression supports the block learner only, not "
                     f"config.learner={config.learner!r}")
  training.make_deterministic(config.seed, config.deterministic)
  dataset = common.load_dataset(config)
  encoded = compression.encode_labels(
      common.model_fn(config, dataset), dataset.x_train, dataset.y_train,
      dataset.num_classes, prequential_config(config),
      training.get_strategy(config.strategy))
  compression.write_file(path, file_header(config, dataset, encoded),
                         encoded.payload)
  file_bits = 8 * os.path.getsize(path)
  return CompressResult(
      path=path, n=len(dataset.y_train), num_classes=dataset.num_classes,
      file_bits=file_bits, header_bits=file_bits - encoded.payload_bits,
      payload_bits=encoded.payload_bits, codelength_bits=encoded.float_bits,
      quantized_bits=encoded.quantized_bits,
      wall_s=time.perf_counter() - began)


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
  where to find them), checks them and the environment, replays the
  training and checks the decoded labels' sha256 before writing anything.

  Raises:
    ValueError: bad or damaged file, other inputs, another environment
      (unless ``force``), or decoded labels that fail the checksum.
  """
  began = time.perf_counter()
  saved, payload = compression.read_file(path)
  diffs = compression.check_environment(saved["environment"], force)
  config = ml_collections.ConfigDict(saved["config"])
  if data_dir is not None:
    config.data_dir = data_dir
  training.make_deterministic(config.seed, config.deterministic)
  dataset = common.load_dataset(config)
  x = dataset.x_train  # Bob's inputs; the loader's labels are never read.
  if compression.inputs_fingerprint(x) != saved["inputs_fingerprint"]:
    raise ValueError(f"the inputs differ from those {path} was encoded with "
                     "(inputs fingerprint mismatch: other data, order or "
                     "preprocessing)")
  if dataset.num_classes != saved["num_classes"]:
    raise ValueError(f"the data set has {dataset.num_classes} classes, the "
                     f"file {saved['num_classes']}")
  y = compression.decode_labels(
      common.model_fn(config, dataset), x, saved["num_classes"], payload,
      saved["timesteps"], prequential_config(config),
      training.get_strategy(config.strategy))
  y = y.astype(np.dtype(saved["labels_dtype"]))
  decoded = dataclasses.replace(dataset, y_train=y)
  if (compression.labels_checksum(y) != saved["labels_sha256"] or
      decoded.fingerprint() != saved["data_fingerprint"]):
    raise ValueError(
        "checksum mismatch: the decoded labels differ from the encoded ones "
        "(the replayed training gave other floats" +
        (", as the environment differs" if diffs else "") +
        "); nothing written")
  buffer = io.BytesIO()
  np.save(buffer, y, allow_pickle=False)
  results.write_bytes(out, buffer.getvalue())
  return DecompressResult(path=out, n=len(y), num_classes=saved["num_classes"],
                          environment_diffs=tuple(diffs),
                          wall_s=time.perf_counter() - began)


def bits_summary(result: CompressResult) -> str:
  """Sizes and overhead of a :class:`CompressResult`, for ``bin/compress``."""
  uniform = uniform_bits(result.n, result.num_classes)
  return (
      f"wrote {result.path}: {result.file_bits} bits in all "
      f"(header {result.header_bits}, payload {result.payload_bits})\n"
      f"prequential codelength {result.codelength_bits:.1f} bits "
      f"(uniform {uniform:.1f}, ratio {result.codelength_bits / uniform:.4f})\n"
      f"payload overhead {result.overhead_bits:+.1f} bits "
      f"({100 * result.overhead_bits / max(result.codelength_bits, 1):+.3f}%): "
      f"quantisation {result.quantization_bits:+.1f}, range coder "
      f"{result.coder_bits:+.1f}\n"
      f"{result.n} labels, {result.payload_bits / result.n:.4f} bits/label "
      f"(log2 K = {math.log2(result.num_classes):.4f}); {result.wall_s:.1f}s")
