"""Real lossless compression of a data set's labels with the prequential code.

The prequential codelength (``tfmdl.prequential``) counts bits that a range
coder would write; this module writes them. Alice (:func:`encode_labels`)
replays the prequential training block by block: the first block is coded with
the (quantised) uniform distribution, every next block with the probabilities
of a model trained on the prefix only. Bob (:func:`decode_labels`) holds the
inputs and the payload; he decodes a block, trains the next block's model on
the labels decoded so far -- the same training, from the same seeds -- and
goes on. ``bin/compress`` and ``bin/decompress`` run both from a config and
write and read the file (docs/compression.md).

File layout (format version 2; integers little-endian)::

    b"TFMDLLBL"                 magic, 8 bytes
    uint32 format version       FORMAT_VERSION
    uint32 header length        h
    h bytes                     the header: zlib-compressed canonical JSON
    payload                     the range coder's 32-bit words: the code
    uint32 CRC-32 of payload    checks, 12 bytes: not part of the code
    8 bytes                     the labels' SHA-256, first 8 bytes

The header (its fields: docs/compression.md) holds only what Bob needs to
decode and what he can check before he does: the settings Alice and Bob
agree on in advance (the parts of the config that decide the training), the
environment the floats depend on, and a fingerprint of the inputs (which Bob
holds). Nothing in it depends on the labels, so it is a fixed cost, the same
for any labels of the same inputs. The payload alone is the code: its size
is compared with the prequential codelength. The checks at the end depend on
the labels but carry nothing Bob needs: a CRC-32 that refuses a damaged
payload before the replay, and a 64-bit checksum of the labels that refuses
a replay that went wrong. Their bits are counted apart from the code.

Limits -- decoding needs bit-identical floats:

* Bob must replay Alice's training bit for bit: the same TensorFlow, Keras,
  NumPy and tfmdl versions, the same device kind, op determinism on
  (``config.deterministic``; ``bin/compress`` refuses without it). The header
  records versions and devices (:func:`environment`);
  :func:`check_environment` refuses when they differ unless ``force=True``.
  GPU kernels without a deterministic implementation, XLA, or a different
  CPU instruction set can change the last bit of a weight and with it every
  later label.
* Any such difference, and any corruption, shows up as a checksum mismatch
  (:func:`labels_checksum` against the file's): ``bin/decompress`` refuses
  and writes nothing. Wrong labels are never written.
* The inputs must be available locally and identical (checked by their
  sha256 before any training).
* Probability quantisation (``tfmdl.bits.label_coding``) costs bits; the
  cost is reported as part of the overhead.
"""

import dataclasses
import hashlib
import importlib.metadata
import json
import math
import os
import platform
import struct
import time
from typing import Optional
import zlib

from absl import logging
import numpy as np
import tensorflow as tf

from tfmdl.codes.prequential import block as prequential
from tfmdl import results
from tfmdl import training
from tfmdl.bits import label_coding
from tfmdl.bits import mixtures
from tfmdl.bits import units
from tfmdl.bits.uniform import uniform_bits
from tfmdl.data import validate_labelled_arrays
from tfmdl.progress import Progress

MAGIC = b"TFMDLLBL"
FORMAT_VERSION = 2
_PREFIX = struct.Struct("<8sII")
_CHECKS = struct.Struct("<I8s")  # CRC-32 of the payload, labels' checksum


def _array_sha256(a: np.ndarray) -> str:
  """SHA-256 (hex) of ``"<dtype>|<shape>|"`` followed by the array's bytes."""
  a = np.ascontiguousarray(a)
  digest = hashlib.sha256(f"{a.dtype.str}|{a.shape}|".encode())
  digest.update(a)
  return digest.hexdigest()


def inputs_fingerprint(x: np.ndarray) -> str:
  """Fingerprint of the inputs alone (what Bob holds before decoding)."""
  return _array_sha256(x)


def labels_checksum(y: np.ndarray) -> bytes:
  """Checksum of the labels, checked after decoding: the first 8 bytes of
  the SHA-256 of their values as little-endian int64 (whatever their dtype).
  A replay that goes wrong changes every later label: 64 bits are plenty."""
  return hashlib.sha256(np.ascontiguousarray(y, "<i8").tobytes()).digest()[:8]


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


