"""The first epoch of ``model.fit`` as a code (:mod:`tfmdl.fit_code`).

Bob decodes: he rebuilds the model from the seed and replays the fit batch by
batch, computing each minibatch's probabilities from its inputs before he
uses its labels, and finds Alice's bits and weights. The numbers are the
model's (every head, both Kerases, by hand with a frozen model); random
labels cost at least uniform; later epochs change nothing; and each fit that
Bob could not replay is reported as not a code, without a number. On digits
the fit code equals tfmdl's own online code, minibatch 0 apart.
"""

import hashlib
import math
import os
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfmdl
from tfmdl import data
from tfmdl import keras_compat
from tfmdl import training
from tfmdl.fit_code import FitCodelength
from tfmdl.keras_compat import tf_keras

B = 32
LR = 1e-3


def _mlp(kr, num_classes=10, head=None, dropout=0.0, shape=(8, 8, 1)):
  """Flatten, Dense(32, relu), [Dropout], Dense(K, head), of Keras ``kr``."""
  layers = [kr.Input(shape), kr.layers.Flatten(),
            kr.layers.Dense(32, activation="relu")]
  if dropout:
    layers.append(kr.layers.Dropout(dropout))
  layers.append(kr.layers.Dense(num_classes, activation=head))
  return kr.Sequential(layers)


def _fit(model, x, y, *, optimizer=None, loss=None, from_logits=True,
         **fit_args):
  """``model`` compiled with the code's metric (Adam and the sparse
  cross-entropy unless given) and fit with its callback, in order, in
  minibatches of B unless told; returns the :class:`FitCodelength`."""
  kr = keras_compat.keras_of(model)
  code = FitCodelength(model)
  model.compile(optimizer or kr.optimizers.Adam(LR),
                loss or kr.losses.SparseCategoricalCrossentropy(
                    from_logits=from_logits),
                metrics=[code.metric])
  model.fit(x, y, **dict(dict(batch_size=B, shuffle=False, verbose=0),
                         **fit_args), callbacks=[code.callback])
  return code


@pytest.fixture(scope="module")
def digits_480():
  """The first 480 digits of tfmdl's fixed order: 15 minibatches of 32."""
  return data.load("digits", num_train=480)


@pytest.fixture
def small():
  """96 examples, 5 features, 3 classes: a fast fit."""
  rng = np.random.default_rng(0)
  return (rng.normal(size=(96, 5)).astype(np.float32),
          rng.integers(0, 3, 96).astype(np.int32))


def _small_model():
  """An MLP for the small data, from seed 0."""
  keras.utils.set_random_seed(0)
  return _mlp(keras, num_classes=3, shape=(5,))


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_bob_decodes_the_fit_batch_by_batch(digits_480, dropout):
  tf.config.experimental.enable_op_determinism()
  x, y = digits_480.x_train, digits_480.y_train
  keras.utils.set_random_seed(0)
  alice = _mlp(keras, dropout=dropout)
  report = _fit(alice, x, y, epochs=1).report
  assert report.valid and report.n == 480 and report.num_classes == 10
  assert report.batch_sizes == (B,) * 15
  assert report.replay["op_determinism"] and report.replay["batch_size"] == B
  assert not any("determinism" in note for note in report.notes)
  assert any("Dropout" in note for note in report.notes) == (dropout > 0)

  # Bob: the same seed, the same model, the same optimizer and loss.
  keras.utils.set_random_seed(0)
  bob = _mlp(keras, dropout=dropout)
  assert hashlib.sha256(b"".join(
      w.tobytes() for w in bob.get_weights())).hexdigest() == (
          report.replay["initial_weights_sha256"])
  optimizer = keras.optimizers.Adam(LR)
  loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
  bits = []
  for start in range(0, len(x), B):
    with tf.GradientTape() as tape:
      # Minibatch t's distribution, from its inputs only (the training-mode
      # forward pass, with its dropout draws) ...
      logits = bob(x[start:start + B], training=True)
      log_probs = tf.nn.log_softmax(logits).numpy().astype(np.float64)
      # ... then its labels, decoded with it, and the step Alice took.
      labels = y[start:start + B]
      loss = loss_fn(labels, logits)
    bits.append(-log_probs[np.arange(len(labels)), labels].sum()
                / math.log(2))
    grads = tape.gradient(loss, bob.trainable_variables)
    optimizer.apply_gradients(zip(grads, bob.trainable_variables))
  np.testing.assert_allclose(bits, report.batch_bits, rtol=1e-6)
  assert sum(bits) == pytest.approx(report.codelength_bits, rel=1e-6)
  for mine, hers in zip(bob.get_weights(), alice.get_weights()):
    np.testing.assert_allclose(mine, hers, rtol=1e-6, atol=1e-7)
  # Minibatch 0 was coded by the untrained model, not uniformly.
  assert report.batch_bits[0] != pytest.approx(B * math.log2(10))


