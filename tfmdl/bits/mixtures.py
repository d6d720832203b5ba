"""Mixture and switching codes over several prediction strategies.

Prequential codes of several models (or of one model stopped at several
epochs) give, for every sample t, the codelength ``bits[m, t]`` =
-log2 p_m(y_t | x_t, past) of strategy m. Switching between strategies beats
the catch-up phenomenon (paper, section 3.4 and appendix E). The paper's own
code picked the best strategy per block in hindsight and did not pay for that
choice, so its number is a bound, not a codelength. Every code here puts a
prior, fixed before seeing the data, on which strategy is used when; Bob
decodes by running the same forward recursion, so every number returned is a
codelength (the Viterbi two-part code pays for its sequence in bits).

Convention: ``bits`` has shape (M, n), M strategies and n samples in
transmission order, in bits, finite and non-negative. All computation is in
log2 space, so nothing underflows on long sequences.

Worst-case overhead of each code over the best single strategy, with uniform
weights (code <= min_m sum_t bits[m, t] + overhead; the ``*_overhead_bits``
functions return these numbers):

| code | overhead in bits |
| --- | --- |
| Bayes mixture | log2 M |
| fixed share, rate alpha | log2 M + (n - 1) * -log2(1 - alpha) |
| fixed share, uniform over a grid A of rates | min_A(above) + log2 abs(A) |
| switch distribution | log2 M - log2(stop_prob + (1 - stop_prob) / n) |
| block switch, B blocks, rate r | log2 M + (B - 1) * -log2(1 - r) |

Each number is -log2 of the prior of a sequence that never switches. More
generally, every code is at most L(s) - log2 prior(s) for any switch sequence
s, so it is never much worse than a good sequence with few switches.

Reference: T. van Erven, P. Grunwald, S. de Rooij, "Catching up faster by
switching sooner", JRSS-B 74(3), 2012; M. Herbster, M. Warmuth, "Tracking the
best expert", Machine Learning 32, 1998.
"""

import dataclasses
import math
from typing import Sequence, Tuple

import numpy as np

from tfmdl.bits.units import LN2

# Forward recursions renormalise their log-weights every this many samples,
# which keeps them near 0 where float64 is most precise.
_RENORM_EVERY = 32


def _check_bits(bits, name: str = "bits") -> np.ndarray:
  """Returns ``bits`` as a float64 (M, n) array, or raises ValueError."""
  arr = np.asarray(bits, dtype=np.float64)
  if arr.ndim != 2:
    raise ValueError(f"{name} must be 2-D (strategies, samples), got shape "
                     f"{arr.shape}")
  if arr.shape[0] < 1 or arr.shape[1] < 1:
    raise ValueError(f"{name} needs at least one strategy and one sample, got "
                     f"shape {arr.shape}")
  if not np.all(np.isfinite(arr)):
    raise ValueError(f"{name} must be finite (no NaN or inf)")
  if np.any(arr < 0):
    raise ValueError(f"{name} must be non-negative, got min {arr.min()}")
  return arr


def _check_rate(rate: float, name: str) -> float:
  rate = float(rate)
  if not 0.0 <= rate < 1.0:
    raise ValueError(f"{name} must be in [0, 1), got {rate}")
  return rate


def _log2_weights(weights, num_strategies: int) -> np.ndarray:
  """Log2 of a prior over strategies; uniform when ``weights`` is None."""
  if weights is None:
    return np.full(num_strategies, -math.log2(num_strategies))
  w = np.asarray(weights, dtype=np.float64)
  if w.shape != (num_strategies,):
    raise ValueError(f"weights must have shape ({num_strategies},), got "
                     f"{w.shape}")
  if not np.all(np.isfinite(w)) or np.any(w < 0):
    raise ValueError("weights must be finite and non-negative")
  if abs(w.sum() - 1.0) > 1e-9:
    raise ValueError(f"weights must sum to 1, got {w.sum()}")
  with np.errstate(divide="ignore"):
    return np.log2(w)


