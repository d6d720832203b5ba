"""The online switch: online learners of several models in one pass, every
label coded with a switching mixture over them (online/ensemble.py)."""

import json
import math
import os

import numpy as np
import pytest

from tfmdl import ledger
from tfmdl.bits import mixtures
from tfmdl.codes import prequential
from tfmdl.codes.prequential import code as prequential_code
from tfmdl.codes.prequential import coders
from tfmdl.codes.prequential import protocol
from tfmdl.data import labelled
from tfmdl.experiments import prequential as prequential_experiment

LOG2_10 = math.log2(10)
_MEMBER = prequential.OnlineConfig(batch_size=16, replay=2,
                                   learning_rate=1e-2)


@pytest.fixture(scope="module")
def models_(digits, mlp_fn):
  """A small MLP (8 hidden units) and a larger one (64)."""
  return [mlp_fn(digits, hidden=(8,)), mlp_fn(digits, hidden=(64,))]


@pytest.fixture(scope="module")
def runs(digits, models_):
  """``(switch, [member alone, ...])`` without the uniform fallback."""
  config = prequential.PrequentialConfig(uniform_fallback=False)
  x, y = digits.x_train, digits.y_train
  switched = prequential.prequential_code(
      models_, x, y, 10, config=config,
      learner=prequential.OnlineSwitch((_MEMBER, _MEMBER)),
      x_test=digits.x_test, y_test=digits.y_test)
  alone = [prequential.prequential_code(m, x, y, 10, config=config,
                                        learner=_MEMBER) for m in models_]
  return switched, alone


def test_each_label_is_coded_by_fixed_share_over_the_members(runs):
  """Minibatch 0 is uniform; every later label costs fixed share's bits
  over the members' own bits, which are those of each member run alone
  (the members do not interact), and over their average, whose probability
  of a label is the mean of theirs."""
  switched, alone = runs
  members = np.stack([r.per_sample_bits() for r in alone])
  names = switched.strategies["names"]
  assert switched.learner == "switch" and len(names) == 3
  assert names[-1] == "average"
  for name, single in zip(names, alone):
    assert switched.strategies["codelength_bits"][name] == pytest.approx(
        single.codelength_bits, rel=1e-12)
  strategies = np.concatenate(
      [members, -np.log2(np.mean(2.0**-members, axis=0))[None]])
  assert switched.strategies["codelength_bits"]["average"] == pytest.approx(
      strategies[-1].sum(), rel=1e-6)
  bits = switched.per_sample_bits()
  np.testing.assert_allclose(bits[:16], LOG2_10)
  expected = np.diff(
      mixtures.FixedShare().cumulative_bits(strategies[:, 16:]), prepend=0.0)
  np.testing.assert_allclose(bits[16:], expected, rtol=1e-6, atol=1e-9)
  # Within the fixed-share grid's overhead of the best strategy.
  overhead = mixtures.FixedShare().overhead_bits(3, len(bits) - 16)
  assert switched.codelength_bits <= strategies.sum(1).min() + overhead
  assert switched.test_accuracy > 0.5


def test_the_shares_are_the_mixture_weights_of_each_block(runs):
  switched, _ = runs
  shares = np.array(list(switched.strategies["block_shares"].values()))
  assert shares.shape == (3, len(switched.timesteps))
  np.testing.assert_allclose(shares.sum(0), 1.0)
  np.testing.assert_allclose(shares[:, 0], 1 / 3)  # the prior, minibatch 0
  record = switched.to_json()["strategies"]
  assert record["names"] == switched.strategies["names"]


@pytest.mark.parametrize("mixture", [
    "fixed_share",
    pytest.param("switch_distribution", marks=pytest.mark.slow)])
