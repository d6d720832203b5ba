"""Switching codes: mixtures of several prediction strategies.

Prequential codes of several models (or of one model stopped at several
epochs) give, for every sample t, the codelength ``bits[m, t]`` =
-log2 p_m(y_t | x_t, past) of strategy m. Switching between strategies beats
the catch-up phenomenon (paper, section 3.4 and appendix E). The paper's own
code picked the best strategy per block in hindsight and did not pay for that
choice, so its number is a bound, not a codelength. Every code here puts a
prior, fixed before seeing the data, on which strategy codes each label; Bob
decodes by running the same forward recursion, so every number returned is a
codelength (the Viterbi two-part code pays for its sequence in bits).

Each code is a :class:`SwitchingCode`: ``cumulative_bits(bits, timesteps)``
gives the codelength of labels 1..t for every t (the code is sequential),
``bits`` its last entry, ``overhead_bits(M, n, B)`` its worst case over the
best single strategy (code <= min_m sum_t bits[m, t] + overhead), with
uniform weights over the strategies:

| code | overhead in bits |
| --- | --- |
| :class:`BayesMixture` | log2 M |
| :class:`FixedShare`, one rate alpha | log2 M + (n - 1) * -log2(1 - alpha) |
| :class:`FixedShare`, uniform over a grid A of rates | min_A(above) + log2 abs(A) |
| :class:`SwitchDistribution` | log2 M - log2(stop_prob + (1 - stop_prob) / n) |
| :class:`BlockSwitch`, B blocks, rate r | log2 M + (B - 1) * -log2(1 - r) |
| :class:`MixtureOf` C codes | min over the codes + log2 C |

Each number is -log2 of the prior of a sequence that never switches. More
generally, every code is at most L(s) - log2 prior(s) for any switch sequence
s, so it is never much worse than a good sequence with few switches.

Each code also runs *forward* (:meth:`SwitchingCode.forward`), one sample at
a time, as Bob decodes: :meth:`Forward.log2_weights` are its weights on the
M strategies for the next sample, which depend on the samples before it only
(a learner codes the next label with the strategies' predictions mixed under
them, :mod:`tfmdl.codes.prequential.online.ensemble`), and
:meth:`Forward.update` takes that sample's per-strategy bits and returns the
code's. The recursions of the switching codes are written once, as forward
states; ``cumulative_bits`` runs them (the Bayes mixtures have closed forms).

Convention: ``bits`` has shape (M, n), M strategies and n samples in
transmission order, in bits, finite and non-negative. All computation is in
log2 space, so nothing underflows on long sequences.

Example::

    code = MixtureOf((SwitchDistribution(), BayesMixture(), FixedShare(),
                      BlockSwitch()))
    code.bits(bits, timesteps)     # at most 2 bits above the best of four

Reference: T. van Erven, P. Grunwald, S. de Rooij, "Catching up faster by
switching sooner", JRSS-B 74(3), 2012; M. Herbster, M. Warmuth, "Tracking the
best expert", Machine Learning 32, 1998.
"""

import abc
import dataclasses
import math
from typing import Optional, Sequence, Tuple

import numpy as np

from tfmdl.bits.units import LN2

def check_bits(bits, name: str = "bits") -> np.ndarray:
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


def _check_stop_prob(stop_prob: float) -> float:
  stop_prob = float(stop_prob)
  if not 0.0 <= stop_prob <= 1.0:
    raise ValueError(f"stop_prob must be in [0, 1], got {stop_prob}")
  return stop_prob


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


def _check_timesteps(timesteps, n: int) -> list:
  ends = [int(t) for t in timesteps]
  if (not ends or ends[-1] != n or ends[0] < 1
      or any(b <= a for a, b in zip(ends, ends[1:]))):
    raise ValueError(f"timesteps must increase from >= 1 to n={n}, got "
                     f"{tuple(timesteps)}")
  return ends


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
  cumulative = check_bits(cumulative_bits, "cumulative_bits")
  log_w = _log2_weights(weights, cumulative.shape[0])
  return -np.logaddexp2.reduce(log_w[:, None] - cumulative, axis=0)