def _total_bits(log_weights: np.ndarray, offset: float) -> float:
  """-log2 of the total mass ``2**log_weights``, plus ``offset`` bits."""
  return float(offset - np.logaddexp2.reduce(log_weights.ravel()))


def bayes_mixture_bits(bits, weights=None) -> float:
  """Codelength of the Bayes mixture -log2 sum_m w_m prod_t p_m(y_t).

  Args:
    bits: (M, n) per-sample codelengths in bits.
    weights: prior over the M strategies, summing to 1; uniform by default.

  Returns:
    The mixture codelength in bits, at most min_m (L_m - log2 w_m) and at
    least min_m L_m, where L_m = sum_t bits[m, t].
  """
  bits = _check_bits(bits)
  log_w = _log2_weights(weights, bits.shape[0])
  totals = bits.sum(axis=1)
  best = totals.min()
  return _total_bits(log_w - (totals - best), best)


def _fixed_share_totals(bits: np.ndarray, log_w0: np.ndarray,
                        alphas: Sequence[float], cumulative: bool = False):
  """Fixed-share codelengths in bits, one per rate in ``alphas``.

  With ``cumulative``, returns ``(totals, running)`` where ``running`` is
  (n, len(alphas)): the codelength of samples 1..t of every rate (the switch
  step only moves mass, so the mass after sample t is the prefix's
  probability).

  The forward recursion keeps, for every rate, unnormalised log2 weights f:
  f <- f - bits[:, t], then the switch step f(m) <- keep f(m) +
  move (S - f(m)) in linear terms, where S = sum_j f(j), keep = 1 - alpha and
  move = alpha / (M - 1) (with M = 1, keep = 1 and move = 0). The rates are
  laid side by side in one flat array, and f is renormalised every few
  samples.
  """
  num_strategies, n = bits.shape
  alphas = np.asarray(alphas, dtype=np.float64)
  if num_strategies == 1:
    keep, move = np.ones_like(alphas), np.zeros_like(alphas)
  else:
    keep, move = 1.0 - alphas, alphas / (num_strategies - 1)
  coef = keep - move  # f(m) <- coef f(m) + move S
  group = np.repeat(np.arange(alphas.size), num_strategies)
  starts = np.arange(0, group.size, num_strategies)
  with np.errstate(divide="ignore"):
    log_move = np.log2(move)[group]
    log_keep = np.log2(keep)[group]
    log_coef = np.log2(np.maximum(coef, 0.0))[group]
  fast = bool(np.all(coef >= 0))
  bits_t = np.ascontiguousarray(np.tile(bits.T, (1, alphas.size)))
  f = np.tile(log_w0, alphas.size)
  others = np.empty_like(f)
  offset = np.zeros(alphas.size)
  running = np.empty((n, alphas.size)) if cumulative else None
  with np.errstate(divide="ignore"):
    for start in range(0, n, _RENORM_EVERY):
      for t in range(start, min(start + _RENORM_EVERY, n)):
        if t:
          s = np.logaddexp2.reduceat(f, starts)[group]
          if fast:
            np.add(f, log_coef, out=f)
            np.logaddexp2(f, s + log_move, out=f)
          else:  # some alpha > (M - 1) / M: S - f(m) = S (1 - 2**(f - S)).
            np.subtract(f, s, out=others)
            np.multiply(others, LN2, out=others)
            np.expm1(others, out=others)
            np.negative(others, out=others)
            np.log2(others, out=others)
            others += s + log_move
            np.add(f, log_keep, out=f)
            np.logaddexp2(f, others, out=f)
        np.subtract(f, bits_t[t], out=f)
        if cumulative:
          running[t] = offset - np.logaddexp2.reduceat(f, starts)
      norm = np.logaddexp2.reduceat(f, starts)
      f -= norm[group]
      offset -= norm
  totals = offset - np.logaddexp2.reduceat(f, starts)
  return (totals, running) if cumulative else totals


