"""Results on disk: atomic writes, the results.json format, library versions.

Every file is written to a temporary name in the same folder, flushed to disk
and renamed over the target, so a crash (or a full disk) leaves either the old
file or the new one, never half of one.
"""

import json
import os
import platform
import tempfile
from typing import Any

import numpy as np

FORMAT_VERSION = 1


def _atomic_write(path: str, write) -> None:
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-",
                             suffix=os.path.basename(path))
  try:
    with os.fdopen(fd, "wb") as f:
      write(f)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def to_jsonable(obj):
  """JSON encoding of numpy scalars, arrays and tuples (``json``'s default=)."""
  if isinstance(obj, (np.integer,)):
    return int(obj)
  if isinstance(obj, (np.floating,)):
    return float(obj)
  if isinstance(obj, np.ndarray):
    return obj.tolist()
  if isinstance(obj, (tuple, set)):
    return list(obj)
  raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_json(path: str, obj: Any) -> None:
  """Write ``obj`` as indented JSON to ``path``, atomically."""
  text = json.dumps(obj, indent=2, sort_keys=True, default=to_jsonable)
  _atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def json_round_trip(obj: Any) -> Any:
  """What ``obj`` reads back as after :func:`write_json` (tuples -> lists)."""
  return json.loads(json.dumps(obj, default=to_jsonable))


def read_json(path: str) -> Any:
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def write_npz(path: str, **arrays: np.ndarray) -> None:
  """Write arrays to a compressed ``.npz`` at ``path``, atomically."""
  _atomic_write(path, lambda f: np.savez_compressed(f, **arrays))


def library_versions() -> dict:
  """Versions of everything a codelength depends on (for results.json)."""
  import keras  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_probability as tfp  # pylint: disable=g-import-not-at-top
  import tf_keras  # pylint: disable=g-import-not-at-top
  import tfmdl  # pylint: disable=g-import-not-at-top
  return {
      "tfmdl": tfmdl.__version__, "tensorflow": tf.__version__,
      "tensorflow_probability": tfp.__version__, "keras": keras.__version__,
      "tf_keras": tf_keras.__version__, "numpy": np.__version__,
      "python": platform.python_version(), "machine": platform.machine(),
      "devices": [d.name for d in tf.config.list_logical_devices()],
  }
