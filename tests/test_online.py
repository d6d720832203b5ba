"""The online prequential learner: order of encode and learn, decodability,
determinism, chain rule, honesty on random labels, and its experiment (what
bin/prequential --learner=online runs) in process."""

import dataclasses
import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf

from tfmdl import data
from tfmdl import models
from tfmdl.codes import prequential
from tfmdl.codes import switch
from tfmdl.codes.prequential import online
from tfmdl.codes.prequential.online import replay
from tfmdl.bits import label_coding
from tfmdl.experiments import prequential as prequential_experiment
from tfmdl.experiments import switch as switch_experiment
from tfmdl.experiments.prequential import default_config
from tfmdl.keras_compat import tf_keras

LOG2_10 = math.log2(10)


def _online_code(model_fn, x, y, num_classes, learner, config=None,
                 **kwargs):
  """The prequential code of the online ``learner`` (an OnlineConfig)
  under the protocol's ``config`` (the default PrequentialConfig if None)."""
  return prequential.prequential_code(
      model_fn, x, y, num_classes,
      config=config or prequential.PrequentialConfig(), learner=learner,
      **kwargs)


@pytest.fixture(scope="module")
def digits_run(digits, mlp_fn):
  """``(PrequentialConfig, OnlineConfig, PrequentialResult)``: 3 setting
  bits paid, minibatches of 16 run 5 per call."""
  config = prequential.PrequentialConfig(setting_bits=3.0)
  learner = online.OnlineConfig(batch_size=16, replay=4, learning_rate=1e-2,
                                steps_per_call=5)
  result = _online_code(mlp_fn(digits), digits.x_train, digits.y_train, 10,
                        learner, config, x_test=digits.x_test,
                        y_test=digits.y_test)
  return config, learner, result


def test_first_minibatch_uniform_and_chain_rule(digits_run):
  config, _, result = digits_run
  assert result.timesteps == (10, 20, 40, 80, 160, 200)
  assert [(b.start, b.end) for b in result.blocks] == [
      (0, 10), (10, 20), (20, 40), (40, 80), (80, 160), (160, 200)]
  per_sample = result.per_sample_bits()
  assert per_sample.shape == (200,)
  # The first minibatch (16 samples) costs exactly log2 K each; block 0 is
  # inside it, the next one straddles it. The setting's price is sent
  # before the first label: in the codelength, in no sample's bits.
  assert config.setting_bits == 3.0
  assert result.learner == "online" and result.setting_bits == 3.0
  # (Samples 10..15 of block 1 are mixed with the uniform code, which
  # leaves log2 K up to float round-off.)
  np.testing.assert_allclose(per_sample[:16], [LOG2_10] * 16, rtol=1e-12)
  assert result.blocks[0].bits == pytest.approx(10 * LOG2_10, rel=1e-15)
  assert not np.allclose(per_sample[16:20], LOG2_10)
  assert result.codelength_bits == pytest.approx(per_sample.sum() + 3.0,
                                                 rel=1e-12)
  assert result.codelength_bits == pytest.approx(
      sum(b.bits for b in result.blocks) + 3.0, rel=1e-12)
  assert result.parts == pytest.approx({
      "first_block_uniform_bits": 10 * LOG2_10,
      "model_coded_bits": per_sample[10:].sum(), "setting_bits": 3.0},
                                       rel=1e-12)
  assert all(b.epoch_bits is None for b in result.blocks)
  # Real digits are learned online: well below uniform, a useful model.
  assert result.codelength_bits < 0.7 * result.uniform_bits
  assert result.test_accuracy > 0.7


def test_same_seed_same_bits_whatever_the_chunking(digits, digits_run,
                                                   mlp_fn):
  config, learner, result = digits_run
  again = _online_code(
      mlp_fn(digits), digits.x_train, digits.y_train, 10,
      dataclasses.replace(learner, steps_per_call=64), config)
  np.testing.assert_array_equal(again.per_sample_bits(),
                                result.per_sample_bits())
  other = _online_code(
      mlp_fn(digits), digits.x_train, digits.y_train, 10, learner,
      dataclasses.replace(config, seed=1))
  assert learner.steps_per_call == 5  # the fixture ran in chunks of 5
  assert other.codelength_bits != result.codelength_bits


def test_the_setting_price_is_paid_once_and_changes_nothing_else(
    digits, digits_run, mlp_fn):
  config, learner, result = digits_run
  free = _online_code(
      mlp_fn(digits), digits.x_train, digits.y_train, 10, learner,
      dataclasses.replace(config, setting_bits=0.0))
  # Every label costs the same; the price is paid once, before them.
  np.testing.assert_array_equal(result.per_sample_bits(),
                                free.per_sample_bits())
  assert [b.bits for b in result.blocks] == [b.bits for b in free.blocks]
  assert free.setting_bits == 0.0 and free.parts["setting_bits"] == 0.0
  assert result.codelength_bits - free.codelength_bits == pytest.approx(
      3.0, rel=1e-9)


