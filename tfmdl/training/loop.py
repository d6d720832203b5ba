"""A Keras custom training loop under ``tf.distribute``, with early stopping.

Every code that trains a network (prequential, two-part, variational) uses
:func:`train`. It works with the zoo's ``tf_keras`` models and with a plain
Keras 3 model written by a user: the optimizer comes from the model's own Keras
(:func:`tfmdl.keras_compat.keras_of`).

What makes it fit for codelengths:

* **Deterministic** for a given seed on a given machine: seeded shuffling and
  augmentation, op determinism, a fresh model per call built by the caller
  from its own seed. Bob replays the same call and gets the same weights.
* **Early stopping only on data the caller provides** (a validation split that
  the caller carves from data already transmitted); the best epoch's weights
  are restored at the end.
* **A per-epoch callback** that sees the model after epoch 0 (untrained),
  1, 2, ...; the prequential code records per-sample log-probabilities through
  it. The callback cannot influence training or stopping.

The loss is computed from logits in nats; conversion to bits happens elsewhere.
"""

import dataclasses
import math
import time
from typing import Callable, Optional

from absl import logging
import numpy as np
import tensorflow as tf

from tfmdl import keras_compat
from tfmdl.data import validate_labelled_arrays
from tfmdl.results import SAME_BITS
from tfmdl.training.augment import augment_batch
from tfmdl.training.step import gradient_step


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Hyperparameters of one training run (all agreed in advance).

  Attributes:
    batch_size: global batch size (split across replicas).
    learning_rate: Adam's learning rate.
    max_epochs: hard limit on epochs.
    patience: stop after this many epochs without a lower validation loss.
    min_epochs: never stop before this many epochs.
    augment: random shifts (up to ``shift_pixels``) and horizontal flips of
      image inputs, as in the paper's VGGb.
    shift_pixels: largest random shift, in pixels, when ``augment``.
    regularization_scale: weight of ``sum(model.losses)`` in the per-step loss
      (the variational code sets it to batch-independent 1/n).
    jit_compile: XLA-compile the train step (pays on GPUs; slower for small
      convnets on CPUs, see benchmarks/prequential_speed.py). XLA has no
      deterministic MaxPool gradient: turn op determinism off to use it.
    steps_per_call: train steps run inside one ``tf.function`` call.
    eval_batch_size: batch size of evaluation.
    verbose: 0 silent, 1 a log line per epoch (progress reports show the
      epoch anyway, see :mod:`tfmdl.progress`).
  """
  batch_size: int = 128
  learning_rate: float = 1e-3
  max_epochs: int = 50
  patience: int = 3
  min_epochs: int = 1
  augment: bool = False
  shift_pixels: int = 4
  regularization_scale: float = 1.0
  jit_compile: bool = False
  steps_per_call: int = 16
  eval_batch_size: int = 1024
  verbose: int = dataclasses.field(default=0, metadata=SAME_BITS)

  def __post_init__(self):
    for field in ("batch_size", "max_epochs", "steps_per_call",
                  "eval_batch_size"):
      if getattr(self, field) < 1:
        raise ValueError(f"{field} must be >= 1, got {getattr(self, field)}")
    if self.patience < 0 or self.min_epochs < 0:
      raise ValueError("patience and min_epochs must be >= 0")
    if not self.learning_rate > 0:
      raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")


@dataclasses.dataclass(frozen=True)
class EpochLog:
  """What one epoch gave. Losses are mean per-sample NLL in nats."""
  epoch: int
  train_loss_nats: float
  val_loss_nats: float
  val_accuracy: float
  wall_s: float


@dataclasses.dataclass(frozen=True)
class TrainResult:
  """Outcome of :func:`train`: the model holds the best epoch's weights."""
  best_epoch: int
  epochs_trained: int
  history: tuple  # of EpochLog, epoch 0 (untrained) first
  wall_s: float


EpochCallback = Callable[[int, object], None]


