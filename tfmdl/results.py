"""Results on disk: atomic writes, the results.json format, code and library
versions.

Every file is written to a temporary name in the same folder, flushed to disk
and renamed over the target, so a crash (or a full disk) leaves either the old
file or the new one, never half of one. :func:`write_json_if_absent` links
instead of renaming, so that several processes sharing a workdir agree on who
created a file.

:func:`code_version` says which tfmdl wrote a result (the package, the
configs, binaries and scripts that can change a number), so that results of
different code are never mixed unknowingly (``saved_results/regenerate.sh``
reruns what is stale, ``bin/report`` warns about mixed versions).
"""

import functools
import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
import tempfile
from typing import Any, Optional

import numpy as np

FORMAT_VERSION = 1
# A loss-data curve (:class:`tfmdl.bits.loss_data.LossDataCurve` as a JSON
# object), written beside its TensorBoard scalars; bin/report draws it.
LOSS_DATA_CURVE = "loss_data.json"
# Metadata of a config dataclass field that never changes a label's
# probability (logging, recorded curves, speed, a setting's price): left out
# of a labels file's header and of the setting a run is counted under.
SAME_BITS = {"changes_bits": False}
# Metadata of a field added to a config after runs were counted in the run
# ledger, whose default keeps the code those runs ran: at its default it is
# left out of the setting a run is counted under, so that the same code keeps
# the same setting (:func:`tfmdl.ledger.changing_fields`).
LEFT_OUT_AT_DEFAULT = {"changes_bits": True, "left_out_at_default": True}
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(PACKAGE_DIR)
# What :func:`source_sha256` covers, below the package's parent folder.
CODE_DIRS = ("tfmdl", "configs", "bin", "benchmarks", "selection")


def _umask() -> int:
  """The process's umask (reading it means setting it, so set it back)."""
  mask = os.umask(0o022)
  os.umask(mask)
  return mask


def _write_temp(path: str, write) -> str:
  """``write(f)`` into a new temporary file next to ``path``, synced to disk.

  The file gets the permissions of a plainly created one (0666 less the
  umask), not ``mkstemp``'s private 0600: results are read by colleagues,
  TensorBoard servers and other workers of a cluster.

  Returns:
    The temporary file's name; on any error it is removed, and an
    ``OSError`` (a full disk, say) names ``path``.
  """
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-",
                             suffix=os.path.basename(path))
  try:
    os.fchmod(fd, 0o666 & ~_umask())
    with os.fdopen(fd, "wb") as f:
      write(f)
      f.flush()
      os.fsync(f.fileno())
  except BaseException as e:
    os.remove(tmp)
    if isinstance(e, OSError):
      e.filename = e.filename or path
    raise
  return tmp


def _atomic_write(path: str, write) -> None:
  tmp = _write_temp(path, write)
  try:
    os.replace(tmp, path)
  except BaseException:
    os.remove(tmp)
    raise


def _atomic_create(path: str, write) -> bool:
  """Like :func:`_atomic_write`, but never replaces an existing ``path``.

  The file is written under a temporary name and hard-linked to ``path``,
  which fails if ``path`` exists: of several processes racing to create the
  same file exactly one wins, and no reader ever sees half a file.

  Returns:
    True if this call created ``path``, False if it existed already.
  """
  tmp = _write_temp(path, write)
  try:
    os.link(tmp, path)
    return True
  except FileExistsError:
    return False
  finally:
    os.remove(tmp)


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


def write_bytes(path: str, data: bytes) -> None:
  """Write ``data`` to ``path`` atomically (a labels file, a payload)."""
  _atomic_write(path, lambda f: f.write(data))


def write_json_if_absent(path: str, obj: Any) -> bool:
  """Create ``path`` holding ``obj`` as JSON unless it exists (race-free).

  Returns:
    True if this call wrote the file, False if it was there already (then
    its content is left as it is: compare it with :func:`read_json`).
  """
  text = json.dumps(obj, indent=2, sort_keys=True, default=to_jsonable)
  return _atomic_create(path, lambda f: f.write(text.encode("utf-8")))


