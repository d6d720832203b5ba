"""The state that Alice and Bob both evolve in the online code, and its step.

:class:`OnlineLearner` holds the model, its weight average, the temperature
and the replay rule, and runs the protocol of :mod:`tfmdl.codes.prequential.online` one
iteration at a time or many at once, in one traced ``tf.function`` so that
both sides compute the same floats. Its inputs come from arrays or from a
``tf.data`` stream read once, in order (:mod:`~.inputs`): the same step, the
same floats. Its whole state can be saved and restored between calls
(:meth:`OnlineLearner.state`), so that a run resumes where it stopped.

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
from typing import Callable, Optional, Union

import numpy as np
import tensorflow as tf

from tfmdl import keras_compat
from tfmdl import training
from tfmdl.codes.prequential.online.calibration import TemperatureCalibrator
from tfmdl.codes.prequential.online.config import OnlineConfig
from tfmdl.codes.prequential.online.inputs import ArrayInputs
from tfmdl.codes.prequential.online.inputs import StreamInputs
from tfmdl.codes.prequential.online.replay import make_replay
from tfmdl.codes.prequential.online.replay import replay_seed
from tfmdl.codes.prequential.online.schedule import learning_rate_at
from tfmdl.data.labelled import LabelledData
from tfmdl.training.augment import augment_batch
from tfmdl.training.augment import shifted_views
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

  def __init__(self, model_fn: Callable[[int], object],
               x: Union[np.ndarray, LabelledData], num_classes: int,
               config: OnlineConfig = OnlineConfig(),
               strategy: Optional[tf.distribute.Strategy] = None, *,
               seed: int = 0):
    """Build the model (and its EMA twin) from ``model_fn(seed)``; the
    replay and augmentation draws are seeded from ``seed`` too.

    The model, its average and its optimizer are built under ``strategy``'s
    scope (mirrored on every replica); the temperature, the replay state and
    the inputs are not: they are computed outside the replicas (module
    docstring).

    Args:
      model_fn: ``model_fn(seed)``, a fresh model outputting logits.
      x: the inputs in the agreed order: an array, or a
        :class:`~tfmdl.data.LabelledData` (arrays, or a stream: read in
        order, with uniform replay from a bounded memory).
      num_classes: K.
      config: the online code's settings.
      strategy: a ``tf.distribute`` strategy; the default one when None.
      seed: the member's seed.

    Raises:
      ValueError: no samples, a minibatch smaller than the number of
        replicas, ``jit_compile`` with several replicas (TensorFlow cannot
        run an XLA-compiled replica step inside the learner's traced loop),
        a stream with replay streams or without a replay memory, or a model
        whose output is not ``num_classes`` logits.
    """
    self._strategy = strategy or tf.distribute.get_strategy()
    self.num_replicas = self._strategy.num_replicas_in_sync
    stream = isinstance(x, LabelledData) and x.is_stream
    self.n = x.n if isinstance(x, LabelledData) else len(x)
    if self.n < 1:
      raise ValueError("need at least one sample")
    if config.jit_compile and self.num_replicas > 1:
      raise ValueError("jit_compile runs the online learner on one replica; "
                       f"the strategy has {self.num_replicas}: set "
                       "jit_compile=False")
    if config.batch_size < self.num_replicas:
      raise ValueError(f"batch_size {config.batch_size} is smaller than the "
                       f"strategy's {self.num_replicas} replicas: every "
                       "replica needs a share of each minibatch")
    if stream and config.replay and config.replay_kind != "uniform":
      raise ValueError(
          f"replay_kind={config.replay_kind!r} reads any sent sample, which a "
          "tf.data stream cannot give: use replay_kind='uniform' with a "
          "replay_memory")
    if stream and config.replay and config.replay_memory is None:
      raise ValueError(
          "uniform replay of every sent sample (replay_memory=None) would hold "
          "the whole tf.data stream in memory: set replay_memory, the number "
          "of samples kept for replay (e.g. 65536)")
    self.config = config
    self.seed = seed
    self.num_classes = num_classes
    self.num_minibatches = math.ceil(self.n / config.batch_size)
    self.position = 0
    training.seed_everything(seed)
    self._replay = make_replay(config.replay_kind, config.replay,
                               config.batch_size, seed, self.n,
                               config.stream_restarts, config.replay_memory)
    if stream:
      self._inputs = StreamInputs(
          x, config.batch_size, self._replay.slots if config.replay else 0)
    else:
      self._inputs = ArrayInputs(x.x if isinstance(x, LabelledData) else x)
    with self._strategy.scope():
      self.model = self._build(model_fn)
      self._random_state = training.resumable_random_state(self.model)
      self._average = (
          WeightAverage(self._build(model_fn), self.model, config.ema_decay)
          if config.ema_decay > 0 else None)
      self._optimizer = keras_compat.keras_of(self.model).optimizers.Adam(
          learning_rate=config.learning_rate)
      self._optimizer.build(self.model.trainable_variables)
    self._calibrator = TemperatureCalibrator(num_classes,
                                             config.calibration_lr)
    self._augment_seed = tf.constant(replay_seed(seed) + 1, tf.int64)
    self._iterate = tf.function(self._iterate_fn)
    self._step = (tf.function(self._train_step, jit_compile=True)
                  if config.jit_compile else self._train_step)

  def _build(self, model_fn):
    model = model_fn(self.seed)
    logits = model(self._inputs.example(), training=False)
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

  def _state_variables(self) -> list:
    """Every variable that the iterations change, in a fixed order."""
    average = ([] if self._average is None else
               list(self._average.average.variables) + [self._average.count])
    return (list(self.model.variables) + self._random_state + average +
            list(self._optimizer.variables) + self._calibrator.variables +
            self._replay.variables + self._inputs.variables)

  def state(self) -> dict:
    """The learner's whole state between calls, as arrays: its position,
    the weights, their average, the optimizers' slots, the temperature, the
    random generators', the replay rule's and the inputs' states."""
    arrays = {_state_name(i): v.numpy()
              for i, v in enumerate(self._state_variables())}
    return dict(arrays, position=np.int64(self.position))

  def restore(self, state: dict) -> None:
    """Continue from a :meth:`state` of a learner built alike.

    Raises:
      ValueError: if the state is another learner's (other variables).
    """
    variables = self._state_variables()
    names = [_state_name(i) for i in range(len(variables))]
    if set(state) != {*names, "position"} or any(
        not tf.TensorShape(v.shape).is_compatible_with(state[k].shape) or
        tf.as_dtype(v.dtype).as_numpy_dtype != state[k].dtype
        for k, v in zip(names, variables)):
      raise ValueError("the saved online state is another learner's (its "
                       "variables differ in number, shape or type)")
    for name, variable in zip(names, variables):
      variable.assign(state[name])
    self.position = int(state["position"])
    self._inputs.seek(self.position)

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
    log_probs = self._iterate(self._inputs.handle(), y,
                              tf.constant(self.position, tf.int64),
                              tf.constant(count, tf.int64))
    self.position += count
    return log_probs.numpy()

  def _iterate_fn(self, inputs, y, first, count):
    size = tf.constant(self.config.batch_size, tf.int64)
    out = tf.TensorArray(tf.float32, size=0, dynamic_size=True,
                         infer_shape=False,
                         element_shape=tf.TensorShape([None,
                                                       self.num_classes]))
    for i in tf.range(count):
      t = first + i
      if t > 0:
        self._learn(inputs, y, t - 1)
      # The last iteration only learns (convolutions refuse empty batches).
      if t < self.num_minibatches:
        start = t * size
        logits = self._encoding_logits(
            self._inputs.read(inputs, start, tf.minimum(start + size, self.n)))
        log_probs = self._calibrator.log_probs(logits)
      else:
        log_probs = tf.zeros([0, self.num_classes])
      out = out.write(tf.cast(i, tf.int32), log_probs)
    return out.concat()

  def _encoding_logits(self, x):
    """The encoding model's logits of ``x``; with ``tta_shifts``, their mean
    over ``x`` and its four shifts by that many pixels (test-time
    augmentation: no randomness, nothing for Bob to replay)."""
    pixels = self.config.tta_shifts
    if not pixels:
      return tf.cast(self.encoding_model(x, training=False), tf.float32)
    logits = tf.cast(self.encoding_model(shifted_views(x, pixels),
                                         training=False), tf.float32)
    return tf.reduce_mean(tf.reshape(logits, [5, -1, self.num_classes]),
                          axis=0)

  def _learn(self, inputs, y, t):
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
    sent = self._inputs.sent(inputs, start, end)
    samples = slots = tf.zeros([0, config.batch_size], tf.int64)
    if self._replay.count:
      admitted, offsets = self._replay.admit(t, start, end)
      self._inputs.remember(admitted, tf.gather(sent, offsets))
      samples, slots = self._replay.draw(t, end)
    for j in tf.range(self._replay.count + 1):
      if j == 0:
        x, labels = sent, y[start:end]
      else:
        x = self._inputs.replayed(inputs, samples[j - 1], slots[j - 1])
        labels = tf.gather(y, samples[j - 1])
      if config.augment:
        x = augment_batch(
            x, tf.random.experimental.stateless_fold_in(
                tf.stack([self._augment_seed, t]), j),
            config.shift_pixels, config.flip)
      self._step(x, labels)

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


def _state_name(index: int) -> str:
  """The key of the state's variable ``index``."""
  return f"v{index:05d}"
