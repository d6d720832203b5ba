"""Real lossless compression of a data set's labels with the prequential code.

The prequential codelength (``tfmdl.prequential``) counts bits that a range
coder would write; this module writes them. Alice (:func:`compress`) replays
the prequential training block by block: the first block is coded with the
(quantised) uniform distribution, every next block with the probabilities of a
model trained on the prefix only. Bob (:func:`decompress`) holds the inputs
and the file; he decodes a block, trains the next block's model on the labels
decoded so far -- the same training, from the same seeds -- and goes on.

File layout (all integers little-endian)::

    b"TFMDLLBL"                 magic, 8 bytes
    uint32 format version       FORMAT_VERSION
    uint32 header length        h
    h bytes of UTF-8 JSON       the header (see :func:`compress`)
    payload                     the range coder's 32-bit words

The header holds what Alice and Bob agree on in advance (the full config, the
seeds, n, K, the schedule) plus integrity data (fingerprints, sha256 of the
labels and of the payload, library versions and devices). The payload alone
is the code: its size is compared with the prequential codelength; the header
is a fixed, data-independent cost of a few kilobytes.

Limits -- decoding needs bit-identical floats:

* Bob must replay Alice's training bit for bit: the same TensorFlow, Keras,
  NumPy and tfmdl versions, the same device kind, op determinism on
  (``config.deterministic``; :func:`compress` refuses without it). The header
  records versions and devices; :func:`decompress` refuses when they differ
  unless ``force=True``. GPU kernels without a deterministic implementation,
  XLA, or a different CPU instruction set can change the last bit of a weight
  and with it every later label.
* Any such difference, and any corruption, shows up as a checksum mismatch:
  :func:`decompress` raises a ``ValueError`` and writes nothing. Wrong labels
  are never written.
* The inputs must be available locally and identical (checked by their
  sha256 before any training).
* Probability quantisation (``tfmdl.codes.label_coding``) costs bits; the
  cost is reported as part of the overhead.
"""

import dataclasses
import hashlib
import importlib.metadata
import io
import json
import math
import os
import platform
import struct
import time
from typing import Optional

from absl import logging
import ml_collections
import numpy as np
import tensorflow as tf

from tfmdl import prequential
from tfmdl import results
from tfmdl import training
from tfmdl.codes import label_coding
from tfmdl.codes import units
from tfmdl.codes.uniform import uniform_bits
from tfmdl.data import validate_labelled_arrays
from tfmdl.experiments import common
from tfmdl.experiments.prequential import prequential_config

MAGIC = b"TFMDLLBL"
FORMAT_VERSION = 1
_PREFIX = struct.Struct("<8sII")


def _array_sha256(a: np.ndarray) -> str:
  """SHA-256 (hex) of ``"<dtype>|<shape>|"`` followed by the array's bytes."""
  a = np.ascontiguousarray(a)
  digest = hashlib.sha256(f"{a.dtype.str}|{a.shape}|".encode())
  digest.update(a)
  return digest.hexdigest()


def inputs_fingerprint(x: np.ndarray) -> str:
  """Fingerprint of the inputs alone (what Bob holds before decoding)."""
  return _array_sha256(x)


def labels_checksum(y: np.ndarray) -> str:
  """Checksum of the labels, checked after decoding."""
  return _array_sha256(y)


def environment() -> dict:
  """Versions and devices that decoding must match (see module docstring).

  Devices are the physical ones (a split of one CPU into logical devices
  does not change the floats of the default strategy); the strategy itself
  is in the config.
  """
  env = results.library_versions()
  del env["devices"]
  env["physical_devices"] = [d.name for d in tf.config.list_physical_devices()]
  env["constriction"] = importlib.metadata.version("constriction")
  env["cpu"] = _cpu_model()
  env["gpus"] = [
      tf.config.experimental.get_device_details(d).get("device_name", d.name)
      for d in tf.config.list_physical_devices("GPU")]
  return results.json_round_trip(env)


def _cpu_model() -> str:
  if os.path.exists("/proc/cpuinfo"):
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  return platform.processor()


@dataclasses.dataclass(frozen=True)
class EncodedLabels:
  """The payload of :func:`encode_labels` and what it cost.

  Attributes:
    payload: the range coder's output.
    timesteps: the block boundaries used.
    float_bits: the prequential codelength from the same log-probabilities
      (first block uniform), in bits.
    quantized_bits: ``sum -log2 q(y)`` under the quantised probabilities.
  """
  payload: bytes
  timesteps: tuple
  float_bits: float
  quantized_bits: float

  @property
  def payload_bits(self) -> int:
    return 8 * len(self.payload)


