"""The state that Alice and Bob both evolve in the online code, and its step.

:class:`OnlineLearner` holds the model, its weight average, the temperature
and the replay rule, and runs the protocol of :mod:`tfmdl.codes.prequential.online` one
iteration at a time or many at once, in one traced ``tf.function`` so that
both sides compute the same floats.

Under a ``tf.distribute`` strategy with several replicas (``MirroredStrategy``
over GPUs or logical CPUs, ``MultiWorkerMirroredStrategy`` over machines) only
the gradient steps are distributed: each step's minibatch (new or replayed) is
cut into one contiguous share per replica, each replica takes the gradient of
its share's summed NLL divided by the whole minibatch's size, and the
optimizer sums the replicas' gradients, which gives the mean loss of the whole
minibatch, as on one replica. Everything else -- encoding, calibration, replay
draws, augmentation, the weight average -- runs outside the replicas on the
whole minibatch, identically in every worker. The codelength then differs from
one replica's by the round-off of summing the gradients in another order
(:class:`~.config.OnlineConfig` says how much), so Bob must decode with the
same number of replicas as Alice.
"""

import math
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from tfmdl import keras_compat
from tfmdl import training
from tfmdl.codes.prequential.online.calibration import TemperatureCalibrator
from tfmdl.codes.prequential.online.config import OnlineConfig
from tfmdl.codes.prequential.online.replay import make_replay
from tfmdl.codes.prequential.online.replay import replay_seed
from tfmdl.codes.prequential.online.schedule import learning_rate_at
from tfmdl.training.augment import augment_batch
from tfmdl.training.ema import WeightAverage
from tfmdl.training.step import gradient_step


