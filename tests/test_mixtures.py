"""Tests for tfmdl.bits.mixtures: mixture and switching codes."""

import itertools
import math

import numpy as np
import pytest

from tfmdl.bits import mixtures

LOG2_3 = math.log2(3)

# The 2x2 example: two strategies, two samples.
#   bits[0] = (1, 3): p_0 = (1/2, 1/8);  bits[1] = (2, 1): p_1 = (1/4, 1/2).
HAND_BITS = np.array([[1.0, 3.0], [2.0, 1.0]])


def _brute_switch_sequences(n, num_strategies):
  """Every switch sequence ((1, k_1), (t_2, k_2), ...) on samples 1..n."""
  for size in range(n):
    for later in itertools.combinations(range(2, n + 1), size):
      times = (1,) + later
      for ks in itertools.product(range(num_strategies), repeat=len(times)):
        yield tuple(zip(times, ks))


def _path_bits(bits, seq):
  """Bits of following switch sequence ``seq`` on all samples."""
  ends = [t for t, _ in seq[1:]] + [bits.shape[1] + 1]
  return sum(bits[k, t - 1:end - 1].sum() for (t, k), end in zip(seq, ends))


def _mixture_bits(log_priors, path_bits):
  return -np.logaddexp2.reduce(np.asarray(log_priors) - np.asarray(path_bits))


def _fixed_share_brute(bits, alpha, weights):
  """Fixed share as a sum over all M**n strategy paths of a Markov prior."""
  num_strategies, n = bits.shape
  stay = math.log2(1 - alpha)
  move = math.log2(alpha / (num_strategies - 1)) if alpha > 0 else -np.inf
  log_priors, path_bits = [], []
  for path in itertools.product(range(num_strategies), repeat=n):
    log_priors.append(math.log2(weights[path[0]]) + sum(
        stay if a == b else move for a, b in zip(path, path[1:])))
    path_bits.append(bits[list(path), np.arange(n)].sum())
  return _mixture_bits(log_priors, path_bits)


class TestHandComputed:
  """Exact values for HAND_BITS, worked out by hand."""

  def test_bayes_mixture(self):
    # L = (4, 3): -log2(1/2 * 2**-4 + 1/2 * 2**-3) = -log2(3/32) = 5 - log2 3.
    assert mixtures.bayes_mixture_bits(HAND_BITS) == pytest.approx(
        5 - LOG2_3, abs=1e-12)

  def test_fixed_share(self):
    # alpha = 1/4. Sample 1: P = 1/2*1/2 + 1/2*1/4 = 3/8, posterior (2/3, 1/3).
    # Share: w = (3/4*2/3 + 1/4*1/3, 3/4*1/3 + 1/4*2/3) = (7/12, 5/12).
    # Sample 2: P = 7/12*1/8 + 5/12*1/2 = 27/96 = 9/32.
    # Total 3/8 * 9/32 = 27/256 -> 8 - 3 log2 3 bits.
    assert mixtures.fixed_share_bits(HAND_BITS, 0.25) == pytest.approx(
        8 - 3 * LOG2_3, abs=1e-12)

  def test_fixed_share_grid(self):
    # Alphas (0, 1/4): -log2(1/2 * 3/32 + 1/2 * 27/256)
    #   = -log2(24/512 + 27/512) = 9 - log2 51.
    assert mixtures.fixed_share_grid_bits(HAND_BITS, [0.0, 0.25]) == (
        pytest.approx(9 - math.log2(51), abs=1e-12))

  def test_switch_distribution(self):
    # stop_prob = 1/2, n = 2, uniform pi_K. Priors of sequences on 1..2:
    #   ((1,k)): 1/2 * (1/2 + 1/2 * pi_T(Z > 1)) = 1/2 * (1/2 + 1/4) = 3/8;
    #   ((1,j),(2,k)): 1/2 * 1/2 * pi_T(Z = 1) * 1/2 * 1 = 1/16.
    # Mass (in 1/512): stay 0: 3/8 * 1/16 = 12; stay 1: 3/8 * 1/8 = 24;
    #   0->0: 1/16 * 1/16 = 2; 1->1: 1/16 * 1/8 = 4;
    #   0->1: 1/16 * 1/2 * 1/2 = 8; 1->0: 1/16 * 1/4 * 1/8 = 1.
    # Total 51/512 -> 9 - log2 51 bits.
    assert mixtures.switch_distribution_bits(HAND_BITS) == pytest.approx(
        9 - math.log2(51), abs=1e-12)
    assert mixtures.switch_prior_logprob(((1, 0),), 2, 2) == pytest.approx(
        math.log2(3 / 8), abs=1e-12)
    assert mixtures.switch_prior_logprob(((1, 0), (2, 1)), 2, 2) == (
        pytest.approx(-4.0, abs=1e-12))

  def test_block_switch(self):
    # switch_rate = 1/4 on the same matrix, seen as 2 blocks: the mixture is
    # the fixed-share value 8 - 3 log2 3. Two-part costs L(s) + prior bits:
    #   (0,0): 4 + 1 + log2(4/3) = 7 - log2 3;  (0,1): 2 + 1 + 2 = 5;
    #   (1,0): 5 + 3 = 8;  (1,1): 3 + 1 + log2(4/3) = 6 - log2 3 (best).
    result = mixtures.block_switch_bits(HAND_BITS, 0.25)
    assert result.mixture_bits == pytest.approx(8 - 3 * LOG2_3, abs=1e-12)
    assert result.best_sequence == (1, 1)
    assert result.best_sequence_bits == pytest.approx(6 - LOG2_3, abs=1e-12)
    assert result.best_sequence_prior_bits == pytest.approx(
        3 - LOG2_3, abs=1e-12)


