"""The online code's ensembles: equal-weight averages of E learners."""

import dataclasses

import numpy as np
import pytest

from tfmdl import data
from tfmdl import models
from tfmdl import online


@pytest.fixture(scope="module")
def digits():
  return data.load("digits", num_train=96)


def _mlp(ds):
  return lambda seed: models.build("mlp", ds.input_shape, ds.num_classes,
                                   seed=seed, hidden_sizes=(16,))


def test_an_ensemble_averages_its_members_probabilities(digits):
  """E=2 codes each label with (p_seed0 + p_seed1) / 2: its per-sample bits
  are -log2 of the mean of 2^-bits of the two single runs (minibatch 0 is
  uniform for all, the setting's price is paid once)."""
  config = online.OnlineConfig(batch_size=16, replay=2, learning_rate=1e-2,
                               setting_bits=3.0)
  x, y = digits.x_train, digits.y_train
  singles = [online.online_code(_mlp(digits), x, y, 10,
                                config=dataclasses.replace(config, seed=s))
             for s in (0, 1)]
  pair = online.online_code(_mlp(digits), x, y, 10,
                            config=dataclasses.replace(config, ensemble=2))
  bits = np.stack([r.per_sample_bits() for r in singles])
  bits[:, 0] -= 3.0
  expected = -np.log2(np.mean(2.0**-bits, axis=0))
  expected[0] += 3.0
  np.testing.assert_allclose(pair.per_sample_bits(), expected, rtol=1e-5)
  # Averaging probabilities beats the average member (Jensen), strictly here.
  assert pair.codelength_bits < np.mean([r.codelength_bits for r in singles])
  assert online.code.member_seeds(
      dataclasses.replace(config, ensemble=3, seed=5)) == (5, 6, 7)


def test_ensemble_size_must_be_positive():
  with pytest.raises(ValueError, match="ensemble must be >= 1"):
    online.OnlineConfig(ensemble=0)