class OnlineLearner:
  """The state that Alice and Bob both evolve: weights, EMA, temperature.

  ``advance(y, count)`` runs iterations ``t = position, ..., position +
  count - 1`` of the protocol: iteration t learns from minibatch t - 1 with
  labels ``y[(t-1)B : tB]``, then returns the encoding log-probabilities of
  minibatch t. Labels beyond minibatch t - 1 are never read, so Bob may pass
  zeros where he has not decoded yet. Iteration T (the last, ``T =
  num_minibatches``) only learns.

  Attributes:
    num_replicas: the strategy's replicas, over which each gradient step's
      minibatch is split (module docstring); part of the code.
  """

  def __init__(self, model_fn: Callable[[int], object], x: np.ndarray,
               num_classes: int, config: OnlineConfig = OnlineConfig(),
               strategy: Optional[tf.distribute.Strategy] = None, *,
               seed: int = 0):
    """Build the model (and its EMA twin) from ``model_fn(seed)``; the
    replay and augmentation draws are seeded from ``seed`` too.

    The model, its average and its optimizer are built under ``strategy``'s
    scope (mirrored on every replica); the temperature and the replay state
    are not: they are computed outside the replicas (module docstring).

    Raises:
      ValueError: no samples, a minibatch smaller than the number of
        replicas, ``jit_compile`` with several replicas (TensorFlow cannot
        run an XLA-compiled replica step inside the learner's traced loop),
        or a model whose output is not ``num_classes`` logits.
    """
    self._strategy = strategy or tf.distribute.get_strategy()
    self.num_replicas = self._strategy.num_replicas_in_sync
    if len(x) < 1:
      raise ValueError("need at least one sample")
    if config.jit_compile and self.num_replicas > 1:
      raise ValueError("jit_compile runs the online learner on one replica; "
                       f"the strategy has {self.num_replicas}: set "
                       "jit_compile=False")
    if config.batch_size < self.num_replicas:
      raise ValueError(f"batch_size {config.batch_size} is smaller than the "
                       f"strategy's {self.num_replicas} replicas: every "
                       "replica needs a share of each minibatch")
    self.config = config
    self.seed = seed
    self.num_classes = num_classes
    self.n = len(x)
    self.num_minibatches = math.ceil(self.n / config.batch_size)
    self.position = 0
    self._x = tf.convert_to_tensor(x)
    training.seed_everything(seed)
    with self._strategy.scope():
      self.model = self._build(model_fn)
      self._average = (
          WeightAverage(self._build(model_fn), self.model, config.ema_decay)
          if config.ema_decay > 0 else None)
      self._optimizer = keras_compat.keras_of(self.model).optimizers.Adam(
          learning_rate=config.learning_rate)
      self._optimizer.build(self.model.trainable_variables)
    self._calibrator = TemperatureCalibrator(num_classes,
                                             config.calibration_lr)
    self._replay = make_replay(config.replay_kind, config.replay,
                               config.batch_size, seed,
                               config.stream_restarts)
    self._augment_seed = tf.constant(replay_seed(seed) + 1, tf.int64)
    self._iterate = tf.function(self._iterate_fn)
    self._step = (tf.function(self._train_step, jit_compile=True)
                  if config.jit_compile else self._train_step)

  def _build(self, model_fn):
    model = model_fn(self.seed)
    logits = model(self._x[:1], training=False)
    if logits.shape[-1] != self.num_classes:
      raise ValueError(f"the model outputs {logits.shape[-1]} logits, the "
                       f"data have {self.num_classes} classes")
    return model

  @property
  def encoding_model(self):
    """The model whose logits encode: the EMA model, or the raw one."""
    return self.model if self._average is None else self._average.average

  @property
  def temperature(self) -> float:
    return self._calibrator.temperature

  def advance(self, y, count: int) -> np.ndarray:
    """Run ``count`` iterations; return the log-probs (nats) they predicted.

    Args:
      y: all n labels (a tensor or array; only minibatches before the last
        one predicted here are read).
      count: iterations to run; at most ``num_minibatches + 1 - position``.

    Returns:
      Shape (samples predicted, K): minibatches ``position ..`` in order.
    """
    left = self.num_minibatches + 1 - self.position
    if not 1 <= count <= left:
      raise ValueError(f"count must be in [1, {left}], got {count}")
    # One dtype, so one traced graph: a retrace would restart the random
    # streams of stateful ops (dropout) and Bob would lose step.
    y = (tf.cast(y, tf.int32) if tf.is_tensor(y)
         else tf.convert_to_tensor(np.asarray(y, np.int32)))
    if y.shape != (self.n,):
      raise ValueError(f"y must have shape ({self.n},), got {y.shape}")
    log_probs = self._iterate(self._x, y,
                              tf.constant(self.position, tf.int64),
                              tf.constant(count, tf.int64))
    self.position += count
    return log_probs.numpy()

  def _iterate_fn(self, x, y, first, count):
    size = tf.constant(self.config.batch_size, tf.int64)
    out = tf.TensorArray(tf.float32, size=0, dynamic_size=True,
                         infer_shape=False,
                         element_shape=tf.TensorShape([None,
                                                       self.num_classes]))
    for i in tf.range(count):
      t = first + i
      if t > 0:
        self._learn(x, y, t - 1)
      # The last iteration only learns (convolutions refuse empty batches).
      if t < self.num_minibatches:
        start = t * size
        logits = tf.cast(self.encoding_model(
            x[start:tf.minimum(start + size, self.n)], training=False),
                         tf.float32)
        log_probs = self._calibrator.log_probs(logits)
      else:
        log_probs = tf.zeros([0, self.num_classes])
      out = out.write(tf.cast(i, tf.int32), log_probs)
    return out.concat()

  def _learn(self, x, y, t):
    """Calibrate on minibatch t's encoding logits, then 1 + R Adam steps."""
    start = t * self.config.batch_size
    end = tf.minimum(start + self.config.batch_size, self.n)
    config = self.config
    if config.calibrate:
      self._calibrator.step(y[start:end])
    if config.schedule != "constant" or config.warmup:
      self._optimizer.learning_rate.assign(learning_rate_at(
          t, self.num_minibatches, config.learning_rate, config.schedule,
          config.warmup, config.final_lr_fraction))
    replay = self._replay.indices(t, end)
    for j in tf.range(self._replay.count + 1):
      if j == 0:
        indices = tf.range(start, end)
      else:
        indices = replay[j - 1]
      inputs = tf.gather(x, indices)
      if config.augment:
        inputs = augment_batch(
            inputs, tf.random.experimental.stateless_fold_in(
                tf.stack([self._augment_seed, t]), j),
            config.shift_pixels, config.flip)
      self._step(inputs, tf.gather(y, indices))

  def _train_step(self, x, y):
    """One Adam step on the minibatch ``x, y`` (its mean NLL), split across
    the replicas, then one update of the weight average."""
    if self.num_replicas == 1:
      self._replica_step(x, y)
    else:
      self._strategy.run(self._replica_step, args=(x, y))
    if self._average is not None:
      self._average.update()

  def _replica_step(self, x, y):
    """One replica's part of a step: the gradient of its share's summed NLL
    over the whole minibatch's size (the optimizer sums the replicas')."""
    size = tf.shape(y)[0]
    if self.num_replicas > 1:
      x, y = replica_share(x, size, self.num_replicas), replica_share(
          y, size, self.num_replicas)
    gradient_step(self.model, self._optimizer, x, y,
                  normalizer=tf.cast(size, tf.float32),
                  num_replicas=self.num_replicas)


def replica_share(batch, size, num_replicas: int) -> tf.Tensor:
  """This replica's contiguous share of ``batch`` (``size`` rows): rows
  ``[r size // N, (r + 1) size // N)`` for replica r of N, so the shares
  cover the batch once, in order, and differ in size by one at most."""
  replica = tf.cast(
      tf.distribute.get_replica_context().replica_id_in_sync_group,
      tf.int32)
  return batch[replica * size // num_replicas:
               (replica + 1) * size // num_replicas]
