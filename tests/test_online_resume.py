"""Crash resume of the online code: the learner's whole state and the bits
so far saved atomically (tfmdl.codes.prequential.checkpoint), a rerun that
goes on from there with the bits of an uninterrupted run."""

import dataclasses
import json
import os
import random
import signal
import time

import numpy as np
import pytest
import tensorflow as tf

from tfmdl.codes import prequential
from tfmdl.codes.prequential import checkpoint as checkpoint_lib
from tfmdl.codes.prequential import online
from tfmdl.codes.prequential.coders import BitCounter
from tfmdl.data import labelled
from tfmdl.experiments import prequential as prequential_experiment
from tfmdl.keras_compat import keras3


class _Crash(Exception):
  """What the tests raise to stop a run."""


def _code(model_fn, data, learner, folder=None, crash_at_block=None,
          every_units=2):
  """The blocks of the online code of ``data``; with ``folder`` saved there
  every ``every_units`` units and resumed from it, stopped by an exception
  once block ``crash_at_block`` is finished."""
  config = prequential.PrequentialConfig(setting_bits=0.0)
  model = prequential.make_learner(model_fn, data, config, learner)
  checkpoint = (None if folder is None else checkpoint_lib.Checkpoint(
      folder, every_units=every_units))

  def on_block(block):
    if block.index == crash_at_block:
      raise _Crash()

  blocks = prequential.encode_blocks(model, data, config, on_block=on_block,
                                     checkpoint=checkpoint)
  return np.concatenate([b.per_sample_bits for b in blocks]), checkpoint


# Every part of the state: dropout, augmentation, a reservoir, a cosine
# rate, the temperature, the weight average; with two members, or a stream.
_LEARNER = online.OnlineConfig(
    batch_size=8, replay=2, replay_memory=50, augment=True, shift_pixels=1,
    schedule="cosine", steps_per_call=3)


@pytest.mark.parametrize("stream, ensemble, crashes", [
    (True, 1, (3,)),
    pytest.param(False, 2, (3, 5), marks=pytest.mark.slow)])
def test_a_resumed_run_gives_the_bits_of_an_uninterrupted_one(
    tmp_path, digits, mlp_fn, stream, ensemble, crashes):
  ds = (tf.data.Dataset.from_tensor_slices((digits.x_train, digits.y_train))
        if stream else digits.x_train)
  data = labelled.labelled(ds, None if stream else digits.y_train, 10)
  build = mlp_fn(digits, dropout=0.5)
  learner = dataclasses.replace(_LEARNER, ensemble=ensemble)
  whole, _ = _code(build, data, learner)
  folder = str(tmp_path / "online")
  for block in crashes:  # blocks end at samples 20, 40, 80, 160, 200
    with pytest.raises(_Crash):
      _code(build, data, learner, folder, crash_at_block=block)
  # Saves fall at the ends of calls of 3 minibatches: block 3 ended in
  # minibatch 9, after the save at 9; block 5 in the last, 24, after the
  # save at 24.
  with np.load(os.path.join(folder, "state.npz")) as state:
    assert int(state["learner/0/position"]) == {3: 9, 5: 24}[crashes[-1]]
  resumed, checkpoint = _code(build, data, learner, folder)
  np.testing.assert_array_equal(resumed, whole)
  assert checkpoint.saves == {3: 5, 5: 0}[crashes[-1]]


def test_a_keras3_model_with_dropout_resumes_too(tmp_path, digits):
  def build(seed):
    keras3.utils.set_random_seed(seed)
    return keras3.Sequential([
        keras3.Input((8, 8, 1)), keras3.layers.Flatten(),
        keras3.layers.Dense(16, activation="relu"),
        keras3.layers.Dropout(0.5), keras3.layers.Dense(10)])
  data = labelled.labelled(digits.x_train[:96], digits.y_train[:96], 10)
  learner = online.OnlineConfig(batch_size=8, replay=1, steps_per_call=2)
  whole, _ = _code(build, data, learner)
  folder = str(tmp_path / "online")
  with pytest.raises(_Crash):
    _code(build, data, learner, folder, crash_at_block=3)
  resumed, _ = _code(build, data, learner, folder)
  np.testing.assert_array_equal(resumed, whole)