def fixed_share_bits(bits, alpha: float, weights=None) -> float:
  """Codelength of Herbster & Warmuth's fixed share with rate ``alpha``.

  Variant: the first sample is coded with the mixture weights ``weights``.
  After each sample t the weights are the Bayes posterior v_t, then a fraction
  ``alpha`` of each strategy's weight is spread uniformly over the M - 1
  other strategies: w_{t+1}(m) = (1 - alpha) v_t(m) +
  alpha / (M - 1) sum_{j != m} v_t(j). Equivalently, the mixture over all
  strategy paths under a Markov prior that stays with probability 1 - alpha
  and otherwise moves to one of the other strategies uniformly. With M = 1
  nothing moves. ``alpha = 0`` is the Bayes mixture.

  Args:
    bits: (M, n) per-sample codelengths in bits.
    alpha: switching rate in [0, 1), fixed before seeing the data.
    weights: prior over strategies for the first sample; uniform by default.

  Returns:
    The codelength in bits.
  """
  bits = _check_bits(bits)
  alpha = _check_rate(alpha, "alpha")
  log_w0 = _log2_weights(weights, bits.shape[0])
  return float(_fixed_share_totals(bits, log_w0, [alpha])[0])


def _check_alphas(alphas) -> np.ndarray:
  """A grid of fixed-share rates as a float64 array, or raises ValueError."""
  alphas = np.asarray(alphas, dtype=np.float64)
  if alphas.ndim != 1 or alphas.size == 0:
    raise ValueError(f"alphas must be a non-empty 1-D sequence, got shape "
                     f"{alphas.shape}")
  for alpha in alphas:
    _check_rate(alpha, "alpha")
  return alphas


def fixed_share_grid_bits(bits, alphas: Sequence[float], weights=None) -> float:
  """Uniform mixture of fixed share over a grid of rates fixed in advance.

  Returns -log2 (1/|A| sum_a 2**-L_a) with L_a = ``fixed_share_bits(bits, a)``,
  which is at most min_a L_a + log2 |A|.
  """
  bits = _check_bits(bits)
  alphas = _check_alphas(alphas)
  log_w0 = _log2_weights(weights, bits.shape[0])
  totals = _fixed_share_totals(bits, log_w0, alphas)
  best = totals.min()
  return _total_bits(-(totals - best), best + math.log2(alphas.size))


def fixed_share_grid_cumulative_bits(bits, alphas: Sequence[float],
                                     weights=None) -> np.ndarray:
  """Codelength of samples 1..t under ``fixed_share_grid_bits``, every t.

  Returns:
    A non-decreasing (n,) array in bits whose last entry is
    ``fixed_share_grid_bits(bits, alphas, weights)``.
  """
  bits = _check_bits(bits)
  alphas = _check_alphas(alphas)
  log_w0 = _log2_weights(weights, bits.shape[0])
  _, running = _fixed_share_totals(bits, log_w0, alphas, cumulative=True)
  return mixture_cumulative_bits(running.T)


def bayes_mixture_cumulative_bits(bits, weights=None) -> np.ndarray:
  """Codelength of samples 1..t under ``bayes_mixture_bits``, every t."""
  bits = _check_bits(bits)
  return mixture_cumulative_bits(np.cumsum(bits, axis=1),
                                 2.0 ** _log2_weights(weights, bits.shape[0]))


def mixture_cumulative_bits(cumulative_bits, weights=None) -> np.ndarray:
  """The Bayes mixture of K sequential codes, from their prefix codelengths.

  Each code k gives every prefix y_1..y_t a probability 2**-C_k(t); the
  mixture gives it sum_k w_k 2**-C_k(t), and Bob decodes sample t with the
  mixture's conditional (the codes' predictions weighted by their posterior
  after samples < t). So the mixture is itself a sequential code, of length
  at most min_k C_k(n) - log2 w_k.

  Args:
    cumulative_bits: (K, n) codelengths of samples 1..t of each code.
    weights: prior over the K codes, summing to 1; uniform by default.

  Returns:
    The mixture's (n,) cumulative codelengths in bits.
  """
  cumulative = _check_bits(cumulative_bits, "cumulative_bits")
  log_w = _log2_weights(weights, cumulative.shape[0])
  return -np.logaddexp2.reduce(log_w[:, None] - cumulative, axis=0)


