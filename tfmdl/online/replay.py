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


def replay_seed(seed: int) -> int:
  """The agreed seed of the replay draws (a fixed function of ``seed``)."""
  return int(np.random.SeedSequence([seed, 1]).generate_state(
      1, np.uint32)[0] >> 1)


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
    return tf.random.stateless_uniform(
        [self.count, self._batch_size], seed=tf.stack([self._seed, t]),
        minval=0, maxval=end, dtype=tf.int64)
