"""TFP's Flipout layers as the variational code needs them.

Each layer adds exactly one loss, the full, unscaled analytic KL of its
kernel plus its bias (TFP's default adds one per tensor, through its own
divergence functions, which :class:`~tfmdl.models.layers.LayerFactory`
turns off), under a fixed ``N(0, s^2)`` prior. Kept apart from
:mod:`tfmdl.models.layers` so that only variational models load TensorFlow
Probability.
"""

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions


def normal_prior_fn(stddev: float):
  """A TFP prior fn: a fixed ``N(0, stddev^2)`` on every scalar of the shape."""

  def prior_fn(dtype, shape, name, trainable, add_variable_fn):
    del name, trainable, add_variable_fn  # the prior has no variables
    loc = tf.zeros(shape, dtype)
    return tfd.Independent(
        tfd.Normal(loc=loc, scale=tf.cast(stddev, dtype)),
        reinterpreted_batch_ndims=len(shape))

  return prior_fn


class _SummedKL:
  """Mixin: after the Flipout call, add one loss KL(q||p) of kernel + bias."""

  def call(self, inputs):
    outputs = super().call(inputs)
    kl = tfd.kl_divergence(self.kernel_posterior, self.kernel_prior)
    if self.bias_posterior is not None:
      kl += tfd.kl_divergence(self.bias_posterior, self.bias_prior)
    self.add_loss(kl)
    return outputs


class DenseFlipout(_SummedKL, tfp.layers.DenseFlipout):
  """``tfp.layers.DenseFlipout`` that adds one KL loss (kernel + bias)."""


class Conv2DFlipout(_SummedKL, tfp.layers.Convolution2DFlipout):
  """``tfp.layers.Convolution2DFlipout`` that adds one KL loss."""


# Every Flipout layer type: TFP's, and so these subclasses.
FLIPOUT_TYPES = (tfp.layers.DenseFlipout, tfp.layers.Convolution2DFlipout)


def mean_field_normal_fn(loc_initializer, untransformed_scale_initializer):
  """TFP's mean-field Normal posterior with these (seeded) initializers."""
  return tfp.layers.default_mean_field_normal_fn(
      loc_initializer=loc_initializer,
      untransformed_scale_initializer=untransformed_scale_initializer)
