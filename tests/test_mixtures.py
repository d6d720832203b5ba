"""Tests for tfmdl.bits.mixtures: mixture and switching codes (the
:class:`~tfmdl.bits.mixtures.SwitchingCode` interface), and the self-switch
strategies of tfmdl.codes.switch."""

import itertools
import math

import numpy as np
import pytest

from tfmdl.bits import mixtures
from tfmdl.bits.mixtures import BayesMixture
from tfmdl.bits.mixtures import BlockSwitch
from tfmdl.bits.mixtures import FixedShare
from tfmdl.bits.mixtures import MixtureOf
from tfmdl.bits.mixtures import SwitchDistribution
from tfmdl.codes import switch

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


def _block_bits(bits, timesteps):
  """(M, B) codelength of each block cut at ``timesteps``."""
  return np.add.reduceat(bits, [0] + list(timesteps[:-1]), axis=1)


def _singletons(num_blocks):
  """Timesteps that make every sample its own block."""
  return tuple(range(1, num_blocks + 1))


class TestHandComputed:
  """Exact values for HAND_BITS, worked out by hand."""

  def test_bayes_mixture(self):
    # L = (4, 3): -log2(1/2 * 2**-4 + 1/2 * 2**-3) = -log2(3/32) = 5 - log2 3.
    assert BayesMixture().bits(HAND_BITS) == pytest.approx(
        5 - LOG2_3, abs=1e-12)

  def test_fixed_share(self):
    # alpha = 1/4. Sample 1: P = 1/2*1/2 + 1/2*1/4 = 3/8, posterior (2/3, 1/3).
    # Share: w = (3/4*2/3 + 1/4*1/3, 3/4*1/3 + 1/4*2/3) = (7/12, 5/12).
    # Sample 2: P = 7/12*1/8 + 5/12*1/2 = 27/96 = 9/32.
    # Total 3/8 * 9/32 = 27/256 -> 8 - 3 log2 3 bits.
    assert FixedShare((0.25,)).bits(HAND_BITS) == pytest.approx(
        8 - 3 * LOG2_3, abs=1e-12)

  def test_fixed_share_grid(self):
    # Alphas (0, 1/4): -log2(1/2 * 3/32 + 1/2 * 27/256)
    #   = -log2(24/512 + 27/512) = 9 - log2 51.
    assert FixedShare((0.0, 0.25)).bits(HAND_BITS) == (
        pytest.approx(9 - math.log2(51), abs=1e-12))

  def test_switch_distribution(self):
    # stop_prob = 1/2, n = 2, uniform pi_K. Priors of sequences on 1..2:
    #   ((1,k)): 1/2 * (1/2 + 1/2 * pi_T(Z > 1)) = 1/2 * (1/2 + 1/4) = 3/8;
    #   ((1,j),(2,k)): 1/2 * 1/2 * pi_T(Z = 1) * 1/2 * 1 = 1/16.
    # Mass (in 1/512): stay 0: 3/8 * 1/16 = 12; stay 1: 3/8 * 1/8 = 24;
    #   0->0: 1/16 * 1/16 = 2; 1->1: 1/16 * 1/8 = 4;
    #   0->1: 1/16 * 1/2 * 1/2 = 8; 1->0: 1/16 * 1/4 * 1/8 = 1.
    # Total 51/512 -> 9 - log2 51 bits.
    code = SwitchDistribution()
    assert code.stop_prob == 0.5
    assert code.bits(HAND_BITS) == pytest.approx(9 - math.log2(51), abs=1e-12)
    assert code.prior_log2(((1, 0),), 2, 2) == pytest.approx(
        math.log2(3 / 8), abs=1e-12)
    assert code.prior_log2(((1, 0), (2, 1)), 2, 2) == (
        pytest.approx(-4.0, abs=1e-12))

  def test_block_switch(self):
    # switch_rate = 1/4 on the same matrix, seen as 2 blocks of one sample:
    # the mixture is the fixed-share value 8 - 3 log2 3. Two-part costs
    # L(s) + prior bits:
    #   (0,0): 4 + 1 + log2(4/3) = 7 - log2 3;  (0,1): 2 + 1 + 2 = 5;
    #   (1,0): 5 + 3 = 8;  (1,1): 3 + 1 + log2(4/3) = 6 - log2 3 (best).
    code = BlockSwitch(0.25)
    assert code.bits(HAND_BITS, (1, 2)) == pytest.approx(
        8 - 3 * LOG2_3, abs=1e-12)
    best = code.best_sequence(HAND_BITS)
    assert best.sequence == (1, 1)
    assert best.bits == pytest.approx(6 - LOG2_3, abs=1e-12)
    assert best.prior_bits == pytest.approx(3 - LOG2_3, abs=1e-12)
    # One block of both samples: no boundary to switch at, so the Bayes
    # mixture 5 - log2 3 whatever the rate.
    for rate in (0.0, 0.25, 0.9):
      assert BlockSwitch(rate).bits(HAND_BITS, (2,)) == pytest.approx(
          5 - LOG2_3, abs=1e-12)

  def test_mixture_of_codes(self):
    # Bayes (5 - log2 3, i.e. 3/32) and fixed share at 1/4 (27/256), weight
    # 1/2 each: the grid's 9 - log2 51. Sample 1 alone costs 3/8 under both.
    code = MixtureOf((BayesMixture(), FixedShare((0.25,))))
    assert code.bits(HAND_BITS) == pytest.approx(9 - math.log2(51),
                                                 abs=1e-12)
    np.testing.assert_allclose(code.cumulative_bits(HAND_BITS),
                               [3 - LOG2_3, 9 - math.log2(51)], rtol=0,
                               atol=1e-12)
    # Overhead: min(log2 2, log2 2 - log2(3/4)) + log2 2 = 2 bits.
    assert code.overhead_bits(2, 2) == pytest.approx(2.0, abs=1e-12)


