"""Results files: atomic, create-once, readable by others, numpy-aware, and
the code version they record."""

import os
import shutil
import stat
import subprocess

import numpy as np
import pytest

from tfmdl import results


@pytest.fixture
def umask():
  """Sets the process umask for one test and restores it."""
  saved = os.umask(0o022)
  os.umask(saved)
  yield os.umask
  os.umask(saved)


def _mode(path) -> int:
  return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600),
                                            (0o002, 0o664)])
def test_files_get_plain_permissions_not_mkstemps(tmp_path, umask, mask,
                                                  expected):
  umask(mask)
  results.write_json(str(tmp_path / "a.json"), {"x": 1})
  results.write_bytes(str(tmp_path / "b.bin"), b"\x00\x01")
  assert results.write_json_if_absent(str(tmp_path / "c.json"), {"y": 2})
  for name in ("a.json", "b.bin", "c.json"):
    assert _mode(tmp_path / name) == expected, name


def test_numpy_values_round_trip_as_plain_json(tmp_path):
  path = str(tmp_path / "r.json")
  results.write_json(path, {"i": np.int64(3), "f": np.float32(0.5),
                            "a": np.arange(3), "t": (1, 2)})
  assert results.read_json(path) == {"i": 3, "f": 0.5, "a": [0, 1, 2],
                                     "t": [1, 2]}


def test_create_once_never_replaces(tmp_path):
  path = str(tmp_path / "config.json")
  assert results.write_json_if_absent(path, {"first": True})
  assert not results.write_json_if_absent(path, {"first": False})
  assert results.read_json(path) == {"first": True}
  assert os.listdir(tmp_path) == ["config.json"]  # no temporary file left


def test_failed_write_keeps_the_old_file_and_leaves_no_debris(tmp_path):
  path = str(tmp_path / "results.json")
  results.write_json(path, {"old": 1})

  def failing(f):
    f.write(b"{\"new\": ")
    raise OSError(28, "No space left on device")

  with pytest.raises(OSError) as raised:
    results._atomic_write(path, failing)
  assert raised.value.filename == path
  assert results.read_json(path) == {"old": 1}
  assert os.listdir(tmp_path) == ["results.json"]


def test_code_version_identifies_the_sources_with_or_without_git(tmp_path):
  """The hash changes with any file of the code (package, configs,
  binaries, scripts), not with caches or benchmark outputs; the git fields
  are the checkout's where there is one, None for a copy."""
  for code_dir in results.CODE_DIRS:
    shutil.copytree(os.path.join(results.ROOT, code_dir), tmp_path / code_dir,
                    ignore=shutil.ignore_patterns("__pycache__"))
  root, package = str(tmp_path), tmp_path / "tfmdl"
  installed = results.code_version_of(root)
  assert installed["source_sha256"] == results.source_sha256()
  assert (installed["git_commit"], installed["git_dirty"]) == (None, None)
  (package / "__pycache__").mkdir(exist_ok=True)
  (package / "__pycache__" / "x.pyc").write_bytes(b"cache")
  (tmp_path / "benchmarks" / "results" / "new.md").write_text("output")
  assert results.source_sha256(root) == results.source_sha256()
  for edited in (package / "bits" / "units.py",
                 tmp_path / "configs" / "prequential_digits.py",
                 tmp_path / "bin" / "prequential"):
    with open(edited, "a", encoding="utf-8") as f:
      f.write("# edited\n")
    assert results.source_sha256(root) != results.source_sha256()
    with open(edited, encoding="utf-8") as f:
      text = f.read()
    with open(edited, "w", encoding="utf-8") as f:
      f.write(text[:-len("# edited\n")])
    assert results.source_sha256(root) == results.source_sha256()
  assert results.code_version()["source_sha256"] == results.source_sha256()
  git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C",
         str(tmp_path)]
  subprocess.run(git + ["init", "-q"], check=True)
  subprocess.run(git + ["add", "."], check=True)
  subprocess.run(git + ["commit", "-q", "-m", "x"], check=True)
  head = subprocess.run(git + ["rev-parse", "HEAD"], check=True,
                        capture_output=True, text=True).stdout.strip()
  clean = results.code_version_of(root)
  assert (clean["git_commit"], clean["git_dirty"]) == (head, False)
  (package / "new.py").write_text("x = 1\n")
  dirty = results.code_version_of(root)
  assert (dirty["git_commit"], dirty["git_dirty"]) == (head, True)
