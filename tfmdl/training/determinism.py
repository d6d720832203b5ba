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


def resumable_random_state(model) -> list:
  """Give ``model``'s random layers a state that can be saved; return it.

  ``tf_keras`` layers draw their random numbers (dropout masks, noise) from
  stateful kernels by default, whose position lives inside the op: a new
  process, or a retrace of the function, starts them again from the
  beginning, so a resumed run would draw other masks than an uninterrupted
  one. Each such layer of a ``tf_keras`` model gets a ``tf.random.Generator``
  (tf_keras's ``"stateful"`` kind) seeded with the layer's seed instead,
  whose position is a variable. Keras 3 layers keep theirs in their seed
  generators' variables, which are among the model's variables.

  Call it before the model is trained: the masks then differ from those of
  the default kernels (another code, as valid), and are the same whenever
  the state is restored.

  Returns:
    The generators' state variables (an empty list for a Keras 3 model).
  """
  if not keras_compat.is_tf_keras_model(model):
    return []
  states = []
  for layer in model.submodules:
    generator = getattr(layer, "_random_generator", None)
    if (not hasattr(generator, "RNG_STATEFUL") or
        generator._rng_type == generator.RNG_STATELESS):  # pylint: disable=protected-access
      continue  # no random layer, or one without a state (a fixed seed)
    if generator._rng_type == generator.RNG_LEGACY_STATEFUL:  # pylint: disable=protected-access
      generator = type(generator)(generator._seed,  # pylint: disable=protected-access
                                  rng_type=generator.RNG_STATEFUL)
      layer._random_generator = generator  # pylint: disable=protected-access
    generator._maybe_init()  # pylint: disable=protected-access
    states.append(generator._generator.state)  # pylint: disable=protected-access
  return states
