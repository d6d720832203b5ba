"""keras-tuner oracles whose whole state survives a reload.

keras-tuner saves an oracle's state (trials, seeds, brackets) after every
trial and reloads it when a search resumes (``overwrite=False``). Its
Bayesian oracle leaves out one piece: the NumPy generator that draws the
starting points of each acquisition optimisation, rebuilt from the seed on
reload. A resumed Bayesian search would then propose, from its second
model-based trial on, other hyperparameters than the uninterrupted search.
:class:`ResumableBayesianOracle` saves that generator's state with the rest.
"""

import keras_tuner
import numpy as np

_STATE = "tfmdl_random_state"


class ResumableBayesianOracle(keras_tuner.oracles.BayesianOptimizationOracle):
  """keras-tuner's Bayesian oracle, its generator saved and reloaded."""

  def get_state(self) -> dict:
    state = super().get_state()
    name, keys, position, has_gauss, cached = self._random_state.get_state()
    state[_STATE] = [name, keys.tolist(), int(position), int(has_gauss),
                     float(cached)]
    return state

  def set_state(self, state: dict) -> None:
    super().set_state(state)
    if _STATE in state:  # absent from a state saved by keras-tuner's own
      name, keys, position, has_gauss, cached = state[_STATE]
      self._random_state.set_state(
          (name, np.asarray(keys, np.uint32), position, has_gauss, cached))