def test_tf_keras_dropout_gets_a_state_that_a_checkpoint_keeps(digits,
                                                              mlp_fn):
  """Without the generator's state the masks after a restore would start
  again from the first ones; with it they go on."""
  learner = online.OnlineLearner(mlp_fn(digits, dropout=0.5),
                                 digits.x_train[:64], 10,
                                 online.OnlineConfig(batch_size=8, replay=0))
  generator = learner._random_state[0]  # the Dropout layer's
  before = generator.numpy().copy()
  learner.advance(digits.y_train[:64], 3)
  assert not np.array_equal(generator.numpy(), before)  # it moved
  state = learner.state()
  learner.advance(digits.y_train[:64], 2)
  later = learner.advance(digits.y_train[:64], 1)
  learner.restore(state)
  learner.advance(digits.y_train[:64], 2)
  np.testing.assert_array_equal(learner.advance(digits.y_train[:64], 1),
                                later)


def test_a_save_waits_for_the_counter_and_falls_due_by_count_or_time(
    tmp_path, digits, mlp_fn):
  data = labelled.labelled(digits.x_train[:64], digits.y_train[:64], 10)
  config = prequential.PrequentialConfig()
  learner = online.OnlineConfig(batch_size=8, replay=0, steps_per_call=3)
  now = [0.0]
  by_time = checkpoint_lib.Checkpoint(str(tmp_path / "t"), every_seconds=10,
                                      clock=lambda: now[0])
  model = prequential.make_learner(mlp_fn(digits), data, config, learner)
  counter = BitCounter(prequential.timesteps_for(64), 10)
  predictions = model.predict(0, data.y, 3)
  for prediction in predictions:
    counter.code(prediction, data.y)
    now[0] += 6.0  # due after the second unit, but the learner is ahead
    saved = by_time.after_unit(model, counter, prediction)
    assert saved == (prediction is predictions[-1])
  assert by_time.saves == 1
  never = checkpoint_lib.Checkpoint(str(tmp_path / "n"))
  by_count = checkpoint_lib.Checkpoint(str(tmp_path / "c"), every_units=6)
  for prediction in model.predict(3, data.y, 3):
    counter.code(prediction, data.y)
    assert not never.after_unit(model, counter, prediction)
    by_count.after_unit(model, counter, prediction)
  assert (never.saves, by_count.saves) == (0, 1)
  assert not os.path.exists(never.path)


def test_a_checkpoint_of_another_learner_is_refused(tmp_path, digits,
                                                    mlp_fn):
  data = labelled.labelled(digits.x_train[:64], digits.y_train[:64], 10)
  folder = str(tmp_path / "online")
  learner = online.OnlineConfig(batch_size=8, replay=1, steps_per_call=2)
  _code(mlp_fn(digits), data, learner, folder)
  with pytest.raises(ValueError, match="another learner's"):
    _code(mlp_fn(digits, hidden=(8,)), data, learner, folder)
  with pytest.raises(ValueError, match="has 1 member.*this ensemble 2"):
    _code(mlp_fn(digits), data, online.OnlineConfig(
        batch_size=8, replay=1, ensemble=2), folder)
  with open(os.path.join(folder, "state.npz"), "wb") as f:
    np.savez(f, format=np.array("something else"))
  with pytest.raises(ValueError, match="is not a tfmdl checkpoint"):
    _code(mlp_fn(digits), data, learner, folder)


