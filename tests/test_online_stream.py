"""The online learner on a tf.data stream: the same floats as on arrays,
replay from a bounded memory kept by reservoir sampling, TFRecord files
(tfmdl.data.tfrecord) as a data set of bin/prequential."""

import math

import numpy as np
import pytest
import tensorflow as tf

import tfmdl
from tfmdl import data
from tfmdl.codes.prequential import online
from tfmdl.codes.prequential.online import replay
from tfmdl.data import labelled
from tfmdl.data import tfrecord
from tfmdl.experiments import prequential as prequential_experiment


def _stream(ds, n=None):
  n = n or len(ds.y_train)
  return tf.data.Dataset.from_tensor_slices((ds.x_train[:n], ds.y_train[:n]))


def _log_probs(model_fn, x, config, y, chunk):
  """Every log-prob an OnlineLearner predicts, ``chunk`` iterations a
  call."""
  learner = online.OnlineLearner(model_fn, x, 10, config)
  out = []
  while learner.position <= learner.num_minibatches:
    count = min(chunk, learner.num_minibatches + 1 - learner.position)
    out.append(learner.advance(y, count))
  return np.concatenate(out), learner


@pytest.mark.parametrize("memory", [None, 40])
def test_a_stream_gives_the_floats_of_the_same_arrays(digits, mlp_fn,
                                                      memory):
  """Every log-probability bit for bit, dropout and augmentation on, with a
  memory that holds every sample (None for the arrays, 1000 for the
  stream: the same rule) or a reservoir of 40 of the 200."""
  config = online.OnlineConfig(batch_size=16, replay=3, augment=True,
                               shift_pixels=1, replay_memory=memory)
  stream_config = online.OnlineConfig(
      batch_size=16, replay=3, augment=True, shift_pixels=1,
      replay_memory=memory or 1000)
  build = mlp_fn(digits, dropout=0.5)
  y = digits.y_train.astype(np.int32)
  arrays, _ = _log_probs(build, digits.x_train, config, y, 5)
  stream, learner = _log_probs(
      build, labelled.labelled(_stream(digits), num_classes=10),
      stream_config, y, 3)
  assert arrays.shape == (200, 10)
  np.testing.assert_array_equal(stream, arrays)
  # The stream learner holds the replay memory's rows, not the stream.
  assert learner._inputs.variables[1].shape[0] == min(memory or 1000, 200)


def test_the_reservoir_changes_the_code_and_a_full_memory_does_not(
    digits, mlp_fn):
  y = digits.y_train.astype(np.int32)
  config = online.OnlineConfig(batch_size=16, replay=3)
  every, _ = _log_probs(mlp_fn(digits), digits.x_train, config, y, 64)
  for memory, same in ((200, True), (40, False)):
    bounded, _ = _log_probs(mlp_fn(digits), digits.x_train, online.
                            OnlineConfig(batch_size=16, replay=3,
                                         replay_memory=memory), y, 64)
    assert np.array_equal(bounded, every) == same


def _reservoir_history(memory, n, batch, seed=0):
  """The reservoir's samples after each minibatch, and the draws."""
  rule = replay.UniformReplay(2, batch, seed, n, memory)
  admit = tf.function(rule.admit)
  history, draws = [], []
  for t in range(math.ceil(n / batch)):
    start, end = t * batch, min((t + 1) * batch, n)
    admit(tf.constant(t, tf.int64), tf.constant(start, tf.int64),
          tf.constant(end, tf.int64))
    history.append(rule.examples.numpy().copy())
    draws.append(rule.draw(tf.constant(t, tf.int64), end))
  return history, draws


