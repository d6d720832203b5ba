"""The README's three-line example, timed: a user's own Keras model measured.

  PYTHONPATH=. python examples/own_model.py

Builds the README's small Keras 3 model (one hidden layer of 64, a softmax
head) and prints its description length with the prequential code on
scikit-learn's digits and with the online code on Fashion-MNIST's 60,000
training labels, each with the uniform code, the ratio and the wall time.
These are the figures the README quotes.
"""

import time

import keras

import tfmdl
from tfmdl import data


def own_model(ds):
  """The README's model: Flatten, Dense(64, relu), Dense(K, softmax)."""
  return keras.Sequential([
      keras.Input(ds.input_shape), keras.layers.Flatten(),
      keras.layers.Dense(64, activation="relu", name="hidden"),
      keras.layers.Dense(ds.num_classes, activation="softmax")])


def main():
  for name, code in (("digits", "prequential"), ("fashion_mnist", "online")):
    ds = data.load(name)
    began = time.perf_counter()
    result = tfmdl.description_length(own_model(ds), ds.x_train, ds.y_train,
                                      code=code)
    print(f"{name}, {code} code: {result.codelength_bits:,.0f} bits, "
          f"uniform {result.uniform_bits:,.0f}, "
          f"ratio {result.compression_ratio:.3f}, "
          f"{time.perf_counter() - began:.0f} s", flush=True)


if __name__ == "__main__":
  main()
