"""The online prequential code: one model, trained as the labels arrive.

Beyond the paper: Bornschein, Li & Hutter, "Sequential Learning of Neural
Networks for Prequential MDL" (2022). Instead of retraining a fresh model from
scratch for every block (:mod:`tfmdl.prequential`), one model is trained in a
single pass: each new minibatch is first *encoded* with the current model,
then *learned from*, together with replayed earlier examples. The codelength
is again ``sum -log2 p(y_i | x_i)`` over the samples in transmission order,
at a fraction of the compute of block retraining.

What Alice and Bob agree on in advance: the data order, ``model_fn``, the
:class:`OnlineConfig` (minibatch size B, replay count R, learning rates, EMA
decay, calibration) and the seed. The n samples are cut into
``T = ceil(n / B)`` minibatches of B (the last may be shorter). Then:

* **Minibatch 0 is sent with the uniform code**: ``log2 K`` bits per label.
* **Minibatch t >= 1 is encoded before anything learns from it**, with
  ``log_softmax(logits / temperature)`` of the *encoding model*: the model's
  exponential moving average of the weights (EMA, debiased: the decay after
  k steps is ``min(ema_decay, (1 + k) / (10 + k))``) or, with
  ``ema_decay=0``, the raw weights. Its bits depend only on minibatches < t.
* **Calibration (forward):** the temperature (one scalar, parametrised by its
  log, starting at 1) takes one Adam step on the mean NLL of minibatch t
  under the logits that encoded it; it applies from minibatch t + 1 on.
* **Learning:** the raw weights take ``1 + R`` Adam steps (mean NLL of the
  step's minibatch, plus ``model.losses`` if the model has any): one on
  minibatch t, then R on replay minibatches of B samples drawn uniformly, with
  replacement, from everything transmitted so far (minibatches 0..t), by a
  stateless generator seeded with ``(seed, t)``. ``R = 0`` is plain online
  SGD. After each step the EMA weights are updated. Dropout is active during
  learning, off during encoding.

Bob decodes minibatch t with the same probabilities (they depend on
minibatches < t only), then runs the same learning step on the labels he has
just decoded. In code, both call :meth:`OnlineLearner.advance`, one traced
``tf.function`` whose iteration t learns from minibatch t - 1 (if t > 0) and
then predicts minibatch t (if t < T): Alice runs many iterations per call,
Bob one, decoding between calls. Same traced graph, same seeds: the same
floats, given op determinism on the same kind of machine
(``tfmdl.training.make_deterministic``).

For the switch code and TensorBoard, the per-sample bits are summed into the
blocks of the usual prequential timesteps (``t_1, 2 t_1, ...``), so an online
run and a block run of the same data order can be mixed. The test accuracy is
that of the final encoding model: no extra training.

Example::

    from tfmdl import data, models, online
    ds = data.load("digits")
    result = online.online_code(
        lambda seed: models.build("mlp", ds.input_shape, ds.num_classes,
                                  seed=seed),
        ds.x_train, ds.y_train, ds.num_classes,
        config=online.OnlineConfig(batch_size=16, replay=4))
    print(result.codelength_bits, result.compression_ratio)
"""

import dataclasses
import math
import time
from typing import Callable, Optional

from absl import logging
import numpy as np
import tensorflow as tf

from tfmdl import keras_compat
from tfmdl import prequential
from tfmdl import training
from tfmdl.codes import units
from tfmdl.data import validate_labelled_arrays

# The debiased EMA decay after k steps is min(ema_decay, (1 + k) / (10 + k)).
_EMA_WARMUP = 10.0