def _log2_sum(log2_values: np.ndarray, axis=None):
  """``log2 sum 2**v`` (over ``axis``)."""
  return np.logaddexp2.reduce(log2_values, axis=axis)


def _log2_complement(log2_p: np.ndarray) -> np.ndarray:
  """``log2(1 - 2**p)`` for probabilities ``2**p`` <= 1 (-inf at 1)."""
  with np.errstate(divide="ignore"):
    return np.log2(-np.expm1(log2_p * LN2))


def _share(log2_w: np.ndarray, log_keep, log_move) -> np.ndarray:
  """The switch step on normalised log2 weights (last axis: strategies):
  ``w(m) <- keep w(m) + move (1 - w(m))``, which keeps the sum at 1 when
  ``move = (1 - keep) / (M - 1)``."""
  return np.logaddexp2(log_keep + log2_w, log_move + _log2_complement(log2_w))


class Forward(abc.ABC):
  """A switching code run one sample at a time, as Bob decodes.

  Its state depends on the per-strategy bits of the samples given to
  :meth:`update` so far, nothing else.
  """

  @abc.abstractmethod
  def log2_weights(self) -> np.ndarray:
    """Log2 of the (M,) weights on the strategies for the next sample
    (they sum to 1)."""

  @abc.abstractmethod
  def update(self, bits) -> float:
    """Take the next sample's (M,) per-strategy bits; return the code's
    bits for it, ``-log2 sum_m w(m) 2**-bits(m)`` with
    :meth:`log2_weights` before the call."""


class _Mixing(Forward):
  """Bayes' rule on normalised log2 weights, then an optional switch step
  after each sample (``after(log2_posterior, samples seen)``)."""

  def __init__(self, log2_w: np.ndarray, after=None):
    self._log2_w = np.array(log2_w, dtype=np.float64)
    self._after = after
    self._seen = 0

  def log2_weights(self) -> np.ndarray:
    return self._log2_w.copy()

  def update(self, bits) -> float:
    posterior = self._log2_w - np.asarray(bits, dtype=np.float64)
    total = _log2_sum(posterior)
    posterior -= total
    self._seen += 1
    self._log2_w = (posterior if self._after is None
                    else self._after(posterior, self._seen))
    return float(-total)


class SwitchingCode(abc.ABC):
  """A sequential code mixing M strategies under a prior fixed in advance.

  Attributes:
    name: how results name the code.
  """
  name: str

  @abc.abstractmethod
  def forward(self, num_strategies: int,
              timesteps: Optional[Sequence[int]] = None) -> Forward:
    """The code's :class:`Forward` state before the first sample.

    Args:
      num_strategies: M.
      timesteps: the block ends, for codes that switch at block boundaries
        only.
    """

  def cumulative_bits(self, bits, timesteps: Optional[Sequence[int]] = None
                      ) -> np.ndarray:
    """The (n,) codelengths of samples 1..t, for every t, in bits.

    Entry t - 1 is the code of the first t samples alone: Bob decodes sample
    t from samples < t only (the curve of the paper's Figure 3). Runs the
    :meth:`forward` recursion.

    Args:
      bits: (M, n) per-sample codelengths of the strategies, in bits.
      timesteps: the block ends (the last one n), for codes that switch at
        block boundaries only.
    """
    bits = check_bits(bits)
    state = self.forward(bits.shape[0], timesteps)
    columns = np.ascontiguousarray(bits.T)
    return np.cumsum([state.update(column) for column in columns])

  @abc.abstractmethod
  def overhead_bits(self, num_strategies: int, num_samples: int,
                    num_blocks: int = 1) -> float:
    """The worst case of the code over the best single strategy, uniform
    weights: ``bits <= min_m sum_t bits[m, t] + overhead``."""

  def bits(self, bits, timesteps: Optional[Sequence[int]] = None) -> float:
    """The codelength of all n samples, in bits."""
    return float(self.cumulative_bits(bits, timesteps)[-1])