def _block_log_probs(model_fn, x, y_prefix, index: int, start: int,
                     end: int, config: prequential.PrequentialConfig,
                     strategy) -> Optional[np.ndarray]:
  """Log-probabilities (nats) of block ``[start, end)``'s model, or None for
  block 0 (uniform).

  Both sides call this with the same prefix: block k uses the model trained
  on ``y_prefix = y[:start]``.
  """
  if index == 0:
    return None
  model = prequential.train_on_prefix(model_fn, x[:start], y_prefix, index,
                                      config, strategy)
  return training.predict_log_probs(
      model.model, x[start:end], config.train.eval_batch_size,
      forward=model.forward)


class _UniformFallback:
  """The running weights of block k's mixture of model and uniform code.

  Sequential, as Bob decodes: the masses of a label depend on the labels
  before it in the block (:func:`tfmdl.bits.mixtures.
  block_uniform_fallback_bits` computes the same code's bits). Alice and Bob
  call the same scalar operations in the same order, so their floats agree.
  """

  def __init__(self, index: int, num_classes: int):
    self._log2_model = math.log2(1.0 - 2.0**-index)
    self._log2_uniform = -float(index)
    self._log2_k = math.log2(num_classes)

  def masses(self, row: np.ndarray) -> np.ndarray:
    """Quantised masses (1, K) of the mixture for one model row (nats)."""
    mixed = np.logaddexp(self._log2_model * units.LN2 + row.astype(np.float64),
                         (self._log2_uniform - self._log2_k) * units.LN2)
    return label_coding.quantize_log_probs(mixed[None, :])

  def update(self, label_log_prob: float) -> None:
    """Bayes' rule after a label whose model log-probability (nats) is
    ``label_log_prob``."""
    model = self._log2_model + float(label_log_prob) / units.LN2
    uniform = self._log2_uniform - self._log2_k
    top = max(model, uniform)
    total = top + math.log2(1.0 + 2.0**(min(model, uniform) - top))
    self._log2_model, self._log2_uniform = model - total, uniform - total


def _encode_block(encoder, block_y, log_probs, index: int, num_classes: int,
                  fallback: bool) -> float:
  """Range-code one block; return its bits under the quantised masses."""
  if log_probs is None:
    masses = label_coding.uniform_masses(len(block_y), num_classes)
  elif not fallback:
    masses = label_coding.quantize_log_probs(log_probs)
  else:
    mixture = _UniformFallback(index, num_classes)
    rows = []
    for row, label in zip(log_probs, block_y):
      rows.append(mixture.masses(row))
      encoder.encode(np.asarray([label]), rows[-1])
      mixture.update(row[label])
    masses = np.concatenate(rows)
    return label_coding.quantized_bits(masses, block_y)
  encoder.encode(block_y, masses)
  return label_coding.quantized_bits(masses, block_y)


def _decode_block(decoder, size: int, log_probs, index: int,
                  num_classes: int, fallback: bool) -> np.ndarray:
  """The labels of one block, as :func:`_encode_block` coded them."""
  if log_probs is None:
    return decoder.decode(label_coding.uniform_masses(size, num_classes))
  if not fallback:
    return decoder.decode(label_coding.quantize_log_probs(log_probs))
  mixture = _UniformFallback(index, num_classes)
  labels = np.zeros(size, np.int64)
  for i, row in enumerate(log_probs):
    labels[i] = decoder.decode(mixture.masses(row))[0]
    mixture.update(row[labels[i]])
  return labels


