"""Convolutional models: ``lenet``, ``tinycnn``, ``vgg_mnist`` and ``vgg``.

Each is a table for :func:`conv_stack` (filters, with ``"M"`` for a 2x2 max
pool) followed by :func:`~tfmdl.models.mlp.dense_head`. Convolutions use
'same' padding and a pool is skipped once the feature map is below 2 pixels,
so every model also builds on 8x8 inputs.

Architectures (paper, appendices C-D):
- ``lenet``: conv 6 5x5, pool, conv 16 5x5, pool, FC 120, FC 84, logits.
- ``tinycnn``: four 3x3 convs of 32 filters with a pool after every two, two
  FC of 256, dropout 0.5 between the dense layers; ``width`` sets the
  filters of every conv (a wider convnet for the online learner's late
  blocks).
- ``vgg_mnist``: eight 3x3 convs of 32,32,64,64,128,128,256,256 filters with
  a pool after every two, two FC of 256, dropout 0.5.
- ``vgg``: the 13-conv VGG of Zagoruyko (2015), "92.45% on CIFAR-10 in
  Torch", then FC 512 and logits with dropout 0.5 in between. With
  ``batch_norm`` (VGGb) every conv and the FC are followed by BatchNorm before
  their ReLU. Zagoruyko's in-block dropout (0.3-0.4 between convolutions) and
  his dropout before the first FC are not used: dropout sits only between the
  dense layers, the same rule as every other model here.
"""

from typing import Sequence, Union

from tfmdl.keras_compat import tf_keras
from tfmdl.models.layers import LayerFactory
from tfmdl.models.mlp import dense_head

_POOL = "M"

_TINYCNN = (32, 32, _POOL, 32, 32, _POOL)
_LENET = (6, _POOL, 16, _POOL)
_VGG_MNIST = (32, 32, _POOL, 64, 64, _POOL, 128, 128, _POOL, 256, 256, _POOL)
_VGG = (64, 64, _POOL, 128, 128, _POOL, 256, 256, 256, _POOL,
        512, 512, 512, _POOL, 512, 512, 512, _POOL)


def conv_stack(factory: LayerFactory, spec: Sequence[Union[int, str]],
               input_shape, *, kernel_size: int = 3,
               batch_norm: bool = False) -> list:
  """Convolutions (ReLU) and 2x2 max pools as listed in ``spec``, flattened.

  Args:
    factory: makes the (possibly variational) conv layers.
    spec: number of filters of each conv, or ``"M"`` for a max pool; a pool is
      skipped when the height or width is already below 2.
    input_shape: (height, width, channels) of the input.
    kernel_size: side of the square kernels.
    batch_norm: conv -> BatchNorm -> ReLU instead of conv with ReLU.

  Returns:
    The layers, ending with a ``Flatten``.
  """
  height, width = input_shape[0], input_shape[1]
  layers = []
  for item in spec:
    if item == _POOL:
      if min(height, width) >= 2:
        layers.append(tf_keras.layers.MaxPooling2D(2))
        height, width = height // 2, width // 2
    elif batch_norm:
      layers += [factory.conv2d(item, kernel_size), factory.batch_norm(),
                 tf_keras.layers.ReLU()]
    else:
      layers.append(factory.conv2d(item, kernel_size, activation="relu"))
  return layers + [tf_keras.layers.Flatten()]


def lenet(factory: LayerFactory, input_shape, num_classes: int) -> list:
  """LeNet-like: conv 6 5x5, pool, conv 16 5x5, pool, FC 120, FC 84."""
  return (conv_stack(factory, _LENET, input_shape, kernel_size=5) +
          dense_head(factory, (120, 84), num_classes))


def tinycnn(factory: LayerFactory, input_shape, num_classes: int, *,
            dropout: float = 0.5, width: int = 32) -> list:
  """Four 3x3 convs of ``width`` filters (the paper's 32), pool every two,
  two FC of 256."""
  if width < 1:
    raise ValueError(f"width must be >= 1, got {width}")
  spec = tuple(width if item != _POOL else item for item in _TINYCNN)
  return (conv_stack(factory, spec, input_shape) +
          dense_head(factory, (256, 256), num_classes, dropout=dropout))


def vgg_mnist(factory: LayerFactory, input_shape, num_classes: int, *,
              dropout: float = 0.5) -> list:
  """Eight 3x3 convs (32 to 256 filters), pool every two, two FC of 256."""
  return (conv_stack(factory, _VGG_MNIST, input_shape) +
          dense_head(factory, (256, 256), num_classes, dropout=dropout))


def vgg(factory: LayerFactory, input_shape, num_classes: int, *,
        batch_norm: bool = False, dropout: float = 0.5) -> list:
  """Zagoruyko's 13-conv VGG for CIFAR-10, FC 512, logits."""
  return (conv_stack(factory, _VGG, input_shape, batch_norm=batch_norm) +
          dense_head(factory, (512,), num_classes, dropout=dropout,
                     batch_norm=batch_norm))
