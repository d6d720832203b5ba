"""The online learner on several replicas: each step's minibatch split across
them, the same mean loss as on one replica, the same code up to round-off.

In process, ``MirroredStrategy`` runs over the two logical CPUs that the
root conftest.py makes; the ``slow`` test runs bin/prequential as two local
workers of a ``MultiWorkerMirroredStrategy`` (``TF_CONFIG`` over loopback).
The models have no dropout: dropout masks are drawn per replica, which makes
another code (docs/cluster.md).
"""

import json
import os
import time

import numpy as np
import pytest

import loopback
import tensorflow as tf

from tfmdl import training
from tfmdl.codes import prequential
from tfmdl.codes.prequential import label_file
from tfmdl.codes.prequential.online import OnlineConfig
from tfmdl.codes.prequential.online import OnlineLearner
from tfmdl.codes.prequential.online.learner import replica_share
from tfmdl.experiments import common
from tfmdl.experiments import compress
from tfmdl.experiments import prequential as prequential_experiment
from tfmdl.progress import NoProgress

# The bound OnlineConfig's docstring states for short runs (longer ones drift
# further: benchmarks/results/online_replicas.md).
REPLICA_RTOL = 1e-4
TIMEOUT_S = 600


def _mirrored():
  strategy = training.get_strategy("mirrored")
  assert strategy.num_replicas_in_sync == 2  # the two logical CPUs
  return strategy


def _values(variables):
  return [v.numpy() for v in variables]


def _optimizer_variables(learner):
  variables = learner._optimizer.variables  # pylint: disable=protected-access
  return variables() if callable(variables) else variables


@pytest.mark.parametrize("size, shares", [
    (5, ([0, 1], [2, 3, 4])),
    (4, ([0, 1], [2, 3])),
    (1, ([], [0])),  # a last minibatch of one: replica 0 has no share
])
def test_replica_shares_cover_the_minibatch_once_in_order(size, shares):
  strategy = _mirrored()
  per_replica = strategy.run(
      tf.function(lambda: replica_share(tf.range(size), size, 2)))
  assert [list(t.numpy()) for t in
          strategy.experimental_local_results(per_replica)] == list(shares)


def test_a_step_on_two_replicas_is_the_one_replica_step(digits, mlp_fn):
  """After the first minibatch's 1 + R steps (B = 5: shares of 2 and 3),
  Adam's moments, the weights and the next predictions agree to round-off.
  A replica normalising by its own share, or both replicas learning from
  the whole minibatch (a doubled gradient), would change the moments."""
  x, y = digits.x_train[:20], digits.y_train[:20]
  config = OnlineConfig(batch_size=5, replay=2, learning_rate=1e-2)
  one = OnlineLearner(mlp_fn(digits), x, 10, config)
  two = OnlineLearner(mlp_fn(digits), x, 10, config, _mirrored())
  assert (one.num_replicas, two.num_replicas) == (1, 2)
  # Iteration 0 predicts minibatch 0; iteration 1 learns from it, then
  # predicts minibatch 1.
  np.testing.assert_allclose(one.advance(y, 2), two.advance(y, 2),
                             rtol=1e-5, atol=1e-6)
  moments = list(zip(_values(_optimizer_variables(one)),
                     _values(_optimizer_variables(two))))
  assert len(moments) == 1 + 2 * len(one.model.trainable_variables)
  for a, b in moments + list(zip(_values(one.model.weights),
                                 _values(two.model.weights))):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
  # Every replica holds the same weights (mirrored), bit for bit.
  for variable in two.model.weights + two.encoding_model.weights:
    copies = [v.numpy() for v in
              two._strategy.experimental_local_results(variable)]  # pylint: disable=protected-access
    np.testing.assert_array_equal(copies[0], copies[1])


def test_two_replicas_give_the_one_replica_code(digits, mlp_fn):
  learner = OnlineConfig(batch_size=16, replay=4, replay_kind="streams",
                         learning_rate=1e-2, steps_per_call=5)
  config = prequential.PrequentialConfig(setting_bits=0.0)
  one, two = (prequential.prequential_code(
      mlp_fn(digits), digits.x_train, digits.y_train, 10, config=config,
      learner=learner, strategy=strategy, progress=NoProgress())
              for strategy in (None, _mirrored()))
  assert one.codelength_bits < 0.9 * one.uniform_bits  # it learned
  assert two.codelength_bits == pytest.approx(one.codelength_bits,
                                              rel=REPLICA_RTOL)


