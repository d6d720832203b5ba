"""What a user's Keras model outputs, and a twin of it that outputs logits.

Every code computes its losses from logits (``log_softmax``). A model that a
user wrote often ends in a softmax, or in a sigmoid for two classes; read as
logits, its probabilities would give a valid but far longer code than the
model deserves (DESIGN.md: a user's model is measured as it is). So the
output layer is read, and:

* a linear output (or ``log_softmax``: log-probabilities are logits) is kept;
* a softmax (a ``Dense``/``Conv`` activation, an ``Activation`` layer or a
  ``Softmax`` layer) is removed: the pre-activation are the logits, and
  ``softmax`` of them is exactly the model's distribution;
* a sigmoid on one unit ``z`` becomes the two logits ``[0, z]``:
  ``softmax([0, z]) = [1 - sigmoid(z), sigmoid(z)]``;
* anything else (``relu``, ``tanh``, a sigmoid on several units, an
  activation layer) is refused in one line naming the layer.

Layers that only move values at inference (``Dropout``, ``Flatten``,
``Reshape``...) are looked through to find the layer whose activation counts.
The model must be a Sequential or functional model (its output layer is
known); a subclassed model's output cannot be read.

:func:`to_logits` changes the model it is given (the activation of its output
layer): call it on a fresh model or a clone, never on one still in use.
"""

import dataclasses

import tensorflow as tf

from tfmdl import keras_compat

HEAD_KINDS = ("logits", "softmax", "sigmoid")

# Layers whose output at inference is their input, moved but not changed.
_LOOK_THROUGH = frozenset({
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
    "GaussianNoise", "GaussianDropout", "AlphaDropout", "Flatten", "Reshape",
    "Identity", "ActivityRegularization",
})
# Layers that are an activation and nothing else.
_ACTIVATION_LAYERS = frozenset({
    "ReLU", "LeakyReLU", "PReLU", "ELU", "ThresholdedReLU",
})
# Activation names (Keras's and TensorFlow's: tf.nn.softmax is softmax_v2).
_LOGITS_ACTIVATIONS = frozenset({"linear", "identity", "log_softmax",
                                 "log_softmax_v2"})
_SOFTMAX_ACTIVATIONS = frozenset({"softmax", "softmax_v2"})


@dataclasses.dataclass(frozen=True)
class Head:
  """The output of a user's model.

  Attributes:
    kind: ``"logits"``, ``"softmax"`` or ``"sigmoid"`` (one of
      :data:`HEAD_KINDS`): what the model outputs as it was handed in.
    layer: name of the layer whose activation decided ``kind``.
    num_classes: the number of logits of the adapted model (2 for a sigmoid).
  """
  kind: str
  layer: str
  num_classes: int


def symbolic_inputs(model):
  """The input tensors of a Sequential or functional ``model``, in the
  structure that calling it takes (one tensor, a list or a dict)."""
  if isinstance(model, (keras_compat.keras3.Sequential,
                        keras_compat.tf_keras.Sequential)):
    return model.inputs[0]
  return model.input


def output_layer(model):
  """The layer that computes ``model``'s single output.

  Raises:
    ValueError: for a subclassed or unbuilt model, or several outputs.
  """
  outputs = getattr(model, "outputs", None)
  if not outputs:
    raise ValueError(
        f"model {model.name!r} ({type(model).__name__}) has no known output "
        "layer: pass a built Sequential or functional model (start it with "
        "keras.Input), not a subclassed or unbuilt one")
  if len(outputs) != 1:
    raise ValueError(f"model {model.name!r} has {len(outputs)} outputs; a "
                     "code needs one output of one logit per class")
  return outputs[0]._keras_history[0]  # pylint: disable=protected-access