@dataclasses.dataclass(frozen=True)
class OnlineConfig:
  """What Alice and Bob agree on besides the model and the data order.

  The defaults are the setting that ``benchmarks/online_vs_block.py`` chose
  from its grid of 16 on Fashion-MNIST with ``mlp``: a codelength reported
  with them on that data pays ``log2(16) = 4`` bits for the choice. So every
  online code pays ``setting_bits`` (4 by default), sent before the first
  label: on other data the price is not owed, and 4 bits is cheap insurance.

  Attributes:
    batch_size: B, samples per new minibatch (the first is sent uniformly).
    replay: R, replay minibatches (of B samples) per new minibatch; 0: none.
    learning_rate: Adam's learning rate for the model's weights.
    ema_decay: decay of the weights' moving average used to encode, in
      [0, 1); 0 encodes with the raw weights.
    calibrate: learn a softmax temperature online (forward calibration).
    calibration_lr: Adam's learning rate for the log-temperature.
    timesteps: block boundaries for the per-block breakdown; None for
      :func:`tfmdl.prequential.default_timesteps` with ``first_block``.
    first_block: first timestep of the default schedule.
    seed: seeds the model's initialisation, dropout and the replay draws.
    steps_per_call: minibatches per ``tf.function`` call (speed only: the
      bits do not depend on it).
    eval_batch_size: batch size of the test-accuracy evaluation.
    setting_bits: bits paid to name this setting among those tried on the
      labels (``log2`` of the grid's size), counted in sample 0's bits so
      every total (blocks, per-sample sums, switch codes) includes it. 0 only
      for a setting fixed before any run on the labels being coded.
  """
  batch_size: int = 128
  replay: int = 8
  learning_rate: float = 1e-3
  ema_decay: float = 0.99
  calibrate: bool = True
  calibration_lr: float = 1e-2
  timesteps: Optional[tuple] = None
  first_block: int = 10
  seed: int = 0
  steps_per_call: int = 64
  eval_batch_size: int = 1024
  setting_bits: float = 4.0

  def __post_init__(self):
    for field in ("batch_size", "steps_per_call", "eval_batch_size"):
      if getattr(self, field) < 1:
        raise ValueError(f"{field} must be >= 1, got {getattr(self, field)}")
    if self.replay < 0:
      raise ValueError(f"replay must be >= 0, got {self.replay}")
    if not 0.0 <= self.ema_decay < 1.0:
      raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
    for field in ("learning_rate", "calibration_lr"):
      if not getattr(self, field) > 0:
        raise ValueError(f"{field} must be > 0, got {getattr(self, field)}")
    if not self.setting_bits >= 0:
      raise ValueError(f"setting_bits must be >= 0, got {self.setting_bits}")


def replay_seed(seed: int) -> int:
  """The agreed seed of the replay draws (a fixed function of ``seed``)."""
  return int(np.random.SeedSequence([seed, 1]).generate_state(
      1, np.uint32)[0] >> 1)


