"""A user's own Keras model and data through tfmdl.description_length.

Heads (softmax and sigmoid measured through their logits), built models and
model_fns, tf.data streams, dict inputs, token sequences, timesteps as
fractions, the Flipout conversion, and one-line refusals of what cannot be
measured. Random labels must cost at least the uniform code on every path.
"""

import math

import numpy as np
import pytest
import tensorflow as tf

import tfmdl
from tfmdl import data
from tfmdl.codes import prequential
from tfmdl.codes.prequential import schedule
from tfmdl import training
from tfmdl.codes import two_part
from tfmdl.models import adapter
from tfmdl.codes import variational
from tfmdl.data import labelled as user_data
from tfmdl.keras_compat import keras3
from tfmdl.keras_compat import tf_keras
from tfmdl.models import flipout
from tfmdl.models import heads

FAST = dict(batch_size=32, max_epochs=6, patience=2, learning_rate=1e-2,
            verbose=0)
N = 160


@pytest.fixture(scope="module")
def digits():
  return data.load("digits", num_train=N, num_test=60)


def _mlp(keras, head="softmax", units=10, hidden=16, shape=(8, 8, 1)):
  """Flatten, one ReLU layer, a head; unseeded initializers (the codes seed
  the globals)."""
  return keras.Sequential([
      keras.Input(shape), keras.layers.Flatten(),
      keras.layers.Dense(hidden, activation="relu"),
      keras.layers.Dense(units, activation=head)])


def _random_labels(n, k, seed=7):
  return np.random.default_rng(seed).integers(0, k, n)


def _one_line(excinfo):
  message = str(excinfo.value)
  assert "\n" not in message, message
  return message


# --- Heads -------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("keras", [keras3, tf_keras], ids=["keras3",
                                                           "tf_keras"])
def test_a_softmax_head_gives_the_bits_of_its_logits_head(digits, keras):
  softmax = tfmdl.description_length(_mlp(keras), digits.x_train,
                                     digits.y_train, **FAST)
  logits = tfmdl.description_length(_mlp(keras, head=None), digits.x_train,
                                    digits.y_train, **FAST)
  assert softmax.codelength_bits == pytest.approx(logits.codelength_bits,
                                                  rel=1e-6)
  assert softmax.codelength_bits < 0.9 * softmax.uniform_bits


@pytest.mark.slow
def test_the_code_functions_read_the_head_too(digits):
  """The issue: prequential_code read a softmax model's probabilities as
  logits (4,389 bits on digits where the logits head gives 1,363)."""
  learner = prequential.BlockConfig(train=training.TrainConfig(**FAST))
  softmax = prequential.prequential_code(
      _mlp(keras3), digits.x_train, digits.y_train, 10, learner=learner)
  logits = prequential.prequential_code(
      lambda seed: _mlp(keras3, head=None), digits.x_train, digits.y_train,
      10, learner=learner)
  assert softmax.codelength_bits == pytest.approx(logits.codelength_bits,
                                                  rel=1e-6)


@pytest.mark.parametrize("keras", [keras3, tf_keras], ids=["keras3",
                                                           "tf_keras"])
def test_softmax_layers_and_activation_layers_are_heads_too(keras):
  x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
  for last in (keras.layers.Softmax(), keras.layers.Activation("softmax")):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3),
                              keras.layers.Dropout(0.5), last])
    probabilities = model(x).numpy()
    logits_model, head = heads.to_logits(model)  # changes model
    assert head.kind == "softmax" and head.num_classes == 3
    np.testing.assert_allclose(tf.nn.softmax(logits_model(x)).numpy(),
                               probabilities, atol=1e-6)


@pytest.mark.parametrize("activation, kind", [
    (tf.nn.softmax, "softmax"), (tf.nn.log_softmax, "logits"),
    (keras3.activations.softmax, "softmax"), (tf.math.sigmoid, "sigmoid")])
def test_tensorflow_activation_functions_are_read_too(activation, kind):
  model = keras3.Sequential([keras3.Input((4,)), keras3.layers.Dense(
      1 if kind == "sigmoid" else 3, activation=activation)])
  assert heads.read_head(model).kind == kind


