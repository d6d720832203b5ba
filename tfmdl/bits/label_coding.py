"""Range coding of labels under predicted distributions, block by block.

A codelength ``sum -log2 p(y_i | x_i)`` is a theoretical number; this module
turns it into bytes. Each label is coded with a categorical distribution over
the K classes, first *quantised* to integer masses that sum to exactly
``2**PRECISION`` (every class at least 1 unit, so no label is ever
impossible), then fed to ``constriction``'s range coder. Encoder and decoder
must quantise bit for bit alike, so quantisation uses only IEEE-754 float64
operations that are correctly rounded on every machine (``+ - * /``, ``rint``,
``floor``, ``ldexp``, comparisons), never library ``exp``/``log`` whose last
bit may depend on the CPU's SIMD code path.

Quantisation of one row of log-probabilities ``l`` (nats, any normalisation):

1. ``d = max(l - max(l), -60)`` in float64 (``exp(-60)`` is below one unit).
2. ``u = exp(d)`` by :func:`deterministic_exp`: ``k = rint(d / ln 2)``,
   ``r = d - k * ln 2``, a degree-13 Taylor polynomial of ``exp(r)`` in Horner
   form, then ``ldexp(poly, k)``.
3. ``s = u_0 + u_1 + ... + u_{K-1}``, summed left to right.
4. ``m_j = 1 + floor((u_j / s) * (2**PRECISION - K))``.
5. The remaining ``2**PRECISION - sum(m)`` units (between 0 and K - 1) go to
   the first class of largest ``u``.

``constriction`` then codes with exactly these masses: it is given the floats
``m_j - 1`` (integers, exact in float64), whose sum is ``2**PRECISION - K``,
so its "fast" quantiser (``floor(cumsum * (2**24 - K) / sum) + j``, with
scale exactly 1) returns the cumulative masses unchanged.

What the file costs over the codelength is bounded from both sides
(:func:`quantized_bits_bounds`, :func:`payload_bits_bounds`): quantising a
label of probability p costs between ``-log2(p + (K/T)(1 - p))`` and
``-log2 p - log2(1 - K/T)`` bits (``T = 2**PRECISION``); the coder's payload
lies between those quantised bits and 64 bits plus ``-log2(1 - 2**-8)`` a
label more.

Example::

    masses = quantize_log_probs(log_probs)          # (n, K) int64
    payload = encode_blocks([(labels, masses)])      # bytes
    decoder = LabelDecoder(payload)
    assert (decoder.decode(masses) == labels).all()
"""

import math
from typing import Iterable, Tuple

import constriction
import numpy as np

PRECISION = 24  # constriction's range coder: 32-bit words, 24-bit masses
TOTAL = 1 << PRECISION
_WORD_BITS = 32   # constriction.stream.queue.RangeEncoder's words ...
_STATE_BITS = 64  # ... and its state (lower end and range of the interval)
_MIN_LOG = -60.0
_LN2 = math.log(2.0)
_TAYLOR_DEGREE = 13


def _categorical_family():
  return constriction.stream.model.Categorical(perfect=False)


def deterministic_exp(x: np.ndarray) -> np.ndarray:
  """``exp(x)`` from correctly rounded float64 operations only.

  Same input bits give the same output bits on every IEEE-754 machine
  (relative error about 1e-15); ``x`` must lie in ``[-700, 700]``.
  """
  x = np.asarray(x, np.float64)
  k = np.rint(x / _LN2)
  r = x - k * _LN2
  poly = np.full_like(r, 1.0 / math.factorial(_TAYLOR_DEGREE))
  for power in range(_TAYLOR_DEGREE - 1, -1, -1):
    poly = poly * r + 1.0 / math.factorial(power)
  return np.ldexp(poly, k.astype(np.int64))