def predict_log_probs(model, x: np.ndarray, batch_size: int = 1024,
                      *, forward=None) -> np.ndarray:
  """Log-probabilities (nats, ``log_softmax`` of the logits), shape (n, K).

  Args:
    model: a Keras model that outputs logits (unused when ``forward`` is
      given).
    x: inputs.
    batch_size: evaluation batch size.
    forward: an already traced ``tf.function`` (inputs -> log-probs) to reuse.
  """
  if forward is None:
    forward = make_forward(model)
  # One (possibly empty) batch at least, so empty inputs give shape (0, K).
  return np.concatenate([forward(tf.constant(x[i:i + batch_size])).numpy()
                         for i in range(0, max(len(x), 1), batch_size)])


def _batch_spec(model) -> Optional[tf.TensorSpec]:
  """The spec of a batch of ``model``'s one input, any batch size; None
  for a model of several inputs."""
  inputs = getattr(model, "inputs", None)
  if not inputs or len(inputs) != 1:
    return None
  return tf.TensorSpec((None,) + tuple(inputs[0].shape[1:]),
                       tf.as_dtype(inputs[0].dtype))


def make_forward(model):
  """A traced inference function: inputs -> log_softmax(logits) in nats,
  traced once for every batch size."""
  spec = _batch_spec(model)

  @tf.function(input_signature=None if spec is None else [spec],
               reduce_retracing=True)
  def forward(x):
    return tf.nn.log_softmax(tf.cast(model(x, training=False), tf.float32))

  return forward


def per_sample_nll_nats(log_probs: np.ndarray, y: np.ndarray) -> np.ndarray:
  """-log p(y_i | x_i) in nats for each sample, from log-probabilities."""
  return -log_probs[np.arange(len(y)), y].astype(np.float64)


def _shuffled_batches(examples: tf.data.Dataset, shuffle_buffer: int,
                      config: TrainConfig, seed: int) -> tf.data.Dataset:
  """``examples`` shuffled through a buffer (reshuffled each epoch),
  batched, repeated, seeded."""
  ds = examples.shuffle(shuffle_buffer, seed=seed,
                        reshuffle_each_iteration=True)
  return ds.batch(config.batch_size).repeat()


