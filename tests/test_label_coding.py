"""Range coding of labels: exact quantisation, round trips, code lengths."""

import math

import numpy as np
import pytest

from tfmdl.bits import label_coding as lc


# The most a label can cost the range coder over its quantised bits:
# constriction's interval is at least 2**32 wide before a label, and
# floor(range / 2**24) loses less than 2**24 of it.
DELTA = -math.log2(1 - 2**24 / 2**32)


def _random_log_probs(rng, n, k, scale=4.0):
  return (rng.normal(size=(n, k)) * scale).astype(np.float32)


def _sample(rng, log_probs):
  p = np.exp(log_probs - log_probs.max(axis=1, keepdims=True))
  p /= p.sum(axis=1, keepdims=True)
  return np.array([rng.choice(len(row), p=row) for row in p])


def test_deterministic_exp_is_exp():
  x = np.linspace(-60.0, 0.0, 10001)
  np.testing.assert_allclose(lc.deterministic_exp(x), np.exp(x), rtol=1e-14)
  assert lc.deterministic_exp(np.array([0.0]))[0] == 1.0
  assert lc.deterministic_exp(np.array([-3 * math.log(2.0)]))[0] == 0.125


def test_uniform_masses_by_hand():
  # free = 2**24 - 10; 1 + floor(0.1 * free) = 1677721 each, 10 units short:
  # 2**24 - 16777210 = 6 go to class 0 (first of the largest).
  masses = lc.uniform_masses(3, 10)
  assert masses.dtype == np.int64
  np.testing.assert_array_equal(masses[0], [1677727] + [1677721] * 9)
  np.testing.assert_array_equal(masses, np.repeat(masses[:1], 3, axis=0))


def test_dyadic_probabilities_quantise_exactly():
  log_probs = np.log([[0.5, 0.25, 0.125, 0.125]])
  masses = lc.quantize_log_probs(log_probs)
  np.testing.assert_array_equal(masses, [[2**23, 2**22, 2**21, 2**21]])
  # 1 + 2 + 3 + 3 bits.
  assert lc.quantized_bits(np.repeat(masses, 4, axis=0),
                           np.arange(4)) == 9.0


def test_impossible_label_keeps_one_unit():
  masses = lc.quantize_log_probs(np.array([[0.0, -np.inf], [-1e4, 0.0]]))
  np.testing.assert_array_equal(masses, [[lc.TOTAL - 1, 1], [1, lc.TOTAL - 1]])
  assert lc.quantized_bits(masses[:1], np.array([1])) == 24.0


@pytest.mark.parametrize("k, scale", [(2, 1.0), (10, 4.0), (10, 40.0),
                                      (100, 10.0), (1000, 2.0)])
def test_masses_are_positive_and_sum_to_total(k, scale):
  rng = np.random.default_rng(k)
  log_probs = _random_log_probs(rng, 500, k, scale)
  log_probs[0, 0] = -np.inf
  masses = lc.quantize_log_probs(log_probs)
  assert masses.shape == (500, k)
  assert masses.min() >= 1
  np.testing.assert_array_equal(masses.sum(axis=1), np.full(500, lc.TOTAL))
  # Close to the float probabilities (to a unit or so).
  p = np.exp(log_probs.astype(np.float64))
  p /= p.sum(axis=1, keepdims=True)
  assert np.abs(masses - p * lc.TOTAL).max() <= k + 1


def test_round_trip_block_by_block():
  rng = np.random.default_rng(0)
  encoder = lc.LabelEncoder()
  blocks = []
  for n in (10, 0, 1, 37, 500):
    log_probs = _random_log_probs(rng, n, 10)
    masses = lc.quantize_log_probs(log_probs)
    labels = _sample(rng, log_probs) if n else np.zeros(0, np.int64)
    encoder.encode(labels, masses)
    blocks.append((labels, masses))
  payload = encoder.payload()
  assert payload == lc.encode_blocks(blocks)
  decoder = lc.LabelDecoder(payload)
  for labels, masses in blocks:
    np.testing.assert_array_equal(decoder.decode(masses), labels)


def test_decoding_depends_on_the_masses():
  rng = np.random.default_rng(1)
  log_probs = _random_log_probs(rng, 200, 10)
  labels = _sample(rng, log_probs)
  masses = lc.quantize_log_probs(log_probs)
  payload = lc.encode_blocks([(labels, masses)])
  other = lc.quantize_log_probs(_random_log_probs(rng, 200, 10))
  assert (lc.LabelDecoder(payload).decode(other) != labels).any()


def test_code_length_is_minus_log2_of_quantised_probabilities():
  rng = np.random.default_rng(2)
  log_probs = _random_log_probs(rng, 3000, 10)
  labels = _sample(rng, log_probs)
  masses = lc.quantize_log_probs(log_probs)
  ideal = lc.quantized_bits(masses, labels)
  payload_bits = 8 * len(lc.encode_blocks([(labels, masses)]))
  low, high = lc.payload_bits_bounds(ideal, 3000)
  assert low == ideal and high == ideal + 64 + 3000 * DELTA
  assert low <= payload_bits <= high


