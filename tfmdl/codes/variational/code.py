"""The variational (bits-back) code: paper section 3.3, Definition 2, app. C.

Alice and Bob agree on a model whose weight layers are TFP Flipout layers
(``DenseFlipout``, ``Convolution2DFlipout``), a prior ``N(0, s0^2)`` on every
weight under a posterior, a grid of prior scales ``s0`` fixed in advance, a
training procedure and a seed. For each grid point Alice trains a diagonal
Gaussian posterior ``q`` on all ``n`` labels by minimising the variational
objective ``E_q[sum_i -ln p(y_i | x_i, w)] + KL(q || prior)`` with minibatches
(per step: mean NLL of the batch + KL / n, i.e. ``training.train`` with
``regularization_scale = 1/n``). With bits-back coding the labels then cost

    L(y | x) = KL(q || prior) / ln 2 + E_q[sum_i -ln p(y_i | x_i, w)] / ln 2

bits (Hinton & van Camp 1993; Honkela & Valpola 2004): Alice draws ``w ~ q``
with bits taken from the message, sends ``w`` with the prior and the labels
with ``p(y | x, w)``; Bob decodes ``w`` then the labels, replays the training
(he now has every label, the seed and the config), recovers ``q`` and with it
the bits Alice took. So no validation split is needed. This module reports
that **bits-back bound**: it is achievable up to the discretisation overhead
of bits-back coding of continuous weights (a few bits per coded quantity,
ignored here as is standard practice), not an actual bit stream.

What the reported number contains, for the best grid point:

* ``kl_bits``: the layers' own full, unscaled analytic KL in nats, summed over
  every kernel and bias under a Normal posterior, converted to bits once;
* ``nll_bits``: the expected NLL over the whole training set, estimated with
  ``num_samples`` Monte Carlo passes (Flipout gives every example its own
  weight sample, marginally distributed as ``q``), with its standard error;
* ``deterministic_bits``: 32 bits per scalar of every weight outside a
  posterior (BatchNorm gamma/beta and moving statistics, a Flipout layer's
  point-mass bias): Bob needs them to decode the labels;
* ``grid_bits = log2(len(prior_stddevs))``: the price of picking the best prior
  scale after seeing the codelengths.

Training runs a fixed number of epochs (``train.max_epochs``); there is no
early stopping, and the last weights are used.

Test accuracy is reported two ways: with weights sampled from ``q`` (as the
paper, appendix C: the model that did the compressing) and with the posterior
means (Blundell et al. 2015), computed exactly by evaluating every Flipout
layer at its posterior mean.

Example::

    from tfmdl import data, models, variational
    ds = data.load("digits")
    model_fn = lambda seed, prior_stddev: models.build(
        "mlp", ds.input_shape, ds.num_classes, variational=True,
        prior_stddev=prior_stddev, seed=seed)
    result = variational.variational_code(
        model_fn, ds.x_train, ds.y_train, ds.num_classes,
        x_test=ds.x_test, y_test=ds.y_test)
    print(result.codelength_bits, result.best.kl_bits, result.grid_bits)
"""

import contextlib
import dataclasses
import math
import time
from typing import Callable, Optional, Sequence

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfmdl import models
from tfmdl import training
from tfmdl.models import adapter
from tfmdl.bits import units
from tfmdl.bits.uniform import ComparedToUniform
from tfmdl.data import validate_labelled_arrays
from tfmdl.keras_compat import tf_keras
from tfmdl.progress import Progress

tfd = tfp.distributions

FLOAT32_BITS = 32
ModelFn = Callable[[int, float], object]  # (seed, prior_stddev) -> model