def test_the_experiment_resumes_from_its_workdir(tmp_path, bin_config):
  """bin/prequential --learner=online's run stopped by a crash (here in
  the middle of block 4), then rerun into the same workdir."""
  config = bin_config("prequential", [
      "--config.num_train=120", "--config.online.batch_size=8",
      "--config.online.replay=1", "--config.online.steps_per_call=2",
      "--config.online.checkpoint_minibatches=2",
      "--config.model_options.hidden_sizes=(16,)"])
  config.learner = "online"
  whole = prequential_experiment.run(config, str(tmp_path / "whole"))
  workdir = str(tmp_path / "resumed")
  crash = BitCounter.code

  def code(counter, prediction, labels):
    if prediction.start >= 48:
      raise _Crash()
    crash(counter, prediction, labels)

  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(BitCounter, "code", code)
    with pytest.raises(_Crash):
      prequential_experiment.run(config, workdir)
  assert not os.path.exists(os.path.join(workdir, "results.json"))
  with np.load(os.path.join(workdir, "online", "state.npz")) as state:
    assert int(state["learner/0/position"]) == 6  # saved at sample 48
  resumed = prequential_experiment.run(config, workdir)
  np.testing.assert_array_equal(resumed.per_sample_bits(),
                                whole.per_sample_bits())
  assert resumed.codelength_bits == whole.codelength_bits
  assert resumed.test_accuracy == whole.test_accuracy


@pytest.mark.slow
def test_a_run_killed_three_times_gives_the_printed_bits_of_one_run(
    tmp_path, start_bin, run_bin):
  """bin/prequential --learner=online SIGKILLed at three random points of
  its run (once it has saved past a random minibatch, a random moment
  later), rerun each time, then to its end: the same line of bits as an
  uninterrupted run, to the last printed digit, and the same results.json
  codelength and blocks."""
  # Digits' 1437 labels in 719 minibatches, a call each, a save every 8, an
  # MLP with dropout: seconds of coding even on a quiet machine.
  args = ["--learner=online", "--config.online.batch_size=2",
          "--config.online.replay=4", "--config.online.steps_per_call=1",
          "--config.online.checkpoint_minibatches=8",
          "--config.model_options.hidden_sizes=(64,)"]

  def bits_line(stdout):
    line = [l for l in stdout.splitlines() if "kbits" in l][-1]
    return line.split("test accuracy")[0]  # less the wall time

  def saved_position(path):
    try:
      with np.load(path) as saved:
        return int(saved["learner/0/position"])
    except (OSError, KeyError, ValueError):
      return -1  # none yet

  whole_dir = str(tmp_path / "whole")
  whole = run_bin("prequential", args + [f"--workdir={whole_dir}"])
  assert whole.returncode == 0, whole.stderr[-2000:]
  workdir = str(tmp_path / "killed")
  state = os.path.join(workdir, "online", "state.npz")
  rng = random.Random(0)
  targets = sorted(rng.sample(range(40, 680), 3))
  positions = []
  for target in targets:
    process = start_bin("prequential", args + [f"--workdir={workdir}"])
    deadline = time.monotonic() + 300
    while saved_position(state) < target:
      assert process.poll() is None, process.communicate()[1][-2000:]
      assert time.monotonic() < deadline, "no save"
      time.sleep(0.01)
    time.sleep(rng.uniform(0.0, 0.05))
    assert process.poll() is None, "the run ended before it was killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    positions.append(saved_position(state))
  # Each rerun went on from the save before, and got further.
  assert positions == sorted(set(positions)) and positions[-1] < 719
  assert not os.path.exists(os.path.join(workdir, "results.json"))
  resumed = run_bin("prequential", args + [f"--workdir={workdir}"])
  assert resumed.returncode == 0, resumed.stderr[-2000:]
  assert f"at unit {positions[-1]} of 719" in resumed.stderr
  assert bits_line(resumed.stdout).replace(workdir, "") == bits_line(
      whole.stdout).replace(whole_dir, "")
  records = [json.load(open(os.path.join(d, "results.json")))
             for d in (whole_dir, workdir)]
  assert records[0]["codelength_bits"] == records[1]["codelength_bits"]
  assert records[0]["blocks"] == [
      dict(b, wall_s=a["wall_s"]) for a, b in zip(records[0]["blocks"],
                                                   records[1]["blocks"])]