@pytest.mark.slow
def test_a_convnet_runs_to_the_last_partial_minibatch(digits):
  """lenet on 50 samples in minibatches of 16 (the last has 2)."""
  build = lambda seed: models.build("lenet", digits.input_shape, 10,
                                    seed=seed)
  result = _online_code(build, digits.x_train[:50], digits.y_train[:50], 10,
                        online.OnlineConfig(batch_size=16, replay=1),
                        x_test=digits.x_test, y_test=digits.y_test)
  assert result.per_sample_bits().shape == (50,)
  assert [b.end for b in result.blocks] == [10, 20, 40, 50]
  assert np.all(np.isfinite(result.per_sample_bits()))
  # A share of digits' test set, not of the 50 samples coded.
  test_size = len(digits.y_test)
  assert test_size != 50
  assert test_size * result.test_accuracy == pytest.approx(
      round(test_size * result.test_accuracy), abs=1e-9)


def _learner_log_probs(mlp_fn, ds, y, config):
  learner = online.OnlineLearner(mlp_fn(ds), ds.x_train, 10, config)
  return learner.advance(y, learner.num_minibatches + 1)


def _as_bob(mlp_fn, ds, y, config):
  """The log-probs of every minibatch, each predicted, as Bob does, in a
  call of its own from a label array whose labels from that minibatch on
  are all wrong (``(y + 1) % 10``): only the labels before it are right."""
  learner = online.OnlineLearner(mlp_fn(ds), ds.x_train, 10, config)
  wrong = (y + 1) % 10
  rows = []
  for t in range(learner.num_minibatches):
    known = np.arange(len(y)) < t * config.batch_size
    rows.append(learner.advance(np.where(known, y, wrong), 1))
  return np.concatenate(rows)


LEAK_CHECK = dict(batch_size=16, replay=4, learning_rate=1e-2)


@pytest.mark.parametrize("replay_kind", ["uniform", "streams"])
def test_no_minibatch_is_predicted_from_its_own_or_later_labels(
    digits, mlp_fn, replay_kind):
  """Alice predicts every minibatch in one call, knowing all the labels;
  Bob one minibatch a call, every label from it on wrong: the same floats,
  though 4 replay minibatches a step rehearse the labels sent."""
  config = online.OnlineConfig(replay_kind=replay_kind, **LEAK_CHECK)
  y = digits.y_train.astype(np.int32)
  alice = _learner_log_probs(mlp_fn, digits, y, config)
  assert alice.shape == (200, 10)
  np.testing.assert_array_equal(_as_bob(mlp_fn, digits, y, config), alice)


@pytest.mark.parametrize("replay_kind", ["uniform", "streams"])
def test_the_leak_check_catches_a_replay_of_the_next_minibatch(
    digits, mlp_fn, monkeypatch, replay_kind):
  """The check above, with a replay that draws from one minibatch too far
  (the minibatch about to be encoded): Alice's predictions then differ from
  Bob's."""
  rule = {"uniform": replay.UniformReplay,
          "streams": replay.ReplayStreams}[replay_kind]
  drawn = rule.draw
  n = len(digits.y_train)
  monkeypatch.setattr(rule, "draw", lambda self, t, end: drawn(
      self, t, tf.minimum(tf.cast(end, tf.int64) + 16, n)))
  config = online.OnlineConfig(replay_kind=replay_kind, **LEAK_CHECK)
  y = digits.y_train.astype(np.int32)
  alice = _learner_log_probs(mlp_fn, digits, y, config)
  bob = _as_bob(mlp_fn, digits, y, config)
  np.testing.assert_array_equal(bob[:16], alice[:16])
  assert not np.array_equal(bob, alice)


def test_lookup_model_learns_each_label_in_one_step_yet_pays_uniform():
  """A lookup table (one-hot sample ids -> a zero-initialised row of logits,
  Adam at learning rate 1) memorises every label it is trained on. Coded
  before learning, each label meets a row never trained: exactly uniform."""
  n = 96
  x = np.eye(n, dtype=np.float32)
  y = np.random.default_rng(0).integers(0, 10, n)
  lookup = lambda seed: tf_keras.Sequential([
      tf_keras.Input((n,)),
      tf_keras.layers.Dense(10, use_bias=False, kernel_initializer="zeros")])
  config = online.OnlineConfig(batch_size=8, replay=4, learning_rate=1.0)
  result = _online_code(lookup, x, y, 10, config,
                        prequential.PrequentialConfig(setting_bits=0.0))
  np.testing.assert_allclose(result.per_sample_bits(), LOG2_10, rtol=1e-6)
  assert result.codelength_bits == pytest.approx(n * LOG2_10, rel=1e-6)
  learner = online.OnlineLearner(lookup, x, 10, config)
  learner.advance(y, learner.num_minibatches + 1)
  memorised = learner.encoding_model(x, training=False).numpy()
  assert np.mean(memorised.argmax(1) == y) == 1.0


