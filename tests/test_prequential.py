"""The prequential code: exact uniform block, chain rule, honesty, API; its
experiment (bin/prequential's run) in process; bin/prequential's smoke test."""

import glob
import json
import math
import os

import numpy as np
import pytest

from tfmdl import data
from tfmdl.codes import prequential
from tfmdl.codes.prequential import schedule
from tfmdl import training
from tfmdl.bits import mixtures
from tfmdl.experiments import cli
from tfmdl.experiments import prequential as experiment
from tfmdl.keras_compat import keras3

TINY_TRAIN = training.TrainConfig(batch_size=32, max_epochs=8, patience=3,
                                  learning_rate=3e-3, verbose=0)
TINY = prequential.BlockConfig(train=TINY_TRAIN)


@pytest.fixture(scope="module")
def digits_run(mlp_fn):
  ds = data.load("digits", num_train=400)
  result = prequential.prequential_code(
      mlp_fn(ds, (64,)), ds.x_train, ds.y_train, ds.num_classes,
      learner=TINY, x_test=ds.x_test, y_test=ds.y_test)
  return ds, TINY, result


def test_default_timesteps_double_and_end_at_n():
  assert prequential.default_timesteps(100) == (10, 20, 40, 80, 100)
  assert prequential.default_timesteps(80) == (10, 20, 40, 80)
  assert prequential.default_timesteps(60000)[-3:] == (20480, 40960, 60000)
  assert prequential.default_timesteps(5) == (5,)
  assert prequential.default_timesteps(100, first=8)[:3] == (8, 16, 32)


@pytest.mark.parametrize("steps, message", [
    ((10, 10, 100), "strictly increasing"),
    ((20, 10, 100), "strictly increasing"),
    ((10, 50, 120), "last timestep must be n=100"),
    ((10, 50), "last timestep must be n=100"),
    ((0, 100), "first timestep must be >= 1"),
    ((), "must not be empty"),
    ((10.5, 100), "integers"),
])
def test_bad_schedules_are_refused(steps, message):
  with pytest.raises(ValueError, match=message):
    schedule.check_timesteps(steps, 100)


def test_first_block_costs_exactly_uniform(digits_run):
  _, _, result = digits_run
  first = result.blocks[0]
  assert (first.start, first.end) == (0, 10)
  assert first.bits == 10 * math.log2(10)
  np.testing.assert_array_equal(first.per_sample_bits,
                                np.full(10, math.log2(10)))


def test_chain_rule_total_is_sum_of_blocks_and_of_samples(digits_run):
  ds, _, result = digits_run
  assert result.timesteps == (10, 20, 40, 80, 160, 320, 400)
  assert [b.end for b in result.blocks] == list(result.timesteps)
  assert result.codelength_bits == pytest.approx(
      sum(b.bits for b in result.blocks), rel=1e-12)
  per_sample = result.per_sample_bits()
  assert per_sample.shape == (400,)
  for block in result.blocks:
    np.testing.assert_array_equal(per_sample[block.start:block.end],
                                  block.per_sample_bits)
  assert result.codelength_bits == pytest.approx(per_sample.sum(), rel=1e-9)
  assert result.uniform_bits == pytest.approx(400 * math.log2(10))
  assert result.compression_ratio == pytest.approx(
      result.codelength_bits / result.uniform_bits)
  # Real digits compress: well under the uniform code.
  assert result.compression_ratio < 0.6
  # The test accuracy is the last block's model's (trained on 320 labels).
  assert 0.5 < result.test_accuracy <= 1.0
  assert result.test_accuracy_model == (
      "the last block's model, trained on the first 320 labels")