def _check_stop_prob(stop_prob: float) -> float:
  stop_prob = float(stop_prob)
  if not 0.0 <= stop_prob <= 1.0:
    raise ValueError(f"stop_prob must be in [0, 1], got {stop_prob}")
  return stop_prob


def _switch_forward(bits, stop_prob: float, weights,
                    cumulative: bool = False):
  """The switch distribution's forward algorithm (see its docstring).

  Returns:
    ``(total, running)``: the codelength of all n samples in bits and, when
    ``cumulative``, the (n,) codelengths of samples 1..t for every t (else
    None). The switch step after a sample only moves mass between states, so
    the mass after sample t is the mixture's probability of the first t
    samples.
  """
  bits = _check_bits(bits)
  stop_prob = _check_stop_prob(stop_prob)
  num_strategies, n = bits.shape
  log_pk = _log2_weights(weights, num_strategies)
  # States: [:M] unstable (may still switch), [M:] stable, per strategy.
  with np.errstate(divide="ignore"):
    log_new = np.concatenate([np.log2(1.0 - stop_prob) + log_pk,
                              np.log2(stop_prob) + log_pk])
  z = np.arange(1, n, dtype=np.float64)
  log_hazard = (-np.log2(z + 1.0)).tolist()  # pi_T(Z = z | Z >= z) = 1/(z+1)
  log_survive = np.log2(z / (z + 1.0)).tolist()
  bits_t = np.ascontiguousarray(np.concatenate([bits, bits]).T)
  f = log_new.copy()  # unnormalised log2 forward weights
  unstable = f[:num_strategies]
  offset = 0.0
  running = np.empty(n) if cumulative else None
  for start in range(0, n, _RENORM_EVERY):
    for t in range(start, min(start + _RENORM_EVERY, n)):
      np.subtract(f, bits_t[t], out=f)
      if cumulative:
        running[t] = offset - np.logaddexp2.reduce(f)
      if t < n - 1:  # switch after sample t + 1, i.e. at Z = t + 1
        pool = np.logaddexp2.reduce(unstable) + log_hazard[t]
        np.add(unstable, log_survive[t], out=unstable)
        np.logaddexp2(f, log_new + pool, out=f)
    norm = np.logaddexp2.reduce(f)
    f -= norm
    offset -= norm
  return _total_bits(f, offset), running


def switch_distribution_bits(bits, stop_prob: float = 0.5,
                             weights=None) -> float:
  """Codelength of the switch distribution of van Erven et al. (2012).

  Prior on switch sequences s = ((t_1 = 1, k_1), (t_2, k_2), ..., (t_m, k_m)),
  where strategy k_i codes samples t_i .. t_{i+1} - 1 (1-based):
    pi(s) = pi_M(m) pi_K(k_1) prod_{i >= 2} pi_T(Z_i | Z_i > Z_{i-1}) pi_K(k_i),
  with Z_i = t_i - 1 the number of samples sent before the switch (Z_1 = 0),
    pi_K = ``weights`` (uniform by default); k_i = k_{i-1} is allowed,
    pi_T(Z = z) = 1 / (z (z + 1)) for z >= 1, heavy-tailed, so
      pi_T(Z > z) = 1 / (z + 1),
    pi_M(m) = (1 - stop_prob)**(m - 1) stop_prob: each segment is the last one
      with probability ``stop_prob``.
  Switches after sample n are not observed; ``switch_prior_logprob`` gives the
  prior mass of everything that agrees with a sequence on samples 1..n.

  The codelength -log2 sum_s pi(s) prod_t p_{k_s(t)}(y_t) is computed by the
  paper's forward algorithm, O(n M): a hidden Markov model whose state is
  (current strategy, stable or unstable). A stable segment never switches
  again; an unstable one switches after sample z with the hazard
  pi_T(Z = z | Z >= z) = 1 / (z + 1), and the new segment draws its strategy
  from pi_K and is stable with probability ``stop_prob``.

  Args:
    bits: (M, n) per-sample codelengths in bits.
    stop_prob: pi_M's stopping probability in [0, 1]; 1 gives the Bayes
      mixture.
    weights: pi_K; uniform by default.

  Returns:
    The codelength in bits.
  """
  return _switch_forward(bits, stop_prob, weights)[0]


