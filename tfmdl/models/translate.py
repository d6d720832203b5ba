"""A built Keras 3 model, translated into the same model in ``tf_keras``.

The variational code needs TFP's Flipout layers, which exist only for Keras 2
(``tf_keras``; :mod:`tfmdl.keras_compat`). :func:`to_tf_keras` rebuilds a
user's Keras 3 Sequential or functional model in ``tf_keras``, layer by layer
from each layer's ``get_config()`` to the ``tf_keras`` class of the same name,
with the functional graph (several inputs and outputs, shared layers, nested
models) rebuilt and the weights copied: the twin computes the same function.
:func:`tfmdl.models.flipout.to_flipout` then takes it as it takes a model
written in ``tf_keras``.

Where the two Kerases differ, the config is mapped (found by trying each
layer, and proved by the outputs of several architectures in the tests):

* a layer's dtype is a policy object in Keras 3, its name in ``tf_keras``;
* initializers, regularizers and constraints are rebuilt from their class
  name and config (a Keras 3 only option such as ``input_axes`` must be
  unset);
* a renamed option is renamed (``LeakyReLU``'s ``negative_slope`` is
  ``alpha``);
* a Keras 3 only option (``quantization_config``, ``rms_scaling``...) is
  dropped when it has its default value, so changes nothing, and refused
  otherwise;
* an activation is taken by name: Keras's own, or a TensorFlow function
  (``tf.nn.softmax`` is ``softmax``); any other function is refused.

Refused, each in one line naming the layer and its class: a subclassed
model, a layer not in :data:`SUPPORTED_LAYERS` (nor a subclass of one: its
``call`` may differ), an operation on tensors outside a layer (``x + y``
in a functional model: use ``keras.layers.Add``), ragged inputs, and a
config that ``tf_keras`` cannot express.

Example::

    import keras
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    twin = to_tf_keras(model)  # tf_keras, same weights, same outputs
"""

import inspect

import numpy as np
import tensorflow as tf

from tfmdl.keras_compat import keras3
from tfmdl.keras_compat import tf_keras

# Keras 3 layer classes translated to the tf_keras class of the same name.
SUPPORTED_LAYERS = frozenset({
    "Dense", "Conv1D", "Conv2D", "Embedding",
    "BatchNormalization", "LayerNormalization",
    "Flatten", "Reshape", "Identity", "Rescaling", "ZeroPadding2D",
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise",
    "Activation", "Softmax", "ReLU", "LeakyReLU", "ELU",
    "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D",
    "Add", "Subtract", "Multiply", "Average", "Concatenate",
})
# (class, Keras 3 option) -> the tf_keras option's name.
_RENAMED = {("LeakyReLU", "negative_slope"): "alpha"}
# Keras 3 only options, and the value at which they change nothing.
_KERAS3_ONLY = {"quantization_config": None, "lora_rank": None,
                "lora_alpha": None, "rms_scaling": False}
# Configs that hold a Keras object, by the end of the option's name.
_OBJECT_KINDS = ("_initializer", "_regularizer", "_constraint")
# Functions of TensorFlow whose name differs from the Keras activation's.
_TF_NAMES = {"softmax_v2": "softmax", "log_softmax_v2": "log_softmax"}


def _accepted(cls) -> frozenset:
  """The named ``__init__`` options of ``cls`` and its bases (a layer
  passes the rest on to its base as ``**kwargs``)."""
  found = set()
  for base in cls.__mro__:
    init = base.__dict__.get("__init__")
    if init is not None:
      found.update(p.name for p in inspect.signature(init).parameters.values()
                   if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL))
  return frozenset(found)


def _refuse(layer, why: str):
  raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}) {why}")


def _keras_object(layer, key: str, value):
  """A serialized Keras 3 initializer, regularizer or constraint, in the
  form ``tf_keras`` deserializes."""
  if value is None or isinstance(value, str):
    return value
  if value.get("registered_name") is not None:
    _refuse(layer, f"has a custom {key} ({value['class_name']}), which "
            "tf_keras cannot rebuild")
  config = {}
  for name, setting in value["config"].items():
    if name in ("input_axes", "output_axes") and setting is not None:
      _refuse(layer, f"sets {key} {name}={setting!r}, which tf_keras lacks")
    if setting is not None:
      config[name] = setting
  return {"class_name": value["class_name"], "config": config}


def _activation(layer, value) -> str:
  """The name of ``layer``'s activation in ``tf_keras``."""
  if isinstance(value, str):
    name = value
  else:
    function = layer.activation
    name = _TF_NAMES.get(function.__name__, function.__name__)
    if not getattr(function, "__module__", "").startswith("tensorflow"):
      _refuse(layer, f"has activation {function.__name__!r}, a function "
              "tf_keras cannot rebuild: use a Keras or TensorFlow one")
  try:
    tf_keras.activations.get(name)
  except ValueError:
    _refuse(layer, f"has activation {name!r}, which tf_keras lacks")
  return name