@dataclasses.dataclass(frozen=True)
class VariationalConfig:
  """What Alice and Bob agree on besides the model.

  Attributes:
    prior_stddevs: the grid of prior scales, fixed in advance; every point is
      trained and the best is paid ``log2(len(prior_stddevs))`` bits.
    num_samples: Monte Carlo passes over the training set (S) for the reported
      expected NLL, and over the test set for the sampled test accuracy.
    epoch_num_samples: Monte Carlo passes per epoch for the training curves
      (0: no curves). They never influence training.
    seed: the model seed and the training seed of every grid point.
    train: training hyperparameters; ``regularization_scale`` is replaced by
      ``1/n`` and there is no validation set (fixed ``max_epochs``).
  """
  prior_stddevs: tuple = (0.05, 0.1, 0.5, 1.0)
  num_samples: int = 10
  epoch_num_samples: int = 1
  seed: int = 0
  train: training.TrainConfig = training.TrainConfig()

  def __post_init__(self):
    if not self.prior_stddevs:
      raise ValueError("prior_stddevs must not be empty")
    if any(not s > 0 for s in self.prior_stddevs):
      raise ValueError(
          f"prior_stddevs must all be > 0, got {tuple(self.prior_stddevs)}")
    if len(set(self.prior_stddevs)) != len(self.prior_stddevs):
      raise ValueError(
          f"prior_stddevs has repeats: {tuple(self.prior_stddevs)}")
    if self.num_samples < 1:
      raise ValueError(f"num_samples must be >= 1, got {self.num_samples}")
    if self.epoch_num_samples < 0:
      raise ValueError(
          f"epoch_num_samples must be >= 0, got {self.epoch_num_samples}")


@dataclasses.dataclass(frozen=True)
class EpochPoint:
  """The code of one grid point after an epoch (epoch 0: untrained).

  ``nll_bits`` is estimated with ``epoch_num_samples`` passes; accuracy is on
  the training set with sampled weights.
  """
  epoch: int
  kl_bits: float
  nll_bits: float
  deterministic_bits: float
  train_accuracy: float

  @property
  def codelength_bits(self) -> float:
    return self.kl_bits + self.nll_bits + self.deterministic_bits


@dataclasses.dataclass(frozen=True)
class PointResult:
  """The variational code of one prior scale of the grid.

  Attributes:
    index: position in the grid.
    prior_stddev: the prior scale s0.
    kl_bits: KL(q || prior) in bits.
    nll_bits: Monte Carlo estimate of E_q[NLL] over the training set, bits.
    nll_bits_stderr: its standard error (None when ``num_samples`` is 1).
    nll_bits_samples: the S per-pass totals the estimate averages.
    deterministic_bits: 32 bits per scalar outside a posterior.
    num_posterior_scalars: weights under a Normal posterior.
    num_deterministic_scalars: weights sent as float32.
    train_accuracy: training accuracy with sampled weights.
    test_accuracy_sampled: test accuracy with weights sampled from q
      (mean over S passes), or None without test data.
    test_accuracy_mean: test accuracy at the posterior means, or None.
    epochs_trained: epochs of training.
    seed: model and training seed.
    wall_s: seconds for this grid point.
    history: :class:`EpochPoint` per epoch, epoch 0 first (may be empty).
  """
  index: int
  prior_stddev: float
  kl_bits: float
  nll_bits: float
  nll_bits_stderr: Optional[float]
  nll_bits_samples: tuple
  deterministic_bits: float
  num_posterior_scalars: int
  num_deterministic_scalars: int
  train_accuracy: float
  test_accuracy_sampled: Optional[float]
  test_accuracy_mean: Optional[float]
  epochs_trained: int
  seed: int
  wall_s: float
  history: tuple = ()

  @property
  def codelength_bits(self) -> float:
    """This point's bits-back codelength, without the grid's cost."""
    return self.kl_bits + self.nll_bits + self.deterministic_bits

  def summary(self) -> dict:
    """JSON-friendly record (the history as lists of per-epoch values)."""
    record = {f.name: getattr(self, f.name)
              for f in dataclasses.fields(self) if f.name != "history"}
    record["codelength_bits"] = self.codelength_bits
    record["history"] = {
        f.name: [getattr(e, f.name) for e in self.history]
        for f in dataclasses.fields(EpochPoint)}
    return record

  @classmethod
  def from_summary(cls, record: dict) -> "PointResult":
    """Inverse of :meth:`summary`."""
    fields = {f.name for f in dataclasses.fields(cls)} - {"history"}
    values = {k: record[k] for k in fields}
    values["nll_bits_samples"] = tuple(values["nll_bits_samples"])
    hist = record["history"]
    history = tuple(EpochPoint(*row) for row in zip(
        *(hist[f.name] for f in dataclasses.fields(EpochPoint))))
    return cls(history=history, **values)