@pytest.mark.parametrize("num_strategies,n", [(2, 4), (2, 6), (3, 5), (3, 6)])
@pytest.mark.parametrize("stop_prob", [0.5, 0.2, 0.0, 1.0])
def test_switch_distribution_equals_brute_force(num_strategies, n, stop_prob):
  rng = np.random.default_rng(num_strategies * 100 + n)
  bits = rng.exponential(2.0, size=(num_strategies, n))
  weights = rng.dirichlet(np.ones(num_strategies))
  for w in (None, tuple(weights)):
    code = SwitchDistribution(stop_prob, w)
    seqs = list(_brute_switch_sequences(n, num_strategies))
    log_priors = [code.prior_log2(s, n, num_strategies) for s in seqs]
    assert np.logaddexp2.reduce(log_priors) == pytest.approx(0.0, abs=1e-12)
    expected = _mixture_bits(log_priors, [_path_bits(bits, s) for s in seqs])
    assert code.bits(bits) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("num_strategies,n", [(2, 5), (3, 5), (4, 4)])
@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.7, 0.9])
def test_fixed_share_equals_brute_force(num_strategies, n, alpha):
  # alpha > (M - 1) / M exercises the second branch of the recursion.
  rng = np.random.default_rng(7 * num_strategies + n)
  bits = rng.exponential(2.0, size=(num_strategies, n))
  weights = rng.dirichlet(np.ones(num_strategies))
  got = FixedShare((alpha,), tuple(weights)).bits(bits)
  assert got == pytest.approx(_fixed_share_brute(bits, alpha, weights),
                              abs=1e-9)


@pytest.mark.parametrize("num_strategies,num_blocks",
                         [(1, 3), (2, 1), (2, 5), (3, 4)])