@dataclasses.dataclass(frozen=True)
class BayesMixture(SwitchingCode):
  """-log2 sum_m w_m prod_t p_m(y_t): the strategies never switch.

  Attributes:
    weights: prior over the M strategies, summing to 1; uniform when None.
  """
  weights: Optional[tuple] = None
  name = "bayes_mixture"

  def forward(self, num_strategies, timesteps=None) -> Forward:
    del timesteps
    return _Mixing(_log2_weights(self.weights, num_strategies))

  def cumulative_bits(self, bits, timesteps=None) -> np.ndarray:
    del timesteps
    bits = check_bits(bits)
    return mixture_cumulative_bits(
        np.cumsum(bits, axis=1), 2.0 ** _log2_weights(self.weights,
                                                      bits.shape[0]))

  def overhead_bits(self, num_strategies, num_samples, num_blocks=1) -> float:
    return math.log2(num_strategies)


class _FixedShareForward(Forward):
  """Fixed share at every rate of a grid, and the Bayes mixture of the rates.

  Per rate a: normalised log2 weights ``w_a`` on the strategies; after each
  sample the Bayes posterior, then the switch step ``w(m) <- (1 - a) w(m) +
  a / (M - 1) (1 - w(m))`` (nothing moves with M = 1). The rates' own
  log2 posterior ``r`` (uniform prior) weighs their predictions.
  """

  def __init__(self, alphas, log2_w0: np.ndarray):
    alphas = np.asarray(alphas, dtype=np.float64)[:, None]
    num_strategies = log2_w0.size
    self._log2_w = np.tile(log2_w0, (alphas.size, 1))
    self._log2_r = np.full(alphas.size, -math.log2(alphas.size))
    with np.errstate(divide="ignore"):
      self._log_keep = np.log2(1.0 - alphas)
      self._log_move = (np.log2(alphas / (num_strategies - 1))
                        if num_strategies > 1 else None)

  def log2_weights(self) -> np.ndarray:
    return _log2_sum(self._log2_r[:, None] + self._log2_w, axis=0)

  def update(self, bits) -> float:
    posterior = self._log2_w - np.asarray(bits, dtype=np.float64)
    mass = _log2_sum(posterior, axis=1)
    joint = self._log2_r + mass
    total = _log2_sum(joint)
    self._log2_r = joint - total
    posterior -= mass[:, None]
    self._log2_w = (posterior if self._log_move is None else
                    _share(posterior, self._log_keep, self._log_move))
    return float(-total)


@dataclasses.dataclass(frozen=True)
class FixedShare(SwitchingCode):
  """Herbster & Warmuth's fixed share, mixed uniformly over a grid of rates.

  Variant: the first sample is coded with the mixture weights ``weights``.
  After each sample t the weights are the Bayes posterior v_t, then a fraction
  ``alpha`` of each strategy's weight is spread uniformly over the M - 1
  other strategies: w_{t+1}(m) = (1 - alpha) v_t(m) +
  alpha / (M - 1) sum_{j != m} v_t(j). Equivalently, the mixture over all
  strategy paths under a Markov prior that stays with probability 1 - alpha
  and otherwise moves to one of the other strategies uniformly. With M = 1
  nothing moves; ``alpha = 0`` is the Bayes mixture. With several rates the
  code is -log2 (1/|A| sum_a 2**-L_a), at most min_a L_a + log2 |A|.

  Attributes:
    alphas: switching rates in [0, 1), fixed before seeing the data (one
      rate: plain fixed share).
    weights: prior over strategies for the first sample; uniform when None.
  """
  alphas: tuple = (1e-4, 1e-3, 1e-2)
  weights: Optional[tuple] = None
  name = "fixed_share_grid"

  def __post_init__(self):
    alphas = np.asarray(self.alphas, dtype=np.float64)
    if alphas.ndim != 1 or alphas.size == 0:
      raise ValueError(f"alphas must be a non-empty 1-D sequence, got shape "
                       f"{alphas.shape}")
    for alpha in alphas:
      _check_rate(alpha, "alpha")

  def forward(self, num_strategies, timesteps=None) -> Forward:
    del timesteps
    return _FixedShareForward(self.alphas,
                              _log2_weights(self.weights, num_strategies))

  def overhead_bits(self, num_strategies, num_samples, num_blocks=1) -> float:
    one = lambda alpha: (math.log2(num_strategies) -
                         (num_samples - 1) * math.log2(1.0 - alpha))
    extra = 0.0 if len(self.alphas) == 1 else math.log2(len(self.alphas))
    return min(one(a) for a in self.alphas) + extra