@pytest.mark.slow
def test_a_one_unit_sigmoid_is_two_logits_and_gives_their_bits():
  rng = np.random.default_rng(1)
  x = rng.normal(size=(N, 6)).astype(np.float32)
  y = (x[:, 0] > 0).astype(np.int64)

  def model(head):
    return keras3.Sequential([keras3.Input((6,)),
                              keras3.layers.Dense(8, activation="relu"),
                              keras3.layers.Dense(1, activation=head)])

  sigmoid_model = model("sigmoid")
  clone = keras3.models.clone_model(sigmoid_model)
  clone.set_weights(sigmoid_model.get_weights())
  adapted, head = heads.to_logits(clone)
  assert (head.kind, head.num_classes) == ("sigmoid", 2)
  np.testing.assert_allclose(tf.nn.softmax(adapted(x[:5]))[:, 1].numpy(),
                             sigmoid_model(x[:5])[:, 0].numpy(), atol=1e-6)

  def zero_logit_fn(seed):  # the same model written with two logits
    del seed
    inner = model(None)
    outputs = keras3.layers.Lambda(
        lambda z: tf.concat([tf.zeros_like(z), z], -1))(inner.outputs[0])
    return keras3.Model(inner.inputs[0], outputs)

  options = dict(FAST, batch_size=16, max_epochs=20, patience=5)
  sigmoid = tfmdl.description_length(sigmoid_model, x, y, **options)
  logits = tfmdl.description_length(zero_logit_fn, x, y, **options)
  assert sigmoid.num_classes == 2
  assert sigmoid.codelength_bits == pytest.approx(logits.codelength_bits,
                                                  rel=1e-6)
  assert sigmoid.codelength_bits < 0.8 * sigmoid.uniform_bits


# --- Built models and model_fns ------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("code, options", [
    ("prequential", FAST),
    ("online", dict(batch_size=16, replay=1, steps_per_call=8)),
], ids=["prequential", "online"])
def test_a_built_model_and_a_model_fn_give_the_same_bits(digits, code,
                                                         options):
  built = tfmdl.description_length(_mlp(keras3), digits.x_train,
                                   digits.y_train, code=code, **options)
  from_fn = tfmdl.description_length(lambda seed: _mlp(keras3),
                                     digits.x_train, digits.y_train,
                                     code=code, **options)
  assert built.codelength_bits == pytest.approx(from_fn.codelength_bits,
                                                rel=1e-9)
  again = tfmdl.description_length(_mlp(keras3), digits.x_train,
                                   digits.y_train, code=code, **options)
  assert again.codelength_bits == pytest.approx(built.codelength_bits,
                                                rel=1e-9)


def test_clones_are_reinitialised_from_each_seed(digits):
  model_fn = adapter.as_model_fn(_mlp(tf_keras), 10)
  first, again, other = (model_fn(s).get_weights()[0] for s in (3, 3, 4))
  np.testing.assert_array_equal(first, again)
  assert not np.array_equal(first, other)


def test_the_code_functions_take_a_built_model(digits):
  result = two_part.float32_code(
      _mlp(keras3), digits.x_train, digits.y_train, 10,
      config=two_part.TwoPartConfig(train=training.TrainConfig(**FAST)))
  assert result.best.model_bits == 32 * (64 * 16 + 16 + 16 * 10 + 10)


# --- Data in ------------------------------------------------------------------


@pytest.mark.slow
def test_a_tf_data_stream_gives_the_same_bits_as_the_arrays(digits):
  arrays = tfmdl.description_length(_mlp(keras3), digits.x_train,
                                    digits.y_train, **FAST)
  stream = tf.data.Dataset.from_tensor_slices(
      (digits.x_train, digits.y_train.astype(np.int64)))
  streamed = tfmdl.description_length(_mlp(keras3), stream.batch(50),
                                      **FAST)
  assert streamed.codelength_bits == pytest.approx(arrays.codelength_bits,
                                                   rel=1e-9)
  np.testing.assert_allclose(streamed.per_sample_bits(),
                             arrays.per_sample_bits(), rtol=1e-6)
  assert streamed.data_fingerprint == arrays.data_fingerprint