@pytest.mark.parametrize("rate", [0.0, 0.1, 0.7])
def test_block_switch_equals_brute_force(num_strategies, num_blocks, rate):
  """The code of per-sample bits cut into blocks of several samples is the
  mixture over block sequences; the Viterbi sequence is the best of them."""
  rng = np.random.default_rng(10 * num_strategies + num_blocks)
  timesteps = tuple(np.cumsum(rng.integers(1, 5, size=num_blocks)).tolist())
  bits = rng.exponential(12.0, size=(num_strategies, timesteps[-1]))
  block_bits = _block_bits(bits, timesteps)
  code = BlockSwitch(rate)
  seqs = list(itertools.product(range(num_strategies), repeat=num_blocks))
  prior_bits = np.array([code.prior_bits(s, num_strategies) for s in seqs])
  data_bits = np.array([block_bits[list(s), np.arange(num_blocks)].sum()
                        for s in seqs])
  assert np.logaddexp2.reduce(-prior_bits) == pytest.approx(0.0, abs=1e-12)
  mixture = code.bits(bits, timesteps)
  assert mixture == pytest.approx(_mixture_bits(-prior_bits, data_bits),
                                  abs=1e-9)
  # Only the block sums matter: blocks of one sample give the same code.
  assert code.bits(block_bits, _singletons(num_blocks)) == pytest.approx(
      mixture, abs=1e-9)
  best = code.best_sequence(block_bits)
  two_part = data_bits + prior_bits
  index = int(np.argmin(two_part))
  assert best.bits == pytest.approx(two_part[index], abs=1e-9)
  assert best.sequence == seqs[index]
  assert best.prior_bits == pytest.approx(prior_bits[index])
  assert mixture <= best.bits + 1e-9


@pytest.mark.parametrize("num_strategies", [1, 3])
@pytest.mark.parametrize("rate", [0.0, 0.1, 0.7])
def test_block_switch_cumulative_is_the_code_of_each_prefix(num_strategies,
                                                            rate):
  """Entry t - 1 is block switching over the blocks cut at t: the prior over
  the first blocks' strategies is the chain's marginal, and a block cut at t
  is coded by the strategies' mixture on its first part. Checked against
  fixed share on the block sums (the same prior, another recursion)."""
  timesteps = (3, 7, 20, 45)
  bits = np.random.default_rng(num_strategies).exponential(
      1.5, (num_strategies, 45))
  code = BlockSwitch(rate)
  running = code.cumulative_bits(bits, timesteps)
  for t in range(1, 46):
    ends = [e for e in timesteps if e < t] + [t]
    blocks = _block_bits(bits[:, :t], ends)
    assert running[t - 1] == pytest.approx(
        FixedShare((rate,)).bits(blocks), abs=1e-9), t
  assert code.bits(bits, timesteps) == running[-1]
  with pytest.raises(ValueError, match="timesteps"):
    code.cumulative_bits(bits, (3, 40))
  with pytest.raises(ValueError, match="timesteps"):
    code.cumulative_bits(bits)


def test_block_switch_prior_bits_by_hand():
  # M = 3, rate 0.2, (0, 0, 2, 2): log2 3 - 2 log2(0.8) - log2(0.1).
  assert BlockSwitch(0.2).prior_bits((0, 0, 2, 2), 3) == (
      pytest.approx(LOG2_3 - 2 * math.log2(0.8) - math.log2(0.1)))
  assert BlockSwitch(0.0).prior_bits((0, 1), 2) == math.inf


@pytest.mark.parametrize("num_strategies", [1, 2, 4])
def test_every_code_within_stated_overhead(num_strategies):
  rng = np.random.default_rng(num_strategies)
  n = 300
  timesteps = tuple(range(30, n + 1, 30))  # 10 blocks
  bits = rng.exponential(3.0, size=(num_strategies, n))
  totals = bits.sum(axis=1)
  best = totals.min()
  bayes = BayesMixture().bits(bits)
  assert best - 1e-9 <= bayes <= best + BayesMixture().overhead_bits(
      num_strategies, n) + 1e-9
  weights = rng.dirichlet(np.ones(num_strategies))
  assert (BayesMixture(tuple(weights)).bits(bits)
          <= np.min(totals - np.log2(weights)) + 1e-9)
  codes = [FixedShare((alpha,)) for alpha in (0.0, 0.01, 0.3)]
  codes += [FixedShare((0.0, 0.001, 0.05))]
  codes += [SwitchDistribution(stop_prob) for stop_prob in (0.5, 0.1)]
  codes += [BlockSwitch(rate) for rate in (0.0, 0.2)]
  codes += [MixtureOf(tuple(codes)), MixtureOf((BayesMixture(),
                                                BlockSwitch(0.2)))]
  for code in codes:
    assert code.bits(bits, timesteps) <= (
        best + code.overhead_bits(num_strategies, n, len(timesteps))
        + 1e-9), code


