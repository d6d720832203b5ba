"""An independent plain-TensorFlow loop of the paper's block code.

The yardstick that ``bin/prequential --dataset=fashion_mnist --model=mlp``
is timed against (``benchmarks/engine_speed.py``): the same data order, the
same MLP (two hidden layers of 256, dropout 0.5), timesteps ``10 * 2**k``
then n, Adam at 1e-3 with minibatches of 128, at most 50 epochs
early-stopped (patience 3) on the last tenth of each prefix, the first
block sent uniformly; written with Keras 3's own ``fit``, nothing of tfmdl
but the data loader. Prints the codelength (kbits) and the test accuracy of
the last block's model.

  python benchmarks/hand_loop.py [--dataset=fashion_mnist]
"""

import math
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfmdl import data  # noqa: E402


def mlp(input_shape, num_classes):
  return keras.Sequential([
      keras.Input(input_shape), keras.layers.Flatten(),
      keras.layers.Dense(256, activation="relu"), keras.layers.Dropout(0.5),
      keras.layers.Dense(256, activation="relu"), keras.layers.Dropout(0.5),
      keras.layers.Dense(num_classes)])


def main(dataset: str) -> None:
  began = time.perf_counter()
  ds = data.load(dataset)
  n, k = len(ds.y_train), ds.num_classes
  timesteps = [10]
  while timesteps[-1] * 2 < n:
    timesteps.append(timesteps[-1] * 2)
  timesteps.append(n)
  bits = timesteps[0] * math.log2(k)
  for index, (start, end) in enumerate(zip(timesteps, timesteps[1:]), 1):
    keras.utils.set_random_seed(index)
    model = mlp(ds.input_shape, k)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(
                      from_logits=True))
    n_train = start - max(1, round(0.1 * start)) if start >= 2 else start
    fit = dict(batch_size=128, epochs=50, verbose=0, shuffle=True)
    if n_train < start:
      fit.update(validation_data=(ds.x_train[n_train:start],
                                  ds.y_train[n_train:start]),
                 callbacks=[keras.callbacks.EarlyStopping(
                     patience=3, restore_best_weights=True)])
    model.fit(ds.x_train[:n_train], ds.y_train[:n_train], **fit)
    logits = model.predict(ds.x_train[start:end], batch_size=1024,
                           verbose=0)
    log_probs = tf.nn.log_softmax(logits).numpy().astype(np.float64)
    block = -log_probs[np.arange(end - start), ds.y_train[start:end]]
    bits += float(block.sum()) / math.log(2)
  accuracy = float(np.mean(model.predict(ds.x_test, batch_size=1024,
                                         verbose=0).argmax(1) == ds.y_test))
  print(f"hand loop: {bits / 1000:.3f} kbits, test accuracy {accuracy:.4f} "
        f"(last block's model), {time.perf_counter() - began:.1f}s")


if __name__ == "__main__":
  main(sys.argv[1].split("=", 1)[1] if len(sys.argv) > 1 else "fashion_mnist")
