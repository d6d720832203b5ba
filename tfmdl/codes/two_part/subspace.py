"""Training in a random affine subspace of parameter space (Li et al. 2018).

The model's trainable parameters, flattened into theta (D numbers), are
restricted to ``theta = theta0 + P z``: theta0 is the model's seeded
initialisation, P a D x d matrix drawn from an agreed seed, and only z (d
numbers) is trained. Both theta0 and P are agreed constants, so a two-part
code transmits z alone (paper, appendix B).

Two projections, both with unit-norm columns:

* ``dense``: Gaussian entries, columns normalised; memory D * d.
* ``sparse``: every parameter (row) draws ``k`` columns uniformly and a
  random sign for each; the columns are then normalised exactly. Memory
  O(D * k), so it fits models whose D * d would not.

Training: every step assigns ``theta0 + P z`` into the model's variables,
takes the gradient g of the batch loss with respect to those variables on a
tape, and steps z with Adam on ``P^T g`` (the exact chain rule). Early
stopping looks only at the validation data it is given.

Reference: C. Li, H. Farkhoor, R. Liu, J. Yosinski, "Measuring the intrinsic
dimension of objective landscapes", ICLR 2018.
"""

import dataclasses
import math
import time
from typing import Callable, Optional

from absl import logging
import numpy as np
import tensorflow as tf

from tfmdl import training
from tfmdl.keras_compat import tf_keras

PROJECTIONS = ("auto", "dense", "sparse")


class DenseProjection:
  """A dense Gaussian D x d matrix with unit-norm columns."""

  kind = "dense"

  def __init__(self, num_params: int, dim: int, seed: int):
    rng = np.random.default_rng([seed, num_params, dim])
    matrix = rng.standard_normal((num_params, dim), dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=0, keepdims=True)
    self._matrix = tf.constant(matrix)
    self.dim = dim

  def __call__(self, z: tf.Tensor) -> tf.Tensor:
    """P z, shape (D,)."""
    return tf.linalg.matvec(self._matrix, z)

  def transpose(self, g: tf.Tensor) -> tf.Tensor:
    """P^T g, shape (d,)."""
    return tf.linalg.matvec(self._matrix, g, transpose_a=True)