def test_overhead_bits_are_the_stated_formulas():
  """The table of the module docstring, for M = 3, n = 100, B = 5."""
  m, n, b = 3, 100, 5
  log2_m = math.log2(m)
  assert BayesMixture().overhead_bits(m, n, b) == pytest.approx(log2_m)
  assert FixedShare((0.01,)).overhead_bits(m, n, b) == pytest.approx(
      log2_m - 99 * math.log2(0.99))
  # A grid pays log2 |A| over its best rate (here alpha = 0).
  assert FixedShare((0.0, 0.01)).overhead_bits(m, n, b) == pytest.approx(
      log2_m + 1)
  assert SwitchDistribution(0.5).overhead_bits(m, n, b) == pytest.approx(
      log2_m - math.log2(0.505))
  assert BlockSwitch(0.1).overhead_bits(m, n, b) == pytest.approx(
      log2_m - 4 * math.log2(0.9))
  assert BlockSwitch(0.1).overhead_bits(m, n, b) == (
      BlockSwitch(0.1).prior_bits((2,) * b, m))


def test_mixture_of_overhead_is_the_best_codes_plus_log2_c():
  """MixtureOf's overhead is the smallest of its codes' plus log2 C, and
  its codelength is within log2 C of the shortest of its codes."""
  m, n, b = 3, 100, 5
  codes = (SwitchDistribution(), BayesMixture(), FixedShare(),
           BlockSwitch())
  mixture = MixtureOf(codes)
  each = [c.overhead_bits(m, n, b) for c in codes]
  assert mixture.overhead_bits(m, n, b) == pytest.approx(min(each) + 2)
  # Here the Bayes mixture's log2 3 is the smallest of the four.
  assert mixture.overhead_bits(m, n, b) == pytest.approx(math.log2(3) + 2)
  assert MixtureOf((FixedShare((0.01,)),)).overhead_bits(m, n, b) == (
      pytest.approx(FixedShare((0.01,)).overhead_bits(m, n, b)))
  bits = np.random.default_rng(4).exponential(2.0, (m, n))
  timesteps = (10, 20, 40, 80, n)
  lengths = [c.bits(bits, timesteps) for c in codes]
  assert (min(lengths) - 1e-9 <= mixture.bits(bits, timesteps)
          <= min(lengths) + 2 + 1e-9)
  assert mixture.bits(bits, timesteps) == pytest.approx(
      -np.logaddexp2.reduce(-np.asarray(lengths)) + 2, abs=1e-9)


def test_grid_within_log2_size_of_best_rate():
  rng = np.random.default_rng(3)
  bits = rng.exponential(3.0, size=(3, 200))
  alphas = (0.0, 0.01, 0.2)
  each = [FixedShare((a,)).bits(bits) for a in alphas]
  grid = FixedShare(alphas).bits(bits)
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
           - SwitchDistribution().prior_log2(one_switch, n, 2))
  sw = SwitchDistribution().bits(bits)
  assert sw <= bound + 1e-9
  assert bound - sw < 30  # the bound is tight up to a few bits here
  bayes = BayesMixture().bits(bits)
  assert bayes > sw + 900
  assert FixedShare((1e-3,)).bits(bits) < bayes - 900
  timesteps = (500, 1000, 1500, n)
  blocks = BlockSwitch(0.1).best_sequence(_block_bits(bits, timesteps))
  assert blocks.sequence == (0, 0, 1, 1)
  assert BlockSwitch(0.1).bits(bits, timesteps) < bayes - 900


def test_fixed_share_alpha_zero_is_bayes_mixture():
  rng = np.random.default_rng(5)
  bits = rng.exponential(3.0, size=(4, 500))
  weights = tuple(rng.dirichlet(np.ones(4)))
  for w in (None, weights):
    assert FixedShare((0.0,), w).bits(bits) == pytest.approx(
        BayesMixture(w).bits(bits), rel=1e-13)
  assert SwitchDistribution(stop_prob=1.0).bits(bits) == (
      pytest.approx(BayesMixture().bits(bits), rel=1e-13))


