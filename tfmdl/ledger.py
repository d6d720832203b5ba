"""The run ledger: every code run on a set of labels, counted as it ends.

A codelength that chose its setting after seeing the labels must pay for the
choice. What was tried is counted, not remembered: each run of any code
(binaries, the Python API, benchmarks, searches, selection scripts) appends
one line to an append-only JSON Lines file -- when, which code version, the
labels' fingerprint, the code, the model, a digest of its setting and its
codelength -- and a result pays ``log2`` of the number of distinct settings
run on the same labels with the same code and model, its own included
(:meth:`Ledger.record`): the first setting tried pays nothing, the third
``log2 3`` bits. A setting is everything that changes a label's probability
(the code's config less the fields marked :data:`tfmdl.results.SAME_BITS`,
the seed, the model's options); the same setting run again is not a new
choice.

The ledger is ``$TFMDL_LEDGER``, else ``~/.tfmdl/ledger.jsonl``: one file
per user, whatever the workdir, so no line is lost by running elsewhere.
``saved_results/`` has its own, committed with the results. Lines are
appended under an exclusive lock (shards of one run, several processes), and
a result's count and its line are written in the same locked step, so of two
runs that end together the second pays for the first.

Example::

    ledger = Ledger()                 # $TFMDL_LEDGER or ~/.tfmdl/...
    bits = ledger.record(Entry(...))  # appended; the setting's price
    ledger.count(labels, "online", "mlp")
"""

import contextlib
import dataclasses
import datetime
import fcntl
import hashlib
import json
import math
import os
from typing import Mapping, Optional

import numpy as np

ENV = "TFMDL_LEDGER"
DEFAULT_PATH = os.path.join("~", ".tfmdl", "ledger.jsonl")


def default_path() -> str:
  """``$TFMDL_LEDGER``, else ``~/.tfmdl/ledger.jsonl``."""
  return os.path.expanduser(os.environ.get(ENV) or DEFAULT_PATH)


def labels_fingerprint(labels) -> str:
  """SHA-256 (hex) of the labels in their order, as little-endian int64:
  the same for the same labels whatever their dtype or inputs."""
  labels = np.ascontiguousarray(np.asarray(labels), "<i8")
  digest = hashlib.sha256(f"tfmdl-labels-v1|n={len(labels)}|".encode())
  digest.update(labels.tobytes())
  return digest.hexdigest()


def setting_digest(settings: Mapping) -> str:
  """SHA-256 (hex) of a setting's canonical JSON (sorted keys)."""
  text = json.dumps(settings, sort_keys=True, separators=(",", ":"),
                    default=_jsonable)
  return hashlib.sha256(text.encode("utf-8")).hexdigest()


def changing_fields(config) -> dict:
  """A config dataclass's fields that change a label's probability: every
  field but those marked :data:`tfmdl.results.SAME_BITS` (logging, recorded
  curves, speed, the setting's own price) and those marked
  :data:`tfmdl.results.LEFT_OUT_AT_DEFAULT` that hold their default (fields
  added since runs were counted); nested config dataclasses likewise."""
  from tfmdl import results  # pylint: disable=g-import-not-at-top
  fields = {}
  for field in dataclasses.fields(config):
    value = getattr(config, field.name)
    if field.metadata == results.SAME_BITS or (
        field.metadata == results.LEFT_OUT_AT_DEFAULT and
        value == field.default):
      continue
    fields[field.name] = (changing_fields(value)
                          if dataclasses.is_dataclass(value) else value)
  return fields


# Zoo-model options added after runs were counted without them, with the
# value those runs had: left out of a setting at that value, so that such a
# run keeps the setting it was counted under (as LEFT_OUT_AT_DEFAULT does for
# config fields).
MODEL_OPTIONS_LEFT_OUT_AT_DEFAULT = {"activation": "relu"}


def model_setting(options: Mapping) -> dict:
  """A zoo model's builder options as a setting: all of them but those of
  :data:`MODEL_OPTIONS_LEFT_OUT_AT_DEFAULT` at that value."""
  return {key: value for key, value in options.items()
          if not (key in MODEL_OPTIONS_LEFT_OUT_AT_DEFAULT and
                  MODEL_OPTIONS_LEFT_OUT_AT_DEFAULT[key] == value)}


def _jsonable(obj):
  if isinstance(obj, (np.integer,)):
    return int(obj)
  if isinstance(obj, (np.floating,)):
    return float(obj)
  if isinstance(obj, (tuple, set, np.ndarray)):
    return list(obj)
  raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


