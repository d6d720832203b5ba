"""The model registry: a name and a data shape in, a ``tf_keras`` model out.

Every model takes NHWC inputs and outputs logits (no softmax). With
``variational=True`` the same architecture is built from Flipout layers whose
``losses`` carry one analytic KL(posterior || prior) per layer. Options are
the keyword-only arguments of each builder; anything else is an error, so a
typo in a config never silently falls back to a default.
"""

import inspect

from tfmdl.keras_compat import tf_keras
from tfmdl.models import convnets
from tfmdl.models import mlp
from tfmdl.models import resnet
from tfmdl.models.layers import LayerFactory

_BUILDERS = {
    "mlp": mlp.mlp,
    "shallow": mlp.shallow,
    "lenet": convnets.lenet,
    "tinycnn": convnets.tinycnn,
    "vgg_mnist": convnets.vgg_mnist,
    "vgg": convnets.vgg,
    "resnet": resnet.resnet,
}


def list_models() -> list[str]:
  """Names of the registered models, sorted."""
  return sorted(_BUILDERS)


def _options_of(builder) -> list[str]:
  return [p.name for p in inspect.signature(builder).parameters.values()
          if p.kind == inspect.Parameter.KEYWORD_ONLY]


def build(name: str, input_shape, num_classes: int, *,
          variational: bool = False, prior_stddev: float = 1.0, seed: int = 0,
          posterior_scale_init: float = -6.0, **options) -> tf_keras.Model:
  """Builds model ``name`` for inputs of ``input_shape`` and ``num_classes``.

  Example:
    model = build("mlp", (28, 28, 1), 10, hidden_sizes=(512, 512))
    logits = model(images)  # (batch, 10)

  Args:
    name: one of :func:`list_models`.
    input_shape: (height, width, channels) of one example.
    num_classes: number of logits.
    variational: use Flipout layers with a mean-field Gaussian posterior on
      every kernel and bias and a fixed N(0, prior_stddev^2) prior.
    prior_stddev: standard deviation of the prior (variational only).
    seed: seeds every initializer, dropout and Flipout layer; the same seed
      gives the same initial weights.
    posterior_scale_init: initial untransformed posterior scale
      (variational only; softplus(-6) ~ 0.0025).
    **options: architecture options of the model, e.g. ``hidden_sizes`` and
      ``dropout`` for ``mlp``, ``width`` for ``shallow``, ``batch_norm`` and
      ``dropout`` for ``vgg``.

  Returns:
    A built ``tf_keras.Sequential`` model named ``name`` that outputs logits.
    A variational model's ``losses`` hold, after each call, one unscaled KL
    in nats per Flipout layer (before the first call they are symbolic).

  Raises:
    ValueError: on an unknown model or option, or a bad shape or class count.
  """
  if name not in _BUILDERS:
    raise ValueError(
        f"unknown model {name!r}; known: {', '.join(list_models())}")
  builder = _BUILDERS[name]
  known = _options_of(builder)
  unknown = sorted(set(options) - set(known))
  if unknown:
    raise ValueError(f"unknown option(s) {', '.join(unknown)} for model "
                     f"{name!r}; known: {', '.join(known) or 'none'}")
  input_shape = tuple(input_shape)
  if len(input_shape) != 3 or min(input_shape) < 1:
    raise ValueError(
        f"input_shape must be (height, width, channels), got {input_shape}")
  if num_classes < 2:
    raise ValueError(f"need at least 2 classes, got {num_classes}")
  factory = LayerFactory(variational=variational, seed=seed,
                         prior_stddev=prior_stddev,
                         posterior_scale_init=posterior_scale_init)
  layers = builder(factory, input_shape, num_classes, **options)
  return tf_keras.Sequential([tf_keras.Input(shape=input_shape)] + layers,
                             name=name)
