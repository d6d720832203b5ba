"""A small pre-activation residual network, sized for CPUs: ``resnet``.

He et al. (2016), "Identity Mappings in Deep Residual Networks": each block
computes ``x + f(x)`` with ``f = [norm, ReLU, conv 3x3] * 2``; a stage's
first block may halve the resolution (stride 2, with a 1x1 convolution on
the shortcut). Three stages of ``width``, ``2 width`` and ``4 width``
channels follow a 3x3 stem; a ReLU, global average pooling and the logits
layer end the network. On 28x28 images with ``width=16`` and one block per
stage it costs about 16 MFLOPs per image, like ``tinycnn``.

Normalisation: ``"batch"`` (BatchNorm) or ``"none"``. Without it each
residual branch is multiplied by a learned scalar that starts at 0
(SkipInit, De & Smith, 2020), so the network starts as its stem and head and
trains stably from small batches, as the online learner needs; BatchNorm's
running statistics of tiny early minibatches are a poor fit there.

Each block is a nested functional ``tf_keras.Model``, so that
:func:`tfmdl.models.variational_layers` finds its Flipout layers.
"""

from tfmdl.keras_compat import tf_keras
from tfmdl.models.layers import LayerFactory
from tfmdl.models.mlp import dense_head

NORMALIZATIONS = ("none", "batch")


class Scale(tf_keras.layers.Layer):
  """Multiplies its input by one learned scalar, initially ``init``."""

  def __init__(self, init: float = 0.0, **kwargs):
    super().__init__(**kwargs)
    self._init = init

  def build(self, input_shape):
    self.scale = self.add_weight(
        name="scale", shape=(),
        initializer=tf_keras.initializers.Constant(self._init))
    super().build(input_shape)

  def call(self, inputs):
    return inputs * self.scale

  def get_config(self):
    return dict(super().get_config(), init=self._init)


def _norm_relu(factory: LayerFactory, normalization: str) -> list:
  norm = [factory.batch_norm()] if normalization == "batch" else []
  return norm + [tf_keras.layers.ReLU()]


def residual_block(factory: LayerFactory, input_shape, filters: int,
                   stride: int, normalization: str, name: str):
  """One pre-activation block as a functional model on ``input_shape``."""
  inputs = tf_keras.Input(shape=input_shape)
  branch = inputs
  for layer in (_norm_relu(factory, normalization) +
                [factory.conv2d(filters, 3, strides=stride)] +
                _norm_relu(factory, normalization) +
                [factory.conv2d(filters, 3)]):
    branch = layer(branch)
  if normalization == "none":
    branch = Scale(0.0)(branch)
  shortcut = inputs
  if stride != 1 or input_shape[-1] != filters:
    shortcut = factory.conv2d(filters, 1, strides=stride)(inputs)
  outputs = tf_keras.layers.Add()([shortcut, branch])
  return tf_keras.Model(inputs, outputs, name=name)


def resnet(factory: LayerFactory, input_shape, num_classes: int, *,
           width: int = 16, blocks_per_stage: int = 1,
           normalization: str = "none", head_sizes: tuple = ()) -> list:
  """Stem, three residual stages (``width`` x 1, 2, 4), then logits.

  With ``head_sizes`` empty the last feature map is averaged (global
  average pooling); otherwise it is flattened into dense ReLU layers of
  those sizes, which learn faster from few samples.
  """
  if normalization not in NORMALIZATIONS:
    raise ValueError(f"unknown normalization {normalization!r}; known: "
                     f"{', '.join(NORMALIZATIONS)}")
  if width < 1 or blocks_per_stage < 1:
    raise ValueError("width and blocks_per_stage must be >= 1")
  height, wide, _ = input_shape
  layers = [factory.conv2d(width, 3)]
  shape = (height, wide, width)
  for stage in range(3):
    filters = width * 2**stage
    for block in range(blocks_per_stage):
      # Halve the resolution at the start of stages 2 and 3 while it is >= 2.
      stride = 2 if stage and not block and min(shape[:2]) >= 2 else 1
      layers.append(residual_block(factory, shape, filters, stride,
                                   normalization,
                                   name=f"block{stage + 1}_{block + 1}"))
      shape = (-(-shape[0] // stride), -(-shape[1] // stride), filters)
  layers += _norm_relu(factory, normalization)
  if not head_sizes:
    return layers + [tf_keras.layers.GlobalAveragePooling2D(),
                     factory.dense(num_classes)]
  return layers + [tf_keras.layers.Flatten()] + dense_head(
      factory, head_sizes, num_classes)
