"""Loss-data curves measured on digits: invariants, probes, TensorBoard."""

import math

import numpy as np
import pytest

import tfmdl
from tfmdl import data
from tfmdl import loss_data_curves
from tfmdl import probing
from tfmdl import report
from tfmdl import training
from tfmdl.bits import loss_data
from tfmdl.codes import prequential
from tfmdl.keras_compat import keras3
from tfmdl.keras_compat import tf_keras

FAST = dict(batch_size=32, max_epochs=30, patience=5, learning_rate=1e-2,
            verbose=0)
SIZES = (25, 100, 400, 800)
LOG2K = math.log2(10)


@pytest.fixture(scope="module")
def ds():
  """All of digits: 1,437 training images in seeded order, 360 test."""
  return data.load("digits")


def _linear(seed):
  """A ``tf_keras`` linear model on 8x8 digits, logits out."""
  tf_keras.utils.set_random_seed(seed)
  return tf_keras.Sequential([tf_keras.Input((8, 8, 1)),
                              tf_keras.layers.Flatten(),
                              tf_keras.layers.Dense(10)])


def _encoder():
  """A Keras 3 MLP whose 16-unit ``features`` layer is probed."""
  keras3.utils.set_random_seed(0)
  return keras3.Sequential([
      keras3.Input((8, 8, 1)), keras3.layers.Flatten(),
      keras3.layers.Dense(16, activation="relu", name="features"),
      keras3.layers.Dense(10)])


@pytest.mark.slow
def test_real_labels_loss_falls_and_goes_to_tensorboard(ds, tmp_path,
                                                        tb_events):
  """The curve goes to TensorBoard as scalars, and beside them as the file
  bin/report draws, which reads back as the same curve."""
  logdir = tmp_path / "linear"
  curve = tfmdl.loss_data_curve(
      _linear, ds.x_train[:800], ds.y_train[:800], ds.x_test,
      ds.y_test, sizes=SIZES, logdir=str(logdir), **FAST)
  assert report.load(str(tmp_path)) == ([], {"linear": curve})
  assert curve.sizes == SIZES and curve.num_classes == 10
  assert curve.loss_bits[-1] < curve.loss_bits[0] - 1.0
  assert curve.accuracy[-1] > curve.accuracy[0] + 0.2
  events = tb_events(str(logdir))
  for tag, values in ((loss_data_curves.TAG_LOSS, curve.loss_bits),
                      (loss_data_curves.TAG_ACCURACY, curve.accuracy)):
    mine = [e for e in events if e.tag == tag]
    assert [e.step for e in mine] == list(SIZES)
    np.testing.assert_allclose([e.value for e in mine], values, rtol=1e-6)


@pytest.mark.slow
def test_random_labels_stay_near_uniform_and_sdl_grows_linearly(ds):
  """Labels drawn at random, for training and test alike: nothing can be
  learned, the loss stays near log2 K and SDL(0.1) grows as n (log2 K -
  0.1). A built Keras 3 model with a softmax head is measured through its
  logits."""
  y = np.random.default_rng(0).integers(0, 10, 800)
  y_test = np.random.default_rng(1).integers(0, 10, len(ds.y_test))
  model = keras3.Sequential([keras3.Input((8, 8, 1)),
                             keras3.layers.Flatten(),
                             keras3.layers.Dense(10, activation="softmax")])
  curve = tfmdl.loss_data_curve(model, ds.x_train[:800], y,
                                ds.x_test, y_test, sizes=SIZES, **FAST)
  assert all(LOG2K - 0.1 < v < LOG2K + 0.5 for v in curve.loss_bits)
  per_example = []
  for k in range(2, len(SIZES) + 1):
    prefix = loss_data.LossDataCurve(SIZES[:k], curve.loss_bits[:k], 10)
    per_example.append(loss_data.sdl_bits(prefix, 0.1) / SIZES[k - 1])
    assert loss_data.sample_complexity(prefix, 0.1) is None
  assert all(LOG2K - 0.2 < v < LOG2K + 0.5 for v in per_example)
  assert max(per_example) - min(per_example) < 0.2


