"""Which already-sent samples the online learner rehearses at each step.

At iteration t the learner has been sent samples ``[0, end)`` (minibatches
0..t) and, after one step on minibatch t, takes further steps on replayed
minibatches of those samples. A replay rule is a deterministic function of
agreed seeds and of t (and of its own state, which Bob evolves the same way):
it never reads a sample at or beyond ``end``, so Bob, who holds exactly those
labels, draws the same indices.
"""

import numpy as np
import tensorflow as tf

REPLAY_KINDS = ("uniform", "streams")


def replay_seed(seed: int) -> int:
  """The agreed seed of the replay draws (a fixed function of ``seed``)."""
  return int(np.random.SeedSequence([seed, 1]).generate_state(
      1, np.uint32)[0] >> 1)


def uniform_indices(seed, t, count, batch_size: int, end) -> tf.Tensor:
  """Shape (count, batch_size) int64 indices drawn uniformly from
  ``[0, end)`` by a stateless generator seeded with ``(seed, t)``."""
  return tf.random.stateless_uniform(
      tf.stack([tf.cast(count, tf.int32), batch_size]),
      seed=tf.stack([seed, t]), minval=0, maxval=end, dtype=tf.int64)


class UniformReplay:
  """``count`` minibatches of ``batch_size`` indices drawn uniformly, with
  replacement, from the samples sent so far, by a stateless generator seeded
  with ``(replay_seed(seed), t)``."""

  def __init__(self, count: int, batch_size: int, seed: int):
    self.count = count
    self._batch_size = batch_size
    self._seed = tf.constant(replay_seed(seed), tf.int64)

  def indices(self, t, end) -> tf.Tensor:
    """Shape (count, batch_size) int64 indices in ``[0, end)``."""
    return uniform_indices(self._seed, t, self.count, self._batch_size, end)


class ReplayStreams:
  """``count`` streams, each walking the sent samples in order.

  Bornschein, Li & Hutter (2022): a stream reads one minibatch of
  ``batch_size`` consecutive samples per iteration, from its position on,
  and moves on by ``batch_size``. Before reading at iteration t it restarts
  with probability ``1 / (t + 2)`` at a uniformly drawn earlier sample (with
  ``restarts``); the position distribution then stays spread over the whole
  history, so old samples keep being rehearsed as the stream grows, in order
  (which suits SGD better than independent draws). Indices wrap modulo the
  number of samples sent, so a stream never reads one that was not sent.
  The draws are stateless, seeded with ``(replay_seed(seed), t)``; the
  positions are state that Bob evolves the same way.

  With one stream and no restarts the stream starts at sample 0 and reads
  minibatch t at iteration t: a plain ordered pass.
  """

  def __init__(self, count: int, batch_size: int, seed: int,
               restarts: bool = True):
    self.count = count
    self._batch_size = batch_size
    self._restarts = restarts
    self._seed = tf.constant(replay_seed(seed), tf.int64)
    self.positions = tf.Variable(tf.zeros([count], tf.int64),
                                 trainable=False, name="stream_positions")

  def indices(self, t, end) -> tf.Tensor:
    """Shape (count, batch_size) int64 indices in ``[0, end)``; moves the
    streams on."""
    end = tf.cast(end, tf.int64)
    positions = self.positions
    if self._restarts:
      draws = tf.random.stateless_uniform(
          [2, self.count], seed=tf.stack([self._seed, t]), dtype=tf.float64)
      restart = draws[0] * tf.cast(t + 2, tf.float64) < 1.0
      earlier = tf.cast(draws[1] * tf.cast(end, tf.float64), tf.int64)
      positions = tf.where(restart, tf.minimum(earlier, end - 1), positions)
    offsets = tf.range(self._batch_size, dtype=tf.int64)
    indices = (positions[:, None] + offsets[None, :]) % end
    self.positions.assign(positions + self._batch_size)
    return indices


def make_replay(kind: str, count: int, batch_size: int, seed: int,
                restarts: bool = True):
  """The replay rule named ``kind`` (one of :data:`REPLAY_KINDS`)."""
  if kind == "streams":
    return ReplayStreams(count, batch_size, seed, restarts)
  return UniformReplay(count, batch_size, seed)
