"""Checks that a labelled data set is one a code can be computed on.

Every code divides by nothing but trusts its inputs: a label outside [0, K)
indexes out of the softmax, a NaN input turns every loss into NaN. These checks
run once, vectorised, when a data set is loaded or handed in by a user.
"""

import numpy as np


def validate_labelled_arrays(x, y, num_classes: int) -> None:
  """Raises a one-line ``ValueError`` if ``(x, y)`` is not a valid data set.

  Valid means: ``num_classes >= 2``; at least one example; ``x`` and ``y`` of
  the same length; ``y`` one-dimensional, of integer values (an integer dtype,
  or floats that are whole numbers) in ``[0, num_classes)``; ``x`` numeric,
  without NaN or infinite values.

  Args:
    x: inputs, first axis indexes the examples.
    y: labels, one per example.
    num_classes: the number of classes K.

  Raises:
    ValueError: naming the first problem found.
  """
  if num_classes < 2:
    raise ValueError(f"need at least 2 classes, got num_classes={num_classes}")
  x, y = np.asarray(x), np.asarray(y)
  if x.ndim == 0 or y.ndim != 1:
    raise ValueError(
        f"expected inputs with a leading example axis and 1-D labels, got "
        f"shapes {x.shape} and {y.shape}")
  if len(x) == 0 or len(y) == 0:
    raise ValueError("empty data set: no examples")
  if len(x) != len(y):
    raise ValueError(f"{len(x)} inputs but {len(y)} labels")
  _check_labels(y, num_classes)
  if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
    raise ValueError(f"inputs must be numeric, got dtype {x.dtype}")
  if np.issubdtype(x.dtype, np.inexact) and not np.isfinite(x).all():
    raise ValueError("inputs contain NaN or infinite values")


def _check_labels(y: np.ndarray, num_classes: int) -> None:
  """The label part of :func:`validate_labelled_arrays`."""
  if np.issubdtype(y.dtype, np.floating):
    if not np.isfinite(y).all() or (y != np.round(y)).any():
      raise ValueError("labels must be integers, got non-integer float values")
  elif not np.issubdtype(y.dtype, np.integer):
    raise ValueError(f"labels must be integers, got dtype {y.dtype}")
  low, high = y.min(), y.max()
  if low < 0 or high >= num_classes:
    raise ValueError(
        f"labels must lie in [0, {num_classes}), found values in "
        f"[{low}, {high}]")
