"""A Keras 3 model translated to tf_keras computes the same function.

Several architectures that together use every translated layer class (a
convnet, a residual graph with merges, a token-sequence model, a model with
two named inputs, two outputs, a shared layer and a nested Sequential, a
Sequential built without an Input) get random weights; their tf_keras twins
must give the same outputs. What cannot be translated is refused in one line
naming the layer and its class. The variational code of a Keras 3 model is
that of the same model written in tf_keras.
"""

import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_digits

import tfmdl
from tfmdl.keras_compat import keras3
from tfmdl.keras_compat import tf_keras
from tfmdl.models import flipout
from tfmdl.models import translate

L = keras3.layers


def _convnet():
  return keras3.Sequential([
      keras3.Input((8, 8, 1)), L.Rescaling(2.0, offset=-0.5),
      L.Conv2D(4, 3, padding="same", activation="relu"),
      L.BatchNormalization(momentum=0.9, epsilon=1e-5), L.LeakyReLU(0.2),
      L.MaxPooling2D(), L.SpatialDropout2D(0.1), L.ZeroPadding2D(1),
      L.AveragePooling2D(2), L.ELU(), L.Flatten(), L.Dropout(0.2),
      L.GaussianNoise(0.1), L.Dense(10, activation=tf.nn.softmax)])


def _residual():
  x = keras3.Input((8, 8, 1))
  a = L.ReLU(max_value=2.0)(L.Conv2D(4, 3, padding="same")(x))
  b = L.Activation("tanh")(L.Conv2D(4, 1, use_bias=False)(x))
  merged = L.Average()([L.Add()([a, b]), L.Subtract()([a, b]),
                        L.Multiply()([a, b])])
  pooled = L.Concatenate()([L.GlobalAveragePooling2D()(merged),
                            L.GlobalMaxPooling2D()(merged)])
  return keras3.Model(x, L.Softmax()(L.Dense(10)(pooled)))


def _tokens():
  x = keras3.Input((12,), dtype="int32")
  h = L.Conv1D(6, 3, padding="same", activation="relu")(L.Embedding(50, 8)(x))
  h = L.LayerNormalization()(L.SpatialDropout1D(0.1)(
      L.AveragePooling1D(2)(L.MaxPooling1D()(h))))
  pooled = L.Concatenate()([L.GlobalAveragePooling1D()(h),
                            L.GlobalMaxPooling1D()(h)])
  return keras3.Model(x, L.Dense(3, activation="log_softmax")(pooled))


def _two_inputs_two_outputs():
  top, bottom = keras3.Input((32,), name="top"), keras3.Input((32,),
                                                             name="bottom")
  shared = L.Dense(8, activation="relu")
  inner = keras3.Sequential([keras3.Input((16,)), L.Identity(),
                             L.Reshape((4, 4)), L.Flatten(), L.Dense(5)],
                            name="inner")
  hidden = L.Concatenate()([shared(top), shared(bottom)])
  return keras3.Model({"top": top, "bottom": bottom},
                      [inner(hidden), L.Dense(1, activation="sigmoid")(hidden)])


def _built_without_input():
  model = keras3.Sequential([L.Dense(4, activation="relu"), L.Dense(3)])
  model.build((None, 6))
  return model


def _inputs(name, rng):
  if name == "tokens":
    return rng.integers(0, 50, (5, 12)).astype(np.int32)
  if name == "two_inputs_two_outputs":
    return {k: rng.normal(size=(5, 32)).astype(np.float32)
            for k in ("top", "bottom")}
  shape = (5, 6) if name == "built_without_input" else (5, 8, 8, 1)
  return rng.normal(size=shape).astype(np.float32)


ARCHITECTURES = {"convnet": _convnet, "residual": _residual,
                 "tokens": _tokens,
                 "two_inputs_two_outputs": _two_inputs_two_outputs,
                 "built_without_input": _built_without_input}


def _randomise(model, rng):
  """Weights in [0.5, 1.5] (positive: valid BatchNorm variances), so that
  every weight, moving statistics included, matters."""
  for layer in model.layers:
    if isinstance(layer, keras3.Model):
      _randomise(layer, rng)
    else:
      layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(np.float32)
                         for w in layer.get_weights()])


def _leaf_classes(model) -> set:
  """The classes of ``model``'s layers, nested models expanded, inputs
  (rebuilt as ``tf_keras.Input``) left out."""
  return {name for layer in model.layers for name in (
      _leaf_classes(layer) if isinstance(layer, keras3.Model)
      else {type(layer).__name__})} - {"InputLayer"}


def test_the_architectures_use_every_translated_layer():
  used = set().union(*(_leaf_classes(build()) for build in
                       ARCHITECTURES.values()))
  assert used == translate.SUPPORTED_LAYERS


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_the_twin_gives_the_same_outputs_with_the_same_weights(name):
  rng = np.random.default_rng(0)
  model = ARCHITECTURES[name]()
  _randomise(model, rng)
  x = _inputs(name, rng)
  twin = translate.to_tf_keras(model)
  assert isinstance(twin, tf_keras.Model)
  assert type(twin).__name__ == type(model).__name__  # Sequential stays one
  assert twin.count_params() == model.count_params()
  ours = tf.nest.flatten(twin(x, training=False))
  theirs = keras3.tree.flatten(model(x, training=False))
  assert len(ours) == len(theirs)
  for a, b in zip(ours, theirs):
    np.testing.assert_allclose(a.numpy(), np.asarray(b), rtol=1e-5,
                               atol=1e-5)