class _SwitchForward(Forward):
  """The switch distribution's hidden Markov model, normalised log2 weights
  on its 2M states: ``[:M]`` unstable (may still switch), ``[M:]`` stable.

  After z samples an unstable segment switches with the hazard
  ``pi_T(Z = z | Z >= z) = 1 / (z + 1)``; the new segment draws its strategy
  from pi_K and is stable with probability ``stop_prob``.
  """

  def __init__(self, stop_prob: float, log_pk: np.ndarray):
    with np.errstate(divide="ignore"):
      self._log_new = np.concatenate([np.log2(1.0 - stop_prob) + log_pk,
                                      np.log2(stop_prob) + log_pk])
    self._num_strategies = log_pk.size
    self._log2_w = self._log_new.copy()
    self._seen = 0

  def log2_weights(self) -> np.ndarray:
    m = self._num_strategies
    return np.logaddexp2(self._log2_w[:m], self._log2_w[m:])

  def update(self, bits) -> float:
    bits = np.asarray(bits, dtype=np.float64)
    states = self._log2_w - np.concatenate([bits, bits])
    total = _log2_sum(states)
    states -= total
    self._seen += 1
    z = self._seen
    unstable = states[:self._num_strategies]
    pool = _log2_sum(unstable) - math.log2(z + 1.0)
    unstable += math.log2(z / (z + 1.0))
    self._log2_w = np.logaddexp2(states, self._log_new + pool)
    return float(-total)


@dataclasses.dataclass(frozen=True)
class SwitchDistribution(SwitchingCode):
  """The switch distribution of van Erven et al. (2012).

  Prior on switch sequences s = ((t_1 = 1, k_1), (t_2, k_2), ..., (t_m, k_m)),
  where strategy k_i codes samples t_i .. t_{i+1} - 1 (1-based):
    pi(s) = pi_M(m) pi_K(k_1) prod_{i >= 2} pi_T(Z_i | Z_i > Z_{i-1}) pi_K(k_i),
  with Z_i = t_i - 1 the number of samples sent before the switch (Z_1 = 0),
    pi_K = ``weights`` (uniform by default); k_i = k_{i-1} is allowed,
    pi_T(Z = z) = 1 / (z (z + 1)) for z >= 1, heavy-tailed, so
      pi_T(Z > z) = 1 / (z + 1),
    pi_M(m) = (1 - stop_prob)**(m - 1) stop_prob: each segment is the last one
      with probability ``stop_prob``.
  Switches after sample n are not observed; :meth:`prior_log2` gives the
  prior mass of everything that agrees with a sequence on samples 1..n.

  The codelength -log2 sum_s pi(s) prod_t p_{k_s(t)}(y_t) is computed by the
  paper's forward algorithm, O(n M): a hidden Markov model whose state is
  (current strategy, stable or unstable). A stable segment never switches
  again; an unstable one switches after sample z with the hazard
  pi_T(Z = z | Z >= z) = 1 / (z + 1), and the new segment draws its strategy
  from pi_K and is stable with probability ``stop_prob``.

  Attributes:
    stop_prob: pi_M's stopping probability in [0, 1]; 1 gives the Bayes
      mixture. Its overhead is at most log2 M + 1 bits at 1/2.
    weights: pi_K; uniform when None.
  """
  stop_prob: float = 0.5
  weights: Optional[tuple] = None
  name = "switch_distribution"

  def __post_init__(self):
    _check_stop_prob(self.stop_prob)

  def forward(self, num_strategies, timesteps=None) -> Forward:
    del timesteps
    return _SwitchForward(self.stop_prob,
                          _log2_weights(self.weights, num_strategies))

  def overhead_bits(self, num_strategies, num_samples, num_blocks=1) -> float:
    return (math.log2(num_strategies) -
            math.log2(self.stop_prob + (1.0 - self.stop_prob) / num_samples))

  def prior_log2(self, sequence: Sequence[Tuple[int, int]], n: int,
                 num_strategies: int) -> float:
    """Log2 prior of a switch sequence, restricted to samples 1..n.

    This is the prior mass of all switch sequences that use the same
    strategies as ``sequence`` on samples 1..n (they may differ only by
    switches after sample n):
      log2 pi_K(k_1) + sum_{i >= 2} [log2(1 - stop_prob)
        + log2 pi_T(Z_i | Z_i > Z_{i-1}) + log2 pi_K(k_i)]
      + log2(stop_prob + (1 - stop_prob) pi_T(Z > n - 1 | Z > Z_m)),
    with Z_i = t_i - 1 and pi_T(Z = z | Z > y) = (y + 1) / (z (z + 1)).
    Summed over every sequence on 1..n these masses give 1.

    Args:
      sequence: ((t_1, k_1), ..., (t_m, k_m)) with t_1 = 1 < t_2 < ... <= n
        (1-based first sample of each segment) and strategies in [0, M).
      n: number of samples.
      num_strategies: M.
    """
    if n < 1 or num_strategies < 1:
      raise ValueError(f"need n >= 1 and num_strategies >= 1, got {n}, "
                       f"{num_strategies}")
    log_pk = _log2_weights(self.weights, num_strategies)
    if len(sequence) == 0 or sequence[0][0] != 1:
      raise ValueError(f"sequence must start with t_1 = 1, got {sequence}")
    times = [t for t, _ in sequence]
    if any(b <= a for a, b in zip(times, times[1:])) or times[-1] > n:
      raise ValueError(f"switch times must increase and be <= n={n}, got "
                       f"{times}")
    if any(not 0 <= k < num_strategies for _, k in sequence):
      raise ValueError(f"strategies must be in [0, {num_strategies}), got "
                       f"{sequence}")
    with np.errstate(divide="ignore"):
      log_go_on = np.log2(1.0 - self.stop_prob)
    logp = log_pk[sequence[0][1]]
    for (t_prev, _), (t, k) in zip(sequence, sequence[1:]):
      z_prev, z = t_prev - 1, t - 1
      logp += log_go_on + math.log2((z_prev + 1) / (z * (z + 1))) + log_pk[k]
    z_last = times[-1] - 1
    logp += math.log2(self.stop_prob + (1.0 - self.stop_prob) *
                      (z_last + 1) / n)
    return float(logp)


