"""Hostile input: one line on stderr, exit status 2, no results file touched.

Each ``bin/prequential`` case runs twice: in process (the flags parsed as the
binary parses them, then the experiment's ``run`` under ``cli.run_or_exit``)
and, ``slow``, as the binary itself in a subprocess, all started at once by a
module fixture (each pays TensorFlow's import). Each workdir starts with a
sentinel results.json that must come out untouched, alone: a usage error
writes nothing, not even config.json (which would lock the workdir to the
bad config). Cases without a command-line route (one class, a full disk) are
tested in process.
"""

import errno
import gzip
import os
import re
import struct

import numpy as np
import pytest

from tfmdl import data
from tfmdl.codes import prequential
from tfmdl import results
from tfmdl.data import sources
from tfmdl.experiments import cli
from tfmdl.experiments import prequential as experiment

SENTINEL = {"codelength_bits": 123.0, "note": "an earlier run's results"}
_IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.float32): 0x0D}
CASES = ("truncated_idx", "label_out_of_range", "nan_inputs",
         "empty_data_set", "unordered_timesteps", "timesteps_beyond_n",
         "unknown_config_field", "bad_flag_value", "unknown_flag",
         "missing_config_file", "workdir_under_a_file", "merge_with_blocks",
         "unknown_model")
# bin/prequential's own flags (--merge, --blocks) are not defined in process.
BINARY_ONLY = ("merge_with_blocks",)