@pytest.mark.slow
def test_a_stream_without_known_length_is_read_block_by_block(digits):
  """A generator's stream (no cardinality), with a small shuffle buffer."""
  x, y = digits.x_train, _random_labels(N, 10)

  def examples():
    yield from zip(x, y)

  stream = tf.data.Dataset.from_generator(examples, output_signature=(
      tf.TensorSpec((8, 8, 1), tf.float32), tf.TensorSpec((), tf.int64)))
  result = tfmdl.description_length(_mlp(keras3), stream, shuffle_buffer=16,
                                    **FAST)
  assert result.n == N
  assert result.codelength_bits >= result.uniform_bits - 10


def test_labels_of_any_integer_dtype_give_the_same_bits(digits):
  bits = {dtype: tfmdl.description_length(
      _mlp(keras3), digits.x_train, digits.y_train.astype(dtype),
      code="two_part_float32", **FAST).codelength_bits
          for dtype in (np.uint8, np.int64)}
  assert bits[np.uint8] == pytest.approx(bits[np.int64], rel=1e-9)


def _halves_model(keras):
  """The mlp of :func:`_mlp` on the two halves of the flattened image."""
  top, bottom = keras.Input((32,), name="top"), keras.Input((32,),
                                                           name="bottom")
  hidden = keras.layers.Dense(16, activation="relu")(
      keras.layers.Concatenate()([top, bottom]))
  return keras.Model({"top": top, "bottom": bottom},
                     keras.layers.Dense(10, activation="softmax")(hidden))


@pytest.mark.slow
def test_dict_inputs_give_the_bits_of_the_same_model_on_one_array(digits):
  flat = digits.x_train.reshape(N, 64)
  halves = {"top": flat[:, :32], "bottom": flat[:, 32:]}
  one = tfmdl.description_length(
      _mlp(keras3, shape=(64,)), flat, digits.y_train, **FAST)
  two = tfmdl.description_length(_halves_model(keras3), halves,
                                 digits.y_train, **FAST)
  assert two.codelength_bits == pytest.approx(one.codelength_bits, rel=1e-6)
  stream = tf.data.Dataset.from_tensor_slices((halves, digits.y_train))
  streamed = tfmdl.description_length(_halves_model(keras3), stream, **FAST)
  assert streamed.codelength_bits == pytest.approx(two.codelength_bits,
                                                   rel=1e-9)
  assert streamed.data_fingerprint == two.data_fingerprint


def _tokens(n, seed=0, length=12, vocab=50):
  """Token sequences labelled by which of tokens 1..3 occurs most."""
  rng = np.random.default_rng(seed)
  x = rng.integers(4, vocab, (n, length)).astype(np.int32)
  y = rng.integers(0, 3, n)
  for i, label in enumerate(y):
    x[i, rng.choice(length, 4, replace=False)] = label + 1
  return x, y


def _text_classifier():
  return keras3.Sequential([
      keras3.Input((12,), dtype="int32"), keras3.layers.Embedding(50, 8),
      keras3.layers.GlobalAveragePooling1D(),
      keras3.layers.Dense(3, activation="softmax")])


@pytest.mark.slow
def test_an_embedding_text_classifier_on_token_ids_compresses():
  x, y = _tokens(300)
  result = tfmdl.description_length(_text_classifier(), x, y, **FAST)
  assert result.codelength_bits < 0.7 * result.uniform_bits


def test_fingerprints_identify_examples_and_order(digits):
  x, y = digits.x_train, digits.y_train
  stream = tf.data.Dataset.from_tensor_slices((x, y.astype(np.uint8)))
  assert user_data.fingerprint(x, y) == user_data.fingerprint(stream)
  assert user_data.fingerprint(x, y) != user_data.fingerprint(x[::-1],
                                                              y[::-1])


# --- Random labels on every new path -----------------------------------------


def _variational_model(keras=tf_keras):
  return keras.Sequential([
      keras.Input((8, 8, 1)),
      keras.layers.Conv2D(4, 3, activation="relu"),
      keras.layers.Flatten(),
      keras.layers.Dense(10, activation="softmax")])


@pytest.mark.slow
@pytest.mark.parametrize("path", [
    "built_softmax", "stream", "dict_inputs", "tokens", "online_built",
    "variational_converted", "variational_keras3"])