def _gathered_batches(x: np.ndarray, y: np.ndarray, config: TrainConfig,
                      seed: int) -> tf.data.Dataset:
  """The batches of :func:`_shuffled_batches` of arrays with a full buffer,
  made by shuffling the examples' indices and gathering each batch.

  A shuffle's order depends on the number of elements, the buffer and the
  seed only, not on what the elements are: shuffling ``range(n)`` gives the
  very permutation that shuffling the examples would, without copying every
  example through the buffer at every epoch.
  """
  x, y = tf.constant(x), tf.constant(y)
  indices = _shuffled_batches(tf.data.Dataset.range(len(y)), len(y), config,
                              seed)
  return indices.map(lambda i: (tf.gather(x, i), tf.gather(y, i)),
                     num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def _train_dataset(ds: tf.data.Dataset, config: TrainConfig,
                   seed: int) -> tf.data.Dataset:
  """Training batches ``ds`` augmented (when the config says so, from a
  seeded stream of draws) and prefetched.

  The same examples in the same order with the same buffer give the same
  batches, whether they come from arrays or from a stream.
  """
  if config.augment:
    if ds.element_spec[0].shape.rank != 4:
      raise ValueError("augment needs image inputs of shape (n, H, W, C)")
    seeds = tf.data.Dataset.random(seed=seed).batch(2)
    ds = tf.data.Dataset.zip((ds, seeds)).map(
        lambda xy, s: (augment_batch(xy[0], s, config.shift_pixels), xy[1]),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  return ds.prefetch(tf.data.AUTOTUNE)


def predict_stream_log_probs(examples: tf.data.Dataset, batch_size: int,
                             *, forward) -> tuple:
  """Log-probabilities (nats) and labels of a non-empty stream of examples.

  Batches of ``batch_size`` in the stream's order, as
  :func:`predict_log_probs` cuts arrays: the same examples give the same
  floats.

  Args:
    examples: unbatched ``(x, y)`` pairs.
    batch_size: evaluation batch size.
    forward: a :func:`make_forward` function.

  Returns:
    ``(log_probs, labels)``, shapes (n, K) and (n,).
  """
  log_probs, labels = [], []
  for xb, yb in examples.batch(batch_size).prefetch(tf.data.AUTOTUNE):
    log_probs.append(forward(xb).numpy())
    labels.append(yb.numpy())
  return np.concatenate(log_probs), np.concatenate(labels)


def _snapshot(model):
  return [v.numpy() for v in model.weights]


def _restore(model, values):
  for v, value in zip(model.weights, values):
    v.assign(value)


def train(model,
          x: np.ndarray,
          y: np.ndarray,
          *,
          val_x: np.ndarray,
          val_y: np.ndarray,
          config: TrainConfig = TrainConfig(),
          seed: int = 0,
          strategy: Optional[tf.distribute.Strategy] = None,
          epoch_callback: Optional[EpochCallback] = None,
          forward=None) -> TrainResult:
  """Train ``model`` on ``(x, y)``, early-stopping on ``(val_x, val_y)``.

  The model must have been built under ``strategy.scope()`` (the default
  strategy when ``strategy`` is None). Epoch 0 is the untrained model: it is
  evaluated and passed to ``epoch_callback`` like every other epoch.

  With an empty validation set there is nothing to stop on: the run trains for
  ``max_epochs`` and keeps the last weights.

  Args:
    model: a ``tf_keras`` or Keras 3 model that outputs logits.
    x, y: training inputs and integer labels.
    val_x, val_y: validation data for early stopping (may be empty).
    config: hyperparameters.
    seed: seeds shuffling and augmentation.
    strategy: a ``tf.distribute`` strategy; the default one when None.
    epoch_callback: ``callback(epoch, model)`` after each epoch, epoch 0
      first; it must not change the model.
    forward: the model's :func:`make_forward` function, if the caller has
      one (one trace fewer).

  Returns:
    A :class:`TrainResult`; the model holds the best epoch's weights.

  Raises:
    ValueError: on bad data (see
      :func:`tfmdl.data.validate_labelled_arrays`), before any training.
  """
  num_classes = int(model.output_shape[-1])
  validate_labelled_arrays(x, y, num_classes)
  if len(val_x):
    validate_labelled_arrays(val_x, val_y, num_classes)
  y = np.asarray(y, np.int32)
  val_y = np.asarray(val_y, np.int32)

  def evaluate(forward):
    return predict_log_probs(model, val_x, config.eval_batch_size,
                             forward=forward), val_y

  return _fit(model, _gathered_batches(x, y, config, seed), len(x),
              evaluate if len(val_x) else None, config, seed, strategy,
              epoch_callback, forward)


def train_on_stream(model,
                    examples: tf.data.Dataset,
                    num_examples: int,
                    *,
                    val_examples: tf.data.Dataset,
                    num_val: int,
                    config: TrainConfig = TrainConfig(),
                    seed: int = 0,
                    shuffle_buffer: Optional[int] = None,
                    strategy: Optional[tf.distribute.Strategy] = None,
                    epoch_callback: Optional[EpochCallback] = None,
                    forward=None) -> TrainResult:
  """:func:`train` on streams of ``(x, y)`` pairs that need not fit in memory.

  Each epoch reads ``examples`` again, through a shuffle buffer of
  ``shuffle_buffer`` examples (all ``num_examples`` when None: then the
  batches, and so the trained weights, are those of :func:`train` on the same
  examples as arrays). The streams must give their examples in the same order
  at every reading; their labels are int32 in ``[0, K)``, checked by the
  caller.

  Args:
    model: as in :func:`train`.
    examples: the training examples, unbatched ``(x, y)`` pairs.
    num_examples: how many ``examples`` holds.
    val_examples: the validation examples (early stopping).
    num_val: how many ``val_examples`` holds (0: train ``max_epochs``).
    config, seed, strategy, epoch_callback, forward: as in :func:`train`.
    shuffle_buffer: examples held in memory for shuffling; None for all.

  Returns:
    A :class:`TrainResult`; the model holds the best epoch's weights.
  """
  if num_examples < 1:
    raise ValueError("need at least one training example")
  if shuffle_buffer is not None and shuffle_buffer < 1:
    raise ValueError(f"shuffle_buffer must be >= 1, got {shuffle_buffer}")

  def evaluate(forward):
    return predict_stream_log_probs(val_examples, config.eval_batch_size,
                                    forward=forward)

  batches = _shuffled_batches(examples, shuffle_buffer or num_examples,
                              config, seed)
  return _fit(model, batches, num_examples, evaluate if num_val else None,
              config, seed, strategy, epoch_callback, forward)


def _fit(model, batches: tf.data.Dataset, n: int,
         evaluate: Optional[Callable], config: TrainConfig, seed: int,
         strategy: Optional[tf.distribute.Strategy],
         epoch_callback: Optional[EpochCallback],
         forward=None) -> TrainResult:
  """The loop shared by :func:`train` and :func:`train_on_stream`, over
  ``batches`` of ``n`` examples an epoch (repeated).

  ``evaluate(forward)`` returns the validation set's log-probabilities and
  labels; None when there is no validation set.
  """
  start = time.perf_counter()
  strategy = strategy or tf.distribute.get_strategy()
  keras = keras_compat.keras_of(model)
  steps_per_epoch = math.ceil(n / config.batch_size)

  with strategy.scope():
    optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate)
    optimizer.build(model.trainable_variables)

  dataset = strategy.experimental_distribute_dataset(
      _train_dataset(batches, config, seed))
  iterator = iter(dataset)

  def step_fn(inputs):
    xb, yb = inputs
    nll = gradient_step(
        model, optimizer, xb, yb,
        normalizer=tf.cast(config.batch_size, tf.float32),
        regularization_scale=config.regularization_scale,
        num_replicas=strategy.num_replicas_in_sync)
    return tf.reduce_sum(nll)

  @tf.function(jit_compile=config.jit_compile)
  def compiled_step(inputs):
    return step_fn(inputs)

  @tf.function
  def train_steps(iterator, num_steps):
    total = tf.constant(0.0)
    for _ in tf.range(num_steps):
      per_replica = strategy.run(
          compiled_step if config.jit_compile else step_fn,
          args=(next(iterator),))
      total += strategy.reduce("SUM", per_replica, axis=None)
    return total

  forward = forward or make_forward(model)

  def validate():
    if evaluate is None:
      return float("nan"), float("nan")
    log_probs, labels = evaluate(forward)
    nll = per_sample_nll_nats(log_probs, labels)
    return float(nll.mean()), float(np.mean(log_probs.argmax(1) == labels))

  history = []
  epoch_start = time.perf_counter()
  val_loss, val_acc = validate()
  history.append(EpochLog(0, float("nan"), val_loss, val_acc,
                          time.perf_counter() - epoch_start))
  if epoch_callback is not None:
    epoch_callback(0, model)
  best_loss, best_epoch, best_weights = val_loss, 0, _snapshot(model)
  has_val = evaluate is not None

  for epoch in range(1, config.max_epochs + 1):
    epoch_start = time.perf_counter()
    train_total, done = 0.0, 0
    while done < steps_per_epoch:
      num = min(config.steps_per_call, steps_per_epoch - done)
      train_total += float(train_steps(iterator, tf.constant(num)))
      done += num
    val_loss, val_acc = validate()
    log = EpochLog(epoch, train_total / n, val_loss, val_acc,
                   time.perf_counter() - epoch_start)
    history.append(log)
    if config.verbose:
      val = ("" if np.isnan(val_loss) else
             f", val {val_loss:.4f} nats, val acc {val_acc:.4f}")
      logging.info("epoch %d: train %.4f nats%s (%.2fs)", epoch,
                   log.train_loss_nats, val, log.wall_s)
    if epoch_callback is not None:
      epoch_callback(epoch, model)
    if not has_val or val_loss < best_loss:
      best_loss, best_epoch = val_loss, epoch
      best_weights = _snapshot(model)
    elif epoch - best_epoch >= config.patience and epoch >= config.min_epochs:
      break

  if best_epoch != history[-1].epoch:
    _restore(model, best_weights)
  return TrainResult(best_epoch=best_epoch, epochs_trained=len(history) - 1,
                     history=tuple(history),
                     wall_s=time.perf_counter() - start)