def _idx(array):
  """``array`` in the IDX format (big-endian header and values)."""
  array = np.asarray(array)
  header = bytes([0, 0, _IDX_CODES[array.dtype], array.ndim])
  header += struct.pack(f">{array.ndim}I", *array.shape)
  return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def _fashion_dir(path, *, images=None, labels=None, truncate=False):
  """A folder with the four Fashion-MNIST IDX .gz files, 20 + 10 examples."""
  rng = np.random.default_rng(0)
  train_x = rng.integers(0, 256, (20, 28, 28)).astype(np.uint8)
  train_y = np.arange(20, dtype=np.uint8) % 10
  arrays = [train_x if images is None else images,
            train_y if labels is None else labels,
            train_x[:10], train_y[:10]]
  os.makedirs(path)
  for name, array in zip(sources.IDX_FILES, arrays):
    blob = gzip.compress(_idx(array))
    if truncate and name.startswith("train-images"):
      blob = blob[:len(blob) // 2]
    with open(os.path.join(path, name), "wb") as f:
      f.write(blob)
  return str(path)


def _cases(root):
  """name -> (arguments, workdir, expected message)."""
  nan_images = np.random.default_rng(0).uniform(0, 255, (20, 28, 28))
  nan_images = nan_images.astype(np.float32)
  nan_images[3, 4, 5] = np.nan
  bad_labels = np.arange(20, dtype=np.uint8) % 10
  bad_labels[7] = 12
  with open(root / "a_file", "w") as f:
    f.write("a regular file, not a folder\n")
  fashion = ["--dataset=fashion_mnist", "--config.train.verbose=0"]
  digits = ["--config.num_train=100", "--config.train.verbose=0"]
  return {
      "truncated_idx": (
          fashion + ["--data_dir=" + _fashion_dir(root / "trunc",
                                                  truncate=True)],
          "truncated or corrupted gzip data"),
      "label_out_of_range": (
          fashion + ["--data_dir=" + _fashion_dir(root / "labels",
                                                  labels=bad_labels)],
          r"labels must lie in \[0, 10\), found values in \[0, 12\]"),
      "nan_inputs": (
          fashion + ["--data_dir=" + _fashion_dir(root / "nan",
                                                  images=nan_images)],
          "inputs contain NaN or infinite values"),
      "empty_data_set": (["--config.num_train=0"], "num_train=0"),
      "unordered_timesteps": (
          digits + ["--config.prequential.timesteps=(20,10,100)"],
          r"strictly increasing, got \(20, 10, 100\)"),
      "timesteps_beyond_n": (
          digits + ["--config.prequential.timesteps=(10,50,200)"],
          "last timestep must be n=100"),
      "unknown_config_field": (
          ["--config.train.nosuchfield=1"],
          "unknown config field 'nosuchfield'"),
      "bad_flag_value": (["--config.num_train=many"],
                         "flag --config.num_train=many"),
      "unknown_flag": (["--nosuchflag=1"],
                       "Unknown command line flag 'nosuchflag'"),
      "missing_config_file": (
          [f"--config={root}/nowhere/prequential_x.py"],
          "cannot load --config: .*No such file or directory"),
      "workdir_under_a_file": (
          digits, "cannot create workdir .*a_file/workdir: Not a directory"),
      "merge_with_blocks": (["--merge", "--blocks=1"],
                            "--merge and --blocks exclude each other"),
      "unknown_model": (digits + ["--config.model=nosuchnet"],
                        "unknown model 'nosuchnet'; known: lenet, mlp"),
  }


def _sentinel_workdir(root, name):
  """The case's workdir, with a sentinel results.json (none for the case
  whose workdir cannot be made)."""
  if name == "workdir_under_a_file":
    return root / "a_file" / "workdir"
  workdir = root / name / "workdir"
  os.makedirs(workdir)
  results.write_json(str(workdir / "results.json"), SENTINEL)
  return workdir


def _check_refused(name, workdir, returncode, err, message):
  ours = [line for line in err.splitlines() if line.startswith("error: ")]
  assert returncode == 2, err[-3000:]
  assert len(ours) == 1 and "Traceback" not in err, err[-3000:]
  assert re.search(message, ours[0]), ours[0]
  if name != "workdir_under_a_file":
    assert os.listdir(workdir) == ["results.json"]
    assert results.read_json(str(workdir / "results.json")) == SENTINEL


@pytest.mark.parametrize(
    "name", [name for name in CASES if name not in BINARY_ONLY])
def test_experiment_refuses_in_one_line_and_writes_nothing(
    tmp_path, bin_config, capsys, name):
  args, message = _cases(tmp_path)[name]
  workdir = _sentinel_workdir(tmp_path, name)
  with pytest.raises(SystemExit) as exit_info:
    config = bin_config("prequential", args)
    cli.run_or_exit(lambda: experiment.run(config, str(workdir)))
  _check_refused(name, workdir, exit_info.value.code, capsys.readouterr().err,
                 message)


@pytest.fixture(scope="module")
def finished(tmp_path_factory, start_bin):
  """name -> (workdir, exit status, stderr, expected message), all cases run
  at the same time."""
  root = tmp_path_factory.mktemp("hostile")
  cases = _cases(root)
  assert tuple(cases) == CASES
  procs = {}
  for name, (args, message) in cases.items():
    workdir = _sentinel_workdir(root, name)
    procs[name] = (workdir, message, start_bin(
        "prequential", [f"--workdir={workdir}"] + args))
  done = {}
  for name, (workdir, message, proc) in procs.items():
    _, err = proc.communicate(timeout=600)
    done[name] = (workdir, proc.returncode, err, message)
  return done


@pytest.mark.slow
@pytest.mark.parametrize("name", CASES)
def test_binary_refuses_in_one_line_and_writes_nothing(finished, name):
  workdir, returncode, err, message = finished[name]
  _check_refused(name, workdir, returncode, err, message)


def test_corrupted_idx_header_is_refused(tmp_path):
  folder = _fashion_dir(tmp_path / "fashion")
  path = os.path.join(folder, sources.IDX_FILES[0])
  with open(path, "wb") as f:
    f.write(gzip.compress(b"\x00\x00\x42\x03" + bytes(64)))  # bad dtype
  with pytest.raises(ValueError, match="not an IDX file"):
    data.load("fashion_mnist", data_dir=folder)


def test_merging_a_workdir_without_a_run_is_refused(tmp_path):
  with pytest.raises(ValueError, match="nothing to merge: .* no config.json"):
    experiment.merge(str(tmp_path))
  assert not os.listdir(tmp_path)


def test_one_class_is_refused():
  with pytest.raises(ValueError, match="at least 2 classes"):
    data.load("synthetic", num_classes=1)
  x = np.zeros((20, 4, 4, 1), np.float32)
  y = np.zeros(20, np.int32)
  with pytest.raises(ValueError, match="at least 2 classes"):
    prequential.prequential_code(
        lambda seed: pytest.fail("no model may be built"), x, y, 1)


def test_a_full_disk_keeps_the_old_results_and_says_so_in_one_line(
    tmp_path, monkeypatch, capsys):
  path = str(tmp_path / "results.json")
  results.write_json(path, SENTINEL)

  def disk_full(fd):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

  monkeypatch.setattr(os, "fsync", disk_full)
  with pytest.raises(SystemExit) as exit_info:
    cli.run_or_exit(lambda: results.write_json(path, {"codelength_bits": 1}))
  assert exit_info.value.code == 1
  assert capsys.readouterr().err == (
      f"error: No space left on device ({path})\n")
  assert results.read_json(path) == SENTINEL
  assert os.listdir(tmp_path) == ["results.json"]  # no temporary file left


def test_usage_errors_are_one_line_with_exit_status_2(capsys):
  def bad():
    raise ValueError("first line\nsecond line")

  with pytest.raises(SystemExit) as exit_info:
    cli.run_or_exit(bad)
  assert exit_info.value.code == 2
  assert capsys.readouterr().err == "error: first line\n"
