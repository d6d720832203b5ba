"""An exponential moving average of a model's weights, kept in a twin model.

Predicting with averaged weights (Polyak averaging) instead of the last ones
shortens online codes (Bornschein, Li & Hutter, 2022): the average smooths the
noise of single minibatch steps. The state is the twin's weights and a step
count; :func:`debiased_decay` is the pure rule, :class:`WeightAverage` applies
it to variables inside a traced training step.

Like optax's ``ema`` the early steps are debiased, here by a warm-up of the
decay: after ``k`` updates the decay is ``min(decay, (1 + k) / (warmup + k))``,
so the first updates move the average most of the way to the weights instead
of leaving it near the random initialisation.
"""

import tensorflow as tf

# The debiased decay after k updates is min(decay, (1 + k) / (WARMUP + k)).
WARMUP = 10.0


def debiased_decay(count, decay: float, warmup: float = WARMUP) -> tf.Tensor:
  """The decay of update number ``count`` (0 first), a float32 scalar."""
  count = tf.cast(count, tf.float32)
  return tf.minimum(decay, (1.0 + count) / (warmup + count))


class WeightAverage:
  """The EMA of ``model``'s float weights, held in ``average`` (same shapes).

  ``average`` starts at ``model``'s current weights; :meth:`update` (call it
  inside a ``tf.function`` after each optimizer step) moves it towards them.
  Integer weights (step counters of some layers) are left alone.
  """

  def __init__(self, average, model, decay: float, warmup: float = WARMUP):
    """Pair the two models' weights and copy ``model``'s into ``average``.

    Raises:
      ValueError: if the two models' weights differ in number or shape.
    """
    if not 0.0 <= decay < 1.0:
      raise ValueError(f"decay must be in [0, 1), got {decay}")
    pairs = [(a, w) for a, w in zip(average.weights, model.weights)
             if tf.as_dtype(w.dtype).is_floating]
    if (len(average.weights) != len(model.weights) or
        any(a.shape != w.shape for a, w in pairs)):
      raise ValueError("the average needs a model of the same architecture: "
                       "its weights differ in number or shape")
    for a, w in pairs:
      a.assign(w)
    self.average = average
    self._pairs = pairs
    self._decay = decay
    self._warmup = warmup
    self.count = tf.Variable(0, dtype=tf.int64, trainable=False,
                             name="ema_count")

  def update(self) -> None:
    """One update: ``average = d * average + (1 - d) * weights``."""
    decay = debiased_decay(self.count, self._decay, self._warmup)
    for average, weight in self._pairs:
      average.assign(decay * average +
                     (1.0 - decay) * tf.cast(weight, average.dtype))
    self.count.assign_add(1)