@dataclasses.dataclass(frozen=True)
class VariationalResult(ComparedToUniform):
  """The variational codelength: the best grid point plus the grid's cost."""
  n: int
  num_classes: int
  points: tuple  # of PointResult, in grid order
  num_samples: int
  wall_s: float
  data_fingerprint: Optional[str] = None  # set by tfmdl.description_length

  @property
  def best(self) -> PointResult:
    return min(self.points, key=lambda p: p.codelength_bits)

  @property
  def grid_bits(self) -> float:
    return math.log2(len(self.points))

  @property
  def codelength_bits(self) -> float:
    return self.best.codelength_bits + self.grid_bits

  def parts(self) -> dict:
    """The codelength's breakdown in bits (sums to ``codelength_bits``)."""
    best = self.best
    return {"kl_bits": best.kl_bits, "nll_bits": best.nll_bits,
            "deterministic_weights_bits": best.deterministic_bits,
            "grid_choice_bits": self.grid_bits}


# ---------------------------------------------------------------------------
# Pricing a model: which weights are under a posterior, and their KL.


def _is(distribution, kind) -> bool:
  return (isinstance(distribution, tfd.Independent) and
          isinstance(distribution.distribution, kind))


def _priced_pairs(layer) -> list:
  """(posterior, prior) pairs of ``layer`` that are paid by their KL.

  Raises:
    ValueError: for a posterior the code cannot price.
  """
  pairs = []
  for part in ("kernel", "bias"):
    posterior = getattr(layer, f"{part}_posterior", None)
    prior = getattr(layer, f"{part}_prior", None)
    if posterior is None or _is(posterior, tfd.Deterministic):
      if part == "kernel":
        raise ValueError(f"layer {layer.name}: the kernel needs a Normal "
                         "posterior, got a point mass")
      continue  # a point-mass bias (TFP's default) is sent as float32
    if not _is(posterior, tfd.Normal):
      raise ValueError(f"layer {layer.name}: {part} posterior must be an "
                       f"Independent Normal, got {posterior.name}")
    if prior is None:
      raise ValueError(f"layer {layer.name}: {part} has a Normal posterior "
                       "but no prior")
    pairs.append((posterior, prior))
  return pairs


def kl_nats(model) -> float:
  """Full, unscaled KL(q || prior) of ``model``'s Flipout layers, in nats.

  The sum over every kernel and bias under a Normal posterior of TFP's
  analytic KL, for the current values of the posterior parameters.
  """
  total = 0.0
  for layer in models.variational_layers(model):
    for posterior, prior in _priced_pairs(layer):
      total += float(tfd.kl_divergence(posterior, prior))
  return total


def posterior_variables(model) -> list:
  """The variables of ``model`` that parametrise a Normal posterior."""
  found = {}
  for layer in models.variational_layers(model):
    for posterior, _ in _priced_pairs(layer):
      for v in posterior.distribution.trainable_variables:
        found[id(v)] = v
  return list(found.values())


def transmitted_weights(model) -> list:
  """Every weight outside a posterior, trainable or not (sent as float32).

  BatchNorm's gamma and beta and its moving statistics, and point-mass
  biases: Bob needs all of them to decode the labels.
  """
  under_posterior = {id(v) for v in posterior_variables(model)}
  return [w for w in model.weights if id(w) not in under_posterior]


def _num_scalars(variables) -> int:
  return int(sum(np.prod(v.shape) for v in variables))


def num_posterior_scalars(model) -> int:
  """Number of weights under a Normal posterior (each has a loc and a scale)."""
  return int(sum(posterior.event_shape.num_elements()
                 for layer in models.variational_layers(model)
                 for posterior, _ in _priced_pairs(layer)))


def deterministic_bits(model) -> float:
  """32 bits per scalar of :func:`transmitted_weights`."""
  return float(FLOAT32_BITS * _num_scalars(transmitted_weights(model)))


