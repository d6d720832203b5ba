"""The uniform code: every label costs log2(K) bits, nothing is learned."""

import math


def uniform_bits(n: int, num_classes: int) -> float:
  """Codelength in bits of ``n`` labels among ``num_classes`` sent uniformly.

  Raises:
    ValueError: if ``n`` is negative or ``num_classes`` is below 2.
  """
  if n < 0:
    raise ValueError(f"n must be >= 0, got {n}")
  if num_classes < 2:
    raise ValueError(f"need at least 2 classes, got {num_classes}")
  return n * math.log2(num_classes)