def test_random_labels_cost_at_least_uniform(digits, path):
  y = _random_labels(N, 10)
  x = digits.x_train
  if path == "built_softmax":
    result = tfmdl.description_length(_mlp(keras3), x, y, **FAST)
  elif path == "stream":
    stream = tf.data.Dataset.from_tensor_slices((x, y))
    result = tfmdl.description_length(_mlp(keras3), stream, **FAST)
  elif path == "dict_inputs":
    flat = x.reshape(N, 64)
    result = tfmdl.description_length(
        _halves_model(tf_keras), {"top": flat[:, :32], "bottom": flat[:, 32:]},
        y, **FAST)
  elif path == "tokens":
    tokens, _ = _tokens(N)
    result = tfmdl.description_length(_text_classifier(), tokens,
                                      _random_labels(N, 3), **FAST)
  elif path == "online_built":
    result = tfmdl.description_length(_mlp(keras3), x, y, code="online",
                                      batch_size=16, steps_per_call=8)
  else:
    keras = keras3 if path == "variational_keras3" else tf_keras
    result = tfmdl.description_length(
        _variational_model(keras), x, y, code="variational",
        prior_stddevs=(0.1, 1.0), num_samples=2, epoch_num_samples=0,
        batch_size=32, max_epochs=3, verbose=0)
  assert result.codelength_bits >= result.uniform_bits - 10


# --- Timesteps as fractions of n -----------------------------------------------


def test_timesteps_as_fractions_of_n():
  fractions = (0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.0625, 0.125,
               0.25, 0.5, 1.0)
  assert schedule.check_timesteps(fractions, 10_000) == (
      10, 20, 40, 80, 160, 320, 625, 1250, 2500, 5000, 10_000)
  assert schedule.check_timesteps(fractions, 1437) == (
      1, 3, 6, 11, 23, 46, 90, 180, 359, 718, 1437)
  assert schedule.check_timesteps(fractions, 100) == (
      1, 2, 3, 6, 12, 25, 50, 100)
  assert schedule.check_timesteps((10.0, 100.0), 100) == (10, 100)


@pytest.mark.parametrize("fractions, message", [
    ((0.5, 0.25, 1.0), "strictly increasing"),
    ((0.0, 0.5, 1.0), "strictly increasing"),
    ((0.1, 0.5), "must end with 1.0"),
    ((10.5, 100), "integers"),
])
def test_bad_fractions_are_refused(fractions, message):
  with pytest.raises(ValueError, match=message):
    schedule.check_timesteps(fractions, 100)


def test_fraction_timesteps_run_through_the_code(digits):
  result = tfmdl.description_length(
      _mlp(keras3), digits.x_train, digits.y_train,
      timesteps=(0.05, 0.1, 0.25, 0.5, 1.0), **FAST)
  assert result.timesteps == (8, 16, 40, 80, 160)
  assert result.blocks[0].bits == 8 * math.log2(10)


# --- The Flipout conversion ----------------------------------------------------


def test_the_flipout_twin_has_the_shapes_and_one_kl_loss_per_layer():
  model = tf_keras.Sequential([
      tf_keras.Input((8, 8, 1)),
      tf_keras.layers.Conv2D(4, 3, strides=2, padding="valid",
                             use_bias=False),
      tf_keras.layers.BatchNormalization(), tf_keras.layers.ReLU(),
      tf_keras.layers.Flatten(), tf_keras.layers.Dense(10)])
  twin = flipout.to_flipout(model, seed=1, prior_stddev=0.1)
  x = np.zeros((2, 8, 8, 1), np.float32)
  assert twin(x).shape == model(x).shape
  assert len(twin.losses) == 2
  conv = twin.layers[0]
  assert conv.kernel_posterior.event_shape == model.layers[0].kernel.shape
  assert conv.bias_posterior is None
  assert twin.layers[-1].bias_posterior.event_shape == (10,)
  variational.check_model(twin, x)
  again = flipout.to_flipout(model, seed=1, prior_stddev=0.1)
  other = flipout.to_flipout(model, seed=2, prior_stddev=0.1)
  np.testing.assert_array_equal(twin.get_weights()[0], again.get_weights()[0])
  assert not np.array_equal(twin.get_weights()[0], other.get_weights()[0])