def check_model(model, x_probe: np.ndarray) -> None:
  """Refuses a model the code cannot price honestly.

  A valid model is a ``tf_keras`` model with at least one Flipout layer whose
  kernels (and biases, unless they are point masses) have Independent Normal
  posteriors and priors with an analytic KL, and whose ``losses`` after a
  call on ``x_probe`` sum to exactly that full, unscaled KL (training weighs
  them by 1/n; a KL already divided by n would be counted wrong).

  Raises:
    ValueError: naming the problem.
  """
  if not isinstance(model, tf_keras.Model):
    raise ValueError("the variational code needs a tf_keras model with TFP "
                     f"Flipout layers, got {type(model).__name__}")
  if not models.variational_layers(model):
    raise ValueError(f"model {model.name} has no DenseFlipout or "
                     "Convolution2DFlipout layer")
  model(x_probe, training=False)
  expected = kl_nats(model)
  got = float(tf.add_n(model.losses)) if model.losses else 0.0
  if not math.isclose(got, expected, rel_tol=1e-4, abs_tol=1e-3):
    raise ValueError(
        f"model.losses sum to {got:.6g} nats but the layers' KL is "
        f"{expected:.6g} nats: the losses must be the full, unscaled KL and "
        "nothing else (TFP's default kernel_divergence_fn)")


def check_model_fn(model_fn: ModelFn, seed: int, prior_stddev: float) -> None:
  """Refuses a ``model_fn`` whose initial weights are not a function of seed.

  Bob replays the training, so the same seed must give the same initial
  weights, and the seed must matter: TFP's default posterior shares one
  unseeded initializer, which gives every model (and every layer of the same
  shape) the same values whatever the seed, fixed by hidden global state.

  Raises:
    ValueError: when the seed is ignored or the weights are not reproducible.
  """
  def initial(s):
    tf_keras.utils.set_random_seed(s)
    return [v.numpy() for v in model_fn(s, prior_stddev).weights]

  first, again, other = initial(seed), initial(seed), initial(seed + 1)
  if any(not np.array_equal(a, b) for a, b in zip(first, again)):
    raise ValueError("model_fn gives different initial weights for the same "
                     "seed: seed every initializer")
  if all(np.array_equal(a, b) for a, b in zip(first, other)):
    raise ValueError("model_fn gives the same initial weights for seeds "
                     f"{seed} and {seed + 1}: its initializers ignore the seed"
                     " (TFP's default posterior initializers are unseeded; "
                     "pass seeded ones, as tfmdl.models does)")


# ---------------------------------------------------------------------------
# Monte Carlo and posterior-mean evaluation.


def _mean_tensor(distribution):
  return distribution.mean()


@contextlib.contextmanager
def posterior_means(model):
  """Within the block, every Flipout layer computes with its posterior mean.

  Flipout adds ``(x * s) @ dW * r`` with ``dW`` drawn from ``q`` minus its
  mean; taking the mean of that centred draw makes the perturbation exactly
  zero, and the bias its posterior mean. Trace a new function inside the
  block: one traced before it keeps sampling.
  """
  layers = models.variational_layers(model)
  saved = [(l.kernel_posterior_tensor_fn, l.bias_posterior_tensor_fn)
           for l in layers]
  try:
    for layer in layers:
      layer.kernel_posterior_tensor_fn = _mean_tensor
      layer.bias_posterior_tensor_fn = _mean_tensor
    yield model
  finally:
    for layer, (kernel_fn, bias_fn) in zip(layers, saved):
      layer.kernel_posterior_tensor_fn = kernel_fn
      layer.bias_posterior_tensor_fn = bias_fn


def monte_carlo_nll(model, x: np.ndarray, y: np.ndarray, num_samples: int,
                    batch_size: int = 1024, *, forward=None):
  """Total NLL (nats) and accuracy over ``(x, y)``, one per sampled pass.

  Each pass runs the stochastic Flipout forward over the whole set: every
  example sees weights distributed as ``q``, so each pass total is an unbiased
  estimate of ``E_q[sum_i -ln p(y_i | x_i, w)]``, independent of the others.

  Returns:
    ``(totals_nats, accuracies)``, two float64 arrays of length num_samples.
  """
  forward = forward or training.make_forward(model)
  totals, accuracies = [], []
  for _ in range(num_samples):
    log_probs = training.predict_log_probs(model, x, batch_size,
                                           forward=forward)
    totals.append(training.per_sample_nll_nats(log_probs, y).sum())
    accuracies.append(np.mean(log_probs.argmax(1) == y))
  return np.asarray(totals, np.float64), np.asarray(accuracies, np.float64)