def _float_bits(log_probs, block_y, index: int, num_classes: int,
                fallback: bool) -> float:
  """The block's codelength from the float log-probabilities."""
  if log_probs is None:
    return uniform_bits(len(block_y), num_classes)
  bits = units.nats_to_bits(training.per_sample_nll_nats(log_probs, block_y))
  if fallback:
    bits = mixtures.block_uniform_fallback_bits(bits, index, num_classes)
  return float(bits.sum())


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
  progress = Progress("compress")
  progress.start(**prequential.progress_total(timesteps,
                                              range(len(timesteps))))
  for index, (start, end) in enumerate(prequential.block_bounds(timesteps)):
    began = time.perf_counter()
    progress.update(block=f"block {index + 1}/{len(timesteps)}")
    log_probs = _block_log_probs(model_fn, x, y[:start], index, start, end,
                                 config, strategy)
    block_y = y[start:end]
    block_quantized = _encode_block(encoder, block_y, log_probs, index,
                                    num_classes, config.uniform_fallback)
    block_float = _float_bits(log_probs, block_y, index, num_classes,
                              config.uniform_fallback)
    float_bits += block_float
    quantized_bits += block_quantized
    progress.advance(start, note=(
        f"encoded block {index + 1}/{len(timesteps)} [{start}, {end}): "
        f"{block_float:.1f} bits ({block_quantized:.1f} quantised), "
        f"{time.perf_counter() - began:.1f}s"))
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
  progress = Progress("decompress")
  progress.start(**prequential.progress_total(timesteps,
                                              range(len(timesteps))))
  for index, (start, end) in enumerate(prequential.block_bounds(timesteps)):
    began = time.perf_counter()
    progress.update(block=f"block {index + 1}/{len(timesteps)}")
    log_probs = _block_log_probs(model_fn, x, y[:start], index, start, end,
                                 config, strategy)
    y[start:end] = _decode_block(decoder, end - start, log_probs, index,
                                 num_classes, config.uniform_fallback)
    progress.advance(start, note=(
        f"decoded block {index + 1}/{len(timesteps)} [{start}, {end}), "
        f"{time.perf_counter() - began:.1f}s"))
  return y


@dataclasses.dataclass(frozen=True)
class LabelsFile:
  """A labels file's parts (module docstring) and their sizes.

  Attributes:
    header: what Bob needs to decode and can check first (a JSON object).
    payload: the range coder's output, the code.
    labels_checksum: :func:`labels_checksum` of the encoded labels.
    header_bits: magic, version, header length and the compressed header.
    payload_bits: the payload.
    checks_bits: the payload's CRC-32 and the labels' checksum.
  """
  header: dict
  payload: bytes
  labels_checksum: bytes
  header_bits: int
  payload_bits: int
  checks_bits: int

  @property
  def file_bits(self) -> int:
    return self.header_bits + self.payload_bits + self.checks_bits


def _header_bytes(header: dict) -> bytes:
  """Canonical JSON (sorted keys, no spaces), zlib-compressed."""
  text = json.dumps(header, sort_keys=True, separators=(",", ":"),
                    default=results.to_jsonable)
  return zlib.compress(text.encode("utf-8"), 9)


def write_file(path: str, header: dict, payload: bytes,
               labels_check: bytes) -> LabelsFile:
  """Write a labels file atomically (the module docstring's layout).

  Args:
    path: the file.
    header: what Bob needs to decode; it must not depend on the labels.
    payload: the range coder's output.
    labels_check: :func:`labels_checksum` of the encoded labels.

  Returns:
    The :class:`LabelsFile` written.
  """
  packed = _header_bytes(header)
  checks = _CHECKS.pack(zlib.crc32(payload), labels_check)
  results.write_bytes(path, _PREFIX.pack(MAGIC, FORMAT_VERSION, len(packed)) +
                      packed + payload + checks)
  return LabelsFile(header, payload, labels_check,
                    header_bits=8 * (_PREFIX.size + len(packed)),
                    payload_bits=8 * len(payload),
                    checks_bits=8 * _CHECKS.size)


def read_file(path: str) -> LabelsFile:
  """A labels file, checked for truncation and damage.

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
  if len(blob) < header_end + _CHECKS.size:
    raise ValueError(f"{path} is truncated (inside the header)")
  try:
    header = json.loads(zlib.decompress(blob[_PREFIX.size:header_end]))
  except (zlib.error, UnicodeDecodeError, json.JSONDecodeError) as e:
    raise ValueError(f"{path} has a corrupt header ({e})") from e
  payload = blob[header_end:len(blob) - _CHECKS.size]
  crc, labels_check = _CHECKS.unpack_from(blob, len(blob) - _CHECKS.size)
  if zlib.crc32(payload) != crc:
    raise ValueError(f"{path} is truncated or corrupt: the payload's CRC-32 "
                     "does not match the file's")
  return LabelsFile(header, payload, labels_check,
                    header_bits=8 * header_end,
                    payload_bits=8 * len(payload),
                    checks_bits=8 * _CHECKS.size)


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
