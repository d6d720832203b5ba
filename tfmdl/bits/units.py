"""Units: every codelength in tfmdl is in bits; 1 kbit = 1000 bits.

Losses come from logits in nats (``log_softmax``); they are converted to bits
here, and only here, by dividing by ln 2.
"""

import math

import numpy as np

LN2 = math.log(2.0)
BITS_PER_KBIT = 1000.0


def nats_to_bits(nats):
  """Convert a quantity in nats (a float or an array) to bits."""
  return np.asarray(nats, dtype=np.float64) / LN2


def bits_to_kbits(bits):
  """Convert bits to kbits (1 kbit = 1000 bits)."""
  return bits / BITS_PER_KBIT