def switch_distribution_cumulative_bits(bits, stop_prob: float = 0.5,
                                        weights=None) -> np.ndarray:
  """Codelength of samples 1..t under the switch distribution, for every t.

  Entry t - 1 equals ``switch_distribution_bits(bits[:, :t], ...)``: Bob
  decodes sample t from samples < t only, so the code of a prefix is the
  code's cost up to that point (the curve of the paper's Figure 3). The last
  entry is ``switch_distribution_bits(bits, ...)``.

  Args:
    bits: (M, n) per-sample codelengths in bits.
    stop_prob: as in ``switch_distribution_bits``.
    weights: pi_K; uniform by default.

  Returns:
    A non-decreasing (n,) array in bits.
  """
  return _switch_forward(bits, stop_prob, weights, cumulative=True)[1]


def switch_prior_logprob(sequence: Sequence[Tuple[int, int]], n: int,
                         num_strategies: int, stop_prob: float = 0.5,
                         weights=None) -> float:
  """Log2 prior of a switch sequence, restricted to samples 1..n.

  This is the prior mass, under ``switch_distribution_bits``'s prior, of all
  switch sequences that use the same strategies as ``sequence`` on samples
  1..n (they may differ only by switches after sample n):
    log2 pi_K(k_1) + sum_{i >= 2} [log2(1 - stop_prob)
      + log2 pi_T(Z_i | Z_i > Z_{i-1}) + log2 pi_K(k_i)]
    + log2(stop_prob + (1 - stop_prob) pi_T(Z > n - 1 | Z > Z_m)),
  with Z_i = t_i - 1 and pi_T(Z = z | Z > y) = (y + 1) / (z (z + 1)).
  Summed over every sequence on 1..n these masses give 1.

  Args:
    sequence: ((t_1, k_1), ..., (t_m, k_m)) with t_1 = 1 < t_2 < ... <= n
      (1-based first sample of each segment) and strategies k_i in [0, M).
    n: number of samples.
    num_strategies: M.
    stop_prob: as in ``switch_distribution_bits``.
    weights: pi_K; uniform by default.

  Returns:
    The log2 prior probability (<= 0).
  """
  stop_prob = _check_stop_prob(stop_prob)
  if n < 1 or num_strategies < 1:
    raise ValueError(f"need n >= 1 and num_strategies >= 1, got {n}, "
                     f"{num_strategies}")
  log_pk = _log2_weights(weights, num_strategies)
  if len(sequence) == 0 or sequence[0][0] != 1:
    raise ValueError(f"sequence must start with t_1 = 1, got {sequence}")
  times = [t for t, _ in sequence]
  if any(b <= a for a, b in zip(times, times[1:])) or times[-1] > n:
    raise ValueError(f"switch times must increase and be <= n={n}, got {times}")
  if any(not 0 <= k < num_strategies for _, k in sequence):
    raise ValueError(f"strategies must be in [0, {num_strategies}), got "
                     f"{sequence}")
  with np.errstate(divide="ignore"):
    log_go_on = np.log2(1.0 - stop_prob)
  logp = log_pk[sequence[0][1]]
  for (t_prev, _), (t, k) in zip(sequence, sequence[1:]):
    z_prev, z = t_prev - 1, t - 1
    logp += log_go_on + math.log2((z_prev + 1) / (z * (z + 1))) + log_pk[k]
  z_last = times[-1] - 1
  logp += math.log2(stop_prob + (1.0 - stop_prob) * (z_last + 1) / n)
  return float(logp)


@dataclasses.dataclass(frozen=True)
class BlockSwitchResult:
  """Codelengths of switching between strategies at block boundaries.

  Attributes:
    mixture_bits: -log2 sum_s prior(s) 2**-L(s) over all block sequences s
      (forward algorithm); the code to report.
    best_sequence: the strategy of each block in the Viterbi sequence
      argmin_s L(s) - log2 prior(s).
    best_sequence_bits: L(best) - log2 prior(best), a two-part code that
      sends the sequence first; always >= mixture_bits.
    best_sequence_prior_bits: -log2 prior(best), the part paid for the
      sequence.
  """
  mixture_bits: float
  best_sequence: Tuple[int, ...]
  best_sequence_bits: float
  best_sequence_prior_bits: float