def _deciding_layer(model):
  """The layer whose activation decides the head, and whether the path to
  the output went only through ``model``'s own top-level output layer."""
  layer, direct = output_layer(model), True
  while True:
    if isinstance(layer, (keras_compat.keras3.Model,
                          keras_compat.tf_keras.Model)):
      layer, direct = output_layer(layer), False
    elif type(layer).__name__ in _LOOK_THROUGH:
      layer, direct = layer.input._keras_history[0], False  # pylint: disable=protected-access
    else:
      return layer, direct


def _activation_name(layer) -> str:
  activation = layer.activation
  return ("linear" if activation is None
          else getattr(activation, "__name__", repr(activation)))


def _refuse(layer, what: str):
  raise ValueError(
      f"layer {layer.name!r} ({type(layer).__name__}) ends the model with "
      f"{what}: tfmdl needs logits (a linear last layer), a softmax, or a "
      "sigmoid on one unit for two classes")


def read_head(model) -> Head:
  """What ``model`` outputs (nothing is changed).

  Raises:
    ValueError: in one line naming the layer, for an output that is neither
      logits nor a softmax nor a one-unit sigmoid, or of fewer than 2
      classes.
  """
  layer, _ = _deciding_layer(model)
  size = int(model.output_shape[-1])
  name = type(layer).__name__
  if name == "Softmax":
    kind = "softmax"
  elif name in _ACTIVATION_LAYERS:
    _refuse(layer, f"a {name} activation")
  elif hasattr(layer, "activation"):
    activation = _activation_name(layer)
    if activation in _LOGITS_ACTIVATIONS:
      kind = "logits"
    elif activation in _SOFTMAX_ACTIVATIONS:
      kind = "softmax"
    elif activation == "sigmoid" and size == 1:
      kind = "sigmoid"
    elif activation == "sigmoid":
      _refuse(layer, f"a sigmoid on {size} units (independent probabilities,"
              " not one distribution over classes)")
    else:
      _refuse(layer, f"activation {activation!r}")
  else:
    kind = "logits"  # no activation to read: checked on data by the caller
  num_classes = 2 if kind == "sigmoid" else size
  if num_classes < 2:
    raise ValueError(
        f"layer {layer.name!r} outputs {size} value with a linear activation:"
        " for two classes end with Dense(1, activation='sigmoid') or "
        "Dense(2)")
  return Head(kind, layer.name, num_classes)


def _prepend_zero_logit(z):
  """``[0, z]``: the logits of the distribution ``[1 - sigmoid(z), sigmoid(z)]``."""
  return tf.concat([tf.zeros_like(z), z], axis=-1)


def to_logits(model):
  """``model``'s logits: ``(adapted model, Head)``.

  The adapted model is ``model`` itself for a logits head, ``model`` with its
  output activation set to linear for a softmax or sigmoid activation (a
  sigmoid head then gets the zero logit prepended), or a functional model
  ending before a top-level ``Softmax`` layer. It shares ``model``'s weights.

  Raises:
    ValueError: as :func:`read_head`, and for a ``Softmax`` layer inside a
      nested model or behind other layers, or on another axis than the last.
  """
  head = read_head(model)
  if head.kind == "logits":
    return model, head
  keras = keras_compat.keras_of(model)
  layer, direct = _deciding_layer(model)
  if type(layer).__name__ == "Softmax":
    if not direct or layer.axis not in (-1, len(model.output_shape) - 1):
      raise ValueError(
          f"layer {layer.name!r} (Softmax) is not the model's own last layer "
          "on the last axis: end the model with Dense(K, activation="
          "'softmax') or with logits")
    return keras.Model(symbolic_inputs(model), layer.input,
                       name=f"{model.name}_logits"), head
  layer.activation = keras.activations.linear
  if head.kind == "sigmoid":
    logits = keras.layers.Lambda(_prepend_zero_logit, name="zero_logit")(
        model.outputs[0])
    return keras.Model(symbolic_inputs(model), logits,
                       name=f"{model.name}_logits"), head
  return model, head