def test_bob_decodes_the_switch_label_by_label(digits, models_, mixture):
  """Alice range-codes with her run (many minibatches per call); Bob runs
  the learners one minibatch at a time and updates the mixture's weights
  with each label he decodes: he recovers every label."""
  x, y = digits.x_train[:120], digits.y_train[:120].astype(np.int64)
  config = prequential.PrequentialConfig()  # with the uniform fallback
  learner = prequential.OnlineSwitch(
      (_MEMBER, _MEMBER), prequential.SwitchConfig(mixture=mixture))
  timesteps = prequential.timesteps_for(len(y), None, config.first_block)

  def replay(labels, make_coders, lookahead):
    data = labelled.labelled(x, labels, 10)
    used = make_coders()
    protocol.run(prequential_code.make_learner(models_, data, config,
                                               learner), used, labels,
                 lookahead=lookahead)
    return used

  counter, encoder = replay(y, lambda: [
      coders.BitCounter(timesteps, 10),
      coders.RangeEncoding(timesteps, 10, True)], True)
  decoded = np.zeros_like(y)
  replay(decoded, lambda: [coders.RangeDecoding(encoder.payload(), timesteps,
                                                10, True)], False)
  np.testing.assert_array_equal(decoded, y)
  assert encoder.quantized_bits == pytest.approx(counter.float_bits(),
                                                 rel=1e-3)


def test_bad_switches_are_refused(digits, models_):
  x, y = digits.x_train[:40], digits.y_train[:40]
  with pytest.raises(ValueError, match="share one batch_size, got"):
    prequential.OnlineSwitch((_MEMBER, prequential.OnlineConfig()))
  with pytest.raises(ValueError, match="one OnlineConfig per model"):
    prequential.OnlineSwitch(())
  with pytest.raises(ValueError, match="unknown mixture 'best'; known"):
    prequential.SwitchConfig(mixture="best")
  with pytest.raises(ValueError, match="alpha must be in"):
    prequential.SwitchConfig(alphas=(1.5,))
  with pytest.raises(ValueError, match="one model per member: 2 members, "
                     "1 model"):
    prequential.prequential_code(
        models_[0], x, y, 10,
        learner=prequential.OnlineSwitch((_MEMBER, _MEMBER)))


@pytest.mark.slow
def test_the_experiment_names_its_learners_and_writes_their_shares(
    tmp_path, tb_events):
  """bin/prequential --model=mlp+lenet --learner=switch, in process."""
  config = prequential_experiment.default_config("digits", "mlp+lenet",
                                                 learner="switch")
  config.num_train = 96
  workdir = str(tmp_path / "switch")
  result = prequential_experiment.run(config, workdir)
  with open(os.path.join(workdir, "results.json")) as f:
    record = json.load(f)
  assert record["code"] == "online_switch" and record["model"] == "mlp+lenet"
  assert record["strategies"]["names"] == ["mlp", "lenet", "average"]
  assert record["codelength_bits"] == pytest.approx(result.codelength_bits)
  shares = [e for e in tb_events(os.path.join(workdir, "tb"))
            if e.tag.startswith("online_switch/share_")]
  assert {e.tag for e in shares} == {
      "online_switch/share_mlp", "online_switch/share_lenet",
      "online_switch/share_average"}
  assert sorted({e.step for e in shares}) == list(result.timesteps)
  # The ledger counts it under its learners, with the members' settings.
  entry = ledger.Ledger().entries()[-1]
  assert (entry.code, entry.model) == ("online_switch", "mlp+lenet")
  assert len(entry.settings["switch"]["members"]) == 2


@pytest.mark.slow
def test_the_api_switches_between_a_user_s_keras_models(digits):
  import keras  # pylint: disable=g-import-not-at-top
  import tfmdl  # pylint: disable=g-import-not-at-top

  def model(width, name):
    return keras.Sequential([
        keras.Input(digits.input_shape), keras.layers.Flatten(),
        keras.layers.Dense(width, activation="relu"),
        keras.layers.Dense(10, activation="softmax")], name=name)

  result = tfmdl.description_length(
      [model(4, "small"), model(64, "large")], digits.x_train,
      digits.y_train, code="online_switch", batch_size=16,
      switch={"mixture": "switch_distribution"})
  assert result.learner == "switch"
  assert result.strategies["names"] == ["small", "large", "average"]
  own = result.strategies["codelength_bits"]
  overhead = mixtures.SwitchDistribution().overhead_bits(3, 200)
  assert result.codelength_bits <= min(own.values()) + overhead