@dataclasses.dataclass(frozen=True)
class BlockSequence:
  """The Viterbi sequence of a :class:`BlockSwitch` code.

  Attributes:
    sequence: the strategy of each block in argmin_s L(s) - log2 prior(s).
    bits: L(best) - log2 prior(best), a two-part code that sends the
      sequence first; always >= the block switch code.
    prior_bits: -log2 prior(best), the part paid for the sequence.
  """
  sequence: Tuple[int, ...]
  bits: float
  prior_bits: float


@dataclasses.dataclass(frozen=True)
class BlockSwitch(SwitchingCode):
  """Switching between strategies at block boundaries only.

  Prior: the first block's strategy is uniform over M; at each boundary the
  strategy stays with probability 1 - switch_rate, else moves to one of the
  other M - 1 uniformly (with M = 1 it always stays). Inside block k Bob
  decodes sample t with the Bayes mixture of the strategies under their
  weights at the block's start (the posterior after blocks < k, then the
  switch step) updated by the block's samples < t, so the code of a prefix
  that ends inside a block is that mixture's codelength of the block's part.

  Attributes:
    switch_rate: probability of leaving the current strategy at a block
      boundary, in [0, 1), fixed before seeing the data.
  """
  switch_rate: float = 0.1
  name = "block_switch"

  def __post_init__(self):
    _check_rate(self.switch_rate, "switch_rate")

  def forward(self, num_strategies, timesteps=None) -> Forward:
    if timesteps is None:
      raise ValueError("block switching needs the timesteps (block ends)")
    ends = frozenset(_check_timesteps(timesteps, int(timesteps[-1])))
    log2_w0 = np.full(num_strategies, -math.log2(num_strategies))
    if num_strategies == 1:
      return _Mixing(log2_w0)
    with np.errstate(divide="ignore"):
      log_keep = math.log2(1.0 - self.switch_rate)
      log_move = np.log2(self.switch_rate / (num_strategies - 1))
    return _Mixing(log2_w0, lambda w, seen: (
        _share(w, log_keep, log_move) if seen in ends else w))

  def cumulative_bits(self, bits, timesteps=None) -> np.ndarray:
    """The :meth:`forward` recursion's codelengths, a block at a time: in a
    block the code is the Bayes mixture under the block's first weights."""
    bits = check_bits(bits)
    num_strategies, n = bits.shape
    if timesteps is None:
      raise ValueError("block switching needs the timesteps (block ends)")
    ends = _check_timesteps(timesteps, n)
    with np.errstate(divide="ignore"):
      log_keep = math.log2(1.0 - self.switch_rate)
      log_move = (np.log2(self.switch_rate / (num_strategies - 1))
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
      log_w = (_share(posterior, log_keep, log_move) if num_strategies > 1
               else posterior)
    return running

  def overhead_bits(self, num_strategies, num_samples, num_blocks=1) -> float:
    return self.prior_bits([0] * num_blocks, num_strategies)

  def prior_bits(self, sequence: Sequence[int], num_strategies: int) -> float:
    """-log2 prior of a sequence of block strategies."""
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
      bits -= stays * math.log2(1.0 - self.switch_rate)
    if moves:
      if self.switch_rate == 0.0:
        return math.inf
      bits -= moves * math.log2(self.switch_rate / (num_strategies - 1))
    return bits

  def best_sequence(self, block_bits) -> BlockSequence:
    """The Viterbi sequence of (M, B) per-block codelengths."""
    block_bits = check_bits(block_bits, "block_bits")
    num_strategies, num_blocks = block_bits.shape
    # Costs in bits; trans[j, m] = -log2 P(block k+1 = m | block k = j).
    if num_strategies == 1:
      trans = np.zeros((1, 1))
    else:
      trans = np.full((num_strategies, num_strategies),
                      -math.log2(self.switch_rate / (num_strategies - 1))
                      if self.switch_rate > 0 else np.inf)
      np.fill_diagonal(trans, -math.log2(1.0 - self.switch_rate))
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
    return BlockSequence(tuple(path), float(cost[path[-1]]),
                         self.prior_bits(path, num_strategies))


class _MixtureForward(Forward):
  """The Bayes mixture (uniform prior) of several codes run forward: their
  weights on the strategies averaged under the codes' posterior."""

  def __init__(self, states: Sequence[Forward]):
    self._states = list(states)
    self._log2_c = np.full(len(states), -math.log2(len(states)))

  def log2_weights(self) -> np.ndarray:
    return _log2_sum(self._log2_c[:, None] + np.stack(
        [state.log2_weights() for state in self._states]), axis=0)

  def update(self, bits) -> float:
    joint = self._log2_c - np.array([state.update(bits)
                                     for state in self._states])
    total = _log2_sum(joint)
    self._log2_c = joint - total
    return float(-total)


@dataclasses.dataclass(frozen=True)
class MixtureOf(SwitchingCode):
  """The Bayes mixture, uniform prior, of several switching codes.

  Which of them is shortest is only known after seeing the labels; their
  mixture is itself sequential, at most log2 C bits above the best of the C.

  Attributes:
    codes: the codes mixed.
  """
  codes: tuple
  name = "mixture"

  def __post_init__(self):
    if not self.codes:
      raise ValueError("a mixture needs at least one code")

  def forward(self, num_strategies, timesteps=None) -> Forward:
    return _MixtureForward([code.forward(num_strategies, timesteps)
                            for code in self.codes])

  def cumulative_bits(self, bits, timesteps=None) -> np.ndarray:
    return mixture_cumulative_bits(
        np.stack([code.cumulative_bits(bits, timesteps)
                  for code in self.codes]))

  def overhead_bits(self, num_strategies, num_samples, num_blocks=1) -> float:
    return (min(code.overhead_bits(num_strategies, num_samples, num_blocks)
                for code in self.codes) + math.log2(len(self.codes)))


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
  strategies = check_bits(np.stack(
      [bits, np.full(len(bits), math.log2(num_classes))]))
  cumulative = BayesMixture((1.0 - weight, weight)).cumulative_bits(
      strategies)
  return np.diff(cumulative, prepend=0.0)