def _frozen_nll_bits(model, x, y, outputs):
  """``sum -log2 p(y | x)`` by hand (float64) for a model that never moves,
  whose ``outputs`` are ``"logits"``, ``"probabilities"`` or ``"sigmoid"``
  (one unit)."""
  out = np.asarray(model(x, training=False), np.float64)
  if outputs == "logits":
    out = np.exp(out - out.max(1, keepdims=True))
  elif outputs == "sigmoid":
    out = np.concatenate([1.0 - out, out], 1)
  probs = out / out.sum(1, keepdims=True)
  return -np.log2(probs[np.arange(len(y)), y]).sum()


@pytest.mark.parametrize("kr, head, one_hot", [
    (keras, None, False), (keras, "softmax", False), (keras, "softmax", True),
    (keras, "softmax_layer", False), (keras, "sigmoid", False),
    (tf_keras, None, False), (tf_keras, "softmax", True)])
def test_every_head_codes_the_models_probabilities(small, kr, head, one_hot):
  x, y = small
  k = 2 if head == "sigmoid" else 3
  y = y % k
  kr.utils.set_random_seed(0)
  layers = [kr.Input((5,)), kr.layers.Dense(8, activation="relu")]
  if head == "softmax_layer":  # probabilities without Keras's logits
    layers += [kr.layers.Dense(k), kr.layers.Softmax()]
  else:
    layers.append(kr.layers.Dense(1 if head == "sigmoid" else k,
                                  activation=head))
  model = kr.Sequential(layers)
  loss = (kr.losses.BinaryCrossentropy() if head == "sigmoid" else
          kr.losses.CategoricalCrossentropy(from_logits=head is None)
          if one_hot else None)
  labels = np.eye(k, dtype=np.float32)[y] if one_hot else y
  # A learning rate of 0: every minibatch is coded by the initial model.
  code = _fit(model, x, labels, optimizer=kr.optimizers.SGD(0.0), loss=loss,
              from_logits=head is None)
  report = code.report
  assert report.valid and report.num_classes == k and report.n == 96
  assert report.codelength_bits == pytest.approx(
      _frozen_nll_bits(model, x, y, "logits" if head is None else
                       "sigmoid" if head == "sigmoid" else "probabilities"),
      rel=1e-6)
  assert all(b >= 0 for b in report.batch_bits)
  assert report.uniform_bits == pytest.approx(96 * math.log2(k), rel=1e-15)


def test_logits_and_softmax_heads_of_one_network_give_the_same_bits(small):
  x, y = small
  reports = []
  for head in (None, "softmax"):
    keras.utils.set_random_seed(0)
    model = _mlp(keras, num_classes=3, head=head, shape=(5,))
    reports.append(_fit(model, x, y, batch_size=16, epochs=2,
                        from_logits=head is None).report)
  logits, softmax = reports
  assert logits.valid and softmax.valid
  np.testing.assert_allclose(softmax.batch_bits, logits.batch_bits,
                             rtol=1e-6)


def test_later_epochs_do_not_change_the_report(small):
  x, y = small
  one = _fit(_small_model(), x, y, batch_size=16, epochs=1).report
  three = _fit(_small_model(), x, y, batch_size=16, epochs=3).report
  assert three.batch_bits == one.batch_bits and three.n == one.n == 96
  assert three.codelength_bits == one.codelength_bits
  assert any("only epoch 1 of 3" in note for note in three.notes)
  assert not any("epoch 1 of" in note for note in one.notes)