class SparseProjection:
  """A sparse D x d matrix: ``k`` random signed entries per row, unit columns.

  Row i holds ``sign[i, r] / norm[col[i, r]]`` at column ``col[i, r]``
  (r < k; a column drawn twice in a row adds up), and ``norm`` makes every
  column of the summed matrix unit-norm. A column that no row drew stays 0.
  """

  kind = "sparse"

  def __init__(self, num_params: int, dim: int, seed: int,
               nonzeros_per_row: int = 4):
    if nonzeros_per_row < 1:
      raise ValueError(f"nonzeros_per_row must be >= 1, got {nonzeros_per_row}")
    rng = np.random.default_rng([seed, num_params, dim, nonzeros_per_row])
    cols = rng.integers(0, dim, (num_params, nonzeros_per_row), dtype=np.int64)
    signs = rng.integers(0, 2, (num_params, nonzeros_per_row)) * 2.0 - 1.0
    rows = np.repeat(np.arange(num_params, dtype=np.int64), nonzeros_per_row)
    keys, inverse = np.unique(rows * dim + cols.ravel(), return_inverse=True)
    entries = np.bincount(inverse, weights=signs.ravel())
    norm_sq = np.bincount(keys % dim, weights=entries**2, minlength=dim)
    norm = np.sqrt(np.where(norm_sq > 0, norm_sq, 1.0))
    values = (signs / norm[cols]).astype(np.float32)
    self._cols = tf.constant(cols.astype(np.int32))
    self._values = tf.constant(values)
    # The transpose as entries sorted by column: a sorted segment sum is
    # several times faster than a scatter on CPUs.
    by_col = np.argsort(cols.ravel(), kind="stable")
    self._t_rows = tf.constant((by_col // nonzeros_per_row).astype(np.int32))
    self._t_cols = tf.constant(cols.ravel()[by_col].astype(np.int32))
    self._t_values = tf.constant(values.ravel()[by_col])
    self._t_pad = [[0, dim - 1 - int(cols.max())]]
    self.dim = dim

  def __call__(self, z: tf.Tensor) -> tf.Tensor:
    return tf.reduce_sum(tf.gather(z, self._cols) * self._values, axis=1)

  def transpose(self, g: tf.Tensor) -> tf.Tensor:
    sums = tf.math.segment_sum(tf.gather(g, self._t_rows) * self._t_values,
                               self._t_cols)
    return tf.pad(sums, self._t_pad)


def make_projection(num_params: int, dim: int, *, seed: int,
                    kind: str = "auto", nonzeros_per_row: int = 4,
                    dense_max_entries: int = 2**24):
  """The agreed projection: dense when ``D * d <= dense_max_entries`` (auto).

  Raises:
    ValueError: if ``dim`` is not in ``1..num_params`` or ``kind`` is unknown.
  """
  if int(dim) != dim or not 1 <= dim <= num_params:
    raise ValueError(f"subspace dimension must be an integer in 1..{num_params}"
                     f" (the parameter count), got {dim}")
  if kind not in PROJECTIONS:
    raise ValueError(f"unknown projection {kind!r}; known: "
                     f"{', '.join(PROJECTIONS)}")
  if kind == "auto":
    kind = "dense" if num_params * dim <= dense_max_entries else "sparse"
  if kind == "dense":
    return DenseProjection(num_params, int(dim), seed)
  return SparseProjection(num_params, int(dim), seed, nonzeros_per_row)


class AffineSubspace:
  """``theta = theta0 + P z`` over a model's trainable variables.

  ``theta0`` is read from the model when the subspace is made, so build the
  subspace on a freshly initialised model (its seed is agreed).
  """

  def __init__(self, model, projection):
    self.variables = list(model.trainable_variables)
    self._shapes = [tuple(v.shape) for v in self.variables]
    self._sizes = [math.prod(s) for s in self._shapes]
    self.num_params = sum(self._sizes)
    self.theta0 = tf.constant(np.concatenate(
        [np.ravel(v.numpy()) for v in self.variables]).astype(np.float32))
    self.projection = projection
    self.dim = projection.dim

  def theta(self, z) -> tf.Tensor:
    return self.theta0 + self.projection(tf.convert_to_tensor(z, tf.float32))

  def assign(self, z) -> None:
    """Write ``theta0 + P z`` into the model's variables."""
    parts = tf.split(self.theta(z), self._sizes)
    for v, part, shape in zip(self.variables, parts, self._shapes):
      v.assign(tf.reshape(part, shape))

  def gradient(self, grads) -> tf.Tensor:
    """P^T g for per-variable gradients ``grads``: the gradient for z."""
    flat = tf.concat([tf.reshape(g, [-1]) for g in grads], axis=0)
    return self.projection.transpose(flat)


@dataclasses.dataclass(frozen=True)
class SubspaceTrainResult:
  """Outcome of :func:`train_subspace`; ``z`` is the best epoch's."""
  z: np.ndarray
  best_epoch: int
  epochs_trained: int
  val_loss_nats: tuple  # per epoch, epoch 0 (z = 0) first
  wall_s: float


def _dataset(x, y, batch_size: int, seed: int) -> tf.data.Dataset:
  ds = tf.data.Dataset.from_tensor_slices((x, y))
  ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
  return ds.batch(batch_size).repeat().prefetch(tf.data.AUTOTUNE)


def train_subspace(model, subspace: AffineSubspace, x: np.ndarray,
                   y: np.ndarray, *, val_x: np.ndarray, val_y: np.ndarray,
                   config: training.TrainConfig,
                   seed: int = 0,
                   epoch_callback: Optional[Callable[[int], None]] = None
                   ) -> SubspaceTrainResult:
  """Train z (from 0) with Adam on ``P^T g``, early-stopping on validation.

  Uses ``config``'s batch size, learning rate, epochs, patience, min_epochs,
  steps per call and evaluation batch size; with an empty validation set it
  trains ``max_epochs`` and keeps the last z. The model's own losses
  (regularisers) are not used: a deterministic model is expected.
  ``epoch_callback(epoch)`` is called after each epoch, 1 first.

  Returns:
    A :class:`SubspaceTrainResult`; the model holds ``theta0 + P z_best``.
  """
  if config.augment:
    raise ValueError("subspace training does not augment; set "
                     "train.augment=False")
  began = time.perf_counter()
  n = len(x)
  if n == 0:
    raise ValueError("cannot train on an empty data set")
  z = tf.Variable(tf.zeros([subspace.dim], tf.float32), name="z")
  optimizer = tf_keras.optimizers.Adam(learning_rate=config.learning_rate)
  iterator = iter(_dataset(x, np.asarray(y, np.int32), config.batch_size,
                           seed))
  steps_per_epoch = math.ceil(n / config.batch_size)

  def step(inputs):
    xb, yb = inputs
    subspace.assign(z)
    with tf.GradientTape() as tape:
      logits = tf.cast(model(xb, training=True), tf.float32)
      nll = tf.nn.sparse_softmax_cross_entropy_with_logits(yb, logits)
      loss = tf.reduce_sum(nll) / tf.cast(config.batch_size, tf.float32)
    grads = tape.gradient(loss, subspace.variables)
    optimizer.apply_gradients([(subspace.gradient(grads), z)])
    return tf.reduce_sum(nll)

  @tf.function
  def train_steps(num_steps):
    total = tf.constant(0.0)
    for _ in tf.range(num_steps):
      total += step(next(iterator))
    return total

  forward = training.make_forward(model)

  def val_loss():
    if len(val_x) == 0:
      return float("nan")
    subspace.assign(z)
    log_probs = training.predict_log_probs(model, val_x,
                                           config.eval_batch_size,
                                           forward=forward)
    return float(training.per_sample_nll_nats(log_probs, val_y).mean())

  losses = [val_loss()]
  best_loss, best_epoch, best_z = losses[0], 0, z.numpy()
  for epoch in range(1, config.max_epochs + 1):
    epoch_began = time.perf_counter()
    total, done = 0.0, 0
    while done < steps_per_epoch:
      num = min(config.steps_per_call, steps_per_epoch - done)
      total += float(train_steps(tf.constant(num)))
      done += num
    losses.append(val_loss())
    if config.verbose:
      logging.info("subspace d=%d epoch %d: train %.4f nats, val %.4f nats "
                   "(%.2fs)", subspace.dim, epoch, total / n, losses[-1],
                   time.perf_counter() - epoch_began)
    if epoch_callback is not None:
      epoch_callback(epoch)
    if len(val_x) == 0 or losses[-1] < best_loss:
      best_loss, best_epoch, best_z = losses[-1], epoch, z.numpy()
    elif epoch - best_epoch >= config.patience and epoch >= config.min_epochs:
      break
  subspace.assign(best_z)
  return SubspaceTrainResult(z=best_z, best_epoch=best_epoch,
                             epochs_trained=len(losses) - 1,
                             val_loss_nats=tuple(losses),
                             wall_s=time.perf_counter() - began)