def _tf_keras_config(layer) -> dict:
  """``layer``'s Keras 3 config in the form of its ``tf_keras`` class."""
  kind = type(layer).__name__
  accepted = _accepted(getattr(tf_keras.layers, kind))
  config = {}
  for key, value in layer.get_config().items():
    if key == "dtype":
      value = layer.dtype_policy.name
    elif key == "activation":
      value = _activation(layer, value)
    elif key.endswith(_OBJECT_KINDS):
      value = _keras_object(layer, key, value)
    key = _RENAMED.get((kind, key), key)
    if key in accepted:
      config[key] = value
    elif key not in _KERAS3_ONLY or value != _KERAS3_ONLY[key]:
      _refuse(layer, f"sets {key}={value!r}, which tf_keras lacks")
  return config


def _twin_layer(layer):
  """The ``tf_keras`` layer (or model) computing what ``layer`` does,
  unbuilt (its weights are copied once the model is built)."""
  if isinstance(layer, keras3.Model):
    return to_tf_keras(layer)
  kind = type(layer).__name__
  if not isinstance(layer, keras3.layers.Layer):
    _refuse(layer, "is an operation outside a layer, with no tf_keras twin: "
            "write it as a layer (keras.layers.Add for x + y)")
  if kind not in SUPPORTED_LAYERS or type(layer) is not getattr(
      keras3.layers, kind, None):
    _refuse(layer, "has no tf_keras twin here; translated: "
            f"{', '.join(sorted(SUPPORTED_LAYERS))}")
  config = _tf_keras_config(layer)
  try:
    return getattr(tf_keras.layers, kind).from_config(config)
  except (TypeError, ValueError) as e:
    _refuse(layer, f"has a config tf_keras refuses ({str(e).splitlines()[0]})")


def _input(tensor):
  """A ``tf_keras.Input`` like the Keras 3 input ``tensor``."""
  layer = tensor._keras_history[0]  # pylint: disable=protected-access
  if getattr(tensor, "ragged", False):
    _refuse(layer, "is a ragged input, which the translation does not take")
  return tf_keras.Input(batch_shape=tuple(tensor.shape), dtype=tensor.dtype,
                        sparse=tensor.sparse, name=layer.name)


def _sequential(model, twins: dict):
  """The ``tf_keras.Sequential`` of a Keras 3 Sequential ``model``."""
  layers = [_input(model.inputs[0])]
  for layer in model.layers:
    twins[id(layer)] = (layer, _twin_layer(layer))
    layers.append(twins[id(layer)][1])
  return tf_keras.Sequential(layers, name=model.name)


def _functional(model, twins: dict):
  """The ``tf_keras`` functional model of a Keras 3 functional ``model``:
  its nodes called in order of depth, inputs first."""
  tensors = {id(t): _input(t) for t in model.inputs}
  mapped = lambda s: keras3.tree.map_structure(
      lambda v: tensors[id(v)] if isinstance(v, keras3.KerasTensor) else v, s)
  by_depth = model._nodes_by_depth  # pylint: disable=protected-access
  for depth in sorted(by_depth, reverse=True):
    for node in by_depth[depth]:
      if node.is_input:
        continue
      layer = node.operation
      if id(layer) not in twins:
        twins[id(layer)] = (layer, _twin_layer(layer))
      outputs = twins[id(layer)][1](*mapped(node.arguments.args),
                                     **mapped(node.arguments.kwargs))
      for source, twin in zip(node.outputs, tf.nest.flatten(outputs)):
        tensors[id(source)] = twin
  return tf_keras.Model(mapped(model.input), mapped(model.output),
                        name=model.name)


def _check_same_outputs(model, twin, example) -> None:
  """Refuses a twin whose outputs on ``example`` are not ``model``'s."""
  ours = tf.nest.flatten(twin(example, training=False))
  theirs = keras3.tree.flatten(model(example, training=False))
  for a, b in zip(ours, theirs):
    if not np.allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5):
      raise ValueError(
          f"model {model.name!r} translated to tf_keras gives other outputs "
          "on the data: pass a model_fn(seed) building it in tf_keras")


def to_tf_keras(model, example=None):
  """The ``tf_keras`` twin of a built Keras 3 model, its weights copied.

  Args:
    model: a built Keras 3 Sequential or functional model (nested models
      are translated too).
    example: a few inputs (as ``model`` takes them); if given, the twin's
      outputs on them are checked to be ``model``'s.

  Returns:
    A ``tf_keras`` Sequential or functional model of the same layers, names,
    inputs and outputs, with ``model``'s weights.

  Raises:
    ValueError: in one line, for what cannot be translated (module
      docstring), or outputs that differ on ``example``.
  """
  if not isinstance(model, keras3.Model):
    raise ValueError(f"expected a Keras 3 model, got {type(model).__name__}")
  if not getattr(model, "outputs", None):
    raise ValueError(
        f"model {model.name!r} ({type(model).__name__}) is subclassed or "
        "unbuilt: only a built Sequential or functional model is translated")
  twins = {}
  twin = (_sequential(model, twins) if isinstance(model, keras3.Sequential)
          else _functional(model, twins))
  for layer, layer_twin in twins.values():
    if not isinstance(layer, keras3.Model):  # its own weights are copied
      layer_twin.set_weights(layer.get_weights())
  if example is not None:
    _check_same_outputs(model, twin, example)
  return twin
