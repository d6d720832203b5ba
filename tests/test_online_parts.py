"""The online learner's parts on their own: replay rules, the learning-rate
schedule, the weight average, the temperature calibrator and test-time
augmentation."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tfmdl.keras_compat import tf_keras
from tfmdl.codes.prequential.online import calibration
from tfmdl.codes.prequential.online import replay
from tfmdl.codes.prequential.online import schedule
from tfmdl.training import augment
from tfmdl.training import ema


def _stream_indices(streams, num_minibatches, batch_size, n):
  """Each iteration's indices, as Alice's learner draws them."""
  out = []
  for t in range(num_minibatches):
    end = min((t + 1) * batch_size, n)
    out.append(streams.indices(tf.constant(t, tf.int64),
                               tf.constant(end, tf.int64)).numpy())
  return out


def test_a_stream_never_reads_a_sample_before_it_was_sent():
  batch, n = 8, 203
  streams = replay.ReplayStreams(5, batch, seed=3)
  drawn = _stream_indices(streams, math.ceil(n / batch), batch, n)
  for t, indices in enumerate(drawn):
    assert indices.shape == (5, batch)
    assert indices.min() >= 0
    assert indices.max() < min((t + 1) * batch, n)
  # Restarts happened: some stream left the frontier (read an old sample).
  assert any(i.min() < t * batch for t, i in enumerate(drawn) if t > 4)


def test_one_stream_without_restarts_is_a_plain_ordered_pass():
  batch, n = 4, 40
  streams = replay.ReplayStreams(1, batch, seed=0, restarts=False)
  drawn = _stream_indices(streams, n // batch, batch, n)
  np.testing.assert_array_equal(np.concatenate([d[0] for d in drawn]),
                                np.arange(n))


def test_a_stream_reads_consecutive_samples():
  """Each stream's minibatch is a run of consecutive samples, wrapping
  around at the number of samples sent."""
  batch, n = 4, 400
  streams = replay.ReplayStreams(3, batch, seed=1)
  drawn = _stream_indices(streams, n // batch, batch, n)
  for t in range(1, len(drawn)):
    for s in range(3):
      rows = drawn[t][s]
      np.testing.assert_array_equal(np.diff(rows) % ((t + 1) * batch), 1)


def test_same_seed_same_draws_other_seed_others():
  a = replay.uniform_indices(tf.constant(5, tf.int64), tf.constant(7, tf.int64),
                             3, 16, tf.constant(100, tf.int64)).numpy()
  b = replay.uniform_indices(tf.constant(5, tf.int64), tf.constant(7, tf.int64),
                             3, 16, tf.constant(100, tf.int64)).numpy()
  c = replay.uniform_indices(tf.constant(6, tf.int64), tf.constant(7, tf.int64),
                             3, 16, tf.constant(100, tf.int64)).numpy()
  np.testing.assert_array_equal(a, b)
  assert a.shape == (3, 16) and 0 <= a.min() and a.max() < 100
  assert not np.array_equal(a, c)


@pytest.mark.parametrize("t, expected", [
    # warm-up of 4: (t + 1) / 4 of the rate, then the cosine from 1 to 0.1
    # over 11 iterations: 0.1 + 0.9 * (1 + cos(pi * t / 10)) / 2.
    (0, 0.25 * (0.1 + 0.9)),
    (1, 0.5 * (0.1 + 0.9 * (1 + math.cos(math.pi * 0.1)) / 2)),
    (5, 0.1 + 0.9 * 0.5),
    (10, 0.1),
])
def test_learning_rate_schedule_by_hand(t, expected):
  rate = schedule.learning_rate_at(t, 11, 1.0, "cosine", warmup=4,
                                   final_fraction=0.1)
  assert float(rate) == pytest.approx(expected, rel=1e-6)
  assert float(schedule.learning_rate_at(t, 11, 0.5)) == 0.5


def test_unknown_schedule_is_refused():
  with pytest.raises(ValueError, match="unknown learning-rate schedule"):
    schedule.check_schedule("linear")


def test_debiased_decay_by_hand():
  assert float(ema.debiased_decay(0, 0.99)) == pytest.approx(0.1)
  assert float(ema.debiased_decay(8, 0.99)) == pytest.approx(0.5)
  assert float(ema.debiased_decay(10_000, 0.99)) == pytest.approx(0.99)


def _dense(value):
  model = tf_keras.Sequential([tf_keras.Input((1,)), tf_keras.layers.Dense(
      1, kernel_initializer=tf_keras.initializers.Constant(value),
      bias_initializer="zeros")])
  return model


def test_weight_average_follows_the_rule():
  model, average = _dense(2.0), _dense(-7.0)
  avg = ema.WeightAverage(average, model, decay=0.5)
  assert float(average.weights[0][0, 0]) == 2.0  # starts at the weights
  model.weights[0].assign([[4.0]])
  avg.update()  # decay min(0.5, 1/10) = 0.1: 0.1 * 2 + 0.9 * 4
  assert float(average.weights[0][0, 0]) == pytest.approx(3.8)
  model.weights[0].assign([[0.0]])
  avg.update()  # decay min(0.5, 2/11)
  d = 2 / 11
  assert float(average.weights[0][0, 0]) == pytest.approx(d * 3.8)
  assert int(avg.count) == 2


def test_weight_average_needs_the_same_architecture():
  other = tf_keras.Sequential([tf_keras.Input((1,)),
                               tf_keras.layers.Dense(2)])
  with pytest.raises(ValueError, match="same architecture"):
    ema.WeightAverage(other, _dense(1.0), decay=0.9)


def test_calibrator_encodes_then_learns_from_those_logits():
  cal = calibration.TemperatureCalibrator(3, learning_rate=0.1)
  logits = tf.constant([[4.0, 0.0, 0.0], [4.0, 0.0, 0.0]])
  np.testing.assert_allclose(cal.log_probs(logits).numpy(),
                             tf.nn.log_softmax(logits).numpy())
  # The confident class is wrong for both: the temperature must rise.
  cal.step(tf.constant([1, 2]))
  assert cal.temperature > 1.0
  flatter = cal.log_probs(logits).numpy()
  assert flatter[0, 0] < tf.nn.log_softmax(logits).numpy()[0, 0]


def test_shifted_views_by_hand():
  """The image, then shifted right, left, down and up, zeros coming in."""
  x = np.zeros((1, 3, 3, 1), np.float32)
  x[0, 1, 1, 0] = 1.0
  views = augment.shifted_views(tf.constant(x), 1).numpy()[..., 0]
  assert views.shape == (5, 3, 3)
  where = [tuple(np.argwhere(v)[0]) for v in views]
  assert where == [(1, 1), (1, 2), (1, 0), (2, 1), (0, 1)]
  assert np.all(views.sum(axis=(1, 2)) == 1.0)


def test_test_time_augmentation_encodes_with_the_mean_logits():
  from tfmdl import models  # pylint: disable=g-import-not-at-top
  from tfmdl.codes.prequential import online  # pylint: disable=g-import-not-at-top
  x = np.random.default_rng(0).random((20, 8, 8, 1)).astype(np.float32)
  build = lambda seed: models.build("tinycnn", (8, 8, 1), 10, seed=seed,
                                    dropout=0.0)
  learner = online.OnlineLearner(build, x, 10, online.OnlineConfig(
      batch_size=4, tta_shifts=1))
  model = learner.encoding_model
  views = augment.shifted_views(tf.constant(x[:4]), 1)
  expected = np.mean(model(views).numpy().reshape(5, 4, 10), axis=0)
  np.testing.assert_allclose(learner._encoding_logits(x[:4]).numpy(),
                             expected, rtol=1e-5, atol=1e-6)
  plain = online.OnlineLearner(build, x, 10, online.OnlineConfig(
      batch_size=4))
  assert not np.allclose(plain._encoding_logits(x[:4]).numpy(), expected)
