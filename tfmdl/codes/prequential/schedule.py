"""The blocks of a prequential code: timesteps, block bounds, block seeds.

Alice and Bob agree on timesteps ``t_1 < t_2 < ... < t_S = n``. Block 0 is
``[0, t_1)``, block k is ``[t_k, t_{k+1})``. Every learner's bits are summed
(and mixed with the uniform code) in these blocks, so that runs of different
learners on the same data order can be compared and switched between.
"""

from typing import Optional, Sequence

import numpy as np


def default_timesteps(n: int, first: int = 10) -> tuple:
  """The paper's schedule: ``first, 2*first, 4*first, ...`` below n, then n.

  >>> default_timesteps(100)
  (10, 20, 40, 80, 100)
  """
  if n < 1:
    raise ValueError(f"need at least one sample, got n={n}")
  if first < 1:
    raise ValueError(f"the first block needs at least one sample, got {first}")
  steps = []
  t = first
  while t < n:
    steps.append(t)
    t *= 2
  steps.append(n)
  return tuple(steps)


def fraction_timesteps(fractions: Sequence[float], n: int) -> tuple:
  """Timesteps given as fractions of n: ``max(1, round(f * n))`` each.

  Voita & Titov (2020) give the blocks of their online code as shares of the
  data (0.1%, 0.2%, 0.4%, ..., 50%, 100%), so one schedule serves data sets
  of every size. Fractions that round to the same count are merged (a small
  n has fewer blocks); Bob, knowing n, computes the same timesteps.

  >>> fraction_timesteps((0.001, 0.002, 0.004, 0.5, 1.0), 1000)
  (1, 2, 4, 500, 1000)

  Raises:
    ValueError: unless the fractions are strictly increasing in (0, 1] and
      end with 1.
  """
  fractions = tuple(float(f) for f in fractions)
  if not fractions or fractions[-1] != 1.0:
    raise ValueError(f"fractions of n must end with 1.0 (all labels sent), "
                     f"got {list(fractions)}")
  if fractions[0] <= 0 or any(b <= a for a, b in zip(fractions,
                                                      fractions[1:])):
    raise ValueError(f"fractions of n must be strictly increasing in (0, 1], "
                     f"got {list(fractions)}")
  return tuple(sorted({max(1, round(f * n)) for f in fractions}))


def _are_fractions(timesteps: Sequence) -> bool:
  """Whether a schedule is given as fractions of n: floats in [0, 1]."""
  return (bool(timesteps) and
          all(isinstance(t, (float, np.floating)) and 0 <= t <= 1
              for t in timesteps))


def check_timesteps(timesteps: Sequence, n: int) -> tuple:
  """Validate a custom schedule: strictly increasing integers in [1, n].

  The last timestep must be ``n`` (every label is sent); a schedule ending
  early is refused rather than silently extended. A schedule of floats in
  [0, 1] gives fractions of n instead (:func:`fraction_timesteps`).
  """
  if _are_fractions(timesteps):
    return fraction_timesteps(timesteps, n)
  steps = tuple(int(t) for t in timesteps)
  if any(t != s for t, s in zip(timesteps, steps)):
    raise ValueError(f"timesteps must be integers, got {list(timesteps)}")
  if not steps:
    raise ValueError("timesteps must not be empty")
  if steps[0] < 1:
    raise ValueError(f"the first timestep must be >= 1, got {steps[0]}")
  if any(b <= a for a, b in zip(steps, steps[1:])):
    raise ValueError(f"timesteps must be strictly increasing, got {steps}")
  if steps[-1] != n:
    raise ValueError(
        f"the last timestep must be n={n} (all labels sent), got {steps[-1]}")
  return steps


def timesteps_for(n: int, timesteps: Optional[Sequence] = None,
                  first_block: int = 10) -> tuple:
  """The agreed timesteps for ``n`` samples: ``timesteps``, checked, or
  :func:`default_timesteps` with ``first_block`` when None."""
  return (default_timesteps(n, first_block) if timesteps is None
          else check_timesteps(timesteps, n))


def block_bounds(timesteps: Sequence[int]) -> tuple:
  """``((0, t_1), (t_1, t_2), ...)``: block ``k`` covers ``[start, end)``.

  >>> block_bounds((10, 20, 35))
  ((0, 10), (10, 20), (20, 35))
  """
  timesteps = tuple(int(t) for t in timesteps)
  return tuple(zip((0,) + timesteps[:-1], timesteps))


def block_starts(timesteps: Sequence[int]) -> np.ndarray:
  """The first sample of every block, ``(0, t_1, ..., t_{S-1})``: the
  offsets ``np.add.reduceat`` sums per-sample bits into blocks with."""
  return np.asarray((0,) + tuple(int(t) for t in timesteps)[:-1])


def block_seed(seed: int, index: int) -> int:
  """The agreed seed of block ``index`` (a fixed function of the base seed)."""
  return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def split_prefix(prefix_size: int, val_fraction: float) -> int:
  """Number of prefix samples used for training; the rest validate."""
  if prefix_size < 2 or val_fraction == 0.0:
    return prefix_size
  val = max(1, int(round(val_fraction * prefix_size)))
  return prefix_size - val
