"""A user's ``tf_keras`` model with its weight layers turned into Flipout twins.

The variational code (:mod:`tfmdl.codes.variational`) prices a model by the KL
between a Gaussian posterior on its weights and a prior; it needs TFP Flipout
layers, which exist only for Keras 2 (``tf_keras``). :func:`to_flipout`
clones a user's model with every ``Dense`` and ``Conv2D`` layer replaced by
the repo's ``DenseFlipout``/``Conv2DFlipout`` (:mod:`tfmdl.models.layers`):
same shapes, activation, padding, strides and bias, a mean-field Normal
posterior whose means start at a Glorot draw, a fixed ``N(0, s0^2)`` prior,
every initializer and weight sampler seeded from the model seed, and one
summed, unscaled KL loss per layer. Layers without weights are cloned as they
are; ``BatchNormalization`` stays deterministic (its weights are sent as
float32 by the variational code, as in the zoo's VGGb).

Refused by :func:`to_flipout`, each in one line naming the layer: a Keras 3
model (the :class:`Flipout` transform translates one first,
:mod:`tfmdl.models.translate`), a subclassed or unbuilt model, any other layer with weights (``Embedding``, ``LSTM``,
``Conv1D``...), regularizers or constraints on a converted layer (the code
prices weights by their KL alone), and grouped convolutions.

Example::

    import tf_keras as keras
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10)])
    twin = to_flipout(model, seed=0, prior_stddev=0.1)
"""

import dataclasses

from tfmdl.keras_compat import keras3
from tfmdl.keras_compat import tf_keras
from tfmdl.models.flipout_layers import Conv2DFlipout
from tfmdl.models.flipout_layers import DenseFlipout
from tfmdl.models.layers import LayerFactory
from tfmdl.models import translate

_KEPT_DETERMINISTIC = (tf_keras.layers.BatchNormalization,)
_EXTRA_TERMS = ("kernel_regularizer", "bias_regularizer",
                "activity_regularizer", "kernel_constraint", "bias_constraint")


def _leaves(model) -> list:
  """The layers of ``model``, nested models expanded."""
  found = []
  for layer in model.layers:
    found += (_leaves(layer) if isinstance(layer, tf_keras.Model)
              else [layer])
  return found


def _check_layer(layer) -> None:
  kind = type(layer)
  if kind in (tf_keras.layers.Dense, tf_keras.layers.Conv2D):
    extra = [t for t in _EXTRA_TERMS if getattr(layer, t, None) is not None]
    if extra:
      raise ValueError(
          f"layer {layer.name!r} ({kind.__name__}) has {', '.join(extra)}: "
          "the variational code prices weights by their KL alone; remove them")
    if getattr(layer, "groups", 1) != 1:
      raise ValueError(f"layer {layer.name!r} (Conv2D) has groups="
                       f"{layer.groups}: no Flipout twin for grouped "
                       "convolutions")
  elif layer.weights and not isinstance(layer, _KEPT_DETERMINISTIC):
    raise ValueError(
        f"layer {layer.name!r} ({kind.__name__}) has weights but no Flipout "
        "twin: only Dense and Conv2D are converted (and BatchNormalization "
        "kept as float32)")


def check_convertible(model) -> None:
  """Refuses, in one line, a model :func:`to_flipout` cannot convert.

  Raises:
    ValueError: see the module docstring.
  """
  if isinstance(model, keras3.Model):
    raise ValueError(
        f"model {model.name!r} is a Keras 3 model: the variational code needs "
        "TFP's Flipout layers, which need tf_keras (Keras 2); translate it "
        "with tfmdl.models.translate.to_tf_keras")
  if not isinstance(model, tf_keras.Model):
    raise ValueError(f"expected a tf_keras model, got {type(model).__name__}")
  if not getattr(model, "outputs", None):
    raise ValueError(
        f"model {model.name!r} is subclassed or unbuilt: pass a built "
        "Sequential or functional tf_keras model (start it with tf_keras.Input)")
  leaves = _leaves(model)
  for layer in leaves:
    _check_layer(layer)
  if not any(type(l) in (tf_keras.layers.Dense, tf_keras.layers.Conv2D)
             for l in leaves):
    raise ValueError(f"model {model.name!r} has no Dense or Conv2D layer to "
                     "put under a posterior")


def to_flipout(model, *, seed: int, prior_stddev: float = 1.0,
               posterior_scale_init: float = -6.0):
  """A fresh Flipout twin of ``model`` (its weights are not copied).

  Args:
    model: a built Sequential or functional ``tf_keras`` model.
    seed: seeds every posterior initializer and weight sampler (same seed,
      same twin).
    prior_stddev: scale of the ``N(0, prior_stddev^2)`` prior.
    posterior_scale_init: initial untransformed posterior scale
      (softplus(-6) ~ 0.0025).

  Returns:
    A ``tf_keras`` model of the same architecture whose ``Dense``/``Conv2D``
    layers are ``DenseFlipout``/``Conv2DFlipout``.

  Raises:
    ValueError: see :func:`check_convertible`.
  """
  check_convertible(model)
  factory = LayerFactory(variational=True, seed=seed,
                         prior_stddev=prior_stddev,
                         posterior_scale_init=posterior_scale_init)

  def convert(layer):
    if isinstance(layer, tf_keras.Model):
      return tf_keras.models.clone_model(layer, clone_function=convert)
    if type(layer) is tf_keras.layers.Dense:
      return DenseFlipout(layer.units, activation=layer.activation,
                          name=layer.name,
                          **factory.flipout_args(layer.use_bias))
    if type(layer) is tf_keras.layers.Conv2D:
      return Conv2DFlipout(
          layer.filters, layer.kernel_size, strides=layer.strides,
          padding=layer.padding, data_format=layer.data_format,
          dilation_rate=layer.dilation_rate, activation=layer.activation,
          name=layer.name, **factory.flipout_args(layer.use_bias))
    return type(layer).from_config(layer.get_config())

  return tf_keras.models.clone_model(model, clone_function=convert)


def _tf_keras(model):
  """``model`` itself if it is a ``tf_keras`` model, else its translation
  (:func:`tfmdl.models.translate.to_tf_keras`)."""
  if isinstance(model, keras3.Model) and getattr(model, "outputs", None):
    return translate.to_tf_keras(model)
  return model


@dataclasses.dataclass(frozen=True)
class Flipout:
  """The variational code's transform of a user's model
  (:class:`tfmdl.models.adapter.ModelFn`): for each seed and prior scale,
  the fresh model's Flipout twin (:func:`to_flipout`).

  Attributes:
    posterior_scale_init: the twin's initial untransformed posterior scale.
  """
  posterior_scale_init: float = -4.0

  def check(self, model) -> None:
    check_convertible(_tf_keras(model))

  def __call__(self, source, seed: int, prior_stddev: float):
    """The Flipout twin of ``source()`` (the user's fresh model; a Keras 3
    one translated first)."""
    model = _tf_keras(source())
    check_convertible(model)
    return to_flipout(model, seed=seed, prior_stddev=prior_stddev,
                      posterior_scale_init=self.posterior_scale_init)


class _Built:
  """The transform of a source that builds its own Flipout model from
  ``(seed, prior_stddev)`` (the zoo's ``models.build(...,
  variational=True)``)."""

  def check(self, model) -> None:
    del model

  def __call__(self, source, seed: int, prior_stddev: float):
    del seed
    return source(prior_stddev)


BUILT = _Built()
