"""The run ledger (tfmdl/ledger.py): every run counted, every choice paid.

Each test runs with an empty ledger of its own (tests/conftest.py).
"""

import json
import math
import os

import numpy as np
import pytest

import tfmdl
from tfmdl import ledger
from tfmdl.codes import prequential

LABELS = ledger.labels_fingerprint(np.arange(10) % 3)


def _entry(settings, labels=LABELS, code="online", model="mlp", bits=100.0):
  return ledger.Entry(labels=labels, code=code, model=model,
                      settings=settings, codelength_bits=bits)


def test_each_new_setting_pays_log2_of_the_settings_run_so_far():
  book = ledger.Ledger()
  paid = [book.record(_entry({"lr": lr})) for lr in (1e-3, 3e-3, 1e-2)]
  assert paid == [0.0, 1.0, math.log2(3)]
  # The same setting again is no new choice; others count apart.
  assert book.record(_entry({"lr": 3e-3})) == math.log2(3)
  assert book.record(_entry({"lr": 3e-3}, labels="other")) == 0.0
  assert book.record(_entry({"lr": 1e-2}, code="prequential")) == 0.0
  assert book.record(_entry({"lr": 1e-2}, model="lenet")) == 0.0
  assert book.count(LABELS, "online", "mlp") == 3
  # A price fixed by the caller is paid as fixed (bin/report checks it).
  assert book.record(_entry({"lr": 0.1}), pays=0.5) == 0.5
  assert book.count(LABELS, "online", "mlp") == 4


def test_every_line_says_what_ran_when_on_which_labels(tmp_path):
  book = ledger.Ledger(str(tmp_path / "ledger.jsonl"))
  book.record(ledger.Entry(labels=LABELS, code="online", model="mlp",
                           settings={"b": [1, 2]}, codelength_bits=12.5,
                           split="test", source="a test"))
  with open(book.path) as f:
    lines = [json.loads(line) for line in f]
  assert len(lines) == 1
  line = lines[0]
  assert line["setting"] == ledger.setting_digest({"b": [1, 2]})
  assert (line["labels"], line["code"], line["model"], line["split"],
          line["source"], line["codelength_bits"], line["setting_bits"]) == (
              LABELS, "online", "mlp", "test", "a test", 12.5, 0.0)
  from tfmdl import results
  assert line["code_version"] == results.code_version()["source_sha256"]
  assert line["time"].endswith("+00:00")
  assert book.entries()[0].settings == {"b": [1, 2]}


def test_the_ledger_is_the_environment_s_or_the_home_s(monkeypatch, tmp_path):
  monkeypatch.setenv(ledger.ENV, str(tmp_path / "mine.jsonl"))
  assert ledger.Ledger().path == str(tmp_path / "mine.jsonl")
  monkeypatch.delenv(ledger.ENV)
  monkeypatch.setenv("HOME", str(tmp_path))
  assert ledger.Ledger().path == str(tmp_path / ".tfmdl" / "ledger.jsonl")


def test_labels_fingerprint_is_of_labels_and_order_only():
  y = np.array([3, 1, 2, 2])
  assert ledger.labels_fingerprint(y) == ledger.labels_fingerprint(
      y.astype(np.uint8))
  assert ledger.labels_fingerprint(y) != ledger.labels_fingerprint(y[::-1])
  assert ledger.labels_fingerprint(y) != ledger.labels_fingerprint(y[:3])


def test_a_setting_is_what_changes_a_probability():
  plain = ledger.changing_fields(prequential.BlockConfig())
  other = ledger.changing_fields(prequential.BlockConfig(
      record_epoch_bits=False, final_model=True))
  assert plain == other  # recorded curves, test model: no bit changes
  assert "record_epoch_bits" not in plain and plain["train"]["max_epochs"]
  assert "verbose" not in plain["train"]
  assert "setting_bits" not in ledger.changing_fields(
      prequential.PrequentialConfig(setting_bits=2.0))


def test_a_field_added_since_keeps_the_setting_at_its_default():
  """online.replay_memory and online.tta_shifts came after runs were
  counted: at their defaults (every sent sample replayed, no test-time
  augmentation: the code those runs ran) a setting is the same as before
  they existed; any other value is another setting. The checkpoint
  intervals change no bit at all."""
  plain = ledger.changing_fields(prequential.OnlineConfig())
  assert "replay_memory" not in plain and "tta_shifts" not in plain
  assert "replay" in plain
  assert "checkpoint_seconds" not in plain
  assert plain == ledger.changing_fields(prequential.OnlineConfig(
      replay_memory=None, checkpoint_seconds=5.0, checkpoint_minibatches=3))
  bounded = ledger.changing_fields(prequential.OnlineConfig(
      replay_memory=4096))
  assert bounded == dict(plain, replay_memory=4096)
  assert ledger.changing_fields(prequential.OnlineConfig(
      tta_shifts=1)) == dict(plain, tta_shifts=1)


