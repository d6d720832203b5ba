"""MDL probing: a trained encoder's features against a random encoder's.

  PYTHONPATH=. python examples/probing.py                # a few minutes on 2 CPUs
  PYTHONPATH=. python examples/probing.py --num_train=2000 --encoder_epochs=1

Voita & Titov (2020) measure how readable a property is from a
representation by the codelength of the labels under a probe trained online
on the frozen features. Here the representation is the 64-unit ``features``
layer of a small Keras 3 convnet, once trained and once as initialised from
the same seed, and the labels are Fashion-MNIST's classes:

* the encoder is trained (``keras.Model.fit``) on Fashion-MNIST's **test**
  split, whose labels are never coded: it is side information Alice and Bob
  both hold, as a pretrained model is in NLP probing;
* the probe (linear by default) is measured on the first ``--num_train``
  images of the training split (in the order of seed 0) with the prequential
  code and Voita & Titov's schedule (blocks ending at 0.1%, 0.2%, 0.4%, ...,
  50%, 100% of the labels; :data:`tfmdl.probing.VOITA_TITOV_FRACTIONS`).

The trained features give the shorter code: the classes are easier to read
off them. It prints one line per encoder: the codelength and its ratio to
the uniform code.
"""

from absl import app
from absl import flags
import keras

import tfmdl
from tfmdl import data
from tfmdl import probing

FLAGS = flags.FLAGS
flags.DEFINE_integer("num_train", 10_000, "labels coded (training split).")
flags.DEFINE_integer("encoder_train", 10_000,
                     "test-split images the encoder is trained on.")
flags.DEFINE_integer("encoder_epochs", 3, "epochs of encoder training.")
flags.DEFINE_enum("probe", "linear", list(probing.PROBES), "probe model.")
flags.DEFINE_enum("code", "prequential", ["prequential", "online"],
                  "the code of the labels.")
flags.DEFINE_integer("seed", 0, "seed of the encoder and of the code.")


def encoder(seed: int) -> keras.Model:
  """A small convnet: two conv/pool stages, ``features`` (64), 10 logits."""
  keras.utils.set_random_seed(seed)
  return keras.Sequential([
      keras.Input((28, 28, 1)),
      keras.layers.Conv2D(16, 3, activation="relu"),
      keras.layers.MaxPooling2D(),
      keras.layers.Conv2D(32, 3, activation="relu"),
      keras.layers.MaxPooling2D(),
      keras.layers.Flatten(),
      keras.layers.Dense(64, activation="relu", name="features"),
      keras.layers.Dense(10),
  ], name="encoder")


def trained_encoder(x, y, *, epochs: int, seed: int) -> keras.Model:
  """:func:`encoder` trained on ``(x, y)`` (labels that are never coded)."""
  model = encoder(seed)
  model.compile(optimizer=keras.optimizers.Adam(1e-3),
                loss=keras.losses.SparseCategoricalCrossentropy(
                    from_logits=True))
  model.fit(x, y, batch_size=128, epochs=epochs, shuffle=True, verbose=0)
  return model


def compare(*, num_train: int, encoder_train: int, encoder_epochs: int,
            probe: str = "linear", code: str = "prequential", seed: int = 0,
            **options) -> dict:
  """The probe's code on a trained and on a random encoder's features.

  Args:
    num_train: training-split labels coded.
    encoder_train: test-split examples the encoder learns from (at most
      10,000).
    encoder_epochs: epochs of encoder training.
    probe: ``"linear"`` or ``"mlp"``.
    code: ``"prequential"`` (Voita & Titov's schedule) or ``"online"``.
    seed: seed of both encoders and of the code.
    **options: options of the code (:func:`tfmdl.description_length`).

  Returns:
    ``{"trained": result, "random": result}``.
  """
  ds = data.load("fashion_mnist", num_train=num_train,
                 num_test=encoder_train)
  encoders = {
      "trained": trained_encoder(ds.x_test, ds.y_test, epochs=encoder_epochs,
                                 seed=seed),
      "random": encoder(seed),
  }
  if code == "prequential":
    options.setdefault("timesteps", probing.VOITA_TITOV_FRACTIONS)
  return {name: tfmdl.probe(model, "features", ds.x_train, ds.y_train,
                            num_classes=ds.num_classes, probe=probe,
                            code=code, seed=seed, **options)
          for name, model in encoders.items()}


def main(argv):
  del argv
  results = compare(num_train=FLAGS.num_train,
                    encoder_train=FLAGS.encoder_train,
                    encoder_epochs=FLAGS.encoder_epochs, probe=FLAGS.probe,
                    code=FLAGS.code, seed=FLAGS.seed, verbose=0)
  for name, result in results.items():
    print(f"{name:8s} encoder, {FLAGS.probe} probe, {FLAGS.code} code: "
          f"{result.codelength_bits / 1000:.3f} kbits "
          f"(uniform {result.uniform_bits / 1000:.3f}, ratio "
          f"{result.compression_ratio:.4f})")


if __name__ == "__main__":
  app.run(main)