def block_switch_prior_bits(sequence: Sequence[int], num_strategies: int,
                            switch_rate: float) -> float:
  """-log2 prior of a block sequence under ``block_switch_bits``'s prior.

  The first block's strategy is uniform over M; at each boundary the strategy
  stays with probability 1 - switch_rate, else moves to one of the other M - 1
  uniformly (with M = 1 it always stays).
  """
  switch_rate = _check_rate(switch_rate, "switch_rate")
  if num_strategies < 1:
    raise ValueError(f"num_strategies must be >= 1, got {num_strategies}")
  seq = list(sequence)
  if not seq or any(not 0 <= k < num_strategies for k in seq):
    raise ValueError(f"sequence must be non-empty with strategies in "
                     f"[0, {num_strategies}), got {seq}")
  stays = sum(a == b for a, b in zip(seq, seq[1:]))
  moves = len(seq) - 1 - stays
  bits = math.log2(num_strategies)
  if stays and num_strategies > 1:
    bits -= stays * math.log2(1.0 - switch_rate)
  if moves:
    if switch_rate == 0.0:
      return math.inf
    bits -= moves * math.log2(switch_rate / (num_strategies - 1))
  return bits


def block_switch_bits(block_bits, switch_rate: float) -> BlockSwitchResult:
  """Switch between strategies at block boundaries, with a prior fixed ahead.

  Prior: see ``block_switch_prior_bits``. The mixture is fixed share run on
  blocks (``alpha = switch_rate``); the best sequence is found by Viterbi.

  Args:
    block_bits: (M, B) codelength in bits of each block under each strategy
      (one strategy per prequential block).
    switch_rate: probability of leaving the current strategy at a block
      boundary, in [0, 1), fixed before seeing the data.

  Returns:
    A ``BlockSwitchResult``.
  """
  block_bits = _check_bits(block_bits, "block_bits")
  switch_rate = _check_rate(switch_rate, "switch_rate")
  num_strategies, num_blocks = block_bits.shape
  log_w0 = np.full(num_strategies, -math.log2(num_strategies))
  mixture = float(_fixed_share_totals(block_bits, log_w0, [switch_rate])[0])
  # Viterbi on costs in bits; trans[j, m] = -log2 P(block k+1 = m | k = j).
  if num_strategies == 1:
    trans = np.zeros((1, 1))
  else:
    trans = np.full((num_strategies, num_strategies),
                    -math.log2(switch_rate / (num_strategies - 1))
                    if switch_rate > 0 else np.inf)
    np.fill_diagonal(trans, -math.log2(1.0 - switch_rate))
  cost = math.log2(num_strategies) + block_bits[:, 0]
  back = np.zeros((num_blocks, num_strategies), dtype=np.int64)
  columns = np.arange(num_strategies)
  for k in range(1, num_blocks):
    cand = cost[:, None] + trans
    back[k] = np.argmin(cand, axis=0)
    cost = cand[back[k], columns] + block_bits[:, k]
  path = [int(np.argmin(cost))]
  for k in range(num_blocks - 1, 0, -1):
    path.append(int(back[k, path[-1]]))
  path.reverse()
  prior_bits = block_switch_prior_bits(path, num_strategies, switch_rate)
  return BlockSwitchResult(
      mixture_bits=mixture,
      best_sequence=tuple(path),
      best_sequence_bits=float(cost[path[-1]]),
      best_sequence_prior_bits=prior_bits)


