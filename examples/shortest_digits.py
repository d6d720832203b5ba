"""``code="shortest"`` on 900 digits with the README's own Keras model.

  TFMDL_LEDGER=$(mktemp -u) PYTHONPATH=. python examples/shortest_digits.py

Which of the block and the online prequential code is shorter depends on the
model and n, and is only known after seeing the labels. ``code="shortest"``
runs both, their switch and the uniform code, and sends the labels with the
Bayes mixture of the four (uniform prior, fixed in advance), at most
``log2 4 = 2`` bits above the shortest member, each member's setting bits
included (``tfmdl.codes.shortest``). The script prints each member's
codelength, the mixture's and how far it is above the shorter of block and
online. With a fresh ledger (the command above) no setting is paid: it is the
first run on these labels.
"""

import keras

import tfmdl
from tfmdl import data


def main():
  ds = data.load("digits", num_train=900)
  keras.utils.set_random_seed(0)
  model = keras.Sequential([
      keras.Input(ds.input_shape), keras.layers.Flatten(),
      keras.layers.Dense(64, activation="relu", name="hidden"),
      keras.layers.Dense(10, activation="softmax")])
  result = tfmdl.description_length(model, ds.x_train, ds.y_train,
                                    code="shortest")
  members = result.members
  print("members (bits): " + ", ".join(f"{name} {bits:,.1f}"
                                       for name, bits in members.items()))
  shorter = min(members["block"], members["online"])
  print(f"shortest code: {result.codelength_bits:,.1f} bits "
        f"(setting {result.setting_bits:.1f}), "
        f"{result.codelength_bits - shorter:+.2f} against the shorter of "
        f"block and online; the mixture is {result.choice_bits:.2f} bits "
        f"above its shortest member, {result.shortest_member}")


if __name__ == "__main__":
  main()
