"""Scale out and hold up: two workers, block shards and merge, crash resume.

The ``slow`` tests run bin/prequential: every process that can run at the
same time is started at once by one module fixture (CPU time is scarce;
TensorFlow's import alone costs seconds): an uninterrupted run, two shards
of the same run into one workdir (the one with the last block also saves the
test accuracy, of the last block's model), a run that is killed with
SIGKILL after block 2 and then resumed, and a two-worker run on localhost.
The tests then compare what they wrote. The others test the pieces in
process.
"""

import json
import os
import shutil
import signal
import subprocess
import threading
import time
import types

import ml_collections
import pytest

import loopback
import tensorflow as tf

from tfmdl.codes import prequential
from tfmdl.codes.prequential.results import uniform_block
from tfmdl import results
from tfmdl import training
from tfmdl.experiments import prequential as experiment
from tfmdl.experiments.workdir import Workdir
from tfmdl.training.strategy import is_chief

# digits, n = 100: timesteps 10, 20, 40, 80, 100, blocks 0..4 and the test
# accuracy of block 4's model (trained on the first 80 labels; the default
# block.final_model=False). No dropout: dropout masks come from per-replica
# random streams, so with dropout one and two workers train on different
# noise (see docs/cluster.md); without it they differ only in summation
# order.
TINY = ["--config.num_train=100", "--config.num_test=60",
        "--config.model_options.hidden_sizes=(16,)",
        "--config.model_options.dropout=0.0", "--config.train.max_epochs=2",
        "--config.train.learning_rate=0.01", "--config.train.verbose=0"]
NUM_BLOCKS = 5
# Measured: 3.7e-9 relative between one and two workers on this config.
TWO_WORKER_RTOL = 1e-6
TIMEOUT_S = 600
WALL_TIMES = ("wall_s", "prequential_wall_s", "final_model_wall_s")
LAST_BLOCK_MODEL = "the last block's model, trained on the first 80 labels"


def _finish(proc):
  """Wait for ``proc``; its (stdout, stderr), after checking it succeeded."""
  try:
    out, err = proc.communicate(timeout=TIMEOUT_S)
  except subprocess.TimeoutExpired:
    proc.kill()
    out, err = proc.communicate()
  assert proc.returncode == 0, err[-3000:]
  return out, err


def _record(workdir):
  with open(os.path.join(workdir, "results.json")) as f:
    return json.load(f)


def _without_wall_times(record):
  record = {k: v for k, v in record.items() if k not in WALL_TIMES}
  record["blocks"] = [{k: v for k, v in b.items() if k != "wall_s"}
                      for b in record["blocks"]]
  return record


@pytest.fixture(scope="module")
def runs(tmp_path_factory, start_bin):
  root = tmp_path_factory.mktemp("scale_out")

  def _start(workdir, *extra, env=None):
    return start_bin("prequential", [f"--workdir={workdir}"] + TINY +
                     list(extra), env=env)

  paths = {name: str(root / name)
           for name in ("one", "shards", "killed", "chief", "worker1")}
  ports = loopback.free_ports(2)
  began = time.perf_counter()
  procs = {
      "one": _start(paths["one"]),
      # Two shards of one run, at the same time, into one workdir; the one
      # with the last block saves the test accuracy too.
      "shard_low": _start(paths["shards"], "--blocks=:3"),
      "shard_high": _start(paths["shards"], "--blocks=3:"),
      "killed": _start(paths["killed"]),
      # Worker 1 gets a workdir of its own, to show that it writes nothing.
      "chief": _start(paths["chief"], "--config.strategy=multi_worker",
                      env={"TF_CONFIG": loopback.tf_config(ports, 0)}),
      "worker1": _start(paths["worker1"], "--config.strategy=multi_worker",
                        env={"TF_CONFIG": loopback.tf_config(ports, 1)}),
  }
  # SIGKILL once a block past block 1 is saved: in the middle of block 3.
  marker = os.path.join(paths["killed"], "blocks", "block_002.json")
  while not os.path.exists(marker):
    assert procs["killed"].poll() is None, procs["killed"].communicate()[1]
    assert time.perf_counter() - began < TIMEOUT_S
    time.sleep(0.01)
  procs["killed"].send_signal(signal.SIGKILL)
  procs["killed"].communicate()
  killed_state = sorted(os.listdir(paths["killed"]))
  procs["resumed"] = _start(paths["killed"])
  return paths, procs, killed_state


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_code(runs):
  paths, procs, killed_state = runs
  assert procs["killed"].returncode == -signal.SIGKILL
  assert "results.json" not in killed_state
  _, err = _finish(procs["resumed"])
  _finish(procs["one"])
  resumed_from = int(err.split("resuming: ")[1].split(" block")[0])
  assert 3 <= resumed_from < NUM_BLOCKS  # blocks 0..2 at least were kept
  one, resumed = _record(paths["one"]), _record(paths["killed"])
  assert resumed["codelength_bits"] == one["codelength_bits"]
  assert _without_wall_times(resumed) == _without_wall_times(one)