def block_switch_cumulative_bits(bits, timesteps: Sequence[int],
                                 switch_rate: float) -> np.ndarray:
  """Codelength of samples 1..t under ``block_switch_bits``, every t.

  Inside block k Bob decodes sample t with the Bayes mixture of the
  strategies under their weights at the block's start (the prior's
  posterior after blocks < k, then the switch step) updated by the block's
  samples < t; so the code of a prefix that ends inside a block is the
  weights' mixture of the strategies' codelengths of that part of the block.

  Args:
    bits: (M, n) per-sample codelengths in bits.
    timesteps: block ends, increasing, the last one n.
    switch_rate: as in ``block_switch_bits``.

  Returns:
    A non-decreasing (n,) array in bits whose entry at each block end t_k - 1
    is ``block_switch_bits`` of the first k blocks' codelengths, and whose
    last entry is its ``mixture_bits``.
  """
  bits = _check_bits(bits)
  switch_rate = _check_rate(switch_rate, "switch_rate")
  num_strategies, n = bits.shape
  ends = [int(t) for t in timesteps]
  if (not ends or ends[-1] != n or ends[0] < 1
      or any(b <= a for a, b in zip(ends, ends[1:]))):
    raise ValueError(f"timesteps must increase from >= 1 to n={n}, got "
                     f"{tuple(timesteps)}")
  with np.errstate(divide="ignore"):
    log_keep = math.log2(1.0 - switch_rate)
    log_move = (np.log2(switch_rate / (num_strategies - 1))
                if num_strategies > 1 else -np.inf)
  log_w = np.full(num_strategies, -math.log2(num_strategies))
  offset = 0.0
  running = np.empty(n)
  for start, end in zip([0] + ends[:-1], ends):
    within = np.cumsum(bits[:, start:end], axis=1)
    running[start:end] = offset - np.logaddexp2.reduce(
        log_w[:, None] - within, axis=0)
    posterior = log_w - within[:, -1]
    norm = np.logaddexp2.reduce(posterior)
    posterior -= norm
    offset -= norm
    if num_strategies > 1:  # w(m) <- keep post(m) + move (1 - post(m))
      with np.errstate(divide="ignore"):
        rest = np.log2(-np.expm1(posterior * LN2))
      log_w = np.logaddexp2(log_keep + posterior, log_move + rest)
    else:
      log_w = posterior
  return running


def self_switch_strategies(per_epoch_bits_per_block,
                           max_epochs: int) -> np.ndarray:
  """Per-sample bits of the self-switch strategies "stop after epoch e".

  In prequential block k the model is trained on blocks < k for E_k epochs
  and block k is coded after each epoch 0..E_k (epoch 0: untrained), giving
  an (E_k + 1, size_k) array. E_k differs between blocks (early stopping);
  strategy e uses epoch min(e, E_k) in block k: a model that stopped early
  stays at its final state. Bob knows E_k when he decodes block k (early
  stopping looks at a validation split of blocks < k, and he replays the
  same seeded training), but not the E_k of later blocks: so the number of
  strategies, which every prior over them depends on, is fixed by the config
  alone, ``max_epochs + 1`` (epochs 0..max_epochs), never by the epochs that
  the blocks happened to train.

  Args:
    per_epoch_bits_per_block: sequence of B arrays, block k of shape
      (E_k + 1, size_k), in bits.
    max_epochs: the training's limit on epochs (``train.max_epochs`` of the
      run's config), E_k <= max_epochs for every block.

  Returns:
    A (max_epochs + 1, n) array, n = sum_k size_k, for the switching codes
    above.

  Raises:
    ValueError: no blocks, bad bits, or a block with more than
      ``max_epochs + 1`` epochs.
  """
  blocks = [_check_bits(b, f"block {k}")
            for k, b in enumerate(per_epoch_bits_per_block)]
  if not blocks:
    raise ValueError("per_epoch_bits_per_block is empty")
  if int(max_epochs) != max_epochs or max_epochs < 0:
    raise ValueError(f"max_epochs must be an integer >= 0, got {max_epochs}")
  for k, b in enumerate(blocks):
    if b.shape[0] > max_epochs + 1:
      raise ValueError(f"block {k} has epochs 0..{b.shape[0] - 1}, more "
                       f"than max_epochs={max_epochs} allows")
  epochs = np.arange(int(max_epochs) + 1)
  return np.concatenate(
      [b[np.minimum(epochs, b.shape[0] - 1)] for b in blocks], axis=1)


