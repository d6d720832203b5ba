"""One factory for the weight layers of every model, deterministic or Flipout.

A builder asks a :class:`LayerFactory` for a dense or convolutional layer and
gets a ``tf_keras`` ``Dense``/``Conv2D`` or, when the factory is variational,
its TFP Flipout twin. So each architecture is written once, and both versions
have the same shapes.

Why the care about seeds and KL terms:
- Every initializer, every dropout layer and every Flipout layer gets its own
  seed, derived from the model seed (``seed * 1009 + i`` for the i-th seeded
  object), so a model is a function of its seed. TFP's default posterior
  shares one unseeded initializer, which would make two models identical.
- The variational code needs the KL between posterior and prior (nats) and
  scales it itself. Each Flipout layer here adds exactly one loss: the full,
  unscaled analytic KL of its kernel plus its bias (if it has one).

The Flipout layers live in :mod:`tfmdl.models.flipout_layers`, imported when
a variational model is built: the deterministic codes do not load
TensorFlow Probability.
"""

from tfmdl.keras_compat import tf_keras

_SEED_STRIDE = 1009  # more than the seeded objects of any model here


class LayerFactory:
  """Makes the layers of one model, seeding each from the model seed.

  Attributes:
    variational: whether weight layers are Flipout layers with a mean-field
      Gaussian posterior on kernel and bias.
  """

  def __init__(self, *, variational: bool, seed: int,
               prior_stddev: float = 1.0, posterior_scale_init: float = -6.0):
    """Creates the factory of one model.

    Args:
      variational: build Flipout layers instead of Dense/Conv2D.
      seed: the model seed; every seeded object gets a distinct seed from it.
      prior_stddev: standard deviation of the N(0, s^2) prior on every weight.
      posterior_scale_init: mean of the initial untransformed (pre-softplus)
        posterior scale; -6 gives a scale near 0.0025.
    """
    if seed < 0:
      raise ValueError(f"seed must be >= 0, got {seed}")
    if prior_stddev <= 0:
      raise ValueError(f"prior_stddev must be > 0, got {prior_stddev}")
    self.variational = variational
    self._seed = seed
    self._count = 0
    self._prior_stddev = prior_stddev
    self._posterior_scale_init = posterior_scale_init

  def next_seed(self) -> int:
    """A fresh seed for the next seeded object of this model."""
    self._count += 1
    return self._seed * _SEED_STRIDE + self._count

  def dense(self, units: int, activation=None):
    """A ``Dense`` layer, or a ``DenseFlipout`` when variational."""
    if self.variational:
      from tfmdl.models import flipout_layers  # pylint: disable=g-import-not-at-top
      return flipout_layers.DenseFlipout(units, activation=activation,
                                         **self.flipout_args())
    return tf_keras.layers.Dense(units, activation=activation,
                                 **self._deterministic_args())

  def conv2d(self, filters: int, kernel_size: int, activation=None,
             strides: int = 1):
    """A 'same'-padded ``Conv2D``, or its Flipout twin when variational."""
    if self.variational:
      from tfmdl.models import flipout_layers  # pylint: disable=g-import-not-at-top
      return flipout_layers.Conv2DFlipout(
          filters, kernel_size, strides=strides, padding="same",
          activation=activation, **self.flipout_args())
    return tf_keras.layers.Conv2D(filters, kernel_size, strides=strides,
                                  padding="same", activation=activation,
                                  **self._deterministic_args())

  def dropout(self, rate: float):
    """A seeded ``Dropout`` layer."""
    return tf_keras.layers.Dropout(rate, seed=self.next_seed())

  def batch_norm(self):
    """BatchNorm with Torch's defaults (momentum 0.1, eps 1e-5), as Zagoruyko.

    Its gamma and beta stay deterministic in a variational model.
    """
    return tf_keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5)

  def _deterministic_args(self) -> dict:
    return dict(
        kernel_initializer=tf_keras.initializers.GlorotUniform(
            seed=self.next_seed()),
        bias_initializer="zeros")

  def _posterior_fn(self, loc_initializer):
    from tfmdl.models import flipout_layers  # pylint: disable=g-import-not-at-top
    return flipout_layers.mean_field_normal_fn(
        loc_initializer, tf_keras.initializers.RandomNormal(
            mean=self._posterior_scale_init, stddev=0.1,
            seed=self.next_seed()))

  def flipout_args(self, use_bias: bool = True) -> dict:
    """Keyword arguments of a Flipout layer: seeded posteriors, the prior.

    Without ``use_bias`` the layer gets no bias (no posterior, no prior).
    """
    from tfmdl.models import flipout_layers  # pylint: disable=g-import-not-at-top
    prior_fn = flipout_layers.normal_prior_fn
    kernel_loc = tf_keras.initializers.GlorotUniform(seed=self.next_seed())
    kernel_sample_seed, bias_sample_seed = self.next_seed(), self.next_seed()
    return dict(
        kernel_posterior_fn=self._posterior_fn(kernel_loc),
        kernel_prior_fn=prior_fn(self._prior_stddev),
        bias_posterior_fn=(self._posterior_fn("zeros") if use_bias else None),
        bias_prior_fn=(prior_fn(self._prior_stddev) if use_bias else None),
        kernel_posterior_tensor_fn=lambda q: q.sample(seed=kernel_sample_seed),
        bias_posterior_tensor_fn=lambda q: q.sample(seed=bias_sample_seed),
        # One summed KL per layer is added by the layer itself instead.
        kernel_divergence_fn=None,
        bias_divergence_fn=None,
        seed=self.next_seed())


def _leaf_layers(model) -> list:
  """The layers of ``model`` in order, with nested models expanded."""
  leaves = []
  for layer in model.layers:
    if isinstance(layer, tf_keras.Model):
      leaves += _leaf_layers(layer)
    else:
      leaves.append(layer)
  return leaves


def variational_layers(model) -> list:
  """The Flipout layers of ``model``, in order (nested models included)."""
  from tfmdl.models import flipout_layers  # pylint: disable=g-import-not-at-top
  return [layer for layer in _leaf_layers(model)
          if isinstance(layer, flipout_layers.FLIPOUT_TYPES)]


def deterministic_weights(model) -> list:
  """Trainable weights of ``model`` that have no posterior (e.g. BatchNorm).

  For a deterministic model these are all trainable weights; for a variational
  one, the weights outside its Flipout layers, which the variational code
  transmits as float32.
  """
  under_posterior = {id(w) for layer in variational_layers(model)
                     for w in layer.trainable_weights}
  return [w for w in model.trainable_weights if id(w) not in under_posterior]