def _block_masses(model_fn, x, y_prefix, index: int, start: int, end: int,
                  num_classes: int, config: prequential.PrequentialConfig,
                  strategy):
  """Quantised masses of block ``[start, end)`` and its float log-probs.

  Both sides call this with the same prefix: block 0 is uniform (log-probs
  None), block k uses the model trained on ``y_prefix = y[:start]``.
  """
  if index == 0:
    return label_coding.uniform_masses(end - start, num_classes), None
  model = prequential.train_on_prefix(model_fn, x[:start], y_prefix, index,
                                      config, strategy)
  log_probs = training.predict_log_probs(
      model.model, x[start:end], config.train.eval_batch_size,
      forward=model.forward)
  return label_coding.quantize_log_probs(log_probs), log_probs


def encode_labels(model_fn: prequential.ModelFn, x: np.ndarray, y: np.ndarray,
                  num_classes: int, config: prequential.PrequentialConfig,
                  strategy: Optional[tf.distribute.Strategy] = None
                  ) -> EncodedLabels:
  """Range-code ``y`` block by block with the prequential models.

  Args:
    model_fn, x, y, num_classes, config: as for
      :func:`tfmdl.prequential.prequential_code`.
    strategy: a ``tf.distribute`` strategy; the default one when None.

  Returns:
    An :class:`EncodedLabels`.
  """
  validate_labelled_arrays(x, y, num_classes)
  strategy = strategy or tf.distribute.get_strategy()
  timesteps = prequential.schedule(len(x), config)
  encoder = label_coding.LabelEncoder()
  float_bits = quantized_bits = 0.0
  for index, (start, end) in enumerate(prequential.block_bounds(timesteps)):
    began = time.perf_counter()
    masses, log_probs = _block_masses(model_fn, x, y[:start], index, start,
                                      end, num_classes, config, strategy)
    block_y = y[start:end]
    encoder.encode(block_y, masses)
    block_float = (uniform_bits(end - start, num_classes) if log_probs is None
                   else float(units.nats_to_bits(
                       training.per_sample_nll_nats(log_probs, block_y)).sum()))
    block_quantized = label_coding.quantized_bits(masses, block_y)
    float_bits += block_float
    quantized_bits += block_quantized
    logging.info("encoded block %d/%d [%d, %d): %.1f bits (%.1f quantised), "
                 "%.1fs", index + 1, len(timesteps), start, end, block_float,
                 block_quantized, time.perf_counter() - began)
  return EncodedLabels(encoder.payload(), timesteps, float_bits,
                       quantized_bits)


def decode_labels(model_fn: prequential.ModelFn, x: np.ndarray,
                  num_classes: int, payload: bytes, timesteps,
                  config: prequential.PrequentialConfig,
                  strategy: Optional[tf.distribute.Strategy] = None
                  ) -> np.ndarray:
  """Decode the labels of ``x`` from ``payload``, replaying the training.

  Each block's model is trained on the labels decoded before it. The result
  is only right if the replay is bit-identical: check it with a checksum.

  Returns:
    int64 labels, shape (len(x),).
  """
  strategy = strategy or tf.distribute.get_strategy()
  timesteps = prequential.check_timesteps(timesteps, len(x))
  decoder = label_coding.LabelDecoder(payload)
  y = np.zeros(len(x), np.int64)
  for index, (start, end) in enumerate(prequential.block_bounds(timesteps)):
    began = time.perf_counter()
    masses, _ = _block_masses(model_fn, x, y[:start], index, start, end,
                              num_classes, config, strategy)
    y[start:end] = decoder.decode(masses)
    logging.info("decoded block %d/%d [%d, %d), %.1fs", index + 1,
                 len(timesteps), start, end, time.perf_counter() - began)
  return y


def write_file(path: str, header: dict, payload: bytes) -> None:
  """Write a labels file atomically (see the module docstring's layout)."""
  text = json.dumps(header, sort_keys=True,
                    default=results.to_jsonable).encode("utf-8")
  results.write_bytes(
      path, _PREFIX.pack(MAGIC, FORMAT_VERSION, len(text)) + text + payload)


def read_file(path: str):
  """``(header, payload)`` of a labels file, checked for truncation/damage.

  Raises:
    ValueError: bad magic or version, truncated or corrupt header or payload.
  """
  with open(path, "rb") as f:
    blob = f.read()
  if len(blob) < _PREFIX.size or blob[:len(MAGIC)] != MAGIC:
    raise ValueError(f"{path} is not a tfmdl labels file (bad magic)")
  _, version, header_len = _PREFIX.unpack_from(blob)
  if version != FORMAT_VERSION:
    raise ValueError(f"{path} has format version {version}; this tfmdl reads "
                     f"version {FORMAT_VERSION}")
  header_end = _PREFIX.size + header_len
  if len(blob) < header_end:
    raise ValueError(f"{path} is truncated (inside the header)")
  try:
    header = json.loads(blob[_PREFIX.size:header_end].decode("utf-8"))
  except (UnicodeDecodeError, json.JSONDecodeError) as e:
    raise ValueError(f"{path} has a corrupt header ({e})") from e
  payload = blob[header_end:]
  if len(payload) != header["payload_bytes"]:
    raise ValueError(f"{path} is truncated or damaged: payload has "
                     f"{len(payload)} bytes, the header says "
                     f"{header['payload_bytes']}")
  if hashlib.sha256(payload).hexdigest() != header["payload_sha256"]:
    raise ValueError(f"{path} is corrupt: the payload's sha256 does not match "
                     "the header's")
  return header, payload


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