@pytest.mark.parametrize("num_strategies,n", [(2, 4), (2, 6), (3, 5), (3, 6)])
@pytest.mark.parametrize("stop_prob", [0.5, 0.2, 0.0, 1.0])
def test_switch_distribution_equals_brute_force(num_strategies, n, stop_prob):
  rng = np.random.default_rng(num_strategies * 100 + n)
  bits = rng.exponential(2.0, size=(num_strategies, n))
  weights = rng.dirichlet(np.ones(num_strategies))
  for w in (None, weights):
    seqs = list(_brute_switch_sequences(n, num_strategies))
    log_priors = [mixtures.switch_prior_logprob(s, n, num_strategies,
                                                stop_prob, w) for s in seqs]
    assert np.logaddexp2.reduce(log_priors) == pytest.approx(0.0, abs=1e-12)
    expected = _mixture_bits(log_priors, [_path_bits(bits, s) for s in seqs])
    got = mixtures.switch_distribution_bits(bits, stop_prob, w)
    assert got == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("num_strategies,n", [(2, 5), (3, 5), (4, 4)])
@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.7, 0.9])
def test_fixed_share_equals_brute_force(num_strategies, n, alpha):
  # alpha > (M - 1) / M exercises the second branch of the recursion.
  rng = np.random.default_rng(7 * num_strategies + n)
  bits = rng.exponential(2.0, size=(num_strategies, n))
  weights = rng.dirichlet(np.ones(num_strategies))
  got = mixtures.fixed_share_bits(bits, alpha, weights)
  assert got == pytest.approx(_fixed_share_brute(bits, alpha, weights),
                              abs=1e-9)


@pytest.mark.parametrize("num_strategies,num_blocks",
                         [(1, 3), (2, 1), (2, 5), (3, 4)])
@pytest.mark.parametrize("rate", [0.0, 0.1, 0.7])
def test_block_switch_equals_brute_force(num_strategies, num_blocks, rate):
  rng = np.random.default_rng(10 * num_strategies + num_blocks)
  block_bits = rng.exponential(50.0, size=(num_strategies, num_blocks))
  seqs = list(itertools.product(range(num_strategies), repeat=num_blocks))
  prior_bits = np.array([
      mixtures.block_switch_prior_bits(s, num_strategies, rate) for s in seqs])
  data_bits = np.array([block_bits[list(s), np.arange(num_blocks)].sum()
                        for s in seqs])
  assert np.logaddexp2.reduce(-prior_bits) == pytest.approx(0.0, abs=1e-12)
  result = mixtures.block_switch_bits(block_bits, rate)
  assert result.mixture_bits == pytest.approx(
      _mixture_bits(-prior_bits, data_bits), abs=1e-9)
  two_part = data_bits + prior_bits
  best = int(np.argmin(two_part))
  assert result.best_sequence_bits == pytest.approx(two_part[best], abs=1e-9)
  assert result.best_sequence == seqs[best]
  assert result.best_sequence_prior_bits == pytest.approx(prior_bits[best])
  assert result.mixture_bits <= result.best_sequence_bits + 1e-9


