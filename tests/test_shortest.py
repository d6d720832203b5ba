"""The shortest code: the Bayes mixture of block, online, their switch and
uniform (tfmdl/codes/shortest)."""

import json
import math
import os

import numpy as np
import pytest

import tfmdl
from tfmdl import data
from tfmdl import ledger
from tfmdl.codes import prequential
from tfmdl.codes import shortest
from tfmdl.codes import switch
from tfmdl.codes.prequential import results as results_lib
from tfmdl.experiments import prequential as prequential_experiment

LOG2_10 = math.log2(10)


def test_mixture_arithmetic_by_hand():
  # -log2(1/4 (2**-3 + 2**-3 + 2**-4 + 2**-5)) = -log2(11/128) = 7 - log2 11.
  assert shortest.mixture_bits({"a": 3, "b": 3, "c": 4, "d": 5}) == (
      pytest.approx(7 - math.log2(11), abs=1e-12))
  # Equal members: the mixture is any of them; one far ahead: log2 4 above.
  assert shortest.mixture_bits({"a": 10, "b": 10}) == pytest.approx(10)
  assert shortest.mixture_bits(
      {"a": 100, "b": 900, "c": 900, "d": 900}) == pytest.approx(102)


def _result(learner, per_sample, timesteps=(2, 4, 8), setting_bits=0.0):
  """A PrequentialResult whose blocks hold ``per_sample`` bits."""
  bounds = prequential.block_bounds(timesteps)
  blocks = [results_lib.BlockResult(
      index=k, start=s, end=e, bits=float(np.sum(per_sample[s:e])),
      accuracy=0.5, epochs_trained=0, best_epoch=0, train_size=0,
      val_size=0, seed=0, wall_s=1.0,
      per_sample_bits=np.asarray(per_sample[s:e], np.float64))
            for k, (s, e) in enumerate(bounds)]
  return prequential.assemble(blocks, timesteps[-1], 10, timesteps,
                              learner=learner, setting_bits=setting_bits,
                              test_accuracy=0.5 if learner == "block" else .6)


def test_combine_mixes_the_four_members():
  """Block (with 2 setting bits) and online given per label; the switch is
  the switch code of both and uniform, paying both learners' setting bits;
  the result is the Bayes mixture of the four totals."""
  block = _result("block", [LOG2_10] * 2 + [1.0] * 6, setting_bits=2.0)
  online = _result("online", [LOG2_10] * 2 + [3.0, 2.0] + [0.5] * 4)
  result = shortest.combine(block, online)
  assert tuple(result.members) == shortest.MEMBERS
  assert result.members["block"] == pytest.approx(2 * LOG2_10 + 6 + 2)
  assert result.members["online"] == pytest.approx(2 * LOG2_10 + 7)
  assert result.members["uniform"] == pytest.approx(8 * LOG2_10)
  matrix = np.stack([block.per_sample_bits(), online.per_sample_bits(),
                     np.full(8, LOG2_10)])
  expected_switch = switch.switch_code(
      ("block", "online", "uniform"), matrix, (2, 4, 8), 10).methods[
          "mixture"].bits + 2.0
  assert result.members["switch"] == pytest.approx(expected_switch)
  assert result.mixture_bits == pytest.approx(
      -math.log2(sum(2.0**-b for b in result.members.values()) / 4))
  assert result.codelength_bits == result.mixture_bits  # no setting paid
  assert result.shortest_member in ("online", "switch")
  assert 0 < result.choice_bits <= 2.0
  assert result.test_accuracy == 0.6  # the online learner's: it is shorter
  assert result.to_json()["members"] == result.members


def test_combine_refuses_results_of_other_labels():
  block = _result("block", [1.0] * 8)
  with pytest.raises(ValueError, match="need a block and an online result"):
    shortest.combine(block, block)
  other = _result("online", [1.0] * 8, timesteps=(4, 8))
  with pytest.raises(ValueError, match="differ in timesteps"):
    shortest.combine(block, other)


@pytest.fixture(scope="module")
def tiny():
  return data.load("digits", num_train=160)


def _keras_model(ds):
  import keras  # pylint: disable=g-import-not-at-top
  return keras.Sequential([
      keras.Input(ds.input_shape), keras.layers.Flatten(),
      keras.layers.Dense(16, activation="relu"),
      keras.layers.Dense(10, activation="softmax")])


@pytest.mark.slow
def test_random_labels_cost_at_least_uniform(tiny):
  """Nothing to learn: the mixture cannot beat the uniform code it holds."""
  y = np.random.default_rng(0).integers(0, 10, len(tiny.y_train))
  result = tfmdl.description_length(_keras_model(tiny), tiny.x_train, y,
                                    code="shortest", max_epochs=3,
                                    online={"batch_size": 16})
  assert result.codelength_bits >= result.uniform_bits
  assert result.members["uniform"] == result.uniform_bits


@pytest.mark.slow
def test_the_api_runs_the_set_and_records_it(tiny):
  result = tfmdl.description_length(
      _keras_model(tiny), tiny.x_train, tiny.y_train, code="shortest",
      max_epochs=3, online={"batch_size": 16})
  assert result.codelength_bits <= min(result.members.values()) + 2.0
  assert result.codelength_bits < result.uniform_bits
  codes = [e.code for e in ledger.Ledger().entries()]
  assert codes == ["prequential", "online", "shortest"]
  assert result.data_fingerprint is not None


def test_the_api_takes_a_list_of_models_for_the_online_switch_only(tiny):
  model = _keras_model(tiny)
  with pytest.raises(ValueError, match="takes a list of models"):
    tfmdl.description_length(model, tiny.x_train, tiny.y_train,
                             code="online_switch")
  with pytest.raises(ValueError, match="every other code one model"):
    tfmdl.description_length([model, model], tiny.x_train, tiny.y_train,
                             code="shortest")


@pytest.mark.slow
def test_the_experiment_runs_both_learners_then_the_mixture(tmp_path):
  """bin/prequential --learner=shortest, in process."""
  config = prequential_experiment.default_config("digits", "mlp",
                                                 learner="shortest")
  config.num_train = 120
  config.train.max_epochs = 2
  config.model_options.hidden_sizes = (16,)
  config.online.batch_size = 16
  workdir = str(tmp_path / "shortest")
  result = prequential_experiment.run(config, workdir)
  with open(os.path.join(workdir, "results.json")) as f:
    record = json.load(f)
  assert record["code"] == "shortest"
  assert record["codelength_bits"] == pytest.approx(result.codelength_bits)
  dropout = {}
  for learner in ("block", "online"):
    with open(os.path.join(workdir, learner, "results.json")) as f:
      member = json.load(f)
    assert member["codelength_bits"] == pytest.approx(
        record["members"][learner])
    dropout[learner] = member["config"]["model_options"]["dropout"]
    assert member["config"]["online"]["batch_size"] == 16
  # The online member runs without the paper's dropout, the block one with.
  assert dropout == {"block": 0.5, "online": 0.0}
  assert record["online"]["n"] == record["block"]["n"] == 120