@pytest.mark.slow
def test_memorising_mlp_cannot_compress_random_labels(mlp_fn):
  """A wide MLP, high learning rate, heavy replay, on random labels."""
  ds = data.load("digits", num_train=240, random_labels=True)
  for calibrate in (False, True):
    result = _online_code(
        mlp_fn(ds, hidden=(512,)), ds.x_train, ds.y_train, 10,
        online.OnlineConfig(batch_size=8, replay=8, learning_rate=1e-2,
                            calibrate=calibrate))
    assert result.codelength_bits >= result.uniform_bits - 10


def test_labels_that_are_a_function_of_the_inputs_compress_well(mlp_fn):
  ds = data.load("synthetic", num_train=1500)  # linear labels, K = 4
  result = _online_code(
      mlp_fn(ds, hidden=()), ds.x_train, ds.y_train, ds.num_classes,
      online.OnlineConfig(batch_size=16, replay=4, learning_rate=3e-2))
  assert result.compression_ratio < 0.5
  assert result.blocks[-1].bits_per_sample < 0.6  # of 2 bits uniform


@pytest.mark.slow  # 8 CPU-seconds; tests/test_compression.py decodes in the fast loop
def test_bob_decodes_the_range_coded_labels_one_minibatch_at_a_time(
    digits, mlp_fn):
  """Alice range-codes with the log-probs of one long run; Bob replays the
  learner one iteration at a time on the labels he has decoded (dropout on,
  EMA and calibration on) and recovers every label."""
  ds = digits
  config = online.OnlineConfig(batch_size=32, replay=2, steps_per_call=64)
  build = mlp_fn(ds, dropout=0.5)
  y = ds.y_train.astype(np.int64)
  alice = online.OnlineLearner(build, ds.x_train, 10, config)
  log_probs = alice.advance(y, alice.num_minibatches + 1)
  first = config.batch_size
  payload = label_coding.encode_blocks([
      (y[:first], label_coding.uniform_masses(first, 10)),
      (y[first:], label_coding.quantize_log_probs(log_probs[first:]))])

  bob = online.OnlineLearner(build, ds.x_train, 10, config)
  decoder = label_coding.LabelDecoder(payload)
  decoded = np.zeros(len(y), np.int64)
  for t in range(bob.num_minibatches):
    rows = bob.advance(decoded, 1)
    masses = (label_coding.uniform_masses(len(rows), 10) if t == 0
              else label_coding.quantize_log_probs(rows))
    decoded[t * first:t * first + len(rows)] = decoder.decode(masses)
  np.testing.assert_array_equal(decoded, y)
  bob.advance(decoded, 1)  # the last learning step
  assert bob.position == alice.position == bob.num_minibatches + 1
  assert bob.temperature == alice.temperature != 1.0


def test_bob_replays_the_xla_compiled_gelu_learner_of_the_mlp_recipe(
    digits):
  """The ``mlp`` recipe compiles each step with XLA and uses GELU: Bob, one
  minibatch per call, computes the log-probs Alice computed in one call."""
  build = lambda seed: models.build("mlp", digits.input_shape, 10, seed=seed,
                                    hidden_sizes=(32,), activation="gelu")
  assert [layer.activation.__name__ for layer in build(0).layers[1:]] == [
      "gelu", "linear"]
  config = online.OnlineConfig(batch_size=16, replay=2, jit_compile=True,
                               schedule="cosine", ema_decay=0.998)
  x, y = digits.x_train[:160], digits.y_train[:160].astype(np.int64)
  alice = online.OnlineLearner(build, x, 10, config)
  encoded = alice.advance(y, alice.num_minibatches + 1)
  bob = online.OnlineLearner(build, x, 10, config)
  known = np.zeros_like(y)
  replayed = []
  for t in range(bob.num_minibatches):
    replayed.append(bob.advance(known, 1))
    known[t * 16:(t + 1) * 16] = y[t * 16:(t + 1) * 16]  # decoded
  np.testing.assert_array_equal(np.concatenate(replayed), encoded)
  assert np.all(np.isfinite(encoded))