@pytest.mark.slow
def test_shards_in_one_workdir_merge_to_exactly_one_run(runs, tmp_path,
                                                        run_bin):
  paths, procs, _ = runs
  for name in ("shard_low", "shard_high"):
    out, _ = _finish(procs[name])
    assert "--merge" in out
  shards = paths["shards"]
  # Shards write blocks only: no results.json, no TensorBoard events.
  assert sorted(os.listdir(shards)) == ["blocks", "config.json"]
  assert len(os.listdir(os.path.join(shards, "blocks"))) == 2 * NUM_BLOCKS + 1
  with open(os.path.join(shards, "blocks", "final.json")) as f:
    final = json.load(f)
  assert final["model"] == LAST_BLOCK_MODEL

  # The test accuracy's own shard, --blocks=final (in process): the last
  # block's model trained again, the same model.
  again = str(tmp_path / "again")
  shutil.copytree(shards, again)
  os.remove(os.path.join(again, "blocks", "final.json"))
  config = ml_collections.ConfigDict(Workdir.read_identity(again)["config"])
  assert experiment.run(config, again, blocks="final") is None
  with open(os.path.join(again, "blocks", "final.json")) as f:
    refinal = json.load(f)
  assert refinal["model"] == LAST_BLOCK_MODEL
  assert refinal["test_accuracy"] == final["test_accuracy"]

  # A merge with shards missing lists them all.
  partial = str(tmp_path / "partial")
  shutil.copytree(shards, partial)
  for name in ("block_001.json", "block_003.json", "final.json"):
    os.remove(os.path.join(partial, "blocks", name))
  with pytest.raises(ValueError, match=r"missing 1, 3, final \(of blocks 0..4 "
                                       r"and final\)"):
    experiment.merge(partial)
  assert not os.path.exists(os.path.join(partial, "results.json"))

  merge = run_bin("prequential", ["--merge", f"--workdir={shards}"],
                  timeout=TIMEOUT_S)
  assert merge.returncode == 0, merge.stderr[-3000:]
  _finish(procs["one"])
  one, merged = _record(paths["one"]), _record(shards)
  assert merged["codelength_bits"] == one["codelength_bits"]
  assert merged["test_accuracy"] == one["test_accuracy"]
  assert merged["test_accuracy_model"] == LAST_BLOCK_MODEL
  assert _without_wall_times(merged) == _without_wall_times(one)
  assert merged["prequential_wall_s"] == pytest.approx(
      sum(b["wall_s"] for b in merged["blocks"]))
  assert os.listdir(os.path.join(shards, "tb"))