def posterior_mean_accuracy(model, x: np.ndarray, y: np.ndarray,
                            batch_size: int = 1024) -> float:
  """Accuracy of the model at its posterior means (exact, no sampling)."""
  with posterior_means(model):
    log_probs = training.predict_log_probs(model, x, batch_size)
  return float(np.mean(log_probs.argmax(1) == np.asarray(y)))


def standard_error(values: np.ndarray) -> Optional[float]:
  """Standard error of the mean of ``values`` (None for a single value)."""
  if len(values) < 2:
    return None
  return float(np.std(values, ddof=1) / math.sqrt(len(values)))


# ---------------------------------------------------------------------------
# The code.


def _epoch_point(model, x, y, epoch, num_samples, batch_size, forward,
                 det_bits) -> EpochPoint:
  totals, accuracies = monte_carlo_nll(model, x, y, num_samples, batch_size,
                                       forward=forward)
  return EpochPoint(epoch=epoch, kl_bits=float(units.nats_to_bits(
      kl_nats(model))), nll_bits=float(units.nats_to_bits(totals.mean())),
                    deterministic_bits=det_bits,
                    train_accuracy=float(accuracies.mean()))


def encode_point(model_fn: ModelFn, x, y, index: int, config:
                 VariationalConfig, strategy: tf.distribute.Strategy, *,
                 x_test=None, y_test=None,
                 epoch_callback: Optional[Callable[[int, EpochPoint], None]]
                 = None, progress: Optional[Progress] = None) -> PointResult:
  """Train and price grid point ``index`` (prior scale ``prior_stddevs[i]``).

  ``progress``, if given, is advanced by one per epoch; the pricing after
  training (one more unit) is the caller's to report.
  """
  began = time.perf_counter()
  prior_stddev = float(config.prior_stddevs[index])
  seed = config.seed
  batch = config.train.eval_batch_size
  tf_keras.utils.set_random_seed(seed)
  with strategy.scope():
    model = model_fn(seed, prior_stddev)
  check_model(model, x[:2])
  det_bits = deterministic_bits(model)
  forward = training.make_forward(model)
  # The training curves sample through a forward function of their own: the
  # Flipout noise of the final estimate below then does not depend on
  # whether (or how often) the curves were recorded.
  curve_forward = training.make_forward(model)
  history = []

  def on_epoch(epoch, m):
    if config.epoch_num_samples:
      point = _epoch_point(m, x, y, epoch, config.epoch_num_samples, batch,
                           curve_forward, det_bits)
      history.append(point)
      if epoch_callback is not None:
        epoch_callback(index, point)
    if progress is not None and epoch > 0:
      progress.advance(1, epoch=f"epoch {epoch}/{config.train.max_epochs}")

  train_config = dataclasses.replace(config.train,
                                     regularization_scale=1.0 / len(x))
  empty_x, empty_y = x[:0], y[:0]
  result = training.train(
      model, x, y, val_x=empty_x, val_y=empty_y, config=train_config,
      seed=seed, strategy=strategy, epoch_callback=on_epoch)

  totals, accuracies = monte_carlo_nll(model, x, y, config.num_samples,
                                       batch, forward=forward)
  nll_samples_bits = units.nats_to_bits(totals)
  test_sampled = test_mean = None
  if x_test is not None and y_test is not None:
    y_test = np.asarray(y_test)
    _, test_accuracies = monte_carlo_nll(model, x_test, y_test,
                                         config.num_samples, batch,
                                         forward=forward)
    test_sampled = float(test_accuracies.mean())
    test_mean = posterior_mean_accuracy(model, x_test, y_test, batch)
  return PointResult(
      index=index, prior_stddev=prior_stddev,
      kl_bits=float(units.nats_to_bits(kl_nats(model))),
      nll_bits=float(units.nats_to_bits(totals.mean())),
      nll_bits_stderr=standard_error(nll_samples_bits),
      nll_bits_samples=tuple(float(b) for b in nll_samples_bits),
      deterministic_bits=det_bits,
      num_posterior_scalars=num_posterior_scalars(model),
      num_deterministic_scalars=_num_scalars(transmitted_weights(model)),
      train_accuracy=float(accuracies.mean()),
      test_accuracy_sampled=test_sampled, test_accuracy_mean=test_mean,
      epochs_trained=result.epochs_trained, seed=seed,
      wall_s=time.perf_counter() - began, history=tuple(history))