def json_round_trip(obj: Any) -> Any:
  """What ``obj`` reads back as after :func:`write_json` (tuples -> lists)."""
  return json.loads(json.dumps(obj, default=to_jsonable))


def read_json(path: str) -> Any:
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def write_npz(path: str, compressed: bool = True,
              **arrays: np.ndarray) -> None:
  """Write arrays to a ``.npz`` at ``path`` (compressed, or not: faster for
  large float arrays), atomically."""
  save = np.savez_compressed if compressed else np.savez
  _atomic_write(path, lambda f: save(f, **arrays))


def library_versions() -> dict:
  """Versions of everything a codelength depends on (for results.json),
  read from the installed packages' metadata (importing TFP only to read its
  version would cost a run half a second)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tfmdl  # pylint: disable=g-import-not-at-top
  version = importlib.metadata.version
  return {
      "tfmdl": tfmdl.__version__, "tensorflow": tf.__version__,
      "tensorflow_probability": version("tensorflow-probability"),
      "keras": version("keras"), "tf_keras": version("tf-keras"),
      "numpy": np.__version__,
      "python": platform.python_version(), "machine": platform.machine(),
      "devices": [d.name for d in tf.config.list_logical_devices()],
  }


def source_sha256(root: str = ROOT) -> str:
  """SHA-256 of everything below ``root`` that can change a number: the
  package and, where present (a checkout, not an installed copy), the
  experiment configs, the binaries, the benchmarks and the selection
  scripts (:data:`CODE_DIRS`); every file in sorted order of its relative
  path, path and bytes, caches and benchmark outputs left out.

  Works wherever tfmdl is installed (no .git needed) and changes with any
  change of the code, committed or not.
  """
  digest = hashlib.sha256()
  paths = []
  for code_dir in CODE_DIRS:
    for folder, subfolders, files in os.walk(os.path.join(root, code_dir)):
      subfolders[:] = sorted(d for d in subfolders
                             if d not in ("__pycache__", "results"))
      paths += [os.path.join(folder, f) for f in files
                if not f.endswith(".pyc")]
  for path in sorted(paths, key=lambda p: os.path.relpath(p, root)):
    relative = os.path.relpath(path, root).replace(os.sep, "/")
    with open(path, "rb") as f:
      content = f.read()
    digest.update(f"{relative}\0{len(content)}\0".encode("utf-8"))
    digest.update(content)
  return digest.hexdigest()


def _git(package_dir: str, *args: str) -> Optional[str]:
  """``git -C package_dir args``'s output, or None if git fails or is absent."""
  try:
    proc = subprocess.run(["git", "-C", package_dir, *args],
                          capture_output=True, text=True, check=False,
                          timeout=30)
  except (OSError, subprocess.TimeoutExpired):
    return None
  return proc.stdout.strip() if proc.returncode == 0 else None


def code_version() -> dict:
  """Which code wrote a result (for results.json's ``code_version``): this
  tfmdl's :func:`code_version_of`, computed once per process."""
  return dict(_this_code_version())


@functools.lru_cache(maxsize=None)
def _this_code_version() -> tuple:
  return tuple(code_version_of(ROOT).items())


def code_version_of(root: str) -> dict:
  """The version of the tfmdl code below ``root`` (the package's parent).

  Returns:
    ``{"source_sha256": ..., "git_commit": ..., "git_dirty": ...}``:
    :func:`source_sha256` of the code, which identifies it (two results are
    of the same code when it is equal); the commit of the git checkout that
    holds the package and whether the code's files differ from it
    (uncommitted or untracked changes), both None where the package is not
    a tracked part of a git checkout (an installed copy).
  """
  commit = dirty = None
  tracked = _git(root, "ls-files", "--error-unmatch", "tfmdl/__init__.py")
  if tracked is not None:
    commit = _git(root, "rev-parse", "HEAD")
    status = _git(root, "status", "--porcelain", "--",
                  *[d for d in CODE_DIRS if os.path.isdir(os.path.join(
                      root, d))])
    dirty = None if status is None else bool(status)
  return {"source_sha256": source_sha256(root), "git_commit": commit,
          "git_dirty": dirty}