class OnlineLearner:
  """The state that Alice and Bob both evolve: weights, EMA, temperature.

  ``advance(y, count)`` runs iterations ``t = position, ..., position +
  count - 1`` of the protocol (module docstring): iteration t learns from
  minibatch t - 1 with labels ``y[(t-1)B : tB]``, then returns the encoding
  log-probabilities of minibatch t. Labels beyond minibatch t - 1 are never
  read, so Bob may pass zeros where he has not decoded yet. Iteration T (the
  last, ``T = num_minibatches``) only learns.
  """

  def __init__(self, model_fn: Callable[[int], object], x: np.ndarray,
               num_classes: int, config: OnlineConfig = OnlineConfig(),
               strategy: Optional[tf.distribute.Strategy] = None):
    """Build the model (and its EMA twin) from ``model_fn(config.seed)``.

    Raises:
      ValueError: a strategy with several replicas, no samples, or a model
        whose output is not ``num_classes`` logits.
    """
    strategy = strategy or tf.distribute.get_strategy()
    if strategy.num_replicas_in_sync != 1:
      raise ValueError("the online learner runs on one replica, the strategy "
                       f"has {strategy.num_replicas_in_sync}")
    if len(x) < 1:
      raise ValueError("need at least one sample")
    self.config = config
    self.num_classes = num_classes
    self.n = len(x)
    self.num_minibatches = math.ceil(self.n / config.batch_size)
    self.position = 0
    self._x = tf.convert_to_tensor(x)
    training.seed_everything(config.seed)
    with strategy.scope():
      self.model = self._build(model_fn)
      self._ema = (self._build(model_fn) if config.ema_decay > 0 else None)
      self._optimizer = keras_compat.keras_of(self.model).optimizers.Adam(
          learning_rate=config.learning_rate)
      self._optimizer.build(self.model.trainable_variables)
      self._log_temperature = tf.Variable(0.0, name="log_temperature")
      self._calibration_optimizer = keras_compat.tf_keras.optimizers.Adam(
          learning_rate=config.calibration_lr)
      self._calibration_optimizer.build([self._log_temperature])
      self._pending_logits = tf.Variable(
          tf.zeros([0, num_classes]), trainable=False,
          shape=tf.TensorShape([None, num_classes]))
      self._ema_steps = tf.Variable(0, dtype=tf.int64, trainable=False)
    self._ema_pairs = self._pair_ema_weights()
    self._replay_seed = tf.constant(replay_seed(config.seed), tf.int64)
    self._iterate = tf.function(self._iterate_fn)

  def _build(self, model_fn):
    model = model_fn(self.config.seed)
    logits = model(self._x[:1], training=False)
    if logits.shape[-1] != self.num_classes:
      raise ValueError(f"the model outputs {logits.shape[-1]} logits, the "
                       f"data have {self.num_classes} classes")
    return model

  def _pair_ema_weights(self) -> list:
    """(EMA, raw) float weight pairs; the EMA starts at the initial weights."""
    if self._ema is None:
      return []
    pairs = [(e, w) for e, w in zip(self._ema.weights, self.model.weights)
             if tf.as_dtype(w.dtype).is_floating]
    if (len(self._ema.weights) != len(self.model.weights) or
        any(e.shape != w.shape for e, w in pairs)):
      raise ValueError("model_fn built two models of different shapes; the "
                       "EMA needs the same architecture twice")
    for e, w in pairs:
      e.assign(w)
    return pairs

  @property
  def encoding_model(self):
    """The model whose logits encode: the EMA model, or the raw one."""
    return self._ema if self._ema is not None else self.model

  @property
  def temperature(self) -> float:
    return float(tf.exp(self._log_temperature))

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
    num_classes = self.num_classes
    out = tf.TensorArray(tf.float32, size=0, dynamic_size=True,
                         infer_shape=False,
                         element_shape=tf.TensorShape([None, num_classes]))
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
        self._pending_logits.assign(logits)
        log_probs = tf.nn.log_softmax(logits * tf.exp(-self._log_temperature))
      else:
        log_probs = tf.zeros([0, num_classes])
      out = out.write(tf.cast(i, tf.int32), log_probs)
    return out.concat()

  def _learn(self, x, y, t):
    """Calibrate on minibatch t's encoding logits, then 1 + R Adam steps."""
    size = self.config.batch_size
    start = t * size
    end = tf.minimum(start + size, self.n)
    if self.config.calibrate:
      self._calibration_step(y[start:end])
    replay = tf.random.stateless_uniform(
        [self.config.replay, size], seed=tf.stack([self._replay_seed, t]),
        minval=0, maxval=end, dtype=tf.int64)
    for j in tf.range(self.config.replay + 1):
      if j == 0:
        indices = tf.range(start, end)
      else:
        indices = replay[j - 1]
      self._train_step(tf.gather(x, indices), tf.gather(y, indices))

  def _calibration_step(self, y):
    with tf.GradientTape() as tape:
      log_probs = tf.nn.log_softmax(
          self._pending_logits * tf.exp(-self._log_temperature))
      loss = -tf.reduce_mean(tf.gather(log_probs, y, batch_dims=1))
    grad = tape.gradient(loss, self._log_temperature)
    self._calibration_optimizer.apply_gradients(
        [(grad, self._log_temperature)])

  def _train_step(self, x, y):
    variables = self.model.trainable_variables
    with tf.GradientTape() as tape:
      logits = tf.cast(self.model(x, training=True), tf.float32)
      loss = tf.reduce_mean(
          tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
      if self.model.losses:
        loss += tf.add_n(self.model.losses)
    grads = tape.gradient(loss, variables)
    self._optimizer.apply_gradients(zip(grads, variables))
    if self._ema_pairs:
      steps = tf.cast(self._ema_steps, tf.float32)
      decay = tf.minimum(self.config.ema_decay,
                         (1.0 + steps) / (_EMA_WARMUP + steps))
      for ema, weight in self._ema_pairs:
        ema.assign(decay * ema + (1.0 - decay) * tf.cast(weight, ema.dtype))
      self._ema_steps.assign_add(1)


def _block(index: int, start: int, end: int, bits: np.ndarray,
           correct: np.ndarray, seed: int, wall_s: float
           ) -> prequential.BlockResult:
  return prequential.BlockResult(
      index=index, start=start, end=end, bits=float(bits[start:end].sum()),
      accuracy=float(correct[start:end].mean()), epochs_trained=0,
      best_epoch=0, train_size=start, val_size=0, seed=seed, wall_s=wall_s,
      per_sample_bits=bits[start:end].copy())


def online_code(
    model_fn: Callable[[int], object],
    x: np.ndarray,
    y: np.ndarray,
    num_classes: int,
    *,
    config: OnlineConfig = OnlineConfig(),
    x_test: Optional[np.ndarray] = None,
    y_test: Optional[np.ndarray] = None,
    strategy: Optional[tf.distribute.Strategy] = None,
    block_callback: Optional[Callable[[prequential.BlockResult], None]] = None,
) -> prequential.PrequentialResult:
  """Online prequential codelength of labels ``y`` given inputs ``x``, in bits.

  Args:
    model_fn: ``model_fn(seed)`` returns a fresh ``tf_keras`` or Keras 3 model
      that outputs logits; called once, twice with an EMA.
    x, y: inputs and integer labels, in the agreed transmission order.
    num_classes: K.
    config: the protocol's hyperparameters (module docstring).
    x_test, y_test: optional test data for the final encoding model's
      accuracy.
    strategy: a one-replica ``tf.distribute`` strategy; the default one when
      None.
    block_callback: called with each block of the timesteps as soon as all
      its samples are encoded (TensorBoard, block files).

  Returns:
    A :class:`tfmdl.prequential.PrequentialResult` whose blocks follow the
    timesteps; ``epoch_bits`` is None (there are no epochs) and
    ``final_model_wall_s`` the test evaluation's time.
  """
  began = time.perf_counter()
  validate_labelled_arrays(x, y, num_classes)
  n = len(x)
  timesteps = (prequential.default_timesteps(n, config.first_block)
               if config.timesteps is None
               else prequential.check_timesteps(config.timesteps, n))
  learner = OnlineLearner(model_fn, x, num_classes, config, strategy)
  labels = np.asarray(y, np.int64)
  y_tensor = tf.convert_to_tensor(labels.astype(np.int32))
  bits = np.empty(n)
  correct = np.empty(n)
  first = min(config.batch_size, n)
  bits[:first] = math.log2(num_classes)
  bits[0] += config.setting_bits
  correct[:first] = 1.0 / num_classes
  bounds = list(zip((0,) + timesteps[:-1], timesteps))
  blocks, encoded, block_began = [], 0, time.perf_counter()
  while learner.position <= learner.num_minibatches:
    count = min(config.steps_per_call,
                learner.num_minibatches + 1 - learner.position)
    log_probs = learner.advance(y_tensor, count)
    start, encoded = encoded, encoded + len(log_probs)
    # Minibatch 0's predictions are not used: it is sent uniformly.
    keep = max(start, first)
    rows = log_probs[keep - start:]
    bits[keep:encoded] = units.nats_to_bits(
        training.per_sample_nll_nats(rows, labels[keep:encoded]))
    correct[keep:encoded] = rows.argmax(1) == labels[keep:encoded]
    while len(blocks) < len(bounds) and bounds[len(blocks)][1] <= encoded:
      now = time.perf_counter()
      block = _block(len(blocks), *bounds[len(blocks)], bits, correct,
                     config.seed, now - block_began)
      block_began = now
      blocks.append(block)
      logging.info("online block %d/%d [%d, %d): %.1f bits, %.3f bits/sample,"
                   " accuracy %.3f, temperature %.3f", block.index + 1,
                   len(bounds), block.start, block.end, block.bits,
                   block.bits_per_sample, block.accuracy, learner.temperature)
      if block_callback is not None:
        block_callback(block)
  wall_s = time.perf_counter() - began

  test_accuracy, test_wall_s = None, 0.0
  if x_test is not None and y_test is not None:
    test_began = time.perf_counter()
    test_log_probs = training.predict_log_probs(
        None, x_test, config.eval_batch_size,
        forward=training.make_forward(learner.encoding_model))
    test_accuracy = float(np.mean(test_log_probs.argmax(1) ==
                                  np.asarray(y_test)))
    test_wall_s = time.perf_counter() - test_began
  return prequential.PrequentialResult(
      n=n, num_classes=num_classes, timesteps=timesteps, blocks=tuple(blocks),
      test_accuracy=test_accuracy, wall_s=wall_s,
      final_model_wall_s=test_wall_s)