@pytest.mark.slow
def test_two_workers_give_the_one_worker_code(runs):
  paths, procs, _ = runs
  chief_out, _ = _finish(procs["chief"])
  worker_out, _ = _finish(procs["worker1"])
  _finish(procs["one"])
  assert not os.path.exists(paths["worker1"])  # the non-chief wrote nothing
  two, one = _record(paths["chief"]), _record(paths["one"])
  assert two["config"]["strategy"] == "multi_worker"
  assert two["codelength_bits"] == pytest.approx(one["codelength_bits"],
                                                 rel=TWO_WORKER_RTOL)
  for a, b in zip(two["blocks"], one["blocks"]):
    assert (a["epochs_trained"], a["best_epoch"]) == (b["epochs_trained"],
                                                      b["best_epoch"])
  # Both workers computed the same code in lockstep.
  assert chief_out.split(" kbits")[0] == worker_out.split(" kbits")[0]


def _digits_config():
  config = experiment.default_config("digits", "mlp")
  config.num_train = 100
  return config


def test_a_workdir_of_another_config_or_data_is_refused(tmp_path):
  path = str(tmp_path / "run")
  Workdir(path, _digits_config(), "fingerprint-a")
  with open(os.path.join(path, "config.json")) as f:
    saved = f.read()
  Workdir(path, _digits_config(), "fingerprint-a")  # the same: fine
  with pytest.raises(ValueError, match="different data order/fingerprint"):
    Workdir(path, _digits_config(), "fingerprint-b")
  other = _digits_config()
  other.data_seed = 1
  with pytest.raises(ValueError, match=r"config fields \['data_seed'\]"):
    Workdir(path, other, "fingerprint-a")
  with pytest.raises(ValueError, match="holds another run"):
    Workdir(path, other, "fingerprint-a", writable=False)
  with open(os.path.join(path, "config.json")) as f:
    assert f.read() == saved


def test_a_non_chief_workdir_creates_nothing(tmp_path):
  path = str(tmp_path / "run")
  Workdir(path, _digits_config(), "fingerprint-a", writable=False)
  assert not os.path.exists(path)


def test_concurrent_creation_has_exactly_one_winner(tmp_path):
  path = str(tmp_path / "config.json")
  outcomes = {}
  threads = [threading.Thread(
      target=lambda i=i: outcomes.__setitem__(
          i, results.write_json_if_absent(path, {"writer": i})))
             for i in range(8)]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  winners = [i for i, created in outcomes.items() if created]
  assert len(winners) == 1
  assert results.read_json(path) == {"writer": winners[0]}
  assert os.listdir(tmp_path) == ["config.json"]  # no temporary file left


# CIFAR-10's default schedule, 10, 20, 40, ..., 40960, 50000: 14 blocks.
CIFAR_BLOCKS = 14


@pytest.mark.parametrize("spec, indices, final", [
    ("3:7", (3, 4, 5, 6), False),
    (":3", (0, 1, 2), False),
    ("10:", (10, 11, 12, 13), False),
    (":", tuple(range(CIFAR_BLOCKS)), False),
    ("-2:", (12, 13), False),
    ("::5", (0, 5, 10), False),
    ("4", (4,), False),
    ("-1", (13,), False),
    (" final ", (), True),
])
def test_block_specs_are_python_slices_of_the_blocks(spec, indices, final):
  assert len(prequential.default_timesteps(50000)) == CIFAR_BLOCKS
  assert experiment.parse_blocks(spec, CIFAR_BLOCKS) == (indices, final)


@pytest.mark.parametrize("spec, message", [
    ("3-7", "expected start:stop"),
    ("1:2:3:4", "expected start:stop"),
    ("1:5:0", "expected start:stop"),
    ("14", "expected start:stop"),
    ("", "expected start:stop"),
    ("14:20", "selects none of blocks 0..13"),
    ("5:3", "selects none"),
])
def test_bad_block_specs_are_refused(spec, message):
  with pytest.raises(ValueError, match=message):
    experiment.parse_blocks(spec, CIFAR_BLOCKS)


