"""Tests of the model registry: shapes, KL losses, seeding, parameter counts.

A Flipout twin takes seconds to build (a VGG's up to ten): the fast loop
builds those of mlp and lenet (dense and convolutional Flipout layers), the
others are ``slow``.
"""

import numpy as np
import pytest

from tfmdl import models
from tfmdl.keras_compat import tf_keras

SHAPES = [(28, 28, 1), (32, 32, 3)]
MODES = [False, True]  # variational?
FAST_FLIPOUT = ("mlp",)  # the other Flipout twins take 2-6 CPU-seconds each


def _models_and_modes():
  """``(name, variational)`` for every zoo model and mode."""
  return [pytest.param(name, variational, marks=(
      [pytest.mark.slow] if variational and name not in FAST_FLIPOUT else []))
          for variational in MODES for name in models.list_models()]


@pytest.fixture(autouse=True)
def _fresh_session():
  tf_keras.backend.clear_session()
  yield
  tf_keras.backend.clear_session()


def _softplus(x):
  return np.log1p(np.exp(x.astype(np.float64)))


def _normal_kl(loc, untransformed_scale, prior_stddev):
  """KL(N(loc, s^2) || N(0, p^2)) summed, with TFP's s = eps + softplus."""
  scale = np.finfo(np.float32).eps + _softplus(untransformed_scale)
  loc = loc.astype(np.float64)
  return np.sum(np.log(prior_stddev / scale) +
                (scale**2 + loc**2) / (2 * prior_stddev**2) - 0.5)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name, variational", _models_and_modes())
def test_logits_shape_and_kl_losses(name, shape, variational):
  model = models.build(name, shape, 10, variational=variational)
  x = np.random.default_rng(0).random((3,) + shape, dtype=np.float32)
  logits = model(x, training=True)
  assert logits.shape == (3, 10)
  assert np.all(np.isfinite(logits.numpy()))
  assert model.layers[-1].activation is tf_keras.activations.linear
  flipout = models.variational_layers(model)
  losses = [float(loss) for loss in model.losses]
  if variational:
    # One KL per weight layer: every weight layer is a Flipout layer.
    assert len(flipout) == len(losses) >= 2
    assert all(np.isfinite(loss) and loss > 0 for loss in losses)
  else:
    assert not flipout
    assert not losses


@pytest.mark.parametrize("name, variational", _models_and_modes())
def test_seeds_on_8x8(name, variational):
  def weights(seed):
    tf_keras.backend.clear_session()
    model = models.build(name, (8, 8, 1), 10, variational=variational,
                         seed=seed)
    assert model(np.zeros((2, 8, 8, 1), np.float32)).shape == (2, 10)
    dropout_seeds = [layer.seed for layer in model.layers
                     if isinstance(layer, tf_keras.layers.Dropout)]
    assert None not in dropout_seeds
    assert len(set(dropout_seeds)) == len(dropout_seeds)
    return [w.numpy() for w in model.weights]

  first, again, other = weights(3), weights(3), weights(4)
  assert len(first) == len(again) == len(other)
  for w_first, w_again, w_other in zip(first, again, other):
    np.testing.assert_array_equal(w_first, w_again)
    if np.ptp(w_first) > 0:  # randomly initialized: must follow the seed
      assert not np.array_equal(w_first, w_other)


def test_mlp_parameter_count():
  model = models.build("mlp", (28, 28, 1), 10)
  assert model.count_params() == (784 * 256 + 256 + 256 * 256 + 256 +
                                  256 * 10 + 10)


def test_mlp_options():
  model = models.build("mlp", (8, 8, 1), 3, hidden_sizes=(7, 5), dropout=0.2)
  assert model.count_params() == 64 * 7 + 7 + 7 * 5 + 5 + 5 * 3 + 3
  dropouts = [layer for layer in model.layers
              if isinstance(layer, tf_keras.layers.Dropout)]
  assert [d.rate for d in dropouts] == [0.2, 0.2]