def test_blocks_record_epoch_bits_and_validation_from_prefix(digits_run):
  _, _, result = digits_run
  for block in result.blocks[1:]:
    assert block.train_size + block.val_size == block.start
    assert block.val_size >= 1
    assert block.epoch_bits.shape == (block.epochs_trained + 1, block.size)
    # The encoding model is the best epoch's: its row, mixed with the
    # uniform code as every block is (uniform_fallback), equals the code.
    np.testing.assert_allclose(
        mixtures.block_uniform_fallback_bits(
            block.epoch_bits[block.best_epoch], block.index, 10),
        block.per_sample_bits, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_the_encoded_block_never_influences_its_model(digits_run, mlp_fn):
  # Scramble the labels of the last block: every earlier block is unchanged,
  # and the last block's training (epochs, stopping) is unchanged too.
  ds, learner, result = digits_run
  last = result.blocks[-1]
  y = np.array(ds.y_train)
  y[last.start:] = (y[last.start:] + 3) % ds.num_classes
  other = prequential.prequential_code(mlp_fn(ds, (64,)), ds.x_train, y,
                                       ds.num_classes, learner=learner)
  for a, b in zip(result.blocks[:-1], other.blocks[:-1]):
    np.testing.assert_array_equal(a.per_sample_bits, b.per_sample_bits)
  assert (other.blocks[-1].epochs_trained, other.blocks[-1].best_epoch) == (
      last.epochs_trained, last.best_epoch)
  assert other.blocks[-1].bits != last.bits


def test_any_subset_of_blocks_gives_those_of_the_whole_run(digits_run,
                                                          mlp_fn):
  # Each block reseeds everything from its own seed: blocks 5 and 3,
  # computed alone by another learner, are bit for bit the run's (how a run
  # resumes and is split into shards).
  ds, learner, result = digits_run
  config = prequential.PrequentialConfig()
  alone = prequential.encode_blocks(
      prequential.make_learner(mlp_fn(ds, (64,)), ds.train, config, learner),
      ds.train, config, indices=[5, 3])
  assert [b.index for b in alone] == [3, 5]
  for block in alone:
    np.testing.assert_array_equal(block.per_sample_bits,
                                  result.blocks[block.index].per_sample_bits)
  whole = prequential.assemble(list(result.blocks[:3]) + [alone[0]] +
                               [result.blocks[4], alone[1], result.blocks[6]],
                               400, 10, result.timesteps)
  assert whole.codelength_bits == result.codelength_bits
  with pytest.raises(ValueError, match=r"block\(s\) \[4\] of 0..6 are missing"):
    prequential.assemble(result.blocks[:4] + result.blocks[5:], 400, 10,
                         result.timesteps)


@pytest.mark.slow
def test_random_labels_are_not_compressible(mlp_fn):
  ds = data.load("digits", num_train=400, random_labels=True)
  result = prequential.prequential_code(
      mlp_fn(ds, (64,)), ds.x_train, ds.y_train, ds.num_classes,
      learner=TINY)
  assert result.codelength_bits >= result.uniform_bits - 10


@pytest.mark.slow
def test_labels_that_are_a_function_of_inputs_compress_far(mlp_fn):
  ds = data.load("synthetic", num_train=1280, input_shape=(4, 4, 1))
  result = prequential.prequential_code(
      mlp_fn(ds, (64,)), ds.x_train, ds.y_train, ds.num_classes,
      learner=TINY)
  assert result.compression_ratio < 0.5


def test_a_plain_keras3_model_works_through_the_public_api():
  ds = data.load("digits", num_train=160)

  def model_fn(seed):
    init = keras3.initializers.GlorotUniform(seed=seed)
    return keras3.Sequential([
        keras3.Input(ds.input_shape), keras3.layers.Flatten(),
        keras3.layers.Dense(32, activation="relu", kernel_initializer=init),
        keras3.layers.Dense(ds.num_classes, kernel_initializer=init)])

  result = prequential.prequential_code(
      model_fn, ds.x_train, ds.y_train, ds.num_classes,
      config=prequential.PrequentialConfig(timesteps=(10, 40, 160)),
      learner=TINY,
      x_test=ds.x_test, y_test=ds.y_test)
  assert [b.end for b in result.blocks] == [10, 40, 160]
  assert result.codelength_bits < result.uniform_bits
  assert result.test_accuracy > 0.3


@pytest.mark.slow
def test_same_seed_same_bits(mlp_fn):
  ds = data.load("digits", num_train=80)
  config = prequential.PrequentialConfig(seed=7)
  a, b = (prequential.prequential_code(mlp_fn(ds, (64,)), ds.x_train,
                                       ds.y_train, ds.num_classes,
                                       config=config, learner=TINY)
          for _ in range(2))
  np.testing.assert_array_equal(a.per_sample_bits(), b.per_sample_bits())


def test_bad_data_is_refused_before_training(mlp_fn):
  ds = data.load("digits", num_train=40)
  y = np.array(ds.y_train)
  y[3] = 10
  with pytest.raises(ValueError, match="label"):
    prequential.prequential_code(mlp_fn(ds, (64,)), ds.x_train, y, 10)


# --- the experiment (bin/prequential's run) ---------------------------------

TINY_ARGS = ["--config.num_train=80",
             "--config.model_options.hidden_sizes=(16,)",
             "--config.train.max_epochs=2", "--config.train.verbose=0"]


def test_experiment_writes_results_blocks_and_tensorboard(
    tmp_path, bin_config, event_tags, capsys):
  workdir = str(tmp_path / "run")
  config = bin_config("prequential", TINY_ARGS)
  experiment.run(config, workdir)
  with open(os.path.join(workdir, "results.json")) as f:
    record = json.load(f)
  assert record["code"] == "prequential" and record["n"] == 80
  assert record["codelength_bits"] == pytest.approx(
      sum(b["bits"] for b in record["blocks"]))
  assert record["config"]["train"]["max_epochs"] == 2
  assert "tensorflow" in record["versions"]
  assert len(glob.glob(os.path.join(workdir, "blocks", "block_*.npz"))) == 4
  tags = event_tags(os.path.join(workdir, "tb"))
  for tag in ("block_bits_per_sample", "cumulative_kbits",
              "compression_ratio", "block_accuracy", "gap_to_uniform_kbits"):
    assert f"prequential/{tag}" in tags
  # Rerunning resumes (nothing left to train) and gives the same number;
  # another config in the same workdir is refused with exit status 2.
  experiment.run(bin_config("prequential", TINY_ARGS), workdir)
  with open(os.path.join(workdir, "results.json")) as f:
    assert json.load(f)["codelength_bits"] == record["codelength_bits"]
  other = bin_config("prequential",
                     TINY_ARGS[:-1] + ["--config.train.max_epochs=3"])
  with pytest.raises(SystemExit) as exit_info:
    cli.run_or_exit(lambda: experiment.run(other, workdir))
  assert exit_info.value.code == 2
  assert "holds another run" in capsys.readouterr().err


def test_usage_errors_exit_2_without_results(tmp_path, bin_config, capsys):
  workdir = str(tmp_path / "bad")
  config = bin_config("prequential", ["--model=nosuchnet"])
  assert config.model == "nosuchnet"
  with pytest.raises(SystemExit) as exit_info:
    cli.run_or_exit(lambda: experiment.run(config, workdir))
  assert exit_info.value.code == 2
  assert "unknown model" in capsys.readouterr().err
  assert not os.path.exists(os.path.join(workdir, "results.json"))
  with pytest.raises(SystemExit) as exit_info:
    bin_config("prequential", ["--dataset=imagenet"])
  assert exit_info.value.code == 2
  assert "no config for dataset" in capsys.readouterr().err


@pytest.mark.slow
def test_bin_prequential_smoke(tmp_path, run_bin):
  """The binary, with its own flag --learner: the online learner's run."""
  workdir = str(tmp_path / "online")
  proc = run_bin("prequential", [
      f"--workdir={workdir}", "--learner=online", "--config.num_train=120",
      "--config.online.batch_size=16",
      "--config.model_options.hidden_sizes=(16,)"], cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert "online learner" in proc.stdout
  assert "kbits" in proc.stdout and "compression ratio" in proc.stdout
  with open(os.path.join(workdir, "results.json")) as f:
    record = json.load(f)
  assert record["code"] == "online" and record["learner"] == "online"
  assert record["config"]["online"]["batch_size"] == 16