def bayes_mixture_overhead_bits(num_strategies: int) -> float:
  """Worst case of ``bayes_mixture_bits`` (uniform) over the best strategy."""
  return math.log2(num_strategies)


def fixed_share_overhead_bits(num_strategies: int, num_samples: int,
                              alpha: float) -> float:
  """Worst case of ``fixed_share_bits`` (uniform) over the best strategy."""
  alpha = _check_rate(alpha, "alpha")
  return (math.log2(num_strategies)
          - (num_samples - 1) * math.log2(1.0 - alpha))


def fixed_share_grid_overhead_bits(num_strategies: int, num_samples: int,
                                   alphas: Sequence[float]) -> float:
  """Worst case of ``fixed_share_grid_bits`` over the best strategy."""
  return (min(fixed_share_overhead_bits(num_strategies, num_samples, a)
              for a in alphas) + math.log2(len(alphas)))


def switch_distribution_overhead_bits(num_strategies: int, num_samples: int,
                                      stop_prob: float = 0.5) -> float:
  """Worst case of ``switch_distribution_bits`` (uniform) over the best one.

  Equals -log2 of the prior of a sequence that never switches; at most
  log2 M + 1 for the default ``stop_prob`` of 1/2.
  """
  stop_prob = _check_stop_prob(stop_prob)
  return (math.log2(num_strategies)
          - math.log2(stop_prob + (1.0 - stop_prob) / num_samples))


def block_switch_overhead_bits(num_strategies: int, num_blocks: int,
                               switch_rate: float) -> float:
  """Worst case of ``block_switch_bits(...).mixture_bits`` over the best one."""
  return block_switch_prior_bits([0] * num_blocks, num_strategies, switch_rate)


def block_uniform_fallback_bits(bits, index: int,
                                num_classes: int) -> np.ndarray:
  """Per-sample bits of prequential block ``index`` mixed with the uniform
  code, so that no block costs much more than sending it uniformly.

  A model trained on the first 10 or 20 labels is often worse than uniform
  on the next block (the paper's catch-up phenomenon: 6.4 bits per label
  against 3.3). In block k >= 1 (block 0 is uniform already) this code is
  the Bayes mixture of the model's predictions and the uniform code, with
  prior weight ``2**-k`` on uniform, restarted at each block. It is fixed in
  advance and sequential (Bob updates the two weights after each label he
  decodes), and block k costs at most

  * ``k`` bits more than the uniform code (1 bit in the first model block),
  * ``-log2(1 - 2**-k)`` bits more than the model (1 bit in block 1, 0.42 in
    block 2, under 1.8 bits summed over all blocks).

  Args:
    bits: (size,) per-sample bits of the block under its model.
    index: the block's index k in the schedule (0: returned unchanged).
    num_classes: K.

  Returns:
    The mixture's (size,) per-sample bits.
  """
  bits = np.asarray(bits, dtype=np.float64)
  if index == 0 or not len(bits):
    return bits.copy()
  weight = 2.0**-index
  strategies = _check_bits(np.stack(
      [bits, np.full(len(bits), math.log2(num_classes))]))
  cumulative = bayes_mixture_cumulative_bits(strategies,
                                             [1.0 - weight, weight])
  return np.diff(cumulative, prepend=0.0)


def uniform_fallback_bits(bits, timesteps: Sequence[int],
                          num_classes: int) -> np.ndarray:
  """:func:`block_uniform_fallback_bits` of every block of a prequential
  code's (n,) per-sample bits, cut at ``timesteps`` (ending at n)."""
  bits = np.asarray(bits, dtype=np.float64)
  timesteps = tuple(int(t) for t in timesteps)
  if not timesteps or timesteps[-1] != len(bits):
    raise ValueError(f"timesteps must end at n={len(bits)}, got {timesteps}")
  return np.concatenate([
      block_uniform_fallback_bits(bits[start:end], k, num_classes)
      for k, (start, end) in enumerate(zip((0,) + timesteps[:-1],
                                           timesteps))])