def compress(config: ml_collections.ConfigDict, path: str) -> CompressResult:
  """Encode the training labels of ``config``'s data set into ``path``.

  The header holds: ``format_version``, ``code``, the full ``config``,
  ``seed``, ``data_seed``, ``block_seeds``, ``n``, ``num_classes``,
  ``timesteps``, ``precision_bits``, ``data_fingerprint`` (inputs and labels,
  :meth:`tfmdl.data.Dataset.fingerprint`), ``inputs_fingerprint``,
  ``labels_dtype``, ``labels_sha256``, ``payload_bytes``, ``payload_sha256``,
  ``codelength_bits`` (float prequential codelength), ``quantized_bits`` and
  ``environment`` (:func:`environment`).

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
  pconfig = prequential_config(config)
  encoded = encode_labels(
      common.model_fn(config, dataset), dataset.x_train, dataset.y_train,
      dataset.num_classes, pconfig, training.get_strategy(config.strategy))
  header = {
      "format_version": FORMAT_VERSION,
      "code": "prequential",
      "config": config.to_dict(),
      "seed": config.seed,
      "data_seed": config.data_seed,
      "block_seeds": [prequential.block_seed(pconfig.seed, i)
                      for i in range(1, len(encoded.timesteps))],
      "n": len(dataset.y_train),
      "num_classes": dataset.num_classes,
      "timesteps": encoded.timesteps,
      "precision_bits": label_coding.PRECISION,
      "data_fingerprint": dataset.fingerprint(),
      "inputs_fingerprint": inputs_fingerprint(dataset.x_train),
      "labels_dtype": dataset.y_train.dtype.str,
      "labels_sha256": labels_checksum(dataset.y_train),
      "payload_bytes": len(encoded.payload),
      "payload_sha256": hashlib.sha256(encoded.payload).hexdigest(),
      "codelength_bits": encoded.float_bits,
      "quantized_bits": encoded.quantized_bits,
      "environment": environment(),
  }
  write_file(path, header, encoded.payload)
  file_bits = 8 * os.path.getsize(path)
  return CompressResult(
      path=path, n=header["n"], num_classes=dataset.num_classes,
      file_bits=file_bits, header_bits=file_bits - encoded.payload_bits,
      payload_bits=encoded.payload_bits, codelength_bits=encoded.float_bits,
      quantized_bits=encoded.quantized_bits,
      wall_s=time.perf_counter() - began)


def check_environment(saved: dict, force: bool = False) -> list:
  """Differences between ``saved`` and :func:`environment`, as strings.

  Raises:
    ValueError: when they differ and ``force`` is False.
  """
  current = environment()
  diffs = [f"{key}: file {saved.get(key)!r}, here {current.get(key)!r}"
           for key in sorted(set(saved) | set(current))
           if saved.get(key) != current.get(key)]
  if diffs and not force:
    raise ValueError(
        "the file was written under another environment (" +
        "; ".join(diffs) + "); decoding needs bit-identical floats, pass "
        "--force (force=True) to try anyway")
  for diff in diffs:
    logging.warning("environment differs, decoding anyway: %s", diff)
  return diffs


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
  header, payload = read_file(path)
  diffs = check_environment(header["environment"], force)
  config = ml_collections.ConfigDict(header["config"])
  if data_dir is not None:
    config.data_dir = data_dir
  training.make_deterministic(config.seed, config.deterministic)
  dataset = common.load_dataset(config)
  x = dataset.x_train  # Bob's inputs; the loader's labels are never read.
  if inputs_fingerprint(x) != header["inputs_fingerprint"]:
    raise ValueError(f"the inputs differ from those {path} was encoded with "
                     "(inputs fingerprint mismatch: other data, order or "
                     "preprocessing)")
  if dataset.num_classes != header["num_classes"]:
    raise ValueError(f"the data set has {dataset.num_classes} classes, the "
                     f"file {header['num_classes']}")
  y = decode_labels(common.model_fn(config, dataset), x,
                    header["num_classes"], payload, header["timesteps"],
                    prequential_config(config),
                    training.get_strategy(config.strategy))
  y = y.astype(np.dtype(header["labels_dtype"]))
  decoded = dataclasses.replace(dataset, y_train=y)
  if (labels_checksum(y) != header["labels_sha256"] or
      decoded.fingerprint() != header["data_fingerprint"]):
    raise ValueError(
        "checksum mismatch: the decoded labels differ from the encoded ones "
        "(the replayed training gave other floats" +
        (", as the environment differs" if diffs else "") +
        "); nothing written")
  buffer = io.BytesIO()
  np.save(buffer, y, allow_pickle=False)
  results.write_bytes(out, buffer.getvalue())
  return DecompressResult(path=out, n=len(y), num_classes=header["num_classes"],
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
