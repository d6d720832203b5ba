"""The online learner's learning rate as a function of the iteration.

A fixed function of the iteration t and the number of minibatches T (both
known to Bob: n and B are agreed), so it costs nothing to transmit:

* warm-up: the rate grows linearly from ``learning_rate / warmup`` to
  ``learning_rate`` over the first ``warmup`` iterations;
* then ``"constant"``, or ``"cosine"``: half a cosine from ``learning_rate``
  down to ``final_fraction * learning_rate`` at the last iteration.
"""

import math

import tensorflow as tf

SCHEDULES = ("constant", "cosine")


def check_schedule(name: str) -> str:
  if name not in SCHEDULES:
    raise ValueError(f"unknown learning-rate schedule {name!r}; known: "
                     f"{', '.join(SCHEDULES)}")
  return name


def learning_rate_at(t, num_iterations: int, learning_rate: float,
                     schedule: str = "constant", warmup: int = 0,
                     final_fraction: float = 0.1) -> tf.Tensor:
  """The learning rate of iteration ``t`` (0 first) of ``num_iterations``."""
  t = tf.cast(t, tf.float32)
  rate = tf.constant(learning_rate, tf.float32)
  if warmup > 0:
    rate *= tf.minimum(1.0, (t + 1.0) / warmup)
  if schedule == "cosine":
    progress = t / max(num_iterations - 1, 1)
    rate *= final_fraction + (1.0 - final_fraction) * 0.5 * (
        1.0 + tf.cos(math.pi * progress))
  return rate
