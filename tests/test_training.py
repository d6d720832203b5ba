"""The custom training loop: learning, early stopping, determinism, devices."""

import numpy as np
import pytest
import tensorflow as tf

from tfmdl import training
from tfmdl.training import augment
from tfmdl.keras_compat import keras3
from tfmdl.keras_compat import tf_keras


def _blobs(n, seed=0, num_classes=3, dim=6):
  """Linearly separable-ish Gaussian blobs: labels a function of inputs."""
  centers = np.random.default_rng(123).normal(0, 3, (num_classes, dim))
  rng = np.random.default_rng(seed)
  y = rng.integers(0, num_classes, n).astype(np.int32)
  x = (centers[y] + rng.normal(0, 1, (n, dim))).astype(np.float32)
  return x, y


def _mlp(keras, seed, dim=6, num_classes=3):
  init = keras.initializers.GlorotUniform(seed=seed)
  return keras.Sequential([
      keras.Input((dim,)),
      keras.layers.Dense(16, activation="relu", kernel_initializer=init),
      keras.layers.Dense(num_classes, kernel_initializer=init),
  ])


FAST = training.TrainConfig(batch_size=32, max_epochs=8, patience=8,
                            learning_rate=1e-2,
                            verbose=0)


@pytest.mark.parametrize("keras", [tf_keras, keras3], ids=["tf_keras", "keras3"])
def test_loss_goes_down_for_both_kerases(keras):
  x, y = _blobs(256)
  vx, vy = _blobs(64, seed=1)
  model = _mlp(keras, seed=0)
  result = training.train(model, x, y, val_x=vx, val_y=vy, config=FAST)
  losses = [h.val_loss_nats for h in result.history]
  assert losses[-1] < 0.5 * losses[0]
  assert losses[-1] < 0.3  # log(3) = 1.10 nats is the uniform guess
  assert result.history[-1].val_accuracy > 0.9


def test_early_stopping_restores_the_best_weights():
  # Validation labels are shifted by one class: as the model learns the
  # training labels, validation loss rises after the first epochs.
  x, y = _blobs(256)
  vx, vy = _blobs(64, seed=1)
  vy = (vy + 1) % 3
  model = _mlp(tf_keras, seed=0)
  snapshots = {}
  config = training.TrainConfig(batch_size=32, max_epochs=20, patience=2,
                                verbose=0)
  result = training.train(
      model, x, y, val_x=vx, val_y=vy, config=config,
      epoch_callback=lambda e, m: snapshots.__setitem__(e, m.get_weights()))
  losses = [h.val_loss_nats for h in result.history]
  assert result.best_epoch == int(np.argmin(losses))
  assert result.epochs_trained == result.best_epoch + 2  # patience 2
  assert result.epochs_trained < 20
  for got, want in zip(model.get_weights(), snapshots[result.best_epoch]):
    np.testing.assert_array_equal(got, want)


def test_same_seed_same_weights_other_seed_other_weights():
  x, y = _blobs(200)
  vx, vy = _blobs(40, seed=1)

  def run(seed):
    model = _mlp(tf_keras, seed=0)
    training.train(model, x, y, val_x=vx, val_y=vy, config=FAST, seed=seed)
    return model.get_weights()

  first, again, other = run(3), run(3), run(4)
  for a, b in zip(first, again):
    np.testing.assert_array_equal(a, b)
  assert any(not np.array_equal(a, c) for a, c in zip(first, other))


def test_epoch_callback_sees_untrained_model_first():
  x, y = _blobs(64)
  seen = []
  model = _mlp(tf_keras, seed=0)
  untrained = model.get_weights()
  training.train(
      model, x, y, val_x=x[:8], val_y=y[:8],
      config=training.TrainConfig(batch_size=16, max_epochs=2, patience=9,
                                  verbose=0),
      epoch_callback=lambda e, m: seen.append((e, m.get_weights()[0].copy())))
  assert [e for e, _ in seen] == [0, 1, 2]
  np.testing.assert_array_equal(seen[0][1], untrained[0])


