"""MDL probing: how many bits a probe needs to read labels off a representation.

Voita & Titov, "Information-Theoretic Probing with Minimum Description
Length" (2020): instead of a probe's accuracy, report the codelength of the
labels given the frozen features of a layer, under an online (prequential)
code with a small probe (linear, or an MLP). A representation that makes the
labels easy to extract gives a shorter code, whatever the probe's capacity.
Their schedule sends the first 0.1% uniformly, then blocks ending at 0.2%,
0.4%, ..., 50%, 100% of the data (:data:`VOITA_TITOV_FRACTIONS`, timesteps as
fractions of n, :func:`tfmdl.codes.prequential.schedule.fraction_timesteps`).

:func:`probe` extracts the features of ``encoder.get_layer(layer_name)`` once,
in inference mode, flattened to one vector per example, then measures a
seeded probe on them with :func:`tfmdl.description_length`.

The codelength is one that Bob can decode only if the encoder is an agreed
constant: trained on other data, or on labels that are not the ones coded
(a test split, another task), or untrained from a seed. An encoder trained
on the coded labels has seen them: its bits would have to be paid.

:func:`probe_curve` measures the probe's loss-data curve on held-out data
instead (Whitney et al. 2020): surplus description length, eps-sample
complexity and an online codelength estimate (:mod:`tfmdl.bits.loss_data`).

Example::

    import tfmdl
    result = tfmdl.probe(encoder, "features", x, y, num_classes=10,
                         probe="linear", code="prequential")
    print(result.codelength_bits)
"""

from typing import Mapping

import numpy as np
import tensorflow as tf

from tfmdl import api
from tfmdl import keras_compat
from tfmdl import loss_data_curves
from tfmdl.bits import loss_data
from tfmdl.data import labelled as user_data
from tfmdl.keras_compat import tf_keras
from tfmdl.models import heads
from tfmdl.models.layers import LayerFactory

PROBES = ("linear", "mlp")
EPSILONS_BITS = (1.0, 0.5, 0.25)
VOITA_TITOV_FRACTIONS = (0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.0625,
                         0.125, 0.25, 0.5, 1.0)


def feature_model(encoder, layer_name: str):
  """A model from ``encoder``'s inputs to the output of its layer
  ``layer_name``, sharing its weights.

  Raises:
    ValueError: if the encoder has no such layer, or no known inputs.
  """
  keras = keras_compat.keras_of(encoder)
  heads.output_layer(encoder)  # refuses subclassed and unbuilt encoders
  names = [layer.name for layer in encoder.layers]
  if layer_name not in names:
    raise ValueError(f"encoder {encoder.name!r} has no layer {layer_name!r}; "
                     f"its layers: {', '.join(names)}")
  return keras.Model(heads.symbolic_inputs(encoder),
                     encoder.get_layer(layer_name).output,
                     name=f"{encoder.name}_{layer_name}")


def extract_features(encoder, layer_name: str, x, y=None, *,
                     batch_size: int = 256) -> tuple:
  """Frozen features of ``x`` at ``encoder``'s layer ``layer_name``.

  Args:
    encoder: a built Sequential or functional Keras model.
    layer_name: the layer whose outputs are the features.
    x: inputs (an array, a dict of arrays) or a ``tf.data.Dataset`` of
      ``(x, y)`` pairs in a fixed order (then ``y`` is None).
    y: labels, for arrays (returned as they are).
    batch_size: examples per forward pass.

  Returns:
    ``(features, y)``: float32 features of shape (n, d) in the order of
    ``x``, and the labels.
  """
  model = feature_model(encoder, layer_name)
  forward = tf.function(lambda inputs: model(inputs, training=False),
                        reduce_retracing=True)
  if isinstance(x, tf.data.Dataset):
    batches = user_data.batches(x, batch_size)
  else:
    n = len(next(iter(x.values()))) if isinstance(x, Mapping) else len(x)
    batches = ((tf.nest.map_structure(lambda v, i=i: np.asarray(
        v)[i:i + batch_size], x), None) for i in range(0, n, batch_size))
  features, labels = [], []
  for inputs, labels_batch in batches:
    out = np.asarray(forward(inputs), np.float32)
    features.append(out.reshape(len(out), -1))
    labels.append(labels_batch)
  return (np.concatenate(features),
          y if y is not None else np.concatenate(labels))