def _digits():
  from tfmdl import data  # pylint: disable=g-import-not-at-top
  return data.load("digits", num_train=96)


def _mlp(seed):
  import keras  # pylint: disable=g-import-not-at-top
  keras.utils.set_random_seed(seed)
  return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                           keras.layers.Dense(10)])


def test_three_settings_on_the_same_labels_and_one_on_others():
  """The issue's test: the third setting run on the same labels pays
  log2 3 bits; the same settings on other labels pay nothing."""
  ds = _digits()
  run = lambda y, lr: tfmdl.description_length(
      _mlp, ds.x_train, y, code="online", batch_size=16, replay=1,
      learning_rate=lr)
  first, second, third = (run(ds.y_train, lr) for lr in (1e-3, 3e-3, 1e-2))
  assert [r.setting_bits for r in (first, second, third)] == [
      0.0, 1.0, math.log2(3)]
  assert third.codelength_bits == pytest.approx(
      third.per_sample_bits().sum() + math.log2(3), rel=1e-12)
  # The third setting, first on other labels: nothing run there yet.
  assert run((ds.y_train + 1) % 10, 1e-2).setting_bits == 0.0
  # On the first labels, a rerun of the first setting pays for all three.
  assert run(ds.y_train, 1e-3).setting_bits == pytest.approx(math.log2(3))
  assert ledger.Ledger().count(ledger.labels_fingerprint(ds.y_train),
                               "online", "_mlp") == 3


def test_every_code_records_its_runs_and_pays_from_the_ledger():
  ds = _digits()
  for code in ("prequential", "two_part_float32", "variational"):
    options = dict(max_epochs=1) if code != "variational" else dict(
        max_epochs=1, prior_stddevs=(0.1,), num_samples=1)
    if code == "prequential":
      options["timesteps"] = (10, 96)
    for seed in (0, 1):
      result = tfmdl.description_length(_mlp, ds.x_train, ds.y_train,
                                        code=code, seed=seed, **options)
      assert result.setting_bits == float(seed), code
  codes = [e.code for e in ledger.Ledger().entries()]
  assert codes == ["prequential"] * 2 + ["two_part_float32"] * 2 + [
      "variational"] * 2
  assert os.path.exists(ledger.default_path())


@pytest.mark.slow  # four small runs of the binaries' experiments: ~10 s
def test_an_experiment_s_ledger_line_is_its_config_s_setting(tmp_path,
                                                             bin_config):
  """What bin/* records is ``config.ledger_setting`` of its config: the
  function saved_results/ledger_history.py counts past runs with."""
  from tfmdl.experiments import config as config_lib  # pylint: disable=g-import-not-at-top
  from tfmdl.experiments import prequential as prequential_experiment  # pylint: disable=g-import-not-at-top
  from tfmdl.experiments import two_part as two_part_experiment  # pylint: disable=g-import-not-at-top
  from tfmdl.experiments import variational as variational_experiment  # pylint: disable=g-import-not-at-top
  tiny = ["--config.num_train=60", "--config.train.max_epochs=1"]
  online = bin_config("prequential", tiny)
  online.learner = "online"
  two_part = bin_config("twopart", tiny)
  two_part.code = "float32"
  runs = [
      ("prequential", bin_config("prequential", tiny),
       prequential_experiment),
      ("online", online, prequential_experiment),
      ("two_part_float32", two_part, two_part_experiment),
      ("variational", bin_config(
          "variational", tiny + ["--config.variational.prior_stddevs=(0.1,)",
                                 "--config.variational.num_samples=1"]),
       variational_experiment),
  ]
  for i, (code, config, experiment) in enumerate(runs):
    experiment.run(config, str(tmp_path / str(i)))
    entry = ledger.Ledger().entries()[-1]
    assert (entry.code, entry.model, entry.split) == (code, config.model,
                                                      "train")
    assert entry.setting == ledger.setting_digest(
        config_lib.ledger_setting(config, code)), code
