"""Same seed, same machine, same floats: what lets Bob replay Alice's training.

Every code that Bob decodes by retraining (prequential, online, compression)
relies on two things: each model is built and trained after reseeding every
global generator from an agreed seed (:func:`seed_everything`), and
TensorFlow's ops run deterministically (:func:`make_deterministic`).
"""

import tensorflow as tf

from tfmdl import keras_compat


def seed_everything(seed: int) -> None:
  """Seed Python, NumPy, TensorFlow and both Kerases' global generators.

  Called before building each block's model, so a user model whose
  initializers or dropout are unseeded is still the same for Alice and Bob.
  """
  keras_compat.tf_keras.utils.set_random_seed(seed)
  keras_compat.keras3.utils.set_random_seed(seed)


def make_deterministic(seed: int = 0, enabled: bool = True) -> None:
  """Seed every generator and turn on TensorFlow's op determinism.

  Op determinism needs a global seed for every random op; the codes reseed
  per block or run with their own seeds. ``enabled=False`` (the config's
  ``deterministic`` field) leaves op determinism off: needed for XLA
  (``jit_compile``), which has no deterministic MaxPool gradient; the
  codelength is then one that Bob can only replay up to float round-off.
  """
  seed_everything(seed)
  if enabled:
    tf.config.experimental.enable_op_determinism()