def quantize_log_probs(log_probs: np.ndarray) -> np.ndarray:
  """Integer masses, shape (n, K): each >= 1, every row sums to ``TOTAL``.

  Args:
    log_probs: float log-probabilities in nats, shape (n, K), K >= 2; rows
      need not be normalised. ``-inf`` is allowed, NaN and ``+inf`` are not.

  Returns:
    An int64 array (see the module docstring for the exact procedure).
  """
  log_probs = np.asarray(log_probs)
  if log_probs.ndim != 2:
    raise ValueError(f"log_probs must have shape (n, K), got {log_probs.shape}")
  n, k = log_probs.shape
  if not 2 <= k < TOTAL - 1:
    raise ValueError(f"need 2 <= K < {TOTAL - 1} classes, got {k}")
  lp = log_probs.astype(np.float64)
  if np.isnan(lp).any() or np.isposinf(lp).any():
    raise ValueError("log_probs contain NaN or +inf")
  if n == 0:
    return np.zeros((0, k), np.int64)
  top = lp.max(axis=1, keepdims=True)
  if np.isneginf(top).any():
    raise ValueError("a row of log_probs is -inf everywhere")
  u = deterministic_exp(np.maximum(lp - top, _MIN_LOG))
  total = u[:, 0].copy()
  for j in range(1, k):
    total = total + u[:, j]
  free = float(TOTAL - k)
  masses = 1 + np.floor((u / total[:, None]) * free).astype(np.int64)
  masses[np.arange(n), np.argmax(u, axis=1)] += TOTAL - masses.sum(axis=1)
  return masses


def uniform_masses(n: int, num_classes: int) -> np.ndarray:
  """Quantised uniform distributions: :func:`quantize_log_probs` of zeros."""
  return quantize_log_probs(np.zeros((n, num_classes)))


def quantized_bits(masses: np.ndarray, labels: np.ndarray) -> float:
  """Ideal codelength in bits of ``labels`` under the quantised masses."""
  masses, labels = _check(masses, labels)
  chosen = masses[np.arange(len(labels)), labels].astype(np.float64)
  return float(np.sum(PRECISION - np.log2(chosen)))


def quantized_bits_bounds(float_bits: np.ndarray, num_classes: int,
                          row_sum_bits: float = 0.0) -> tuple:
  """``(low, high)``: what :func:`quantized_bits` can be for labels whose
  float codelengths are ``float_bits``.

  A label of probability ``p = 2**-f`` in its row gets ``m = 1 + floor(p (T
  - K))`` units, plus at most ``K - 1`` if it is the row's largest (step 5
  of the module docstring), so ``p (T - K) < m <= p (T - K) + K``: its
  quantised bits ``-log2(m / T)`` lie in ``[-log2(p + (K/T)(1 - p)), f -
  log2(1 - K/T))``. Summed over the labels.

  Args:
    float_bits: (n,) each label's ``-log2 p`` under its (mixed) row.
    num_classes: K.
    row_sum_bits: rows summing to within ``2**±row_sum_bits`` of 1 (float32
      log-softmax: about 1e-6) widen each label's interval by that much.
  """
  f = np.asarray(float_bits, np.float64)
  p = np.exp2(-f)
  k_over_t = num_classes / TOTAL
  low = -np.log2(p + k_over_t * (1.0 - p)) - row_sum_bits
  high = f - math.log2(1.0 - k_over_t) + row_sum_bits
  return float(low.sum()), float(high.sum())


def payload_bits_bounds(quantized: float, n: int) -> tuple:
  """``(low, high)``: what the payload of ``n`` labels whose quantised
  bits are ``quantized`` can be, in bits.

  constriction's range coder keeps an interval of width ``range`` in
  ``[2**32, 2**64)`` after each label, below ``E`` words it has written;
  coding a label of ``m`` units makes ``range`` ``floor(range / T) m``, at
  most ``range m / T`` and more than ``range (m / T)(1 - 2**-8)``. Its
  final interval, ``range / 2**(64 + 32 E)`` of the unit, is thus at most
  ``2**-quantized`` and above ``2**-(quantized + n delta)``, ``delta =
  -log2(1 - 2**-8)`` (0.0056 bits). Sealing writes one word, or two, so the
  payload ``32 (E + 1)`` to ``32 (E + 2)`` bits lies in ``[quantized,
  quantized + 64 + n delta]`` (no word for no label).
  """
  if n == 0:
    return 0.0, 0.0
  smallest_range = 2.0**(_STATE_BITS - _WORD_BITS)
  delta = -math.log2(1.0 - TOTAL / smallest_range)
  return quantized, quantized + 2 * _WORD_BITS + n * delta