def test_shallow_parameter_count():
  model = models.build("shallow", (8, 8, 1), 10, width=100)
  assert model.count_params() == 64 * 100 + 100 + 100 * 10 + 10


def test_lenet_parameter_count():
  # 'same' convs keep 28x28; two pools give 7x7x16 = 784 features.
  model = models.build("lenet", (28, 28, 1), 10)
  assert model.count_params() == (
      (5 * 5 * 1 * 6 + 6) + (5 * 5 * 6 * 16 + 16) + (784 * 120 + 120) +
      (120 * 84 + 84) + (84 * 10 + 10))


def test_variational_doubles_parameters():
  deterministic = models.build("lenet", (8, 8, 1), 10).count_params()
  variational = models.build("lenet", (8, 8, 1), 10, variational=True)
  assert variational.count_params() == 2 * deterministic  # loc and scale


@pytest.mark.slow
def test_vgg_batch_norm_weights():
  channels = 2 * 64 + 2 * 128 + 3 * 256 + 6 * 512 + 512  # 13 convs + FC
  plain = models.build("vgg", (32, 32, 3), 10).count_params()
  tf_keras.backend.clear_session()
  model = models.build("vgg", (32, 32, 3), 10, batch_norm=True,
                       variational=True)
  # gamma, beta (trainable), moving mean and variance per channel.
  assert model.count_params() == 2 * plain + 4 * channels
  bn_weights = models.deterministic_weights(model)
  assert len(bn_weights) == 2 * 14
  assert sum(int(np.prod(w.shape)) for w in bn_weights) == 2 * channels
  assert all("batch_normalization" in w.name for w in bn_weights)


def test_deterministic_weights():
  variational = models.build("lenet", (8, 8, 1), 10, variational=True)
  assert models.deterministic_weights(variational) == []
  deterministic = models.build("lenet", (8, 8, 1), 10)
  assert (len(models.deterministic_weights(deterministic)) ==
          len(deterministic.trainable_weights) == 10)


def test_kl_is_full_analytic_kl_of_kernel_and_bias():
  prior_stddev = 0.3
  model = models.build("mlp", (4, 4, 1), 5, hidden_sizes=(6,),
                       variational=True, prior_stddev=prior_stddev,
                       posterior_scale_init=-4.0)
  model(np.ones((2, 4, 4, 1), np.float32))
  layers = models.variational_layers(model)
  assert len(layers) == len(model.losses) == 2
  for layer, loss in zip(layers, model.losses):
    kernel_loc, kernel_rho, bias_loc, bias_rho = [
        w.numpy() for w in layer.trainable_weights]
    assert abs(kernel_rho.mean() + 4.0) < 0.1
    expected = (_normal_kl(kernel_loc, kernel_rho, prior_stddev) +
                _normal_kl(bias_loc, bias_rho, prior_stddev))
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
    assert not layer.kernel_prior.trainable_variables


def test_variational_outputs_are_random():
  model = models.build("tinycnn", (8, 8, 1), 10, variational=True,
                       dropout=0.0)
  x = np.ones((2, 8, 8, 1), np.float32)
  assert not np.allclose(model(x).numpy(), model(x).numpy())


@pytest.mark.parametrize("name,options,message", [
    ("resnet50", {}, "unknown model 'resnet50'; known: lenet, mlp"),
    ("mlp", {"width": 10}, "unknown option(s) width for model 'mlp'"),
    ("lenet", {"dropout": 0.5}, "unknown option(s) dropout"),
])
def test_unknown_name_or_option(name, options, message):
  with pytest.raises(ValueError) as error:
    models.build(name, (8, 8, 1), 10, **options)
  assert message in str(error.value)


@pytest.mark.parametrize("shape,num_classes,kwargs", [
    ((28, 28), 10, {}),
    ((8, 8, 1), 1, {}),
    ((8, 8, 1), 10, {"seed": -1}),
    ((8, 8, 1), 10, {"variational": True, "prior_stddev": 0.0}),
])
def test_bad_arguments(shape, num_classes, kwargs):
  with pytest.raises(ValueError):
    models.build("mlp", shape, num_classes, **kwargs)