def test_bayes_recovers_from_weights_far_below_float_range():
  # After 30,000 samples strategy 1 trails by 60,000 bits (weight 2**-60000,
  # far below the smallest float64), then wins by 3 bits per sample.
  n = 60_000
  bits = np.zeros((2, n))
  bits[1, :n // 2] = 2.0
  bits[0, n // 2:] = 5.0
  expected = BayesMixture().bits(bits)
  assert expected == pytest.approx(60_000 + 1.0, abs=1e-9)
  assert FixedShare((0.0,)).bits(bits) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("num_strategies", [1, 2, 5])
def test_identical_strategies_cost_their_own_bits(num_strategies):
  rng = np.random.default_rng(11)
  row = rng.exponential(3.0, size=1000)
  bits = np.tile(row, (num_strategies, 1))
  total = row.sum()
  timesteps = tuple(range(100, 1001, 100))
  codes = [BayesMixture(), FixedShare((0.1,)), FixedShare((0.9,)),
           FixedShare((0.0, 0.5)), SwitchDistribution(), BlockSwitch(0.3)]
  codes.append(MixtureOf(tuple(codes)))
  for code in codes:
    assert code.bits(bits, timesteps) == pytest.approx(total, abs=1e-9), code


def test_long_sequence_is_finite_and_bounded():
  rng = np.random.default_rng(0)
  num_strategies, n = 5, 60_000
  bits = rng.exponential(3.0, size=(num_strategies, n))
  best = bits.sum(axis=1).min()
  bayes = BayesMixture().bits(bits)
  fixed_share = FixedShare((1e-3,)).bits(bits)
  switching = SwitchDistribution().bits(bits)
  for value in (bayes, fixed_share, switching):
    assert math.isfinite(value)
    assert value > 0.5 * best
  # The codes sum the bits in order (a cumulative sum), np.sum pairwise:
  # they round differently by ~1e-9 bits on 60,000 samples.
  assert best - 1e-6 <= bayes <= best + math.log2(num_strategies) + 1e-6
  assert fixed_share <= best + FixedShare((1e-3,)).overhead_bits(
      num_strategies, n)
  assert switching <= best + SwitchDistribution().overhead_bits(
      num_strategies, n)
  assert FixedShare((0.0,)).bits(bits) == pytest.approx(bayes, rel=1e-12)


def test_self_switch_strategies():
  block0 = np.array([[9.0, 8.0, 7.0], [1.0, 2.0, 3.0]])  # epochs 0..1
  block1 = np.array([[5.0, 5.0], [4.0, 4.0], [3.0, 2.0], [1.0, 0.5]])  # 0..3
  got = switch.self_switch_strategies([block0, block1], max_epochs=4)
  expected = np.array([
      [9.0, 8.0, 7.0, 5.0, 5.0],
      [1.0, 2.0, 3.0, 4.0, 4.0],
      [1.0, 2.0, 3.0, 3.0, 2.0],  # block 0 stopped after epoch 1
      [1.0, 2.0, 3.0, 1.0, 0.5],
      [1.0, 2.0, 3.0, 1.0, 0.5],  # no block trained epoch 4
  ])
  np.testing.assert_array_equal(got, expected)
  with pytest.raises(ValueError, match="max_epochs=2"):
    switch.self_switch_strategies([block0, block1], max_epochs=2)


def test_self_switch_strategy_count_is_fixed_by_the_config():
  """Bob must know the number of strategies (every prior depends on it)
  before block 1: it is max_epochs + 1 whatever the blocks' early stopping,
  which depends on labels not yet decoded."""
  rng = np.random.default_rng(0)
  stopped = [[1, 3, 2], [5, 5, 5], [0, 1, 4]]  # epochs trained per block
  shapes = set()
  for epochs in stopped:
    blocks = [rng.uniform(0, 4, (e + 1, 7)) for e in epochs]
    shapes.add(switch.self_switch_strategies(blocks, max_epochs=5).shape)
  assert shapes == {(6, 21)}


@pytest.mark.parametrize("bad,match", [
    (np.array([[1.0, np.nan]]), "finite"),
    (np.array([[1.0, np.inf]]), "finite"),
    (np.array([[1.0, -0.5]]), "non-negative"),
    (np.array([1.0, 2.0]), "2-D"),
    (np.zeros((2, 0)), "at least one"),
])
def test_bad_bits_raise(bad, match):
  ends = (bad.shape[-1],)
  for code in (BayesMixture().bits,
               FixedShare((0.1,)).bits,
               FixedShare((0.1, 0.2)).bits,
               SwitchDistribution().bits,
               SwitchDistribution().cumulative_bits,
               lambda b: BlockSwitch(0.1).bits(b, ends),
               BlockSwitch(0.1).best_sequence,
               lambda b: MixtureOf((BayesMixture(), BlockSwitch())).bits(
                   b, ends),
               lambda b: switch.self_switch_strategies([b], 3)):
    with pytest.raises(ValueError, match=match) as err:
      code(bad)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, float("nan")])