def test_coder_uses_exactly_the_given_small_masses():
  # Labels of tiny mass (2..200 units): an off-by-one unit anywhere in the
  # coder's table would move the size by a fraction of a bit per label.
  rng = np.random.default_rng(3)
  n, k = 2000, 50
  masses = np.exp(rng.uniform(0, np.log(200), size=(n, k))).astype(np.int64)
  masses += 1
  masses[np.arange(n), rng.integers(0, k, n)] += lc.TOTAL - masses.sum(1)
  labels = np.argmin(masses, axis=1)
  ideal = lc.quantized_bits(masses, labels)
  payload = lc.encode_blocks([(labels, masses)])
  low, high = lc.payload_bits_bounds(ideal, n)
  assert low <= 8 * len(payload) <= high
  np.testing.assert_array_equal(lc.LabelDecoder(payload).decode(masses),
                                labels)


def test_quantisation_bounds_by_hand():
  """A label of probability p gets between p (T - K) and p (T - K) + K of T
  units: one of probability 1/2 of K = 2 (T = 2**24) costs between
  -log2(1/2 + 1/T) and 1 - log2(1 - 2/T) bits; a sure one between 0 and
  -log2(1 - 2/T)."""
  t = 2.0**24
  low, high = lc.quantized_bits_bounds(np.array([1.0, 0.0]), 2)
  assert low == pytest.approx(-math.log2(0.5 + 1 / t), rel=1e-15)
  assert high == pytest.approx(1 - 2 * math.log2(1 - 2 / t), rel=1e-15)
  low, high = lc.quantized_bits_bounds(np.array([1.0]), 2,
                                       row_sum_bits=0.25)
  assert (low, high) == pytest.approx((-math.log2(0.5 + 1 / t) - 0.25,
                                       1.25 - math.log2(1 - 2 / t)))
  assert lc.quantized_bits(lc.quantize_log_probs(np.log([[0.5, 0.5]])),
                           np.array([1])) == 1.0
  # No label, no word; one label: the coder's 64 bits and one delta.
  assert lc.payload_bits_bounds(0.0, 0) == (0.0, 0.0)
  assert lc.payload_bits_bounds(24.0, 1) == (24.0, 88 + DELTA)
  assert DELTA == pytest.approx(0.0056465, abs=1e-7)


@pytest.mark.parametrize("scale", [0.5, 4.0, 30.0])
def test_quantised_bits_lie_within_their_bounds_label_by_label(scale):
  rng = np.random.default_rng(5)
  log_probs = _random_log_probs(rng, 2000, 10, scale).astype(np.float64)
  log_probs -= np.logaddexp.reduce(log_probs, axis=1, keepdims=True)
  labels = _sample(rng, log_probs)
  masses = lc.quantize_log_probs(log_probs)
  float_bits = -log_probs[np.arange(2000), labels] / math.log(2)
  for i in range(2000):
    low, high = lc.quantized_bits_bounds(float_bits[i:i + 1], 10,
                                         row_sum_bits=1e-12)
    assert low <= lc.quantized_bits(masses[i:i + 1], labels[i:i + 1]) < high
  # Summed, the interval is narrow where labels are not too unlikely.
  low, high = lc.quantized_bits_bounds(float_bits, 10)
  assert low <= lc.quantized_bits(masses, labels) < high
  if scale < 30:
    assert high - low < 0.1


def test_payload_bounds_hold_where_the_interval_shrinks_most():
  """Labels of one unit (24 bits each) shrink the coder's interval by
  2**24 a label: it falls to near 2**32 and is renormalised every label
  or two, where floor(range / T) loses the most."""
  rng = np.random.default_rng(4)
  for n, k in ((1, 2), (2, 2), (7, 3), (5000, 2), (3000, 300)):
    masses = np.ones((n, k), np.int64)
    masses[:, 0] = lc.TOTAL - (k - 1)
    labels = rng.integers(1, k, n)
    payload = lc.encode_blocks([(labels, masses)])
    ideal = lc.quantized_bits(masses, labels)
    assert ideal == 24.0 * n
    low, high = lc.payload_bits_bounds(ideal, n)
    assert low <= 8 * len(payload) <= high
    np.testing.assert_array_equal(lc.LabelDecoder(payload).decode(masses),
                                  labels)


@pytest.mark.parametrize("log_probs, message", [
    (np.zeros(10), "shape"),
    (np.zeros((3, 1)), "classes"),
    (np.array([[0.0, np.nan]]), "NaN"),
    (np.array([[0.0, np.inf]]), "inf"),
    (np.array([[-np.inf, -np.inf]]), "-inf everywhere"),
])
def test_bad_log_probs_are_refused(log_probs, message):
  with pytest.raises(ValueError, match=message):
    lc.quantize_log_probs(log_probs)


def test_bad_masses_labels_and_payloads_are_refused():
  masses = lc.uniform_masses(2, 4)
  with pytest.raises(ValueError, match="sum to"):
    lc.LabelEncoder().encode(np.array([0, 1]), masses + 1)
  with pytest.raises(ValueError, match="labels must lie"):
    lc.LabelEncoder().encode(np.array([0, 4]), masses)
  with pytest.raises(ValueError, match="do not match"):
    lc.LabelEncoder().encode(np.array([0]), masses)
  with pytest.raises(ValueError, match="multiple of 4"):
    lc.LabelDecoder(b"\x00" * 5)