@pytest.mark.slow
def test_a_seeded_shuffle_is_replayed(small):
  x, y = small
  runs = [_fit(_small_model(), x, y, batch_size=16, shuffle=True)
          for _ in range(2)]
  first, again = (run.report for run in runs)
  assert first.valid and "shuffle=True" in first.coded
  assert again.batch_bits == first.batch_bits
  in_order = _fit(_small_model(), x, y, batch_size=16).report
  assert in_order.batch_bits != first.batch_bits


def test_an_unseeded_shuffle_is_not_a_code(small):
  x, y = small
  keras.utils.clear_session()  # forgets keras.utils.set_random_seed's seed
  report = _fit(_mlp(keras, num_classes=3, shape=(5,)), x, y,
                shuffle=True).report
  assert not report.valid and report.codelength_bits is None
  assert report.bits_per_example is None
  assert any("no global seed" in p and "shuffle=True" in p
             for p in report.problems)
  text = str(report)
  assert text.startswith("not a code: ")
  assert f"{report.first_epoch_nll_bits:,.1f}" not in text


def _fixed_dataset(x, y):
  return tf.data.Dataset.from_tensor_slices((x, y)).batch(16)


@pytest.mark.parametrize("fit_args, problem", [
    (dict(class_weight={0: 1.0, 1: 2.0, 2: 1.0}), "class_weight"),
    (dict(sample_weight=np.ones(96, np.float32)), "sample_weight"),
    (dict(steps_per_epoch=2, batch_size=16), "only 32 of the fit's 96"),
    (dict(reshuffled=True), "order is not fixed"),
    (dict(steps_per_epoch=3, dataset=True), "steps_per_epoch on a tf.data"),
    (dict(generator=True), "order of a generator input cannot be checked"),
])
def test_fits_bob_cannot_replay_are_not_codes(small, fit_args, problem):
  x, y = small
  fit_args = dict(fit_args)
  model = _small_model()
  inputs, labels = x, y
  if fit_args.pop("reshuffled", False):
    inputs, labels = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(
        96, seed=1).batch(16), None
  if fit_args.pop("dataset", False):
    inputs, labels = _fixed_dataset(x, y).repeat(), None
  if fit_args.pop("generator", False):
    inputs, labels = ((x[i:i + 16], y[i:i + 16])
                      for i in range(0, 96, 16)), None
    fit_args["steps_per_epoch"] = 6
  report = _fit(model, inputs, labels, **fit_args).report
  assert not report.valid and report.codelength_bits is None
  assert any(problem in p for p in report.problems), report.problems


def test_a_second_fit_is_not_a_code_and_the_first_keeps_its_report(small):
  x, y = small
  model = _small_model()
  first, second = FitCodelength(model), FitCodelength(model)
  model.compile(keras.optimizers.Adam(LR),
                keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=[first.metric, second.metric])
  model.fit(x, y, batch_size=16, shuffle=False, verbose=0,
            callbacks=[first.callback])
  report = first.report
  model.fit(x, y, batch_size=16, shuffle=False, verbose=0,
            callbacks=[first.callback, second.callback])
  assert first.report is report and report.valid
  assert not second.report.valid
  assert any("had taken 6 optimizer steps" in p
             for p in second.report.problems)


def test_a_fixed_tf_data_input_and_a_validation_split_are_codes(small):
  x, y = small
  report = _fit(_small_model(), _fixed_dataset(x, y), None).report
  assert report.valid and report.n == 96
  assert report.coded == "the 96 examples of the tf.data input, in its order"
  split = _fit(_small_model(), x, y, batch_size=16,
               validation_split=0.25).report
  assert split.valid and split.n == 72
  assert "held out the last 24" in split.coded