def test_bad_rates_raise(rate):
  with pytest.raises(ValueError, match="alpha"):
    FixedShare((rate,))
  with pytest.raises(ValueError, match="alpha"):
    FixedShare((0.1, rate))
  with pytest.raises(ValueError, match="switch_rate"):
    BlockSwitch(rate)


@pytest.mark.parametrize("stop_prob", [-0.1, 1.5, float("nan")])
def test_bad_stop_prob_raises(stop_prob):
  with pytest.raises(ValueError, match="stop_prob"):
    SwitchDistribution(stop_prob=stop_prob)
  with pytest.raises(ValueError, match="stop_prob"):
    SwitchDistribution(stop_prob, (0.5, 0.5))


def test_other_bad_inputs_raise():
  with pytest.raises(ValueError, match="weights"):
    BayesMixture(weights=(0.5, 0.6)).bits(HAND_BITS)
  with pytest.raises(ValueError, match="weights"):
    FixedShare((0.1,), weights=(1.0,)).bits(HAND_BITS)
  with pytest.raises(ValueError, match="weights"):
    SwitchDistribution(weights=(1.0,)).bits(HAND_BITS)
  with pytest.raises(ValueError, match="alphas"):
    FixedShare(())
  with pytest.raises(ValueError, match="at least one code"):
    MixtureOf(())
  with pytest.raises(ValueError, match="empty"):
    switch.self_switch_strategies([], 3)
  for seq in (((2, 0),), ((1, 0), (1, 1)), ((1, 0), (3, 1)), ((1, 2),), ()):
    with pytest.raises(ValueError):
      SwitchDistribution().prior_log2(seq, 2, 2)


@pytest.mark.parametrize("stop_prob", [0.5, 0.1, 1.0])
def test_switch_cumulative_is_the_code_of_each_prefix(stop_prob):
  # 70 samples spans a renormalisation (every 32 samples).
  rng = np.random.default_rng(13)
  bits = rng.exponential(2.0, size=(3, 70))
  weights = tuple(rng.dirichlet(np.ones(3)))
  for w in (None, weights):
    code = SwitchDistribution(stop_prob, w)
    running = code.cumulative_bits(bits)
    assert running.shape == (70,)
    expected = [code.bits(bits[:, :t]) for t in range(1, 71)]
    np.testing.assert_allclose(running, expected, rtol=0, atol=1e-9)
    assert running[-1] == pytest.approx(code.bits(bits), abs=1e-9)
    assert np.all(np.diff(running) >= 0)


def test_switch_cumulative_by_hand():
  # HAND_BITS: sample 1 is coded by the uniform mixture, 1/2 (1/2 + 1/4) =
  # 3/8 -> 3 - log2 3 bits; both samples cost 9 - log2 51 (see above).
  np.testing.assert_allclose(
      SwitchDistribution().cumulative_bits(HAND_BITS),
      [3 - LOG2_3, 9 - math.log2(51)], rtol=0, atol=1e-12)
  with pytest.raises(ValueError, match="finite"):
    SwitchDistribution().cumulative_bits(np.array([[1.0, np.nan]]))