def _tiny_config(final_model=False):
  """TINY's run in process."""
  config = _digits_config()
  config.num_test = 60
  config.model_options = ml_collections.ConfigDict(
      {"hidden_sizes": (16,), "dropout": 0.0})
  config.train.update(dict(max_epochs=2, learning_rate=0.01, verbose=0))
  config.block.final_model = final_model
  return config


def _saved(path, config):
  """The block indices and the test accuracy's record in workdir
  ``path``."""
  wd = Workdir(path, config, Workdir.read_identity(path)["data_fingerprint"],
               writable=False)
  return [b.index for b in wd.load_blocks()], wd.load_final()


@pytest.mark.slow
def test_the_shard_of_the_last_block_saves_the_test_accuracy(tmp_path):
  """Without a final model, the test accuracy is the last block's model's:
  the shard that trains it saves it; a shard without the last block does
  not. With a final model (trained on all n), only --blocks=final does."""
  low, high = str(tmp_path / "low"), str(tmp_path / "high")
  config = _tiny_config()
  assert experiment.run(config, low, blocks=":2") is None
  assert _saved(low, config) == ([0, 1], None)
  assert experiment.run(config, high, blocks="-1") is None
  blocks, final = _saved(high, config)
  assert blocks == [NUM_BLOCKS - 1]
  assert final["model"] == LAST_BLOCK_MODEL
  assert 0.0 <= final["test_accuracy"] <= 1.0
  assert round(60 * final["test_accuracy"]) == pytest.approx(
      60 * final["test_accuracy"], abs=1e-9)  # a share of the 60 test images

  with_final = str(tmp_path / "with_final")
  config = _tiny_config(final_model=True)
  assert experiment.run(config, with_final, blocks="-1") is None
  assert _saved(with_final, config) == ([NUM_BLOCKS - 1], None)
  assert experiment.run(config, with_final, blocks="final") is None
  blocks, final = _saved(with_final, config)
  assert blocks == [NUM_BLOCKS - 1]
  assert final["model"] == "a model trained on all 100 labels"


def test_assemble_lists_every_missing_block_and_refuses_foreign_ones():
  timesteps = (10, 20, 40)
  first = uniform_block(0, 0, 10, 10)
  with pytest.raises(ValueError, match=r"block\(s\) \[1, 2\] of 0..2"):
    prequential.assemble([first], 40, 10, timesteps)
  stranger = uniform_block(1, 10, 30, 10)
  with pytest.raises(ValueError, match=r"covers \[10, 30\), the schedule "
                                       r"says \[10, 20\)"):
    prequential.missing_blocks([first, stranger], timesteps)
  assert prequential.block_bounds(timesteps) == ((0, 10), (10, 20), (20, 40))


def test_multi_worker_needs_a_valid_tf_config(monkeypatch):
  monkeypatch.delenv("TF_CONFIG", raising=False)
  with pytest.raises(ValueError, match="needs the TF_CONFIG"):
    training.get_strategy("multi_worker")
  monkeypatch.setenv("TF_CONFIG", "{cluster: ")
  with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
    training.get_strategy("multi_worker")
  monkeypatch.setenv("TF_CONFIG", '{"cluster": {}}')
  with pytest.raises(ValueError, match="a 'cluster' and a 'task'"):
    training.get_strategy("multi_worker")


@pytest.mark.parametrize("cluster, task_type, task_id, chief", [
    ({"worker": ["a:1", "b:1"]}, "worker", 0, True),
    ({"worker": ["a:1", "b:1"]}, "worker", 1, False),
    ({"chief": ["c:1"], "worker": ["a:1"]}, "chief", 0, True),
    ({"chief": ["c:1"], "worker": ["a:1"]}, "worker", 0, False),
])
def test_is_chief_follows_tensorflows_convention(cluster, task_type, task_id,
                                                 chief):
  resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
      tf.train.ClusterSpec(cluster), task_type=task_type, task_id=task_id)
  assert is_chief(types.SimpleNamespace(cluster_resolver=resolver)) == chief
  assert is_chief(tf.distribute.get_strategy())