@dataclasses.dataclass(frozen=True)
class Entry:
  """One run: a line of the ledger.

  Attributes:
    labels: :func:`labels_fingerprint` of the labels coded.
    code: the registry's code name.
    model: the model's name (a zoo name, or a user model's).
    settings: the setting (JSON-friendly); its :func:`setting_digest` is
      what is counted.
    codelength_bits: the result, without the setting bits (None: not
      recorded, for a run reconstructed from the past).
    setting_bits: what the result paid for its setting.
    split: which labels, for people (``"train"``, ``"test"``); "" unknown.
    source: what ran it (``"bin/prequential"``, ``"api"``, a script).
    code_version: the ``source_sha256`` of the tfmdl that ran it.
    time: when it ended, UTC, ISO 8601.
  """
  labels: str
  code: str
  model: str
  settings: dict
  codelength_bits: Optional[float]
  setting_bits: float = 0.0
  split: str = ""
  source: str = ""
  code_version: str = ""
  time: str = ""

  @property
  def setting(self) -> str:
    return setting_digest(self.settings)

  def to_json(self) -> dict:
    record = dataclasses.asdict(self)
    record["setting"] = self.setting
    return record

  @classmethod
  def from_json(cls, record: Mapping) -> "Entry":
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in record.items() if k in names})


class Ledger:
  """The append-only file of :class:`Entry` lines (module docstring)."""

  def __init__(self, path: Optional[str] = None):
    self.path = path or default_path()

  @contextlib.contextmanager
  def _locked(self):
    """The file opened for reading and appending, exclusively locked."""
    os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
    with open(self.path, "a+", encoding="utf-8") as f:
      fcntl.flock(f, fcntl.LOCK_EX)
      try:
        yield f
      finally:
        fcntl.flock(f, fcntl.LOCK_UN)

  @staticmethod
  def _read(f) -> list:
    f.seek(0)
    return [Entry.from_json(json.loads(line)) for line in f if line.strip()]

  def entries(self) -> list:
    """Every line, in order."""
    if not os.path.exists(self.path):
      return []
    with self._locked() as f:
      return self._read(f)

  def settings(self, labels: str, code: str, model: str) -> set:
    """The distinct setting digests run with ``code`` and ``model`` on the
    labels of fingerprint ``labels``."""
    return {e.setting for e in self.entries()
            if (e.labels, e.code, e.model) == (labels, code, model)}

  def count(self, labels: str, code: str, model: str) -> int:
    return len(self.settings(labels, code, model))

  def record(self, entry: Entry, *, pays: Optional[float] = None) -> float:
    """Append ``entry``; return the bits its result pays for its setting.

    ``log2`` of the distinct settings of its labels, code and model with
    ``entry``'s included, counted and appended in one locked step; or
    ``pays``, when the caller fixed the price (a setting with its own
    accounting: ``bin/report`` flags it if it is less than the count).
    """
    from tfmdl import results  # pylint: disable=g-import-not-at-top
    with self._locked() as f:
      settings = {e.setting for e in self._read(f)
                  if (e.labels, e.code, e.model) == (
                      entry.labels, entry.code, entry.model)}
      bits = (math.log2(len(settings | {entry.setting})) if pays is None
              else float(pays))
      line = dataclasses.replace(
          entry, setting_bits=bits,
          code_version=(entry.code_version or
                        results.code_version()["source_sha256"]),
          time=entry.time or datetime.datetime.now(
              datetime.timezone.utc).isoformat(timespec="seconds"))
      f.seek(0, os.SEEK_END)
      f.write(json.dumps(line.to_json(), sort_keys=True,
                         default=_jsonable) + "\n")
      f.flush()
      os.fsync(f.fileno())
    return bits


def setting_of(model_fn, configs: Mapping) -> dict:
  """The setting of a code run: the model's description (a
  :class:`tfmdl.models.adapter.ModelFn`'s) and the code's config
  dataclasses by section name, less what changes no probability
  (:func:`changing_fields`)."""
  return {"model": model_fn.description,
          **{name: changing_fields(config)
             for name, config in configs.items()}}


def settle(result, *, labels: str, code: str, model: str, settings: dict,
           source: str, split: str = "", pays: Optional[float] = None):
  """``result`` (a code's result, with a ``setting_bits`` field counted in
  its codelength) with the bits it pays for its setting, its run recorded
  in the default ledger.

  Args:
    result: the code's result, its ``setting_bits`` not yet paid (0).
    labels: the :func:`labels_fingerprint` of the labels coded.
    code: the registry's code name.
    model: the model's name.
    settings: the setting (:func:`setting_of`).
    source: what ran the code.
    split: which labels, for people.
    pays: a price fixed by the caller instead of the ledger's count.
  """
  entry = Entry(labels=labels, code=code, model=model, settings=settings,
                codelength_bits=result.codelength_bits - result.setting_bits,
                split=split, source=source)
  return dataclasses.replace(result,
                             setting_bits=Ledger().record(entry, pays=pays))