@pytest.mark.parametrize("num_strategies, n", [(1, 5), (3, 70), (4, 130)])
def test_cumulative_codes_are_the_codes_of_every_prefix(num_strategies, n):
  """Entry t - 1 of each cumulative code is the code of samples 1..t (n spans
  the renormalisation every 32 samples)."""
  bits = np.random.default_rng(n).exponential(1.5, (num_strategies, n))
  alphas = (1e-3, 0.05, 0.4)
  fixed = FixedShare(alphas).cumulative_bits(bits)
  bayes = BayesMixture().cumulative_bits(bits)
  for t in sorted({1, 2, min(32, n), min(33, n), n}):
    assert fixed[t - 1] == pytest.approx(
        FixedShare(alphas).bits(bits[:, :t]), rel=1e-12)
    assert bayes[t - 1] == pytest.approx(
        BayesMixture().bits(bits[:, :t]), rel=1e-12)
  assert np.all(np.diff(fixed) >= -1e-9) and np.all(np.diff(bayes) >= -1e-9)


@pytest.mark.parametrize("code", [
    BayesMixture(), FixedShare(), SwitchDistribution(), BlockSwitch(),
    MixtureOf((SwitchDistribution(), BayesMixture(), FixedShare(),
               BlockSwitch()))], ids=lambda code: code.name)
def test_every_switching_code_is_sequential(code):
  """The one interface: ``bits`` is the last entry of ``cumulative_bits``,
  whose entry t - 1 is the same code of samples 1..t (blocks cut at t), and
  which never decreases."""
  timesteps = (5, 12, 40, 70)
  bits = np.random.default_rng(2).exponential(1.5, (3, 70))
  running = code.cumulative_bits(bits, timesteps)
  assert running.shape == (70,)
  assert code.bits(bits, timesteps) == running[-1]
  for t in (1, 5, 6, 33, 40, 69):
    ends = tuple(e for e in timesteps if e < t) + (t,)
    assert running[t - 1] == pytest.approx(code.bits(bits[:, :t], ends),
                                           abs=1e-9), t
  assert np.all(np.diff(running) >= -1e-9)
  assert isinstance(code, mixtures.SwitchingCode)


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


def test_block_uniform_fallback_bits_by_hand():
  """Block k mixes its model with the uniform code, prior 2**-k on uniform,
  and updates the two weights by Bayes' rule after each label.

  k = 1, K = 2, a model sure of both labels (0 bits each): prior 1/2 and
  1/2; label 1 has probability 1/2 * 1 + 1/2 * 1/2 = 3/4; the posterior is
  then 2/3 on the model, 1/3 on uniform, so label 2 has 2/3 + 1/3 * 1/2 =
  5/6; together 5/8 = 1/2 * 1 + 1/2 * 1/4, the mixture of the two codes of
  both labels. (A prior 2**-(k+1) would give 7/8 and 13/14.)
  """
  np.testing.assert_allclose(
      mixtures.block_uniform_fallback_bits(np.zeros(2), 1, 2),
      [-math.log2(3 / 4), -math.log2(5 / 6)], rtol=1e-14)
  # k = 3, K = 2, a model worse than uniform (5 bits): 7/8 * 1/32 + 1/8 *
  # 1/2 = 23/256; then the posterior on the model is (7/256) / (23/256) =
  # 7/23, so the next label (model 1 bit) has 7/23 * 1/2 + 16/23 * 1/2.
  np.testing.assert_allclose(
      mixtures.block_uniform_fallback_bits(np.array([5.0, 1.0]), 3, 2),
      [8 - math.log2(23), 1.0], rtol=1e-14)
  # K = 10, k = 2: 3/4 * 2**-1.5 + 1/4 * 1/10 for one label.
  np.testing.assert_allclose(
      mixtures.block_uniform_fallback_bits(np.array([1.5]), 2, 10),
      [-math.log2(0.75 * 2**-1.5 + 0.025)], rtol=1e-14)
  # Block 0 is uniform already: unchanged.
  np.testing.assert_array_equal(
      mixtures.block_uniform_fallback_bits(np.array([0.5, 7.0]), 0, 10),
      [0.5, 7.0])