# --- Refusals, in one line -------------------------------------------------------


@pytest.mark.parametrize("model, message", [
    (lambda: _mlp(keras3, units=7), "outputs 7 classes"),
    (lambda: _mlp(keras3, head="relu"), "activation 'relu'"),
    (lambda: _mlp(tf_keras, head="sigmoid"), "sigmoid on 10 units"),
    (lambda: _mlp(keras3, head=None, units=1), "outputs 1 value"),
    (lambda: lambda seed: keras3.Sequential([
        keras3.Input((8, 8, 1)), keras3.layers.Flatten(),
        keras3.layers.Dense(10), keras3.layers.Lambda(tf.nn.softmax)]),
     "outputs probabilities"),
    (lambda: keras3.Sequential([
        keras3.Input((8, 8, 1)), keras3.layers.Flatten(),
        keras3.layers.Dense(10), keras3.layers.Lambda(lambda z: 2 * z)]),
     "cannot be cloned"),
    (lambda: keras3.Sequential([
        keras3.Input((8, 8, 1)), keras3.layers.Flatten(),
        keras3.layers.Dense(10), keras3.layers.ReLU()]), "ReLU"),
    (lambda: _halves_model(keras3), "takes inputs"),
], ids=["size", "relu", "sigmoid_10", "one_linear_unit", "lambda_softmax",
        "lambda_clone", "relu_layer", "dict_model_on_array"])
def test_models_that_cannot_be_measured_are_refused(digits, model, message):
  with pytest.raises(ValueError) as excinfo:
    tfmdl.description_length(model(), digits.x_train, digits.y_train,
                             num_classes=10, **FAST)
  assert message in _one_line(excinfo)


class MyModel(keras3.Model):
  """The mlp of :func:`_mlp`, subclassed."""

  def __init__(self, hidden=16, head=None):
    super().__init__()
    self.flatten = keras3.layers.Flatten()
    self.hidden = keras3.layers.Dense(hidden, activation="relu")
    self.head = keras3.layers.Dense(10, activation=head)

  def call(self, inputs):
    return self.head(self.hidden(self.flatten(inputs)))


def test_a_subclassed_model_is_refused_with_the_model_fn_to_pass(digits):
  """Its head cannot be read from its call, nor can it be rebuilt from a
  seed: the message gives the line to write instead."""
  model = MyModel(hidden=16, head="softmax")
  model(digits.x_train[:2])
  with pytest.raises(ValueError) as excinfo:
    tfmdl.description_length(model, digits.x_train, digits.y_train)
  message = _one_line(excinfo)
  assert "(MyModel) is subclassed" in message
  assert message.endswith("if its call returns logits, pass a function "
                          "building a fresh one: tfmdl.description_length("
                          "lambda seed: MyModel(...), x, y)")
  with pytest.raises(ValueError) as excinfo:
    tfmdl.description_length(model, digits.x_train, digits.y_train,
                             code="variational")
  assert _one_line(excinfo).endswith(
      "the variational code needs its layers: pass it as a Sequential or "
      "functional model")
  with pytest.raises(ValueError) as excinfo:  # the model_fn, with softmax
    tfmdl.description_length(lambda seed: MyModel(head="softmax"),
                             digits.x_train, digits.y_train)
  assert "outputs probabilities" in _one_line(excinfo)


@pytest.mark.slow
def test_a_model_fn_of_a_subclassed_model_gives_the_bits_of_its_sequential(
    digits):
  subclassed = tfmdl.description_length(lambda seed: MyModel(hidden=16),
                                        digits.x_train, digits.y_train,
                                        **FAST)
  sequential = tfmdl.description_length(_mlp(keras3, head=None),
                                        digits.x_train, digits.y_train,
                                        **FAST)
  assert subclassed.codelength_bits == pytest.approx(
      sequential.codelength_bits, rel=1e-6)
  assert subclassed.codelength_bits < 0.9 * subclassed.uniform_bits


