"""A small synthetic data set that a model can learn, for tests.

Inputs are standard Gaussian; the label of an input is the argmax of a fixed
random linear map of it, so labels are a deterministic function of inputs (a
linear classifier can reach 100%) and the classes are roughly balanced.
"""

import math

import numpy as np

from tfmdl.data.sources import Splits

DEFAULT_NUM_CLASSES = 4


def make_synthetic(num_train: int = 512, num_test: int = 128,
                   num_classes: int = DEFAULT_NUM_CLASSES,
                   input_shape: tuple[int, ...] = (8, 8, 1),
                   data_seed: int = 0) -> Splits:
  """Draws the synthetic train and test sets.

  Args:
    num_train: training examples.
    num_test: test examples.
    num_classes: number of classes K.
    input_shape: shape of one input.
    data_seed: seed of the linear map and the inputs; same seed, same data.

  Returns:
    float32 inputs, int32 labels, source ``"synthetic"``.

  Raises:
    ValueError: if a size is not positive or ``num_classes`` is below 2.
  """
  input_shape = tuple(input_shape)
  if num_train < 1 or num_test < 1 or min(input_shape, default=0) < 1:
    raise ValueError(
        f"synthetic needs positive sizes, got num_train={num_train}, "
        f"num_test={num_test}, input_shape={input_shape}")
  if num_classes < 2:
    raise ValueError(f"need at least 2 classes, got num_classes={num_classes}")
  rng = np.random.default_rng(data_seed)
  dim = math.prod(input_shape)
  weights = rng.standard_normal((dim, num_classes))
  weights /= np.linalg.norm(weights, axis=0)  # No class favoured by its norm.
  x = rng.standard_normal((num_train + num_test, dim))
  y = np.argmax(x @ weights, axis=1).astype(np.int32)
  x = x.astype(np.float32).reshape((-1,) + input_shape)
  return Splits(x[:num_train], y[:num_train], x[num_train:], y[num_train:],
                source="synthetic")
