"""Forward calibration: a softmax temperature learned online.

A network trained on few labels is over-confident; dividing its logits by a
temperature T > 1 flattens its predictions and shortens the code (Bornschein,
Li & Hutter, 2022). The temperature is learned *forward*: the logits that
encoded minibatch t are remembered, and once minibatch t's labels are known
(to Alice, and to Bob after decoding them) ``log T`` takes one Adam step on
their mean NLL. The new temperature applies from minibatch t + 1 on, so it
never depends on labels not yet sent.
"""

import tensorflow as tf

from tfmdl import keras_compat


class TemperatureCalibrator:
  """``log_probs(logits)`` encodes; ``step(y)`` learns from those labels."""

  def __init__(self, num_classes: int, learning_rate: float):
    self.log_temperature = tf.Variable(0.0, name="log_temperature")
    self._optimizer = keras_compat.tf_keras.optimizers.Adam(
        learning_rate=learning_rate)
    self._optimizer.build([self.log_temperature])
    self._logits = tf.Variable(
        tf.zeros([0, num_classes]), trainable=False,
        shape=tf.TensorShape([None, num_classes]), name="encoded_logits")

  @property
  def variables(self) -> list:
    """The state (for checkpoints): the log-temperature, its optimizer's
    slots and the logits kept for the next step."""
    return ([self.log_temperature] + list(self._optimizer.variables) +
            [self._logits])

  @property
  def temperature(self) -> float:
    return float(tf.exp(self.log_temperature))

  def log_probs(self, logits: tf.Tensor) -> tf.Tensor:
    """``log_softmax(logits / T)``; the logits are kept for :meth:`step`."""
    self._logits.assign(logits)
    return tf.nn.log_softmax(logits * tf.exp(-self.log_temperature))

  def step(self, y: tf.Tensor) -> None:
    """One Adam step of ``log T`` on the mean NLL of the last encoded
    logits with their labels ``y``."""
    with tf.GradientTape() as tape:
      log_probs = tf.nn.log_softmax(
          self._logits * tf.exp(-self.log_temperature))
      loss = -tf.reduce_mean(tf.gather(log_probs, y, batch_dims=1))
    grad = tape.gradient(loss, self.log_temperature)
    self._optimizer.apply_gradients([(grad, self.log_temperature)])