def variational_code(
    model_fn: ModelFn,
    x: np.ndarray,
    y: np.ndarray,
    num_classes: int,
    *,
    config: VariationalConfig = VariationalConfig(),
    x_test: Optional[np.ndarray] = None,
    y_test: Optional[np.ndarray] = None,
    strategy: Optional[tf.distribute.Strategy] = None,
    done_points: Sequence[PointResult] = (),
    point_callback: Optional[Callable[[PointResult], None]] = None,
    epoch_callback: Optional[Callable[[int, EpochPoint], None]] = None,
    progress: Optional[Progress] = None,
) -> VariationalResult:
  """Variational (bits-back) codelength of labels ``y`` given ``x``, in bits.

  Args:
    model_fn: ``model_fn(seed, prior_stddev)`` returns a fresh ``tf_keras``
      model with Flipout layers under a ``N(0, prior_stddev^2)`` prior, its
      initializers seeded from ``seed`` (checked); called under the
      strategy's scope, after ``tf_keras.utils.set_random_seed(seed)``. Or
      a built ``tf_keras`` model, or a ``model_fn(seed)`` returning one,
      whose Dense and Conv2D layers are turned into Flipout layers
      (:mod:`tfmdl.user_models`); a softmax or sigmoid head is measured
      through its logits.
    x, y: inputs and integer labels.
    num_classes: K.
    config: the prior grid, Monte Carlo sizes, seed and training.
    x_test, y_test: optional test data for the two test accuracies.
    strategy: a ``tf.distribute`` strategy; the default one when None.
    done_points: grid points finished by an earlier run with the same config
      and data; kept, not recomputed.
    point_callback: called with each newly finished grid point (to save it).
    epoch_callback: ``callback(grid_index, EpochPoint)`` after every epoch
      (epoch 0 first) when ``config.epoch_num_samples > 0``.
    progress: advanced by one per epoch and one per grid point priced after
      its training (training runs all ``max_epochs``, there is no
      validation), with a line per grid point; None: a new report on stderr.

  Returns:
    A :class:`VariationalResult`.
  """
  began = time.perf_counter()
  validate_labelled_arrays(x, y, num_classes)
  model_fn = adapter.as_variational_model_fn(model_fn, num_classes,
                                                 example=x[:8])
  y = np.asarray(y, np.int32)
  strategy = strategy or tf.distribute.get_strategy()
  check_model_fn(model_fn, config.seed, float(config.prior_stddevs[0]))
  done = {p.index: p for p in done_points}
  grid = len(config.prior_stddevs)
  progress = Progress.started(
      progress, "variational",
      (grid - len(set(done) & set(range(grid)))) *
      (config.train.max_epochs + 1))
  points = []
  for index, prior_stddev in enumerate(config.prior_stddevs):
    if index in done:
      point = done[index]
      if point.prior_stddev != float(prior_stddev):
        raise ValueError(f"saved grid point {index} has prior_stddev "
                         f"{point.prior_stddev}, the grid says {prior_stddev}")
      weight = 0
    else:
      progress.update(point=f"prior_stddev {prior_stddev:g} ({index + 1}/"
                      f"{grid})", epoch="")
      point = encode_point(model_fn, x, y, index, config, strategy,
                           x_test=x_test, y_test=y_test,
                           epoch_callback=epoch_callback, progress=progress)
      if point_callback is not None:
        point_callback(point)
      weight = 1 + config.train.max_epochs - point.epochs_trained
    points.append(point)
    stderr = ("n/a" if point.nll_bits_stderr is None
              else f"{point.nll_bits_stderr:.1f}")
    progress.advance(weight, note=(
        f"prior_stddev {prior_stddev:g} ({index + 1}/{grid}): "
        f"{point.codelength_bits:.1f} bits = KL {point.kl_bits:.1f} + NLL "
        f"{point.nll_bits:.1f} (+-{stderr}) + float32 "
        f"{point.deterministic_bits:.0f}; train acc "
        f"{point.train_accuracy:.3f}, {point.epochs_trained} epochs, "
        f"{point.wall_s:.1f}s"))
  return VariationalResult(n=len(x), num_classes=num_classes,
                           points=tuple(points),
                           num_samples=config.num_samples,
                           wall_s=time.perf_counter() - began)
