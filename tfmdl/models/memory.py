"""Refuse a model too large for this machine before its weights exist.

A config, or a labels file's header (``bin/decompress``), names the model to
build; one edited to a layer of 10^8 units would otherwise end in
TensorFlow's ``ResourceExhaustedError`` traceback, or in the kernel's
out-of-memory killer, once the initializer has filled the memory.
:func:`weights_within` counts the bytes of every variable as it is created
and refuses, with a one-line ``ValueError``, the first one that takes the
model past the machine's memory, before that variable's initial value is
computed: a ``tf_keras`` layer creates its weights from a callable initializer
under ``tf.variable_creator_scope``, which sees their shape first.

Training holds several copies of the weights at once (the model, its
gradients, Adam's two moments, an EMA twin or the best epoch's weights, every
ensemble member): ``copies`` says how many, so the check is on what the run
will hold at least, activations and data not counted.

Limits: a Keras 3 model computes its initial values before creating its
variables, so the check sees them after their allocation (the first too large
variable is still refused before training); on a GPU the weights live in the
device's memory, which is not checked here (TensorFlow's
``ResourceExhaustedError`` says so).

Example::

    with weights_within(copies=5):
      model = models.build("mlp", (28, 28, 1), 10, hidden_sizes=(10**8,))
    # ValueError: the model needs at least 1.4 TiB for 5 copies of its
    # weights (over 78,400,000,003 parameters); this machine has 23.0 GiB
    # of memory: choose a smaller model
"""

import contextlib
import os
from typing import Optional

import numpy as np
import tensorflow as tf

# cgroup v2, then v1: a container's limit, when lower than the machine's.
_CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max",
                  "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def machine_bytes() -> int:
  """The memory this process may use: the machine's physical memory, or its
  container's limit when lower."""
  total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
  for path in _CGROUP_LIMITS:
    if os.path.exists(path):
      with open(path, encoding="utf-8") as f:
        limit = f.read().strip()
      if limit.isdigit():
        total = min(total, int(limit))
  return total


def _readable(size: float) -> str:
  """``size`` bytes in KiB, MiB, GiB or TiB."""
  for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
    if size >= scale:
      return f"{size / scale:.1f} {unit}"
  return f"{size / 2**10:.1f} KiB"


def _variable_bytes(kwargs: dict) -> tuple:
  """``(elements, bytes)`` of the variable that ``tf.Variable(**kwargs)``
  would create, from its declared shape, or else its initial value (already
  computed, so small or allocated anyway)."""
  shape = kwargs.get("shape")
  value = kwargs.get("initial_value")
  if shape is None or not tf.TensorShape(shape).is_fully_defined():
    if value is None or callable(value):
      return 0, 0
    shape = getattr(value, "shape", None)
    shape = np.shape(value) if shape is None else shape
  elements = tf.TensorShape(shape).num_elements() or 0
  dtype = tf.as_dtype(kwargs.get("dtype") or getattr(value, "dtype", None)
                      or tf.float32)
  return elements, elements * dtype.size


@contextlib.contextmanager
def weights_within(copies: int = 1, available: Optional[int] = None,
                   what: str = "the model"):
  """Within this context, creating variables whose bytes, times ``copies``,
  exceed ``available`` raises a one-line ``ValueError`` before the variable
  that crosses the line is allocated.

  Args:
    copies: copies of the weights the run holds at once (at least 1).
    available: bytes; :func:`machine_bytes` when None.
    what: names the model in the message.

  Raises:
    ValueError: on entry for ``copies < 1``; inside, for a model too large.
  """
  if copies < 1:
    raise ValueError(f"copies must be >= 1, got {copies}")
  available = machine_bytes() if available is None else available
  created = {"elements": 0, "bytes": 0}

  def creator(next_creator, **kwargs):
    elements, size = _variable_bytes(kwargs)
    created["elements"] += elements
    created["bytes"] += size
    needed = copies * created["bytes"]
    if needed > available:
      raise ValueError(
          f"{what} needs at least {_readable(needed)} for {copies} cop"
          f"{'y' if copies == 1 else 'ies'} of its weights (over "
          f"{created['elements']:,} parameters); this machine has "
          f"{_readable(available)} of memory: choose a smaller model")
    return next_creator(**kwargs)

  with tf.variable_creator_scope(creator):
    yield
