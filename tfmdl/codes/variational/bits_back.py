"""The bits-back codelength's parts, read off a model with Flipout layers.

The KL of every posterior from its prior (:func:`kl_nats`, summed exactly,
never divided by n), the weights outside any posterior (sent as float32,
:func:`deterministic_bits`), the Monte Carlo estimate of the expected
negative log-likelihood (:func:`monte_carlo_nll`) and the posterior means
(:func:`posterior_means`); and the checks that a model is priced right
(:func:`check_model`).
"""

import contextlib
import math
from typing import Optional

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfmdl import models
from tfmdl import training
from tfmdl.keras_compat import tf_keras

tfd = tfp.distributions

FLOAT32_BITS = 32


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


def num_scalars(variables) -> int:
  """How many numbers ``variables`` hold."""
  return int(sum(np.prod(v.shape) for v in variables))


def num_posterior_scalars(model) -> int:
  """Number of weights under a Normal posterior (each has a loc and a scale)."""
  return int(sum(posterior.event_shape.num_elements()
                 for layer in models.variational_layers(model)
                 for posterior, _ in _priced_pairs(layer)))


def deterministic_bits(model) -> float:
  """32 bits per scalar of :func:`transmitted_weights`."""
  return float(FLOAT32_BITS * num_scalars(transmitted_weights(model)))


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


def check_model_fn(model_fn, seed: int, prior_stddev: float) -> None:
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