def test_bob_decodes_on_the_replicas_alice_encoded_on(digits, mlp_fn):
  strategy = _mirrored()
  learner = OnlineConfig(batch_size=16, replay=2, learning_rate=1e-2)
  config = prequential.PrequentialConfig()
  x, y = digits.x_train[:100], digits.y_train[:100]
  encoded = label_file.encode_labels(mlp_fn(digits), x, y, 10, config,
                                     learner, strategy)
  decoded = label_file.decode_labels(mlp_fn(digits), x, 10, encoded.payload,
                                     config, learner, strategy)
  np.testing.assert_array_equal(decoded, y)


def test_a_file_of_another_replica_count_is_refused(tmp_path):
  default = tf.distribute.get_strategy()
  label_file.check_replicas({"replicas": 1}, default)
  label_file.check_replicas({"replicas": 2}, _mirrored())
  label_file.check_replicas({}, _mirrored())  # older files: not recorded
  # A file whose header says 2 replicas, decoded with the default strategy:
  # refused in one line, before any training.
  config = prequential_experiment.default_config("digits", "mlp")
  config.num_train = 50
  config.learner = "online"
  dataset = common.load_dataset(config)
  header = compress.file_header(config, dataset, replicas=2)
  assert header["config"]["strategy"] == "auto"
  path = str(tmp_path / "two_replicas.tfmdl")
  label_file.write_file(path, header, b"\0" * 8,
                        label_file.labels_checksum(dataset.y_train))
  with pytest.raises(ValueError) as error:
    compress.decompress(path, str(tmp_path / "labels.npy"))
  assert str(error.value) == (
      "the file was encoded with the training split over 2 replica(s), this "
      "decoder's strategy has 1: decoding needs the same number "
      "(config.strategy and the devices or TF_CONFIG workers it spans)")
  assert not os.path.exists(tmp_path / "labels.npy")


@pytest.mark.parametrize("fields, message", [
    (dict(jit_compile=True), "jit_compile runs the online learner on one "
                             "replica; the strategy has 2"),
    (dict(batch_size=1), "batch_size 1 is smaller than the strategy's 2 "
                         "replicas"),
])
def test_what_replicas_cannot_do_is_refused(digits, mlp_fn, fields, message):
  with pytest.raises(ValueError, match=message):
    OnlineLearner(mlp_fn(digits), digits.x_train[:20], 10,
                  OnlineConfig(**fields), _mirrored())


# --- two workers over loopback ----------------------------------------------

TINY_ONLINE = [
    "--learner=online", "--config.num_train=200", "--config.num_test=60",
    "--config.model_options.hidden_sizes=(16,)",
    "--config.model_options.dropout=0.0", "--config.online.batch_size=16",
    "--config.online.replay=2", "--config.online.learning_rate=0.01",
    "--config.prequential.setting_bits=0.0",
    # The MLP's online settings compile with XLA, which runs on one replica.
    "--config.online.jit_compile=false"]


def _finish(proc):
  try:
    out, err = proc.communicate(timeout=TIMEOUT_S)
  except Exception:
    proc.kill()
    raise
  assert proc.returncode == 0, err[-3000:]
  return out


@pytest.mark.slow
def test_two_workers_give_the_one_worker_online_code(tmp_path, start_bin):
  """bin/prequential --learner=online as two workers of a
  MultiWorkerMirroredStrategy and as one process, all started at once."""
  ports = loopback.free_ports(2)
  paths = {name: str(tmp_path / name) for name in ("one", "chief", "worker1")}
  began = time.perf_counter()
  procs = {name: start_bin(
      "prequential", [f"--workdir={paths[name]}"] + TINY_ONLINE +
      ([] if name == "one" else ["--config.strategy=multi_worker"]),
      env=None if name == "one" else {
          "TF_CONFIG": loopback.tf_config(ports, int(name == "worker1"))})
           for name in paths}
  outs = {name: _finish(proc) for name, proc in procs.items()}
  assert time.perf_counter() - began < TIMEOUT_S
  assert not os.path.exists(paths["worker1"])  # the non-chief wrote nothing
  with open(os.path.join(paths["one"], "results.json")) as f:
    one = json.load(f)
  with open(os.path.join(paths["chief"], "results.json")) as f:
    two = json.load(f)
  assert two["config"]["strategy"] == "multi_worker"
  assert two["learner"] == one["learner"] == "online"
  assert two["codelength_bits"] == pytest.approx(one["codelength_bits"],
                                                 rel=REPLICA_RTOL)
  # Both workers computed the same code in lockstep.
  assert (outs["chief"].split(" kbits")[0] ==
          outs["worker1"].split(" kbits")[0])