def test_a_shared_layer_stays_one_layer():
  # pylint: disable=protected-access
  model = _two_inputs_two_outputs()
  shared = [l.name for l in model.layers if len(l._inbound_nodes) == 2]
  twin = translate.to_tf_keras(model)
  assert len(shared) == 1
  assert len(twin.get_layer(shared[0])._inbound_nodes) == 2
  assert len(twin.weights) == len(model.weights)


def test_the_twin_of_a_convnet_converts_to_flipout():
  twin = translate.to_tf_keras(_convnet())
  flipout_twin = flipout.to_flipout(twin, seed=0, prior_stddev=0.1)
  flipout_twin(np.zeros((2, 8, 8, 1), np.float32))
  assert len(flipout_twin.losses) == 2  # one KL: Conv2D, one: Dense


def _one_line(excinfo) -> str:
  message = str(excinfo.value)
  assert "\n" not in message, message
  return message


class _MyDense(L.Dense):
  """A Dense whose call a translation could not know."""


def _my_activation(z):
  return 2 * z


@pytest.mark.parametrize("layer, message", [
    (lambda: L.Lambda(lambda z: 2 * z),
     "(Lambda) has no tf_keras twin here; translated: Activation, Add,"),
    (lambda: L.LSTM(3), "(LSTM) has no tf_keras twin"),
    (lambda: _MyDense(3), "(_MyDense) has no tf_keras twin"),
    (lambda: L.LayerNormalization(rms_scaling=True),
     "(LayerNormalization) sets rms_scaling=True, which tf_keras lacks"),
    (lambda: L.Dense(3, lora_rank=2),
     "(Dense) sets lora_rank=2, which tf_keras lacks"),
    (lambda: L.Dense(3, activation=_my_activation),
     "has activation '_my_activation', a function tf_keras cannot rebuild"),
    (lambda: L.Dense(3, kernel_initializer=keras3.initializers.GlorotUniform(
        input_axes=(0,), output_axes=(1,))), "sets kernel_initializer "),
], ids=["lambda", "lstm", "subclassed_layer", "rms_scaling", "lora",
        "python_activation", "initializer_axes"])
def test_what_has_no_tf_keras_twin_is_refused_naming_it(layer, message):
  x = keras3.Input((4, 4))
  with pytest.raises(ValueError) as excinfo:
    translate.to_tf_keras(keras3.Model(x, layer()(x)))
  assert message in _one_line(excinfo)


def test_an_operation_outside_a_layer_and_a_subclassed_model_are_refused():
  x = keras3.Input((4,))
  with pytest.raises(ValueError) as excinfo:
    translate.to_tf_keras(keras3.Model(x, L.Dense(2)(x) + 1.0))
  assert "(Add) is an operation outside a layer" in _one_line(excinfo)

  class Subclassed(keras3.Model):

    def call(self, inputs):
      return inputs

  with pytest.raises(ValueError) as excinfo:
    translate.to_tf_keras(Subclassed())
  assert "(Subclassed) is subclassed or unbuilt" in _one_line(excinfo)


def test_outputs_that_differ_on_the_example_are_refused(monkeypatch):
  model = _built_without_input()
  x = _inputs("built_without_input", np.random.default_rng(0))
  translate.to_tf_keras(model, x)  # the same outputs: accepted
  monkeypatch.setattr(tf_keras.layers.Dense, "set_weights",
                      lambda self, weights: None)  # weights not copied
  with pytest.raises(ValueError) as excinfo:
    translate.to_tf_keras(model, x)
  assert "gives other outputs" in _one_line(excinfo)


def _digits_convnet(keras):
  layers = keras.layers
  return keras.Sequential([
      keras.Input((8, 8, 1)),
      layers.Conv2D(8, 3, padding="same", activation="relu"),
      layers.BatchNormalization(), layers.MaxPooling2D(), layers.Flatten(),
      layers.Dropout(0.1), layers.Dense(32, activation="relu"),
      layers.Dense(10, activation="softmax")])


@pytest.mark.slow
def test_the_variational_bits_of_a_keras3_model_are_those_of_tf_keras():
  """The Flipout twin draws its posterior means from its own seeded
  initializers (tfmdl.models.layers), not from the model's weights, so the
  two Kerases' different initial draws do not enter: the bits agree to
  float precision (they were equal to the last digit: 27,024.93 bits on 400
  digits, KL 24,711.02 + NLL 1,289.91 + BatchNorm 1,024)."""
  digits = load_digits()
  x = (digits.images.reshape(-1, 8, 8, 1) / 16).astype(np.float32)[:400]
  y = digits.target[:400]
  options = dict(code="variational", prior_stddevs=(0.1,), num_samples=2,
                 epoch_num_samples=0, batch_size=32, max_epochs=2, verbose=0)
  ours, theirs = (tfmdl.description_length(_digits_convnet(keras), x, y,
                                           **options)
                  for keras in (keras3, tf_keras))
  assert ours.codelength_bits == pytest.approx(theirs.codelength_bits,
                                               rel=1e-6)
  assert ours.best.kl_bits == pytest.approx(theirs.best.kl_bits, rel=1e-6)
  assert ours.best.deterministic_bits == theirs.best.deterministic_bits == (
      32 * 4 * 8)  # BatchNorm's gamma, beta, mean, variance of 8 channels