@pytest.mark.parametrize("num_strategies", [1, 3])
@pytest.mark.parametrize("rate", [0.0, 0.1, 0.7])
def test_block_switch_cumulative_is_the_code_of_each_prefix(num_strategies,
                                                            rate):
  """Entry t - 1 is block switching over the blocks cut at t: the prior over
  the first blocks' strategies is the chain's marginal, and a block cut at t
  is coded by the strategies' mixture on its first part."""
  timesteps = (3, 7, 20, 45)
  bits = np.random.default_rng(num_strategies).exponential(
      1.5, (num_strategies, 45))
  running = mixtures.block_switch_cumulative_bits(bits, timesteps, rate)
  for t in range(1, 46):
    ends = [e for e in timesteps if e < t] + [t]
    blocks = np.add.reduceat(bits[:, :t], [0] + ends[:-1], axis=1)
    assert running[t - 1] == pytest.approx(
        mixtures.block_switch_bits(blocks, rate).mixture_bits, abs=1e-9), t
  with pytest.raises(ValueError, match="timesteps"):
    mixtures.block_switch_cumulative_bits(bits, (3, 40), rate)


def test_block_switch_prior_bits_by_hand():
  # M = 3, rate 0.2, (0, 0, 2, 2): log2 3 - 2 log2(0.8) - log2(0.1).
  assert mixtures.block_switch_prior_bits((0, 0, 2, 2), 3, 0.2) == (
      pytest.approx(LOG2_3 - 2 * math.log2(0.8) - math.log2(0.1)))
  assert mixtures.block_switch_prior_bits((0, 1), 2, 0.0) == math.inf


@pytest.mark.parametrize("num_strategies", [1, 2, 4])
def test_every_code_within_stated_overhead(num_strategies):
  rng = np.random.default_rng(num_strategies)
  n = 300
  bits = rng.exponential(3.0, size=(num_strategies, n))
  totals = bits.sum(axis=1)
  best = totals.min()
  bayes = mixtures.bayes_mixture_bits(bits)
  assert best - 1e-9 <= bayes <= best + mixtures.bayes_mixture_overhead_bits(
      num_strategies) + 1e-9
  weights = rng.dirichlet(np.ones(num_strategies))
  assert (mixtures.bayes_mixture_bits(bits, weights)
          <= np.min(totals - np.log2(weights)) + 1e-9)
  for alpha in (0.0, 0.01, 0.3):
    assert mixtures.fixed_share_bits(bits, alpha) <= (
        best + mixtures.fixed_share_overhead_bits(num_strategies, n, alpha)
        + 1e-9)
  alphas = [0.0, 0.001, 0.05]
  assert mixtures.fixed_share_grid_bits(bits, alphas) <= (
      best + mixtures.fixed_share_grid_overhead_bits(num_strategies, n, alphas)
      + 1e-9)
  for stop_prob in (0.5, 0.1):
    assert mixtures.switch_distribution_bits(bits, stop_prob) <= (
        best + mixtures.switch_distribution_overhead_bits(num_strategies, n,
                                                          stop_prob) + 1e-9)
  block_bits = bits.reshape(num_strategies, 10, -1).sum(axis=2)
  for rate in (0.0, 0.2):
    assert mixtures.block_switch_bits(block_bits, rate).mixture_bits <= (
        best + mixtures.block_switch_overhead_bits(num_strategies, 10, rate)
        + 1e-9)


def test_grid_within_log2_size_of_best_rate():
  rng = np.random.default_rng(3)
  bits = rng.exponential(3.0, size=(3, 200))
  alphas = [0.0, 0.01, 0.2]
  each = [mixtures.fixed_share_bits(bits, a) for a in alphas]
  grid = mixtures.fixed_share_grid_bits(bits, alphas)
  assert min(each) <= grid <= min(each) + math.log2(3) + 1e-9


