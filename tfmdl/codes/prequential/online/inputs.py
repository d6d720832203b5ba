"""Where the online learner's inputs come from: arrays, or a stream read once.

The learner's traced loop (:mod:`~.learner`) gets its inputs through a
*handle* passed to each call, and asks for them at iteration t in this order:

* ``sent(handle, start, end)``: the inputs of minibatch t - 1, learned from
  (read at the iteration before);
* ``remember(slots, rows)``: the rows of that minibatch that the replay rule
  admits into its memory (:mod:`~.replay`), then
  ``replayed(handle, samples, slots)``: the replay minibatches' inputs;
* ``read(handle, start, end)``: minibatch t's inputs, to encode (iterations
  read the minibatches in order).

:class:`ArrayInputs` holds every input: it reads and replays by sample index
and keeps no memory. :class:`StreamInputs` reads a ``tf.data`` stream in
order, one minibatch per iteration, inside the traced loop, and never holds
more than the last minibatch read and the replay memory's rows: its memory is
bounded by the replay memory's size (:class:`~.config.OnlineConfig`'s
``replay_memory``), whatever the length of the stream. The same examples give
the same floats either way: the same values go through the same model.
"""

from typing import Optional

import numpy as np
import tensorflow as tf

from tfmdl.data.labelled import LabelledData

# Minibatches a stream reads ahead of the one being encoded.
READ_AHEAD = 2


class ArrayInputs:
  """Inputs held in memory; the handle is the (n, ...) tensor."""

  def __init__(self, x: np.ndarray):
    self.n = len(x)
    self._x = tf.convert_to_tensor(x)

  @property
  def variables(self) -> list:
    """The state (for checkpoints): none."""
    return []

  def example(self) -> tf.Tensor:
    """The first input, shape (1, ...), to build a model."""
    return self._x[:1]

  def seek(self, position: int) -> None:
    """Arrays are read by index: nothing to position."""
    del position

  def handle(self) -> tf.Tensor:
    return self._x

  def read(self, x, start, end) -> tf.Tensor:
    return x[start:end]

  def sent(self, x, start, end) -> tf.Tensor:
    return x[start:end]

  def remember(self, slots, rows) -> None:
    """Replayed samples are read by index: nothing to keep."""
    del slots, rows

  def replayed(self, x, samples, slots) -> tf.Tensor:
    del slots
    return tf.gather(x, samples)


class StreamInputs:
  """A ``tf.data`` stream of inputs read in order; the handle is an
  iterator over its minibatches from the learner's position on.

  Attributes:
    n: the stream's length.
  """

  def __init__(self, data: LabelledData, batch_size: int,
               memory_slots: int):
    """
    Args:
      data: labelled data whose inputs are a stream.
      batch_size: B, the learner's minibatch size.
      memory_slots: rows of the replay memory (0 without replay).
    """
    self.n = data.n
    self._stream = data.stream
    self._batch_size = batch_size
    self._example = data.inputs(0, 1)
    spec = data.stream.element_spec
    self._last = tf.Variable(tf.zeros([0] + spec.shape.as_list(), spec.dtype),
                             shape=tf.TensorShape([None]).concatenate(
                                 spec.shape),
                             trainable=False, name="last_minibatch")
    self._memory = tf.Variable(
        tf.zeros([memory_slots] + spec.shape.as_list(), spec.dtype),
        trainable=False, name="replay_memory")
    self._iterator: Optional[tf.data.Iterator] = None

  @property
  def variables(self) -> list:
    """The state (for checkpoints): the last minibatch read and the replay
    memory's rows."""
    return [self._last, self._memory]

  def example(self) -> np.ndarray:
    return self._example

  def seek(self, position: int) -> None:
    """Read on from minibatch ``position`` (the stream is read again up to
    it: once at a resume)."""
    self._iterator = iter(self._stream.skip(position * self._batch_size)
                          .batch(self._batch_size).prefetch(READ_AHEAD))

  def handle(self) -> tf.data.Iterator:
    if self._iterator is None:
      self.seek(0)
    return self._iterator

  def read(self, iterator, start, end) -> tf.Tensor:
    batch = iterator.get_next()
    with tf.control_dependencies([tf.debugging.assert_equal(
        tf.shape(batch, out_type=tf.int64)[0], end - start,
        message="the stream ended before its length")]):
      self._last.assign(batch)
    return batch

  def sent(self, iterator, start, end) -> tf.Tensor:
    del iterator, start, end
    return self._last.value()

  def remember(self, slots, rows) -> None:
    self._memory.scatter_nd_update(slots[:, None], rows)

  def replayed(self, iterator, samples, slots) -> tf.Tensor:
    del iterator, samples
    return tf.gather(self._memory, slots)