def probe_model_fn(kind: str, num_features: int, num_classes: int, *,
                   hidden_units: int = 256):
  """``model_fn(seed)`` of a probe on ``num_features`` features.

  ``"linear"``: one Dense layer of logits; ``"mlp"``: a ReLU hidden layer of
  ``hidden_units``, then logits. A ``tf_keras`` model seeded from ``seed``
  (so the variational code can take it too).

  Raises:
    ValueError: for an unknown kind.
  """
  if kind not in PROBES:
    raise ValueError(f"unknown probe {kind!r}; known: {', '.join(PROBES)}")

  def build(seed: int):
    factory = LayerFactory(variational=False, seed=seed)
    layers = ([factory.dense(hidden_units, activation="relu")]
              if kind == "mlp" else [])
    return tf_keras.Sequential(
        [tf_keras.Input((num_features,))] + layers +
        [factory.dense(num_classes)], name=f"{kind}_probe")

  return build


def probe(encoder, layer_name: str, x, y=None, *, num_classes: int,
          probe: str = "linear", code: str = "prequential",
          hidden_units: int = 256, x_test=None, y_test=None,
          batch_size: int = 256, **options):
  """Codelength, in bits, of labels ``y`` given ``encoder``'s frozen features.

  Args:
    encoder: a built Keras model, an agreed constant (see the module
      docstring); its layer ``layer_name`` gives the features.
    layer_name: name of the layer whose outputs are probed.
    x, y: inputs and integer labels, or a ``tf.data.Dataset`` of pairs.
    num_classes: K of the probed labels (agreed in advance).
    probe: ``"linear"`` or ``"mlp"`` (:func:`probe_model_fn`).
    code: any code of :func:`tfmdl.description_length`; ``prequential``
      with ``timesteps=VOITA_TITOV_FRACTIONS`` is Voita & Titov's online code.
    hidden_units: width of the MLP probe.
    x_test, y_test: optional test data for the probe's test accuracy.
    batch_size: examples per forward pass of the encoder.
    **options: options of the code (:func:`tfmdl.description_length`).

  Returns:
    The code's result object; its ``data_fingerprint`` is that of the
    features and labels.
  """
  features, labels = extract_features(encoder, layer_name, x, y,
                                      batch_size=batch_size)
  model_fn = probe_model_fn(probe, features.shape[1], num_classes,
                            hidden_units=hidden_units)
  if x_test is not None:
    x_test, y_test = extract_features(encoder, layer_name, x_test, y_test,
                                      batch_size=batch_size)
  return api.description_length(model_fn, features, labels, code=code,
                                num_classes=num_classes, x_test=x_test,
                                y_test=y_test, **options)


def probe_curve(encoder, layer_name: str, x, y, x_test, y_test, *,
                num_classes: int, probe: str = "linear",
                hidden_units: int = 256, sizes=None,
                epsilons=EPSILONS_BITS, batch_size: int = 256,
                **options) -> loss_data.LossDataMeasures:
  """The loss-data curve of a probe on ``encoder``'s frozen features, and
  the measures read from it (Whitney et al. 2020).

  The features of ``x`` and ``x_test`` are extracted once, as in
  :func:`probe`; then :func:`tfmdl.loss_data_curve` trains a fresh seeded
  probe on each prefix of ``sizes`` and evaluates it on the test features.
  The encoder must not have been trained on the labels of ``x`` or
  ``x_test``: the curve would show labels it has already seen.

  Args:
    encoder, layer_name, num_classes, probe, hidden_units, batch_size: as
      in :func:`probe`.
    x, y: the probe's training inputs and labels, in the agreed order.
    x_test, y_test: held-out inputs and labels for the curve.
    sizes: training-set sizes (:func:`tfmdl.loss_data_curves.training_sizes`).
    epsilons: loss thresholds, bits per example, for SDL and eSC.
    **options: options of :func:`tfmdl.loss_data_curve` (``seed``,
      ``val_fraction``, ``logdir``, training fields).

  Returns:
    :class:`tfmdl.bits.loss_data.LossDataMeasures`: SDL and eps-sample
    complexity at each epsilon, the online estimate, and the curve.
  """
  features, labels = extract_features(encoder, layer_name, x, y,
                                      batch_size=batch_size)
  test_features, test_labels = extract_features(
      encoder, layer_name, x_test, y_test, batch_size=batch_size)
  model_fn = probe_model_fn(probe, features.shape[1], num_classes,
                            hidden_units=hidden_units)
  curve = loss_data_curves.loss_data_curve(
      model_fn, features, labels, test_features, test_labels, sizes=sizes,
      num_classes=num_classes, **options)
  return loss_data.measures(curve, epsilons)
