"""The one place that decides which Keras a piece of code talks to.

TensorFlow 2.21's ``tf.keras`` is Keras 3, while TensorFlow Probability's layers
(``DenseFlipout``, ``Convolution2DFlipout``) need Keras 2, shipped as ``tf_keras``.
The model zoo and the variational code therefore build ``tf_keras`` models, so a
deterministic layer and its Flipout twin live in one builder. The prequential and
two-part codes also accept a plain Keras 3 model written by a user: such a model
brings its own Keras, and everything that touches it (optimizer, initializers)
must come from the same Keras. :func:`keras_of` answers "which one?".
"""

import keras as keras3  # Keras 3, what tf.keras points to
import tf_keras  # Keras 2, what TFP's layers are built on

__all__ = ["keras3", "tf_keras", "keras_of", "is_tf_keras_model"]


def is_tf_keras_model(model) -> bool:
  """True when ``model`` is a Keras 2 (``tf_keras``) model."""
  return isinstance(model, tf_keras.Model)


def keras_of(model):
  """Return the Keras module (``tf_keras`` or Keras 3) that built ``model``.

  Raises:
    TypeError: if ``model`` is not a Keras model of either kind.
  """
  if isinstance(model, tf_keras.Model):
    return tf_keras
  if isinstance(model, keras3.Model):
    return keras3
  raise TypeError(
      f"expected a tf_keras or Keras 3 model, got {type(model).__name__}")
