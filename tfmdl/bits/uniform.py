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


class ComparedToUniform:
  """Mixin of every code's result: its codelength against the uniform code.

  The class using it has ``n``, ``num_classes`` and ``codelength_bits``.
  """

  @property
  def uniform_bits(self) -> float:
    """The uniform codelength of the same labels, ``n log2 K``."""
    return uniform_bits(self.n, self.num_classes)

  @property
  def compression_ratio(self) -> float:
    """Codelength over the uniform codelength; below 1 means compression."""
    return self.codelength_bits / self.uniform_bits
