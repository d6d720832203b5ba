"""Which already-sent samples the online learner rehearses at each step.

At iteration t the learner has been sent samples ``[0, end)`` (minibatches
0..t) and, after one step on minibatch t, takes further steps on replayed
minibatches of those samples. A replay rule is a deterministic function of
agreed seeds and of t (and of its own state, which Bob evolves the same way):
it never reads a sample at or beyond ``end``, so Bob, who holds exactly those
labels, draws the same indices.

Every rule answers two questions at iteration t, in this order:

* ``admit(t, start, end)``: which samples of minibatch t ``[start, end)``
  enter the *replay memory*, and in which of its slots (a learner that reads
  a stream keeps those samples' inputs there, :mod:`~.inputs`);
* ``draw(t, end)``: the replay minibatches, as sample indices (for the
  labels, and the inputs of arrays) and as slots of the memory (for the
  inputs of a stream).

Uniform replay's memory holds ``slots`` samples: every sent one while they
fit, then a uniform sample of them kept by reservoir sampling, so a stream
of any length is replayed from bounded memory. Replay streams read any sent
sample (no memory: arrays only).
"""

import numpy as np
import tensorflow as tf

REPLAY_KINDS = ("uniform", "streams")


def replay_seed(seed: int) -> int:
  """The agreed seed of the replay draws (a fixed function of ``seed``)."""
  return int(np.random.SeedSequence([seed, 1]).generate_state(
      1, np.uint32)[0] >> 1)


def reservoir_seed(seed: int) -> int:
  """The agreed seed of the reservoir's draws (a fixed function of
  ``seed``)."""
  return int(np.random.SeedSequence([seed, 2]).generate_state(
      1, np.uint32)[0] >> 1)


def uniform_indices(seed, t, count, batch_size: int, end) -> tf.Tensor:
  """Shape (count, batch_size) int64 indices drawn uniformly from
  ``[0, end)`` by a stateless generator seeded with ``(seed, t)``."""
  return tf.random.stateless_uniform(
      tf.stack([tf.cast(count, tf.int32), batch_size]),
      seed=tf.stack([seed, t]), minval=0, maxval=end, dtype=tf.int64)


class UniformReplay:
  """``count`` minibatches of ``batch_size`` samples drawn uniformly, with
  replacement, from the replay memory, by a stateless generator seeded with
  ``(replay_seed(seed), t)``.

  The memory has ``min(memory, n)`` slots (``memory`` None: n). While the
  sent samples fit, sample i sits in slot i, and the draws are uniform over
  every sent sample. Past that, the memory is a reservoir (Vitter's
  algorithm R): sample i >= slots replaces the sample in slot
  ``floor(u_i * (i + 1))`` when that is a slot, ``u_i`` uniform in [0, 1)
  from a stateless generator seeded with ``(reservoir_seed(seed), t)``,
  later samples of a minibatch winning over earlier ones; the memory is
  then a uniform sample of the sent samples. Bob draws the same ``u_i``.

  Attributes:
    count: replay minibatches per iteration.
    slots: the memory's size.
    examples: the sample in each slot (int64, shape ``(slots,)``); None
      when the memory holds all n samples (slot i is sample i).
  """

  def __init__(self, count: int, batch_size: int, seed: int, n: int,
               memory=None):
    self.count = count
    self.slots = n if memory is None else min(memory, n)
    self._batch_size = batch_size
    self._seed = tf.constant(replay_seed(seed), tf.int64)
    self._reservoir_seed = tf.constant(reservoir_seed(seed), tf.int64)
    self.examples = (None if self.slots == n else tf.Variable(
        tf.range(self.slots, dtype=tf.int64), trainable=False,
        name="reservoir_examples"))

  @property
  def variables(self) -> list:
    """The rule's state (for checkpoints)."""
    return [] if self.examples is None else [self.examples]

  def admit(self, t, start, end) -> tuple:
    """``(slots, offsets)``: minibatch t's samples ``start + offsets`` go
    into ``slots`` (int64 vectors, distinct slots); records them."""
    start, end = tf.cast(start, tf.int64), tf.cast(end, tf.int64)
    samples = tf.range(start, end)
    if self.examples is None:
      return samples, samples - start
    draws = tf.random.stateless_uniform(
        tf.reshape(end - start, [1]), seed=tf.stack([self._reservoir_seed, t]),
        dtype=tf.float64)
    slots = tf.where(samples < self.slots, samples, tf.cast(
        tf.floor(draws * tf.cast(samples + 1, tf.float64)), tf.int64))
    taken = slots < self.slots
    # A sample is overwritten by a later one of the minibatch in its slot.
    later = samples[None, :] > samples[:, None]
    overwritten = tf.reduce_any(
        (slots[:, None] == slots[None, :]) & later & taken[None, :], axis=1)
    kept = taken & ~overwritten
    slots = tf.boolean_mask(slots, kept)
    offsets = tf.boolean_mask(samples - start, kept)
    self.examples.scatter_nd_update(slots[:, None], offsets + start)
    return slots, offsets

  def draw(self, t, end) -> tuple:
    """``(samples, slots)``, each of shape (count, batch_size), int64: the
    replayed samples and their slots in the memory."""
    filled = tf.minimum(tf.cast(end, tf.int64), self.slots)
    slots = uniform_indices(self._seed, t, self.count, self._batch_size,
                            filled)
    if self.examples is None:
      return slots, slots
    return tf.gather(self.examples, slots), slots


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

  The streams may read any sent sample: they keep no memory (``slots`` is
  None), so a learner that reads a stream cannot use them.
  """

  slots = None

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

  @property
  def variables(self) -> list:
    """The rule's state (for checkpoints)."""
    return [self.positions]

  def admit(self, t, start, end) -> tuple:
    """Nothing enters a memory: ``(slots, offsets)`` are empty."""
    del t, start, end
    empty = tf.zeros([0], tf.int64)
    return empty, empty

  def draw(self, t, end) -> tuple:
    """``(samples, samples)``: the streams' samples (:meth:`indices`), which
    are also their own slots."""
    samples = self.indices(t, end)
    return samples, samples


def make_replay(kind: str, count: int, batch_size: int, seed: int, n: int,
                restarts: bool = True, memory=None):
  """The replay rule named ``kind`` (one of :data:`REPLAY_KINDS`) for n
  samples; ``memory`` bounds uniform replay's memory (None: n)."""
  if kind == "streams":
    return ReplayStreams(count, batch_size, seed, restarts)
  return UniformReplay(count, batch_size, seed, n, memory)
