"""MDL probing: frozen features, probes, and the worked example, small."""

import importlib.util
import os

import numpy as np
import pytest
import tensorflow as tf

import tfmdl
from tfmdl import data
from tfmdl import probing
from tfmdl.keras_compat import keras3
from tfmdl.keras_compat import tf_keras

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAST = dict(batch_size=32, max_epochs=6, patience=2, learning_rate=1e-2,
            verbose=0)


def _example():
  spec = importlib.util.spec_from_file_location(
      "probing_example", os.path.join(REPO, "examples", "probing.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _encoder(keras):
  keras.utils.set_random_seed(0)
  return keras.Sequential([
      keras.Input((8, 8, 1)), keras.layers.Flatten(),
      keras.layers.Dense(12, activation="relu", name="hidden"),
      keras.layers.Dense(10, activation="softmax")])


@pytest.mark.parametrize("keras", [keras3, tf_keras], ids=["keras3",
                                                           "tf_keras"])
def test_features_are_the_layer_outputs_in_order(keras):
  ds = data.load("digits", num_train=70)
  encoder = _encoder(keras)
  features, labels = probing.extract_features(encoder, "hidden", ds.x_train,
                                              ds.y_train, batch_size=32)
  expected = keras.Model(encoder.inputs[0],
                         encoder.get_layer("hidden").output)(ds.x_train)
  np.testing.assert_allclose(features, np.asarray(expected), atol=1e-6)
  np.testing.assert_array_equal(labels, ds.y_train)
  stream = tf.data.Dataset.from_tensor_slices((ds.x_train, ds.y_train))
  from_stream, stream_labels = probing.extract_features(encoder, "hidden",
                                                        stream.batch(16))
  np.testing.assert_allclose(from_stream, features, atol=1e-6)
  np.testing.assert_array_equal(stream_labels, ds.y_train)


@pytest.mark.slow
def test_probes_are_seeded_and_random_labels_cost_at_least_uniform():
  ds = data.load("digits", num_train=160)
  y = np.random.default_rng(3).integers(0, 10, 160)
  for kind in probing.PROBES:
    build = probing.probe_model_fn(kind, 12, 10, hidden_units=8)
    np.testing.assert_array_equal(build(1).get_weights()[0],
                                  build(1).get_weights()[0])
    result = tfmdl.probe(_encoder(keras3), "hidden", ds.x_train, y,
                         num_classes=10, probe=kind, **FAST)
    assert result.codelength_bits >= result.uniform_bits - 10


def test_bad_probes_are_refused_in_one_line():
  ds = data.load("digits", num_train=40)
  for kwargs, message in [(dict(layer_name="nope"), "has no layer 'nope'"),
                          (dict(layer_name="hidden", probe="deep"),
                           "unknown probe 'deep'")]:
    with pytest.raises(ValueError) as excinfo:
      tfmdl.probe(_encoder(keras3), x=ds.x_train, y=ds.y_train,
                  num_classes=10, **kwargs)
    assert message in str(excinfo.value)
    assert "\n" not in str(excinfo.value)


@pytest.mark.slow
def test_the_example_trained_features_give_the_shorter_code():
  """examples/probing.py, small: 400 labels, an encoder trained on 2,000
  test images; Voita & Titov's 0.1% first block is for large n, so the
  schedule starts at 2.5% here."""
  results = _example().compare(
      num_train=400, encoder_train=2000, encoder_epochs=3,
      timesteps=(0.025, 0.05, 0.1, 0.2, 0.4, 1.0),
      **dict(FAST, max_epochs=30, patience=5))
  trained, random = results["trained"], results["random"]
  assert trained.timesteps == (10, 20, 40, 80, 160, 400)
  assert trained.codelength_bits < random.codelength_bits - 50
  assert random.codelength_bits < random.uniform_bits