def test_a_reused_model_object_is_refused(digits):
  shared = _mlp(keras3)
  with pytest.raises(ValueError) as excinfo:
    tfmdl.description_length(lambda seed: shared, digits.x_train,
                             digits.y_train, **FAST)
  assert "same model object" in _one_line(excinfo)


def test_an_unordered_stream_is_refused(digits):
  ds = tf.data.Dataset.from_tensor_slices((digits.x_train, digits.y_train))
  with pytest.raises(ValueError) as excinfo:
    tfmdl.description_length(_mlp(keras3), ds.shuffle(N), **FAST)
  assert "another order" in _one_line(excinfo)
  options = tf.data.Options()
  options.deterministic = False
  with pytest.raises(ValueError) as excinfo:
    tfmdl.description_length(_mlp(keras3), ds.with_options(options), **FAST)
  assert "deterministic=False" in _one_line(excinfo)
  fixed = ds.shuffle(N, seed=3, reshuffle_each_iteration=False)
  assert user_data.labelled(fixed, num_classes=10).n == N


@pytest.mark.parametrize("labels, message", [
    (lambda y: y + 5, "labels must lie in [0, 10)"),
    (lambda y: y.astype(np.float32), "labels must be integers"),
], ids=["range", "float"])
def test_bad_stream_labels_are_refused(digits, labels, message):
  ds = tf.data.Dataset.from_tensor_slices((digits.x_train,
                                           labels(digits.y_train)))
  with pytest.raises(ValueError) as excinfo:
    tfmdl.description_length(_mlp(keras3), ds, **FAST)
  assert message in _one_line(excinfo)


@pytest.mark.parametrize("model, message", [
    (lambda: keras3.Sequential([
        keras3.Input((12,)), keras3.layers.Embedding(50, 4),
        keras3.layers.Flatten(), keras3.layers.Dense(10)]),
     "(Embedding) has weights but no Flipout twin"),
    (lambda: keras3.Sequential([
        keras3.Input((8, 8, 1)), keras3.layers.Flatten(),
        keras3.layers.Dense(10), keras3.layers.Lambda(lambda z: 2 * z)]),
     "(Lambda) has no tf_keras twin"),
    (lambda: tf_keras.Sequential([
        tf_keras.Input((12,)), tf_keras.layers.Embedding(50, 4),
        tf_keras.layers.Flatten(), tf_keras.layers.Dense(10)]),
     "'embedding'"),
    (lambda: tf_keras.Sequential([
        tf_keras.Input((8, 8, 1)), tf_keras.layers.Flatten(),
        tf_keras.layers.Dense(10, kernel_regularizer="l2")]),
     "kernel_regularizer"),
], ids=["keras3_embedding", "keras3_lambda", "embedding", "regularizer"])
def test_the_flipout_conversion_refuses_what_it_cannot_convert(model,
                                                               message):
  with pytest.raises(ValueError) as excinfo:
    adapter.as_model_fn(model(), transform=flipout.Flipout())
  assert message in _one_line(excinfo)


def test_unknown_codes_and_options_are_refused(digits):
  with pytest.raises(ValueError) as excinfo:
    tfmdl.description_length(_mlp(keras3), digits.x_train, digits.y_train,
                             code="two_part")
  assert "unknown code" in _one_line(excinfo)
  with pytest.raises(ValueError) as excinfo:
    tfmdl.description_length(_mlp(keras3), digits.x_train, digits.y_train,
                             epochs=3)
  assert "unknown option 'epochs' for code 'prequential'" in _one_line(
      excinfo)
  with pytest.raises(ValueError) as excinfo:  # in train and subspace
    tfmdl.description_length(_mlp(keras3), digits.x_train, digits.y_train,
                             code="two_part_subspace", learning_rate=0.1)
  assert _one_line(excinfo).startswith(
      "option 'learning_rate' is a field of sections ['subspace', 'train'] "
      "of code 'two_part_subspace': pass it in one of them, e.g. "
      "subspace={'learning_rate': ...}")
  with pytest.raises(ValueError) as excinfo:
    tfmdl.description_length(_mlp(keras3), digits.x_train, digits.y_train,
                             shuffle_buffer=10)
  assert "tf.data input" in _one_line(excinfo)