@pytest.mark.slow
def test_trained_encoder_features_give_a_lower_sdl(ds):
  """The encoder learns from training images the probe never sees (the
  last 637), its features are probed on the first 800 and evaluated on
  the test split."""
  trained = _encoder()
  trained.compile(optimizer=keras3.optimizers.Adam(1e-2),
                  loss=keras3.losses.SparseCategoricalCrossentropy(
                      from_logits=True))
  trained.fit(ds.x_train[800:], ds.y_train[800:], batch_size=32,
              epochs=10, verbose=0)
  found = {
      name: probing.probe_curve(
          encoder, "features", ds.x_train[:800], ds.y_train[:800],
          ds.x_test, ds.y_test, num_classes=10, sizes=SIZES,
          epsilons=(1.0, 0.5), **FAST)
      for name, encoder in (("trained", trained), ("random", _encoder()))}
  trained_m, random_m = found["trained"], found["random"]
  assert trained_m.curve.sizes == SIZES
  for t, r in zip(trained_m.sdl_bits, random_m.sdl_bits):
    assert t < r / 2
  assert trained_m.online_estimate_bits < random_m.online_estimate_bits
  assert trained_m.sample_complexity[0] is not None


@pytest.mark.slow
def test_on_the_coded_labels_the_curve_gives_the_prequential_block(ds):
  """With the code's timesteps as sizes, the curve's model at n=20 is the
  prequential code's block 2 model: evaluated on that block's labels, it
  gives the block's bits (no uniform fallback)."""
  x, y = ds.x_train[:40], ds.y_train[:40]
  curve = tfmdl.loss_data_curve(_linear, x, y, x[20:40], y[20:40],
                                sizes=(10, 20), seed=3, **FAST)
  config = prequential.PrequentialConfig(
      timesteps=(10, 20, 40), seed=3, uniform_fallback=False)
  code = prequential.prequential_code(
      _linear, x, y, 10, config=config,
      learner=prequential.BlockConfig(record_epoch_bits=False,
                                      train=training.TrainConfig(**FAST)))
  assert curve.loss_bits[1] * 20 == pytest.approx(code.blocks[2].bits,
                                                  rel=1e-6)


def test_sizes_are_checked():
  assert loss_data_curves.training_sizes(None, 100) == (10, 20, 40, 80, 100)
  assert loss_data_curves.training_sizes((0.1, 0.5, 1.0), 100) == (10, 50,
                                                                    100)
  assert loss_data_curves.training_sizes((3, 7), 10) == (3, 7)


@pytest.mark.parametrize("sizes, message", [
    ((), "must not be empty"),
    ((50, 20), "strictly increasing"),
    ((20, 20), "strictly increasing"),
    ((0.01, 0.011), "strictly increasing"),
    ((0, 20), "in [1, n=40]"),
    ((20, 41), "in [1, n=40]"),
    ((0.5, 20), "fractions of n in (0, 1] only"),
])
def test_bad_sizes_are_refused_before_training(ds, sizes, message):
  with pytest.raises(ValueError) as excinfo:
    tfmdl.loss_data_curve(_linear, ds.x_train[:40], ds.y_train[:40],
                          ds.x_test, ds.y_test, sizes=sizes)
  assert message in str(excinfo.value)
  assert "\n" not in str(excinfo.value)


def test_bad_options_and_data_are_refused_in_one_line(ds):
  x, y = ds.x_train[:40], ds.y_train[:40]
  for kwargs, message in [
      (dict(timesteps=(10, 40)), "unknown option(s) ['timesteps']"),
      (dict(x_test=ds.x_test[:5]), "5 inputs but 360 labels"),
  ]:
    arguments = dict(model=_linear, x=x, y=y, x_test=ds.x_test,
                     y_test=ds.y_test, sizes=(10, 40))
    arguments.update(kwargs)
    with pytest.raises(ValueError) as excinfo:
      tfmdl.loss_data_curve(**arguments)
    assert message in str(excinfo.value)
    assert "\n" not in str(excinfo.value)
