"""Tests of tfmdl.bits.parameter_coding: codebooks, bitstreams, fixed point."""

import math
import struct
import zlib

import numpy as np
import pytest

from tfmdl.bits import parameter_coding as pc


def _tensors(seed=0):
  rng = np.random.default_rng(seed)
  return [rng.normal(0, 0.1, (20, 30)).astype(np.float32),
          rng.normal(0, 1.0, (30,)).astype(np.float32),
          rng.normal(0, 0.05, (3, 3, 2, 4)).astype(np.float32),
          np.zeros(5, np.float32)]


def test_kmeans_lloyd_by_hand():
  # Init [0, 10], split at 5: {0, 0, 0, 1} -> 0.25 and {10, 10, 10} -> 10.
  book = pc.kmeans_codebook([0, 0, 0, 1, 10, 10, 10], 1)
  np.testing.assert_array_equal(book, np.float32([0.25, 10]))


def test_few_distinct_values_are_kept_exactly():
  values = np.float32([0.3, -1.5, 0.3, 2.25, -1.5, 7.0])
  for method in ("kmeans", "uniform"):
    q = pc.quantize_tensor(values, 2, method=method)
    np.testing.assert_array_equal(q.values(), values)


def test_uniform_codebook_levels():
  values = np.float32([0.0, 0.2, 0.45, 0.8, 1.0, 0.3])
  np.testing.assert_allclose(pc.uniform_codebook(values, 2),
                             [0, 1 / 3, 2 / 3, 1], rtol=1e-6)
  q = pc.quantize_tensor(values, 2, method="uniform")
  np.testing.assert_allclose(q.values(), [0, 1 / 3, 1 / 3, 2 / 3, 1, 1 / 3],
                             rtol=1e-6)


@pytest.mark.parametrize("bits", [1, 2, 3, 5, 8])
def test_at_most_two_to_the_bits_levels_and_nearest(bits):
  w = _tensors()[0]
  q = pc.quantize_tensor(w, bits)
  assert 1 <= q.codebook.size <= 2**bits
  assert np.all(np.diff(q.codebook) > 0)
  nearest = np.abs(w.ravel()[:, None] - q.codebook[None]).min(axis=1)
  np.testing.assert_allclose(np.abs(w.ravel() - q.values().ravel()), nearest,
                             atol=1e-7)


def test_pruning_zeroes_the_smallest_weights():
  w = _tensors()[0]
  q = pc.quantize_tensor(w, 3, prune_fraction=0.6)
  assert 0.0 in q.codebook and q.codebook.size <= 8
  small = np.abs(w) <= np.quantile(np.abs(w), 0.6)
  assert np.all(q.values()[small] == 0)
  assert np.mean(q.values() == 0) >= 0.6


@pytest.mark.parametrize("bits", [1, 2, 4, 8, 16])
@pytest.mark.parametrize("method", ["kmeans", "uniform"])
def test_bitstream_round_trip_is_bit_exact(bits, method):
  quantized = [pc.quantize_tensor(w, bits, method=method) for w in _tensors()]
  decoded = pc.decode_tensors(pc.encode_tensors(quantized))
  assert len(decoded) == len(quantized)
  for q, d in zip(quantized, decoded):
    assert d.dtype == np.float32 and d.shape == q.shape
    assert d.tobytes() == q.values().tobytes()


def test_layout_by_hand_for_a_constant_tensor():
  # One level: no frequencies, no payload. 4 magic + 1 version + 1 precision
  # + 4 count; 1 ndim + 2 * 4 dims; 4 codebook size + 4 level; 4 CRC = 31.
  q = pc.quantize_tensor(np.full((2, 3), 1.5, np.float32), 4)
  data = pc.encode_tensors([q])
  assert len(data) == 31
  assert data[:4] == b"TFMQ"
  assert struct.unpack("<BBI", data[4:10]) == (1, 16, 1)
  assert struct.unpack("<B2I", data[10:19]) == (2, 2, 3)
  assert struct.unpack("<If", data[19:27]) == (1, 1.5)
  assert struct.unpack("<I", data[27:]) == (zlib.crc32(data[:27]),)


def test_indices_cost_close_to_their_empirical_entropy():
  rng = np.random.default_rng(1)
  n = 20_000
  values = rng.choice(np.float32([-1, 0, 1, 2]), size=n,
                      p=[0.1, 0.7, 0.1, 0.1]).astype(np.float32)
  q = pc.quantize_tensor(values, 2)
  counts = np.bincount(q.indices)
  entropy_bits = -(counts * np.log2(counts / n)).sum()
  header = 10 + (1 + 4) + 4 + 4 * 4 + 2 * 4  # + CRC below
  payload_bits = 8 * (len(pc.encode_tensors([q])) - header - 4)
  assert entropy_bits <= payload_bits <= entropy_bits + 100
  assert payload_bits < 0.7 * 2 * n  # far below 2 bits per index


def test_corrupted_or_truncated_stream_is_refused():
  data = pc.encode_tensors([pc.quantize_tensor(w, 3) for w in _tensors()])
  for position in (5, len(data) // 2, len(data) - 10):
    corrupted = bytearray(data)
    corrupted[position] ^= 0x10
    with pytest.raises(ValueError, match="corrupted"):
      pc.decode_tensors(bytes(corrupted))
  for cut in (1, 4, len(data) // 2):
    with pytest.raises(ValueError):
      pc.decode_tensors(data[:-cut])
  with pytest.raises(ValueError, match="magic"):
    pc.decode_tensors(b"XXXX" + data[4:])


@pytest.mark.parametrize("bad", [0, 17, -1, 2.5])
def test_bits_out_of_range(bad):
  with pytest.raises(ValueError, match="1..16"):
    pc.quantize_tensor(np.arange(10, dtype=np.float32), bad)


def test_bad_quantisation_options():
  w = np.arange(10, dtype=np.float32)
  with pytest.raises(ValueError, match="method"):
    pc.quantize_tensor(w, 2, method="lloyd")
  with pytest.raises(ValueError, match="prune_fraction"):
    pc.quantize_tensor(w, 2, prune_fraction=1.0)
  with pytest.raises(ValueError, match="NaN"):
    pc.quantize_tensor(np.float32([1, np.nan]), 2)


@pytest.mark.parametrize("precision", [1, 4, 8, 13, 16, 31])
def test_vector_fixed_point(precision):
  z = np.random.default_rng(2).normal(size=37).astype(np.float32)
  data = pc.encode_vector(z, precision)
  assert len(data) == 8 + math.ceil(precision * 37 / 8)
  assert len(data) == pc.vector_bytes(37, precision)
  lo, hi = np.frombuffer(data[:8], "<f4")
  assert (lo, hi) == (z.min(), z.max())
  decoded = pc.decode_vector(data, 37, precision)
  step = (float(hi) - float(lo)) / (2**precision - 1)
  assert np.all(np.abs(decoded - z) <= step / 2 * (1 + 1e-6) + 1e-6)
  assert decoded[np.argmin(z)] == z.min()


def test_vector_float32_is_raw():
  z = np.float32([1.25, -3e-8, 7e5])
  data = pc.encode_vector(z, 32)
  assert data == z.astype("<f4").tobytes()
  assert pc.decode_vector(data, 3, 32).tobytes() == z.tobytes()


def test_vector_bad_options():
  z = np.zeros(4, np.float32)
  for bad in (0, 33):
    with pytest.raises(ValueError, match="precision"):
      pc.encode_vector(z, bad)
  with pytest.raises(ValueError, match="bytes"):
    pc.decode_vector(pc.encode_vector(z, 8)[:-1], 4, 8)
