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

    from tfmdl import data, models
    from tfmdl.codes import variational
    ds = data.load("digits")
    # A deterministic model, turned into Flipout twins (or pass
    # adapter.as_model_fn(builder, transform=flipout.BUILT) for a builder of
    # Flipout models, as the zoo's variational=True).
    model_fn = lambda seed: models.build("mlp", ds.input_shape,
                                         ds.num_classes, seed=seed)
    result = variational.variational_code(
        model_fn, ds.x_train, ds.y_train, ds.num_classes,
        x_test=ds.x_test, y_test=ds.y_test)
    print(result.codelength_bits, result.best.kl_bits, result.grid_bits)
"""

import dataclasses
import time
from typing import Callable, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfmdl import training
from tfmdl.models import adapter
from tfmdl.models import flipout
from tfmdl.bits import units
from tfmdl.data import validate_labelled_arrays
from tfmdl.keras_compat import tf_keras
from tfmdl import ledger
from tfmdl import progress as progress_lib
from tfmdl.codes.variational.bits_back import check_model
from tfmdl.codes.variational.bits_back import check_model_fn
from tfmdl.codes.variational.bits_back import deterministic_bits
from tfmdl.codes.variational.bits_back import kl_nats
from tfmdl.codes.variational.bits_back import monte_carlo_nll
from tfmdl.codes.variational.bits_back import num_posterior_scalars
from tfmdl.codes.variational.bits_back import num_scalars
from tfmdl.codes.variational.bits_back import posterior_mean_accuracy
from tfmdl.codes.variational.bits_back import standard_error
from tfmdl.codes.variational.bits_back import transmitted_weights
from tfmdl.codes.variational.config import VariationalConfig
from tfmdl.codes.variational.results import EpochPoint
from tfmdl.codes.variational.results import PointResult
from tfmdl.codes.variational.results import VariationalResult

ModelFn = Callable[[int, float], object]  # (seed, prior_stddev) -> model


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
                 = None, progress=None) -> PointResult:
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
      progress.status(epoch=f"epoch {epoch}/{config.train.max_epochs}")
      progress.advance(1)

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
      num_deterministic_scalars=num_scalars(transmitted_weights(model)),
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
    progress=None,
    source: str = "tfmdl.codes.variational",
    split: str = "",
) -> VariationalResult:
  """Variational (bits-back) codelength of labels ``y`` given ``x``, in bits.

  Args:
    model_fn: a built ``tf_keras`` model, or a ``model_fn(seed)``
      returning one, whose Dense and Conv2D layers are turned into Flipout
      layers (:class:`tfmdl.models.flipout.Flipout`, posterior scale from
      ``config``); or a :class:`tfmdl.models.adapter.ModelFn` with its own
      transform. A softmax or sigmoid head is measured through its logits.
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
    source, split: what ran the code and which labels ``y`` are, for the
      run ledger (:func:`tfmdl.ledger.settle`: the result pays for its
      setting among those run on ``y``).

  Returns:
    A :class:`VariationalResult`.
  """
  began = time.perf_counter()
  validate_labelled_arrays(x, y, num_classes)
  model_fn = adapter.as_model_fn(
      model_fn, num_classes, example=x[:8],
      transform=flipout.Flipout(config.posterior_scale_init))
  y = np.asarray(y, np.int32)
  strategy = strategy or tf.distribute.get_strategy()
  check_model_fn(model_fn, config.seed, float(config.prior_stddevs[0]))
  done = {p.index: p for p in done_points}
  grid = len(config.prior_stddevs)
  progress = progress_lib.reporting(
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
      progress.status(point=f"prior_stddev {prior_stddev:g} ({index + 1}/"
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
    progress.note(
        f"prior_stddev {prior_stddev:g} ({index + 1}/{grid}): "
        f"{point.codelength_bits:.1f} bits = KL {point.kl_bits:.1f} + NLL "
        f"{point.nll_bits:.1f} (+-{stderr}) + float32 "
        f"{point.deterministic_bits:.0f}; train acc "
        f"{point.train_accuracy:.3f}, {point.epochs_trained} epochs, "
        f"{point.wall_s:.1f}s")
    progress.advance(weight)
  result = VariationalResult(n=len(x), num_classes=num_classes,
                             points=tuple(points),
                             num_samples=config.num_samples,
                             wall_s=time.perf_counter() - began)
  return ledger.settle(
      result, labels=ledger.labels_fingerprint(y), code="variational",
      model=model_fn.name,
      settings=ledger.setting_of(model_fn, {"variational": config}),
      source=source, split=split)
