"""Fully connected models (``mlp``, ``shallow``) and the dense head of convnets.

Paper, appendices C-D: an MLP with two hidden layers of 256 (MNIST, and the
variational code) or 512 (CIFAR prequential), and a shallow network with one
hidden layer of width 5000.
"""

from typing import Sequence

from tfmdl.keras_compat import tf_keras
from tfmdl.models.layers import LayerFactory


def dense_head(factory: LayerFactory, hidden_sizes: Sequence[int],
               num_classes: int, *, dropout: float = 0.0,
               batch_norm: bool = False, activation: str = "relu") -> list:
  """Hidden layers (ReLU, or the Keras ``activation`` named), then a linear
  layer of ``num_classes`` logits.

  Dropout (when ``dropout > 0``) sits between consecutive dense layers, the
  logits layer included: ``[dense, dropout] * len(hidden_sizes) + [logits]``.
  With ``batch_norm`` each hidden layer is dense -> BatchNorm -> activation.
  """
  layers = []
  for units in hidden_sizes:
    if batch_norm:
      layers += [factory.dense(units), factory.batch_norm(),
                 tf_keras.layers.ReLU() if activation == "relu" else
                 tf_keras.layers.Activation(activation)]
    else:
      layers.append(factory.dense(units, activation=activation))
    if dropout > 0:
      layers.append(factory.dropout(dropout))
  layers.append(factory.dense(num_classes))
  return layers


def mlp(factory: LayerFactory, input_shape, num_classes: int, *,
        hidden_sizes: Sequence[int] = (256, 256),
        dropout: float = 0.0, activation: str = "relu") -> list:
  """Flatten, hidden layers of ``hidden_sizes``, logits.

  ``activation`` names the hidden layers' Keras activation: the paper's
  ReLU, or e.g. ``"gelu"``, which the online MLP learns faster with
  (tfmdl/codes/prequential/online/defaults.py).
  """
  del input_shape  # any shape flattens
  return [tf_keras.layers.Flatten()] + dense_head(
      factory, hidden_sizes, num_classes, dropout=dropout,
      activation=activation)


def shallow(factory: LayerFactory, input_shape, num_classes: int, *,
            width: int = 5000) -> list:
  """Flatten, one ReLU hidden layer of ``width`` units, logits."""
  return mlp(factory, input_shape, num_classes, hidden_sizes=(width,))