def test_switching_catches_up():
  # Strategy 0 is better on the first half, strategy 1 on the second: the
  # Bayes mixture pays about n/2 bits more than switching once, and the
  # switch distribution pays at most -log2 prior of that single switch.
  n = 2000
  bits = np.empty((2, n))
  bits[0, :n // 2], bits[0, n // 2:] = 1.0, 3.0
  bits[1, :n // 2], bits[1, n // 2:] = 3.0, 1.0
  one_switch = ((1, 0), (n // 2 + 1, 1))
  bound = (_path_bits(bits, one_switch)
           - mixtures.switch_prior_logprob(one_switch, n, 2))
  sw = mixtures.switch_distribution_bits(bits)
  assert sw <= bound + 1e-9
  assert bound - sw < 30  # the bound is tight up to a few bits here
  assert mixtures.bayes_mixture_bits(bits) > sw + 900
  assert mixtures.fixed_share_bits(bits, 1e-3) < mixtures.bayes_mixture_bits(
      bits) - 900
  blocks = mixtures.block_switch_bits(bits.reshape(2, 4, -1).sum(axis=2), 0.1)
  assert blocks.best_sequence == (0, 0, 1, 1)


def test_fixed_share_alpha_zero_is_bayes_mixture():
  rng = np.random.default_rng(5)
  bits = rng.exponential(3.0, size=(4, 500))
  weights = rng.dirichlet(np.ones(4))
  for w in (None, weights):
    assert mixtures.fixed_share_bits(bits, 0.0, w) == pytest.approx(
        mixtures.bayes_mixture_bits(bits, w), rel=1e-13)
  assert mixtures.switch_distribution_bits(bits, stop_prob=1.0) == (
      pytest.approx(mixtures.bayes_mixture_bits(bits), rel=1e-13))


def test_bayes_recovers_from_weights_far_below_float_range():
  # After 30,000 samples strategy 1 trails by 60,000 bits (weight 2**-60000,
  # far below the smallest float64), then wins by 3 bits per sample.
  n = 60_000
  bits = np.zeros((2, n))
  bits[1, :n // 2] = 2.0
  bits[0, n // 2:] = 5.0
  expected = mixtures.bayes_mixture_bits(bits)
  assert expected == pytest.approx(60_000 + 1.0, abs=1e-9)
  assert mixtures.fixed_share_bits(bits, 0.0) == pytest.approx(
      expected, abs=1e-6)


@pytest.mark.parametrize("num_strategies", [1, 2, 5])
def test_identical_strategies_cost_their_own_bits(num_strategies):
  rng = np.random.default_rng(11)
  row = rng.exponential(3.0, size=1000)
  bits = np.tile(row, (num_strategies, 1))
  total = row.sum()
  assert mixtures.bayes_mixture_bits(bits) == pytest.approx(total, abs=1e-9)
  for alpha in (0.1, 0.9):
    assert mixtures.fixed_share_bits(bits, alpha) == pytest.approx(
        total, abs=1e-9)
  assert mixtures.fixed_share_grid_bits(bits, [0.0, 0.5]) == pytest.approx(
      total, abs=1e-9)
  assert mixtures.switch_distribution_bits(bits) == pytest.approx(
      total, abs=1e-9)
  blocks = bits.reshape(num_strategies, 10, -1).sum(axis=2)
  assert mixtures.block_switch_bits(blocks, 0.3).mixture_bits == pytest.approx(
      total, abs=1e-9)


def test_long_sequence_is_finite_and_bounded():
  rng = np.random.default_rng(0)
  num_strategies, n = 5, 60_000
  bits = rng.exponential(3.0, size=(num_strategies, n))
  best = bits.sum(axis=1).min()
  bayes = mixtures.bayes_mixture_bits(bits)
  fixed_share = mixtures.fixed_share_bits(bits, 1e-3)
  switching = mixtures.switch_distribution_bits(bits)
  for value in (bayes, fixed_share, switching):
    assert math.isfinite(value)
    assert value > 0.5 * best
  assert best <= bayes <= best + math.log2(num_strategies)
  assert fixed_share <= best + mixtures.fixed_share_overhead_bits(
      num_strategies, n, 1e-3)
  assert switching <= best + mixtures.switch_distribution_overhead_bits(
      num_strategies, n)
  assert mixtures.fixed_share_bits(bits, 0.0) == pytest.approx(bayes, rel=1e-12)


def test_self_switch_strategies():
  block0 = np.array([[9.0, 8.0, 7.0], [1.0, 2.0, 3.0]])  # epochs 0..1
  block1 = np.array([[5.0, 5.0], [4.0, 4.0], [3.0, 2.0], [1.0, 0.5]])  # 0..3
  got = mixtures.self_switch_strategies([block0, block1], max_epochs=4)
  expected = np.array([
      [9.0, 8.0, 7.0, 5.0, 5.0],
      [1.0, 2.0, 3.0, 4.0, 4.0],
      [1.0, 2.0, 3.0, 3.0, 2.0],  # block 0 stopped after epoch 1
      [1.0, 2.0, 3.0, 1.0, 0.5],
      [1.0, 2.0, 3.0, 1.0, 0.5],  # no block trained epoch 4
  ])
  np.testing.assert_array_equal(got, expected)
  with pytest.raises(ValueError, match="max_epochs=2"):
    mixtures.self_switch_strategies([block0, block1], max_epochs=2)


def test_self_switch_strategy_count_is_fixed_by_the_config():
  """Bob must know the number of strategies (every prior depends on it)
  before block 1: it is max_epochs + 1 whatever the blocks' early stopping,
  which depends on labels not yet decoded."""
  rng = np.random.default_rng(0)
  stopped = [[1, 3, 2], [5, 5, 5], [0, 1, 4]]  # epochs trained per block
  shapes = set()
  for epochs in stopped:
    blocks = [rng.uniform(0, 4, (e + 1, 7)) for e in epochs]
    shapes.add(mixtures.self_switch_strategies(blocks, max_epochs=5).shape)
  assert shapes == {(6, 21)}


@pytest.mark.parametrize("bad,match", [
    (np.array([[1.0, np.nan]]), "finite"),
    (np.array([[1.0, np.inf]]), "finite"),
    (np.array([[1.0, -0.5]]), "non-negative"),
    (np.array([1.0, 2.0]), "2-D"),
    (np.zeros((2, 0)), "at least one"),
])
def test_bad_bits_raise(bad, match):
  for code in (mixtures.bayes_mixture_bits,
               lambda b: mixtures.fixed_share_bits(b, 0.1),
               lambda b: mixtures.fixed_share_grid_bits(b, [0.1]),
               mixtures.switch_distribution_bits,
               lambda b: mixtures.block_switch_bits(b, 0.1),
               lambda b: mixtures.self_switch_strategies([b], 3)):
    with pytest.raises(ValueError, match=match) as err:
      code(bad)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, float("nan")])
def test_bad_rates_raise(rate):
  with pytest.raises(ValueError, match="alpha"):
    mixtures.fixed_share_bits(HAND_BITS, rate)
  with pytest.raises(ValueError, match="alpha"):
    mixtures.fixed_share_grid_bits(HAND_BITS, [0.1, rate])
  with pytest.raises(ValueError, match="switch_rate"):
    mixtures.block_switch_bits(HAND_BITS, rate)


@pytest.mark.parametrize("stop_prob", [-0.1, 1.5, float("nan")])
def test_bad_stop_prob_raises(stop_prob):
  with pytest.raises(ValueError, match="stop_prob"):
    mixtures.switch_distribution_bits(HAND_BITS, stop_prob=stop_prob)
  with pytest.raises(ValueError, match="stop_prob"):
    mixtures.switch_prior_logprob(((1, 0),), 2, 2, stop_prob=stop_prob)


def test_other_bad_inputs_raise():
  with pytest.raises(ValueError, match="weights"):
    mixtures.bayes_mixture_bits(HAND_BITS, weights=[0.5, 0.6])
  with pytest.raises(ValueError, match="weights"):
    mixtures.fixed_share_bits(HAND_BITS, 0.1, weights=[1.0])
  with pytest.raises(ValueError, match="alphas"):
    mixtures.fixed_share_grid_bits(HAND_BITS, [])
  with pytest.raises(ValueError, match="empty"):
    mixtures.self_switch_strategies([], 3)
  for seq in (((2, 0),), ((1, 0), (1, 1)), ((1, 0), (3, 1)), ((1, 2),), ()):
    with pytest.raises(ValueError):
      mixtures.switch_prior_logprob(seq, 2, 2)


@pytest.mark.parametrize("stop_prob", [0.5, 0.1, 1.0])
def test_switch_cumulative_is_the_code_of_each_prefix(stop_prob):
  # 70 samples spans a renormalisation (every 32 samples).
  rng = np.random.default_rng(13)
  bits = rng.exponential(2.0, size=(3, 70))
  weights = rng.dirichlet(np.ones(3))
  for w in (None, weights):
    running = mixtures.switch_distribution_cumulative_bits(bits, stop_prob, w)
    assert running.shape == (70,)
    expected = [mixtures.switch_distribution_bits(bits[:, :t], stop_prob, w)
                for t in range(1, 71)]
    np.testing.assert_allclose(running, expected, rtol=0, atol=1e-9)
    assert running[-1] == pytest.approx(
        mixtures.switch_distribution_bits(bits, stop_prob, w), abs=1e-9)
    assert np.all(np.diff(running) >= 0)


def test_switch_cumulative_by_hand():
  # HAND_BITS: sample 1 is coded by the uniform mixture, 1/2 (1/2 + 1/4) =
  # 3/8 -> 3 - log2 3 bits; both samples cost 9 - log2 51 (see above).
  np.testing.assert_allclose(
      mixtures.switch_distribution_cumulative_bits(HAND_BITS),
      [3 - LOG2_3, 9 - math.log2(51)], rtol=0, atol=1e-12)
  with pytest.raises(ValueError, match="finite"):
    mixtures.switch_distribution_cumulative_bits(np.array([[1.0, np.nan]]))


@pytest.mark.parametrize("num_strategies, n", [(1, 5), (3, 70), (4, 130)])
def test_cumulative_codes_are_the_codes_of_every_prefix(num_strategies, n):
  """Entry t - 1 of each cumulative code is the code of samples 1..t (n spans
  the renormalisation every 32 samples)."""
  bits = np.random.default_rng(n).exponential(1.5, (num_strategies, n))
  alphas = (1e-3, 0.05, 0.4)
  fixed = mixtures.fixed_share_grid_cumulative_bits(bits, alphas)
  bayes = mixtures.bayes_mixture_cumulative_bits(bits)
  for t in sorted({1, 2, min(32, n), min(33, n), n}):
    assert fixed[t - 1] == pytest.approx(
        mixtures.fixed_share_grid_bits(bits[:, :t], alphas), rel=1e-12)
    assert bayes[t - 1] == pytest.approx(
        mixtures.bayes_mixture_bits(bits[:, :t]), rel=1e-12)
  assert np.all(np.diff(fixed) >= -1e-9) and np.all(np.diff(bayes) >= -1e-9)


def test_mixture_of_codes_by_hand_and_within_log2_k():
  # Two codes giving a 2-sample sequence 2**-1 then 2**-3 (code 0) and
  # 2**-2 then 2**-3 (code 1): the 1/2 mixture gives the prefixes
  # (2**-1 + 2**-2) / 2 = 3/8 and (2**-4 + 2**-5) / 2 = 3/64.
  cumulative = np.array([[1.0, 4.0], [2.0, 5.0]])
  np.testing.assert_allclose(mixtures.mixture_cumulative_bits(cumulative),
                             [-math.log2(3 / 8), -math.log2(3 / 64)])
  weighted = mixtures.mixture_cumulative_bits(cumulative, [0.75, 0.25])
  assert weighted[-1] == pytest.approx(-math.log2(0.75 / 16 + 0.25 / 32))
  many = np.cumsum(np.random.default_rng(1).exponential(1.0, (5, 40)), axis=1)
  mixed = mixtures.mixture_cumulative_bits(many)
  assert np.all(mixed >= many.min(axis=0) - 1e-12)
  assert np.all(mixed <= many.min(axis=0) + math.log2(5) + 1e-12)
  with pytest.raises(ValueError, match="cumulative_bits must be finite"):
    mixtures.mixture_cumulative_bits([[1.0, np.inf]])
