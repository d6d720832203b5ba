"""Real lossless compression of a data set's labels with the prequential code.

The prequential codelength (:mod:`tfmdl.codes.prequential`) counts bits that a range
coder would write; this module writes them, with either learner. Alice
(:func:`encode_labels`) runs the prequential protocol unit by unit (a block
of the schedule for the block learner, a minibatch for the online learner):
the first block is coded with the (quantised) uniform distribution, every
later label with the probabilities of a model that learned from the labels
before its unit only. Bob (:func:`decode_labels`) holds the inputs and the
payload; he decodes a unit, lets the learner learn from the labels decoded
so far -- the same training, from the same seeds -- and goes on. ``bin/compress``
and ``bin/decompress`` run both from a config and write and read the file
(docs/compression.md).

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
import os
import platform
import struct
from typing import Optional
import zlib

from absl import logging
import numpy as np
import tensorflow as tf

from tfmdl import ledger
from tfmdl import progress as progress_lib
from tfmdl import results
from tfmdl.codes.prequential import coders
from tfmdl.codes.prequential import protocol
from tfmdl.codes.prequential import schedule
from tfmdl.codes.prequential.code import code_name
from tfmdl.codes.prequential.code import LearnerConfig
from tfmdl.codes.prequential.code import learner_name
from tfmdl.codes.prequential.code import make_learner
from tfmdl.codes.prequential.code import work
from tfmdl.codes.prequential.config import BlockConfig
from tfmdl.codes.prequential.config import PrequentialConfig
from tfmdl.data import labelled
from tfmdl.models import adapter

MAGIC = b"TFMDLLBL"
FORMAT_VERSION = 2
_PREFIX = struct.Struct("<8sII")
_CHECKS = struct.Struct("<I8s")  # CRC-32 of the payload, labels' checksum


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
    per_sample_bits: each label's bits in ``float_bits``, in transmission
      order (the coder's guarantees are per label:
      :func:`tfmdl.bits.label_coding.quantized_bits_bounds`).
  """
  payload: bytes
  timesteps: tuple
  float_bits: float
  quantized_bits: float
  per_sample_bits: np.ndarray = dataclasses.field(repr=False, compare=False)

  @property
  def payload_bits(self) -> int:
    return 8 * len(self.payload)


def _replay(side: str, model_fn, data: labelled.LabelledData,
            config: PrequentialConfig, learner: LearnerConfig, strategy,
            make_coders, labels: np.ndarray) -> list:
  """Run the protocol on one side (``"compress"``: Alice, all labels known;
  ``"decompress"``: Bob, one unit at a time) with the coders that
  ``make_coders(timesteps)`` gives; returns them."""
  timesteps = schedule.timesteps_for(data.n, config.timesteps,
                                     config.first_block)
  learner = _without_curves(learner)
  with progress_lib.Progress(
      side, total=work(learner, timesteps, range(len(timesteps)),
                       data.n)) as progress:
    model = make_learner(model_fn, data, config, learner, strategy=strategy,
                         progress=progress)
    used = make_coders(timesteps)
    protocol.run(model, used, labels, lookahead=side == "compress",
                 on_unit=lambda p: progress.advance(p.weight))
  return used


def encode_labels(model_fn, x: np.ndarray, y: np.ndarray, num_classes: int,
                  config: PrequentialConfig, learner: LearnerConfig,
                  strategy: Optional[tf.distribute.Strategy] = None, *,
                  source: str = "tfmdl.codes.prequential.label_file"
                  ) -> EncodedLabels:
  """Alice: range-code ``y`` with the prequential protocol's predictions.

  The run is recorded in the run ledger (:mod:`tfmdl.ledger`), as every
  code run on the labels is.

  Args:
    model_fn, x, y, num_classes, config, learner, strategy: as for
      :func:`tfmdl.codes.prequential.prequential_code` (the block learner's
      per-epoch curves are not recorded: Bob cannot).
    source: what ran the code, for the run ledger.

  Returns:
    An :class:`EncodedLabels`.
  """
  data = labelled.labelled(x, y, num_classes)
  model_fn = adapter.as_model_fn(model_fn, num_classes, example=x[:8])
  counter, encoder = _replay(
      "compress", model_fn, data, config, learner, strategy,
      lambda timesteps: [
          coders.BitCounter(timesteps, num_classes,
                            uniform_fallback=config.uniform_fallback),
          coders.RangeEncoding(timesteps, num_classes,
                               config.uniform_fallback)], data.y)
  # The file codes the labels with this setting: a run the ledger counts.
  ledger.Ledger().record(ledger.Entry(
      labels=ledger.labels_fingerprint(y), code=code_name(learner),
      model=model_fn.name, settings=ledger.setting_of(
          model_fn, {"prequential": config,
                     learner_name(learner): learner}),
      codelength_bits=counter.float_bits(), source=source))
  return EncodedLabels(
      encoder.payload(), encoder.timesteps, counter.float_bits(),
      encoder.quantized_bits,
      np.concatenate([b.per_sample_bits for b in counter.blocks()]))


def decode_labels(model_fn, x: np.ndarray, num_classes: int, payload: bytes,
                  config: PrequentialConfig, learner: LearnerConfig,
                  strategy: Optional[tf.distribute.Strategy] = None
                  ) -> np.ndarray:
  """Bob: decode the labels of ``x`` from ``payload``, one unit at a time,
  each predicted from the labels decoded before it.

  The result is only right if the replay is bit-identical: check it with a
  checksum.

  Returns:
    int64 labels, shape (len(x),).
  """
  labels = np.zeros(len(x), np.int64)
  _replay("decompress", model_fn, labelled.labelled(x, labels, num_classes),
          config, learner, strategy,
          lambda timesteps: [coders.RangeDecoding(
              payload, timesteps, num_classes, config.uniform_fallback)],
          labels)
  return labels


def _without_curves(learner: LearnerConfig) -> LearnerConfig:
  """The learner config without per-epoch curves, which need the labels of
  the block being coded (Alice could record them; Bob cannot)."""
  if isinstance(learner, BlockConfig):
    return dataclasses.replace(learner, record_epoch_bits=False)
  return learner


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


def check_replicas(header: dict, strategy: tf.distribute.Strategy) -> None:
  """Refuse to decode on another number of replicas than Alice trained on.

  A step split over N replicas sums N partial gradients, in an order that
  depends on N: the round-off, hence the weights and every later
  probability, differ from one replica count to another (docs/cluster.md),
  so even ``force`` cannot help. A header without ``replicas`` (written
  before it was recorded) is not checked.

  Raises:
    ValueError: when ``header["replicas"]`` differs from ``strategy``'s.
  """
  saved = header.get("replicas")
  here = strategy.num_replicas_in_sync
  if saved is not None and saved != here:
    raise ValueError(
        f"the file was encoded with the training split over {saved} "
        f"replica(s), this decoder's strategy has {here}: decoding needs the "
        f"same number (config.strategy and the devices or TF_CONFIG workers "
        f"it spans)")


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