def test_empty_validation_trains_all_epochs_and_keeps_last():
  x, y = _blobs(64)
  model = _mlp(tf_keras, seed=0)
  config = training.TrainConfig(batch_size=16, max_epochs=3, patience=0,
                                verbose=0)
  result = training.train(model, x, y, val_x=x[:0], val_y=y[:0],
                          config=config)
  assert result.epochs_trained == 3 and result.best_epoch == 3


def test_two_logical_cpus_under_mirrored_match_one_device():
  assert len(tf.config.list_logical_devices("CPU")) == 2  # from conftest
  x, y = _blobs(256)
  vx, vy = _blobs(64, seed=1)
  config = training.TrainConfig(batch_size=32, max_epochs=4, patience=9,
                                verbose=0)
  single = _mlp(tf_keras, seed=0)
  one = training.train(single, x, y, val_x=vx, val_y=vy, config=config)
  strategy = training.get_strategy("mirrored")
  assert strategy.num_replicas_in_sync == 2
  with strategy.scope():
    mirrored = _mlp(tf_keras, seed=0)
  two = training.train(mirrored, x, y, val_x=vx, val_y=vy, config=config,
                       strategy=strategy)
  # Same global batches and gradients, summed in another order: the final
  # validation losses agree to float32 round-off (tolerance 1e-3 nats).
  assert abs(one.history[-1].val_loss_nats -
             two.history[-1].val_loss_nats) < 1e-3


def test_augmentation_shifts_and_flips_deterministically():
  x = np.zeros((4, 8, 8, 1), np.float32)
  x[:, 2, 2, 0] = 1.0
  seed = tf.constant([1, 2], tf.int64)
  a = augment.augment_batch(tf.constant(x), seed, 2).numpy()
  b = augment.augment_batch(tf.constant(x), seed, 2).numpy()
  np.testing.assert_array_equal(a, b)
  # Each image still holds its single bright pixel (shifts of <= 2 pixels
  # keep it inside), moved to a position within reach of a shift and flip.
  assert np.all(a.reshape(4, -1).sum(1) == 1.0)
  for img in a[..., 0]:
    r, c = np.argwhere(img == 1.0)[0]
    assert abs(r - 2) <= 2 and (abs(c - 2) <= 2 or abs(c - 5) <= 2)


def test_bad_config_is_refused():
  with pytest.raises(ValueError, match="batch_size"):
    training.TrainConfig(batch_size=0)
  with pytest.raises(ValueError, match="learning_rate"):
    training.TrainConfig(learning_rate=0.0)


def test_unknown_strategy_is_refused():
  with pytest.raises(ValueError, match="known: auto"):
    training.get_strategy("tpu")


@pytest.mark.parametrize("change, message", [
    (lambda x, y: (x, np.where(np.arange(len(y)) == 3, 3, y)), "label"),
    (lambda x, y: (x, y.astype(np.float32) + 0.5), "integer"),
    (lambda x, y: (np.where(np.arange(len(x))[:, None] == 2, np.nan, x), y),
     "NaN"),
    (lambda x, y: (x[:10], y), "10 inputs but 32 labels"),
    (lambda x, y: (x[:0], y[:0]), "empty"),
])
def test_bad_data_gets_a_one_line_error(change, message):
  x, y = _blobs(32)
  bad_x, bad_y = change(x, y)
  with pytest.raises(ValueError, match=message) as info:
    training.train(_mlp(tf_keras, seed=0), bad_x, bad_y, val_x=x[:0],
                   val_y=y[:0], config=FAST)
  assert "\n" not in str(info.value)


def test_augmentation_without_flips_only_shifts():
  """flip=False: the bright pixel stays within the shift of where it was
  (a flip would move column 1 to column 6)."""
  x = np.zeros((64, 8, 8, 1), np.float32)
  x[:, 3, 1, 0] = 1.0
  out = augment.augment_batch(tf.constant(x), tf.constant([3, 4], tf.int64),
                              1, flip=False).numpy()
  cols = [np.argwhere(img == 1.0)[:, 1] for img in out[..., 0]]
  assert all(len(c) <= 1 and (len(c) == 0 or abs(c[0] - 1) <= 1)
             for c in cols)
  assert any(len(c) == 1 and c[0] != 1 for c in cols)  # some did move