def _check(masses: np.ndarray, labels: np.ndarray) -> Tuple[np.ndarray,
                                                           np.ndarray]:
  masses = np.asarray(masses)
  labels = np.asarray(labels)
  if masses.ndim != 2 or labels.shape != masses.shape[:1]:
    raise ValueError(f"masses {masses.shape} and labels {labels.shape} do "
                     "not match: need (n, K) and (n,)")
  if len(labels) and (labels.min() < 0 or labels.max() >= masses.shape[1]):
    raise ValueError(f"labels must lie in [0, {masses.shape[1]})")
  _check_masses(masses)
  return masses, labels


def _check_masses(masses: np.ndarray) -> None:
  if not np.issubdtype(masses.dtype, np.integer):
    raise ValueError(f"masses must be integers, got {masses.dtype}")
  if len(masses) and (masses.min() < 1 or
                      (masses.sum(axis=1) != TOTAL).any()):
    raise ValueError(f"masses must be >= 1 and sum to {TOTAL} per row")


def _constriction_params(masses: np.ndarray) -> np.ndarray:
  """The floats that make constriction use exactly ``masses``."""
  return (masses - 1).astype(np.float64)


class LabelEncoder:
  """Range-codes labels block by block into one stream."""

  def __init__(self):
    self._encoder = constriction.stream.queue.RangeEncoder()
    self._family = _categorical_family()

  def encode(self, labels: np.ndarray, masses: np.ndarray) -> None:
    """Append ``labels`` (n,), each under its row of ``masses`` (n, K)."""
    masses, labels = _check(masses, labels)
    if len(labels):
      self._encoder.encode(labels.astype(np.int32), self._family,
                           _constriction_params(masses))

  def payload(self) -> bytes:
    """The coded stream so far: little-endian 32-bit words."""
    return self._encoder.get_compressed().astype("<u4").tobytes()


class LabelDecoder:
  """Decodes what :class:`LabelEncoder` wrote, block by block."""

  def __init__(self, payload: bytes):
    if len(payload) % 4:
      raise ValueError(f"payload length {len(payload)} is not a multiple of 4")
    words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
    self._decoder = constriction.stream.queue.RangeDecoder(words)
    self._family = _categorical_family()

  def decode(self, masses: np.ndarray) -> np.ndarray:
    """The next ``len(masses)`` labels (int64), row i coded under masses[i]."""
    masses = np.asarray(masses)
    if masses.ndim != 2:
      raise ValueError(f"masses must have shape (n, K), got {masses.shape}")
    _check_masses(masses)
    if not len(masses):
      return np.zeros(0, np.int64)
    try:
      labels = self._decoder.decode(self._family, _constriction_params(masses))
    except (ValueError, RuntimeError) as e:
      raise ValueError(f"corrupt label stream: {e}") from e
    return np.asarray(labels, np.int64)

  def maybe_exhausted(self) -> bool:
    """False when unread data remain (a sign of a corrupt or wrong stream)."""
    return self._decoder.maybe_exhausted()


def encode_blocks(blocks: Iterable[Tuple[np.ndarray, np.ndarray]]) -> bytes:
  """Payload of ``(labels, masses)`` blocks coded one after the other."""
  encoder = LabelEncoder()
  for labels, masses in blocks:
    encoder.encode(labels, masses)
  return encoder.payload()