def test_the_reservoir_holds_distinct_sent_samples_and_bob_replays_it():
  memory, n, batch = 20, 300, 8
  history, draws = _reservoir_history(memory, n, batch)
  for t, held in enumerate(history):
    end = min((t + 1) * batch, n)
    filled = held[:min(end, memory)]
    assert len(set(filled.tolist())) == len(filled)  # distinct samples
    assert filled.max() == end - 1 if end <= memory else filled.max() < end
    samples, slots = (d.numpy() for d in draws[t])
    np.testing.assert_array_equal(samples, held[slots])
    assert slots.max() < len(filled)
  # It keeps being refreshed: late samples get in, early ones stay possible.
  assert history[-1].max() >= n - 3 * batch
  # Same seed, same reservoir (Bob); another seed, another.
  again, _ = _reservoir_history(memory, n, batch)
  other, _ = _reservoir_history(memory, n, batch, seed=1)
  np.testing.assert_array_equal(np.stack(again), np.stack(history))
  assert not np.array_equal(other[-1], history[-1])


def test_the_reservoir_is_a_uniform_sample_of_the_sent_samples():
  """Algorithm R: each of the n sent samples is in the memory at the end
  with probability memory / n. Over 8 seeds, the count of samples from
  each quarter of the stream is near a quarter of the 8 * 100 held."""
  memory, n, batch, seeds = 100, 400, 10, 8
  quarters = np.zeros(4)
  for seed in range(seeds):
    held = _reservoir_history(memory, n, batch, seed)[0][-1]
    quarters += np.bincount(held * 4 // n, minlength=4)
  expected = seeds * memory / 4
  # Hypergeometric spread: sd sqrt(8 * 100 / 4 * 3 / 4 * 300 / 399) = 10.6;
  # 4 sd. (The first 100 samples, or the last 100, are over 50 sd off.)
  assert np.abs(quarters - expected).max() < 43, quarters


def test_a_full_memory_draws_what_uniform_replay_of_every_sample_draws():
  """While the memory holds every sent sample the draws are those of
  uniform_indices(replay_seed(seed), t, ...), the rule before memories."""
  rule = replay.UniformReplay(3, 8, seed=4, n=100, memory=None)
  for t, end in ((0, 8), (5, 48), (12, 100)):
    samples, slots = rule.draw(tf.constant(t, tf.int64), end)
    expected = replay.uniform_indices(
        tf.constant(replay.replay_seed(4), tf.int64),
        tf.constant(t, tf.int64), 3, 8, tf.constant(end, tf.int64))
    np.testing.assert_array_equal(samples.numpy(), expected.numpy())
    np.testing.assert_array_equal(slots.numpy(), expected.numpy())
  assert rule.examples is None and rule.slots == 100


def test_a_stream_is_refused_what_it_cannot_replay(digits, mlp_fn):
  stream = labelled.labelled(_stream(digits, 40), num_classes=10)
  with pytest.raises(ValueError, match="replay_memory=None.*set "
                     "replay_memory"):
    online.OnlineLearner(mlp_fn(digits), stream, 10, online.OnlineConfig())
  with pytest.raises(ValueError, match="replay_kind='streams' reads any "
                     "sent sample"):
    online.OnlineLearner(mlp_fn(digits), stream, 10, online.OnlineConfig(
        replay_kind="streams", replay_memory=8))
  # Without replay no memory is needed.
  online.OnlineLearner(mlp_fn(digits), stream, 10,
                       online.OnlineConfig(replay=0))
  with pytest.raises(ValueError, match="replay_memory must be >= 1"):
    online.OnlineConfig(replay_memory=0)


def test_the_api_codes_a_stream_online_like_the_arrays(digits, mlp_fn):
  options = dict(code="online", batch_size=16, replay=2, replay_memory=64)
  arrays = tfmdl.description_length(mlp_fn(digits), digits.x_train,
                                    digits.y_train, **options)
  stream = tfmdl.description_length(mlp_fn(digits), _stream(digits),
                                    **options)
  np.testing.assert_array_equal(stream.per_sample_bits(),
                                arrays.per_sample_bits())
  assert stream.codelength_bits == arrays.codelength_bits
  assert stream.data_fingerprint == arrays.data_fingerprint


def _write_digits(folder, ds, shard=64):
  """``ds`` as TFRecord files of bytes (0..16, scale 16), like the
  arrays."""
  as_bytes = lambda x: np.round(x * 16).astype(np.uint8)
  tfrecord.write(folder, "train", [(as_bytes(ds.x_train), ds.y_train)],
                 input_shape=ds.input_shape, dtype="uint8", num_classes=10,
                 scale=16.0, examples_per_shard=shard)
  tfrecord.write(folder, "test", [(as_bytes(ds.x_test), ds.y_test)],
                 input_shape=ds.input_shape, dtype="uint8", num_classes=10,
                 scale=16.0)


def test_tfrecord_files_read_back_the_examples_in_order(tmp_path, digits):
  folder = str(tmp_path / "records")
  _write_digits(folder, digits, shard=64)
  assert sorted(p.name for p in tmp_path.joinpath("records").iterdir()) == [
      "test-00000-of-00001.tfrecord", "tfmdl_tfrecord.json",
      "train-00000-of-00004.tfrecord", "train-00001-of-00004.tfrecord",
      "train-00002-of-00004.tfrecord", "train-00003-of-00004.tfrecord"]
  read = data.load("tfrecord", data_dir=folder)
  assert read.train.is_stream and read.train.n == 200
  assert read.fingerprint() == digits.fingerprint()
  np.testing.assert_array_equal(read.x_train, digits.x_train)
  np.testing.assert_array_equal(read.x_test, digits.x_test)
  np.testing.assert_array_equal(read.y_train, digits.y_train)
  first = data.load("tfrecord", data_dir=folder, num_train=50, num_test=7)
  assert first.train.n == 50 and first.x_test.shape == (7, 8, 8, 1)
  noisy = data.load("tfrecord", data_dir=folder, random_labels=True)
  assert noisy.random_labels and not np.array_equal(noisy.y_train,
                                                    digits.y_train)


@pytest.mark.parametrize("call, message", [
    (lambda f: data.load("tfrecord"), "pass data_dir"),
    (lambda f: data.load("tfrecord", data_dir="/nonexistent"),
     "holds no TFRecord data set"),
    (lambda f: data.load("tfrecord", data_dir=f, seed=1),
     "data_seed must be 0"),
    (lambda f: data.load("tfrecord", data_dir=f, num_train=10**6),
     "num_train=1000000 but the split has 200"),
    (lambda f: tfrecord.read(f, "validation"), "no split 'validation'"),
    (lambda f: tfrecord.write(f, "x", [(np.zeros((2, 3)), [0, 1])],
                              input_shape=(4,), dtype="uint8",
                              num_classes=2), "does not fit the shape"),
    (lambda f: tfrecord.write(f, "x", [(np.zeros((2, 4)), [0, 2])],
                              input_shape=(4,), dtype="uint8",
                              num_classes=2), r"labels must lie in \[0, 2\)"),
])
def test_bad_tfrecord_use_is_refused(tmp_path, digits, call, message):
  folder = str(tmp_path / "records")
  _write_digits(folder, digits)
  with pytest.raises(ValueError, match=message):
    call(folder)


@pytest.mark.slow
def test_bin_prequential_codes_tfrecord_files_like_the_arrays(
    tmp_path, digits, bin_config):
  """The experiment (bin/prequential --dataset=tfrecord) on the files gives
  the digits run's blocks, bit for bit."""
  folder = str(tmp_path / "records")
  _write_digits(folder, data.load("digits", num_train=300))
  common = ["--config.num_train=300", "--config.online.batch_size=16",
            "--config.online.replay_memory=100",
            "--config.model_options.hidden_sizes=(16,)"]
  config = bin_config("prequential", ["--dataset=tfrecord",
                                      f"--config.data_dir={folder}"] + common)
  assert config.learner == "online"
  streamed = prequential_experiment.run(config, str(tmp_path / "stream"))
  config = bin_config("prequential", ["--dataset=digits",
                                      "--config.model_options.dropout=0.0"]
                      + common)
  config.learner = "online"
  arrays = prequential_experiment.run(config, str(tmp_path / "arrays"))
  np.testing.assert_array_equal(streamed.per_sample_bits(),
                                arrays.per_sample_bits())
  assert streamed.test_accuracy == arrays.test_accuracy
  assert streamed.data_fingerprint == arrays.data_fingerprint
