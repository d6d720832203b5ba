"""The paper's input preprocessing: scaling to [0, 1], standardising channels.

Only inputs are transformed, never labels. Statistics come from the training
inputs; since a code transmits labels given all inputs, the decoder knows them.
"""

import math

import numpy as np

# Images per chunk when accumulating statistics, to avoid a float64 copy of
# the whole training set.
_CHUNK = 4096


def to_unit_interval(images: np.ndarray, shape: tuple[int, ...],
                     max_value: float) -> np.ndarray:
  """Reshapes ``images`` to ``(n, *shape)`` and divides by ``max_value``.

  Returns:
    float32 array with values in [0, 1].

  Raises:
    ValueError: if the images do not have ``prod(shape)`` values each, or lie
      outside [0, max_value].
  """
  images = np.asarray(images)
  if images.ndim < 1 or math.prod(images.shape[1:]) != math.prod(shape):
    raise ValueError(
        f"expected images of shape {shape}, got {images.shape[1:]}")
  if images.size and (images.min() < 0 or images.max() > max_value):
    raise ValueError(
        f"expected pixel values in [0, {max_value}], found "
        f"[{images.min()}, {images.max()}]")
  scaled = images.reshape((len(images),) + tuple(shape)).astype(np.float32)
  scaled /= np.float32(max_value)
  return scaled


def standardise_channels(x_train: np.ndarray,
                         x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Standardises each channel (last axis) with the training set's mean and std.

  Args:
    x_train: float32 training inputs, channels last; modified in place.
    x_test: float32 test inputs, channels last; modified in place.

  Returns:
    ``(x_train, x_test)``, standardised.

  Raises:
    ValueError: if a channel is constant over the training set.
  """
  channels = x_train.shape[-1]
  total = np.zeros(channels)
  total_sq = np.zeros(channels)
  for start in range(0, len(x_train), _CHUNK):
    chunk = x_train[start:start + _CHUNK].reshape(-1, channels)
    chunk = chunk.astype(np.float64)
    total += chunk.sum(axis=0)
    total_sq += np.square(chunk).sum(axis=0)
  count = x_train.size // channels
  mean = total / count
  std = np.sqrt(np.maximum(total_sq / count - np.square(mean), 0.0))
  if (std == 0).any():
    raise ValueError(
        f"cannot standardise: channel(s) {np.flatnonzero(std == 0).tolist()} "
        "are constant over the training set")
  for x in (x_train, x_test):
    x -= mean.astype(np.float32)
    x /= std.astype(np.float32)
  return x_train, x_test
