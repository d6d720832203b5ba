"""The online code's recipes: ensembles, replay streams with augmentation,
and the recipe configs of configs/shortest_fashion_mnist.py."""

import dataclasses
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from tfmdl import data
from tfmdl import ledger
from tfmdl import models
from tfmdl.codes import prequential
from tfmdl.codes.prequential.online import ensemble
from tfmdl.experiments import config as config_lib
from tfmdl.experiments import prequential as prequential_experiment

RECIPES = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "configs", "shortest_fashion_mnist.py")


@pytest.fixture(scope="module")
def digits():
  return data.load("digits", num_train=96)


def _mlp(ds):
  return lambda seed: models.build("mlp", ds.input_shape, ds.num_classes,
                                   seed=seed, hidden_sizes=(16,))


@pytest.mark.slow
def test_an_ensemble_averages_its_members_probabilities(digits):
  """E=2 codes each label with (p_seed0 + p_seed1) / 2: its per-sample bits
  are -log2 of the mean of 2^-bits of the two single runs (minibatch 0 is
  uniform for all, the setting's price is paid once)."""
  learner = prequential.OnlineConfig(batch_size=16, replay=2,
                                     learning_rate=1e-2)
  config = prequential.PrequentialConfig(uniform_fallback=False,
                                         setting_bits=3.0)
  x, y = digits.x_train, digits.y_train
  singles = [prequential.prequential_code(
      _mlp(digits), x, y, 10, learner=learner,
      config=dataclasses.replace(config, seed=s)) for s in (0, 1)]
  pair = prequential.prequential_code(
      _mlp(digits), x, y, 10, config=config,
      learner=dataclasses.replace(learner, ensemble=2))
  bits = np.stack([r.per_sample_bits() for r in singles])
  expected = -np.log2(np.mean(2.0**-bits, axis=0))
  np.testing.assert_allclose(pair.per_sample_bits(), expected, rtol=1e-5)
  # The setting's price is paid once, before the first label.
  assert pair.codelength_bits == pytest.approx(expected.sum() + 3.0)
  # Averaging probabilities beats the average member (Jensen), strictly here.
  assert pair.codelength_bits < np.mean([r.codelength_bits for r in singles])
  assert ensemble.member_seeds(5, 3) == (5, 6, 7)


def test_ensemble_size_must_be_positive():
  with pytest.raises(ValueError, match="ensemble must be >= 1"):
    prequential.OnlineConfig(ensemble=0)


@pytest.mark.slow
def test_same_seed_same_bits_with_streams_augmentation_and_schedule(digits):
  """Everything random in the richer protocol comes from the seed: two runs
  agree bit for bit, another seed differs."""
  build = lambda seed: models.build("tinycnn", digits.input_shape, 10,
                                    seed=seed, dropout=0.0)
  learner = prequential.OnlineConfig(
      batch_size=16, replay=2, replay_kind="streams", augment=True,
      shift_pixels=1, schedule="cosine", warmup=2, learning_rate=2e-3)
  x, y = digits.x_train[:64], digits.y_train[:64]
  runs = [prequential.prequential_code(
      build, x, y, 10, learner=learner,
      config=prequential.PrequentialConfig(seed=seed)).per_sample_bits()
          for seed in (0, 0, 1)]
  np.testing.assert_array_equal(runs[0], runs[1])
  assert not np.array_equal(runs[0][16:], runs[2][16:])


def _recipes():
  spec = importlib.util.spec_from_file_location("recipes", RECIPES)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.mark.parametrize("recipe", ["mlp_fast", "mlp", "tinycnn",
                                    "tinycnn_ensemble", "switch_fast",
                                    "tinycnn_ensemble_tta"])
def test_recipes_are_online_codes_priced_by_the_ledger(recipe):
  module = _recipes()
  config = module.get_config(recipe)
  learner = prequential_experiment.learner_config(config)
  members = (learner.members if config.learner == "switch" else (learner,))
  assert all(isinstance(m, prequential.OnlineConfig) for m in members)
  assert config.learner in ("online", "switch")
  assert config.dataset == "fashion_mnist"
  assert config.prequential.setting_bits is None  # what the ledger counts
  assert config.prequential.uniform_fallback
  if config.learner == "online":
    assert config.model_options.dropout == 0.0
  assert set(module.RECIPES) == {
      "mlp_fast", "mlp", "tinycnn", "tinycnn_ensemble", "switch_fast",
      "tinycnn_ensemble_tta"}


@pytest.mark.slow  # reads the git history and Fashion-MNIST: ~10 s
def test_the_recipes_pay_for_every_setting_the_repository_records(repo,
                                                                  tmp_path):
  """saved_results/ledger_history.py puts the settings run on Fashion-MNIST's
  training labels before the ledger existed into the ledger: the online
  grid of round 1 (16), its ablation, the listed checks and the ablation of
  round 2. A recipe run after them pays log2 of their count and its own."""
  book = ledger.Ledger(str(tmp_path / "ledger.jsonl"))
  script = os.path.join(repo, "saved_results", "ledger_history.py")
  env = dict(os.environ, PYTHONPATH=repo)
  subprocess.run([sys.executable, script, f"--ledger={book.path}"],
                 check=True, capture_output=True, env=env)
  grid = [e for e in book.entries() if "online_vs_block.py GRID" in e.source]
  assert len(grid) == 16 and len({e.setting for e in grid}) == 16
  settings = book.settings(grid[0].labels, "online", "mlp")
  assert len(settings) >= 16 + 8
  recipe = config_lib.ledger_setting(_recipes().get_config("mlp"), "online")
  assert ledger.setting_digest(recipe) in settings  # it was run, and counts
  # Run again, nothing is appended twice.
  before = len(book.entries())
  subprocess.run([sys.executable, script, f"--ledger={book.path}"],
                 check=True, capture_output=True, env=env)
  assert len(book.entries()) == before


def test_unknown_recipe_is_refused():
  with pytest.raises(ValueError, match="unknown recipe 'vgg'; known: "):
    _recipes().get_config("vgg")