@pytest.mark.parametrize("cls, options, message", [
    (online.OnlineConfig, dict(batch_size=0), "batch_size must be >= 1"),
    (online.OnlineConfig, dict(replay=-1), "replay must be >= 0"),
    (online.OnlineConfig, dict(ema_decay=1.0),
     r"ema_decay must be in \[0, 1\)"),
    (online.OnlineConfig, dict(learning_rate=0.0),
     "learning_rate must be > 0"),
    (online.OnlineConfig, dict(calibration_lr=-1.0),
     "calibration_lr must be > 0"),
    (prequential.PrequentialConfig, dict(setting_bits=-1.0),
     "setting_bits must be >= 0"),
])
def test_bad_config_is_refused(cls, options, message):
  with pytest.raises(ValueError, match=message):
    cls(**options)


def test_bad_use_is_refused(digits, mlp_fn):
  x, y = digits.x_train, digits.y_train
  with pytest.raises(ValueError, match="outputs 10 logits, the data have 3"):
    online.OnlineLearner(mlp_fn(digits), x, 3)
  learner = online.OnlineLearner(mlp_fn(digits), x[:40], 10,
                                 online.OnlineConfig(batch_size=16))
  assert learner.num_minibatches == 3
  with pytest.raises(ValueError, match=r"count must be in \[1, 4\]"):
    learner.advance(y[:40], 5)
  with pytest.raises(ValueError, match=r"y must have shape \(40,\)"):
    learner.advance(y, 1)
  with pytest.raises(ValueError, match="last timestep must be n=40"):
    _online_code(mlp_fn(digits), x[:40], y[:40], 10, online.OnlineConfig(),
                 prequential.PrequentialConfig(timesteps=(10, 30)))


@pytest.mark.slow
def test_online_experiment_end_to_end_and_switchable_with_a_block_run(
    tmp_path, bin_config, event_tags):
  """bin/prequential --learner=online's run, in process (the binary itself:
  test_prequential.py's smoke test)."""
  online_dir, block_dir = str(tmp_path / "online"), str(tmp_path / "block")
  config = bin_config("prequential", [
      "--config.num_train=120", "--config.online.batch_size=16",
      "--config.prequential.setting_bits=3.0",
      "--config.model_options.hidden_sizes=(16,)"])
  config.learner = "online"  # what --learner=online sets
  prequential_experiment.run(config, online_dir)
  config = default_config("digits", "mlp")  # a block run of the same data
  config.num_train = 120
  config.model_options.hidden_sizes = (16,)
  config.train.update(dict(max_epochs=2, verbose=0))
  prequential_experiment.run(config, block_dir)
  # A bad online config is refused before the workdir is made.
  bad_dir = str(tmp_path / "bad")
  config.learner = "online"
  config.online.replay = -1
  with pytest.raises(ValueError, match="replay must be >= 0"):
    prequential_experiment.run(config, bad_dir)
  assert not os.path.exists(bad_dir)
  with open(os.path.join(online_dir, "results.json")) as f:
    record = json.load(f)
  assert record["code"] == "online" and record["learner"] == "online"
  assert record["config"]["online"]["batch_size"] == 16
  # Block 0 (10 labels, inside the first minibatch of 16) is uniform.
  assert record["parts"]["first_block_uniform_bits"] == pytest.approx(
      10 * LOG2_10)
  assert record["blocks"][0]["bits"] == pytest.approx(10 * LOG2_10)
  assert record["setting_bits"] == record["parts"]["setting_bits"] == 3.0
  assert record["codelength_bits"] == pytest.approx(
      sum(b["bits"] for b in record["blocks"]) + 3.0)
  assert record["test_accuracy"] is not None
  tags = event_tags(os.path.join(online_dir, "tb"))
  assert {"prequential/cumulative_kbits",
          "prequential/block_bits_per_sample"} <= tags
  # The switch code reads it like a block run and mixes the two.
  runs = [switch_experiment.load_run(online_dir),
          switch_experiment.load_run(block_dir)]
  assert runs[0].timesteps == runs[1].timesteps == (10, 20, 40, 80, 120)
  assert (runs[0].setting_bits, runs[1].setting_bits) == (3.0, 0.0)
  mixed = switch.switch_runs(runs)
  assert len(mixed.strategy_names) == 3  # the two runs and uniform
  np.testing.assert_allclose(mixed.strategy_bits[0], runs[0].per_sample_bits)
  headline = mixed.methods["mixture"]
  # The switch code may follow either run at any sample: it sends every
  # run's setting first (issue 25: not only on the samples it follows them).
  assert (mixed.runs_setting_bits, mixed.setting_bits) == (3.0, 0.0)
  assert mixed.codelength_bits == headline.bits + 3.0
  assert headline.bits <= (min(r.codelength_bits - r.setting_bits
                               for r in runs) + headline.overhead_bits + 1e-6)