def test_the_metric_must_be_compiled_and_the_callback_kept_to_its_model(
    small):
  x, y = small
  model = _small_model()
  code = FitCodelength(model)
  with pytest.raises(RuntimeError, match="no fit has ended an epoch"):
    _ = code.report
  model.compile(keras.optimizers.Adam(LR),
                keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  with pytest.raises(ValueError, match="compile.metrics=.code.metric"):
    model.fit(x, y, batch_size=16, verbose=0, callbacks=[code.callback])
  other = _small_model()
  other.compile("adam", "sparse_categorical_crossentropy",
                metrics=[code.metric])
  with pytest.raises(ValueError, match="was made for model"):
    other.fit(x, y, batch_size=16, verbose=0, callbacks=[code.callback])


def test_a_head_that_is_not_a_distribution_is_refused():
  model = keras.Sequential([keras.Input((5,)),
                            keras.layers.Dense(3, activation="relu")])
  with pytest.raises(ValueError, match="activation 'relu'"):
    FitCodelength(model)


def test_random_labels_cost_at_least_uniform(digits_480):
  x = digits_480.x_train
  y = np.random.default_rng(1).integers(0, 10, len(x)).astype(np.int32)
  keras.utils.set_random_seed(0)
  report = _fit(_mlp(keras), x, y, optimizer=keras.optimizers.Adam(1e-2),
                epochs=2).report
  assert report.valid
  assert report.codelength_bits >= report.uniform_bits - 5.0


@pytest.mark.slow
@pytest.mark.parametrize("lr", [1e-3, 1e-2])
def test_on_digits_the_fit_code_is_tfmdls_online_code_but_minibatch_0(lr):
  """Same initial weights (the adapter's clone after seeding 0), same order,
  same Adam, one step per minibatch, raw weights, no calibration: the two
  codes agree minibatch by minibatch except minibatch 0, which the online
  code sends uniformly and the fit codes with the untrained model."""
  ds = data.load("digits")
  template = _mlp(keras)
  online = tfmdl.description_length(
      template, ds.x_train, ds.y_train, code="online", batch_size=B,
      replay=0, ema_decay=0.0, calibrate=False, uniform_fallback=False,
      setting_bits=0.0, learning_rate=lr)
  training.seed_everything(0)  # as the adapter does before its clone
  report = _fit(keras.models.clone_model(template), ds.x_train, ds.y_train,
                optimizer=keras.optimizers.Adam(lr)).report
  online_batches = np.add.reduceat(online.per_sample_bits(),
                                   np.arange(0, 1437, B))
  np.testing.assert_allclose(report.batch_bits[1:], online_batches[1:],
                             rtol=1e-12)
  assert online_batches[0] == pytest.approx(B * math.log2(10), rel=1e-12)
  assert online.codelength_bits == pytest.approx(
      report.codelength_bits - report.batch_bits[0] + B * math.log2(10),
      rel=1e-12)
  print(f"digits, B={B}, Adam lr={lr}: fit code {report.codelength_bits:.1f}"
        f" bits (minibatch 0: {report.batch_bits[0]:.2f}), online code "
        f"{online.codelength_bits:.1f} bits (minibatch 0: "
        f"{online_batches[0]:.2f}), uniform {report.uniform_bits:.1f}")


DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))), "docs", "fit_code.md")


def test_the_docs_snippet_runs(monkeypatch, capsys):
  """docs/fit_code.md's python blocks run as written, on 200 digits."""
  with open(DOC, encoding="utf-8") as f:
    blocks = re.findall(r"```python\n(.*?)```", f.read(), re.DOTALL)
  assert blocks
  load = data.load
  monkeypatch.setattr(data, "load", lambda name, **kwargs: load(
      name, **dict(kwargs, num_train=200)))
  namespace = {}
  for block in blocks:
    exec(compile(block, DOC, "exec"), namespace)  # pylint: disable=exec-used
  printed = capsys.readouterr().out
  assert re.search(r"^fit code \(epoch 1\): [\d,]+\.\d bits, [\d.]+ bits/"
                   r"example \(uniform n\*log2\(K\) = 664\.4 bits for n=200, "
                   r"K=10; ratio \d\.\d+\)$", printed, re.MULTILINE), printed
  assert "only epoch 1 of 3 is coded" in printed
  assert namespace["code"].report.valid
