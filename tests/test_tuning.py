"""Hyperparameter search: exact selection costs, valid mixtures, resuming;
the search experiment (bin/tune's run) in process; bin/tune's smoke test;
bin/tune as keras-tuner's chief and two workers on loopback."""

import glob
import itertools
import json
import math
import os
import socket
import subprocess

import numpy as np
import pytest

from tfmdl import models
from tfmdl.codes import tuning
from tfmdl.experiments import cli
from tfmdl.experiments import tune
from tfmdl.experiments.prequential import default_config
from tfmdl.experiments.workdir import TRIALS

SPACE = {"model": ("mlp", "lenet"), "learning_rate": (1e-3, 3e-3, 1e-2),
         "width": (64, 128), "depth": (1, 2), "dropout": (0.0, 0.5)}


def _fake_code(hparams):
  """A deterministic stand-in for a code's codelength."""
  return (500.0 + 1000.0 * hparams["learning_rate"] + hparams.get("width", 0)
          / 8 + 3.0 * hparams.get("depth", 0) + hparams.get("max_epochs", 0))


class _Counter:
  """``run_trial`` that records which trial indices it ran."""

  def __init__(self, code=_fake_code):
    self.ran = []
    self._code = code

  def __call__(self, index, hparams):
    self.ran.append(index)
    return tuning.TrialOutcome(self._code(hparams))


# --- the arithmetic --------------------------------------------------------


def test_mixture_bits_by_hand():
  # -log2(2^-11 + 2^-13) = 11 - log2(1 + 1/4)
  assert tuning.mixture_bits([10.0, 12.0], [1.0, 1.0]) == pytest.approx(
      11.0 - math.log2(1.25), abs=1e-12)
  assert tuning.mixture_bits([7.0], [0.0]) == 7.0
  assert tuning.mixture_bits([math.inf, 5.0], [0.0, 0.0]) == 5.0
  # Far-apart terms: no underflow, the small one dominates.
  assert tuning.mixture_bits([1e6, 2e6], [3.0, 3.0]) == pytest.approx(1e6 + 3)
  with pytest.raises(ValueError, match="at least one"):
    tuning.mixture_bits([], [])


def test_explicit_cost_is_a_complete_prefix_code():
  space = tuning.SearchSpace.create(SPACE)
  mlp = {"model": "mlp", "learning_rate": 1e-3, "width": 64, "depth": 1,
         "dropout": 0.0}
  assert space.bits(mlp) == pytest.approx(1 + math.log2(3) + 1 + 1 + 1)
  assert space.bits({"model": "lenet", "learning_rate": 1e-3}) == (
      pytest.approx(1 + math.log2(3)))
  # Kraft: summing 2^-H over every configuration of the space gives 1.
  total = 0.0
  for model in ("mlp", "lenet"):
    knobs = [k for k in space.active(model) if k != "model"]
    for values in itertools.product(*(SPACE[k] for k in knobs)):
      total += 2.0 ** -space.bits(dict(zip(knobs, values), model=model))
  assert total == pytest.approx(1.0)
  # prior_stddev only changes (and costs) the variational code.
  with_prior = dict(SPACE, prior_stddev=(0.1, 1.0))
  assert tuning.SearchSpace.create(with_prior).bits(mlp) == space.bits(mlp)
  assert tuning.SearchSpace.create(with_prior, "variational").bits(
      dict(mlp, prior_stddev=0.1)) == pytest.approx(space.bits(mlp) + 1)


def test_budget_levels_follow_keras_tuner_brackets():
  assert tuning.budget_levels(9, 3) == (1, 3, 9)
  assert tuning.budget_levels(3, 3) == (1, 3)
  assert tuning.budget_levels(10, 3) == (2, 4, 10)
  assert tuning.budget_levels(1, 3) == (1,)
  search = tuning.Search("hyperband", max_trials=4, max_epochs=9)
  assert search.budget_bits() == pytest.approx(math.log2(3))


def test_every_zoo_model_is_tunable():
  assert sorted(tuning.MODEL_KNOBS) == models.list_models()


def test_model_options_from_knobs():
  space = tuning.SearchSpace.create(SPACE)
  assert space.model_options({"model": "mlp", "width": 64, "depth": 3,
                              "dropout": 0.5}) == {
                                  "hidden_sizes": (64, 64, 64), "dropout": 0.5}
  assert space.model_options({"model": "lenet", "learning_rate": 1.0}) == {}


@pytest.mark.parametrize("choices, message", [
    ({"model": ("mlp",), "momentum": (0.9,)}, "unknown search space field"),
    ({"learning_rate": (1e-3,)}, "needs a 'model' field"),
    ({"model": ()}, "no choices"),
    ({"model": "mlp"}, "must be a tuple of choices"),
    ({"model": ("mlp", "mlp")}, "repeated"),
    ({"model": ("resnet50",)}, "not tunable"),
    ({"model": ("mlp",), "width": (64.5,)}, "integers >= 1"),
    ({"model": ("mlp",), "depth": (0,)}, "integers >= 1"),
    ({"model": ("mlp",), "dropout": (1.0,)}, r"\[0, 1\)"),
    ({"model": ("mlp",), "learning_rate": (0.0,)}, "> 0"),
    ({"model": ("mlp",), "learning_rate": ("fast",)}, "numbers"),
])
def test_bad_search_spaces_are_refused(choices, message):
  with pytest.raises(ValueError, match=message):
    tuning.SearchSpace.create(choices)


@pytest.mark.parametrize("kwargs, message", [
    (dict(search="grid"), "unknown search 'grid'"),
    (dict(max_trials=0), "max_trials must be >= 1"),
    (dict(seed=0), "seed must be >= 1"),
    (dict(search="hyperband"), "hyperband needs max_epochs"),
    (dict(search="hyperband", max_epochs=9, factor=1), "factor"),
])
def test_bad_searches_are_refused(kwargs, message):
  with pytest.raises(ValueError, match=message):
    tuning.Search(**kwargs)


def test_unknown_code_is_refused():
  with pytest.raises(ValueError, match="unknown code 'two_part'"):
    tuning.SearchSpace.create(SPACE, code="two_part")


# --- searches with a stand-in code -----------------------------------------


def test_random_search_pays_log2_t_and_its_mixture_is_bracketed(tmp_path):
  space = tuning.SearchSpace.create(SPACE)
  result = tuning.run_search(tuning.Search("random", max_trials=4), space,
                             _Counter(), directory=str(tmp_path))
  lengths = [t.codelength_bits for t in result.trials]
  assert len(lengths) == 4 and result.rule == "index"
  assert result.best.codelength_bits == min(lengths)
  assert result.best_plus_selection_bits == min(lengths) + 2.0
  expected = -math.log2(sum(2.0 ** -(l - min(lengths))
                            for l in lengths) / 4) + min(lengths)
  assert result.mixture_bits == pytest.approx(expected, abs=1e-9)
  assert min(lengths) <= result.mixture_bits <= min(lengths) + 2.0
  assert result.codelength_bits == result.mixture_bits


def test_random_proposals_do_not_depend_on_the_codelengths(tmp_path):
  # The premise of the index rule: Bob replays the seeded oracle without
  # the data and lists the same T configurations.
  space = tuning.SearchSpace.create(SPACE)
  search = tuning.Search("random", max_trials=5, seed=7)
  runs = [tuning.run_search(search, space, _Counter(code),
                            directory=str(tmp_path / str(i)))
          for i, code in enumerate((_fake_code, lambda h: -_fake_code(h)))]
  assert ([t.hyperparameters for t in runs[0].trials] ==
          [t.hyperparameters for t in runs[1].trials])


def test_adaptive_search_pays_the_hyperparameters_not_log2_t(tmp_path):
  space = tuning.SearchSpace.create(SPACE)
  # A code that prefers the MLP by 2 bits; the MLP costs 3 + log2 3 bits more
  # to name than LeNet, so the explicit rule must pick LeNet.
  code = lambda h: 100.0 - 2.0 * (h["model"] == "mlp") + h["learning_rate"]
  result = tuning.run_search(
      tuning.Search("bayesian", max_trials=4, num_initial_points=4), space,
      _Counter(code), directory=str(tmp_path))
  assert result.rule == "explicit"
  assert {t.hyperparameters["model"] for t in result.trials} == {"mlp",
                                                                  "lenet"}
  for t in result.trials:
    assert t.hyperparameter_bits == space.bits(t.hyperparameters)
  totals = [t.codelength_bits + t.hyperparameter_bits for t in result.trials]
  assert result.best_plus_selection_bits == min(totals)
  assert result.best.hyperparameters["model"] == "lenet"
  assert min(t.codelength_bits for t in result.trials) < (
      result.best.codelength_bits)
  assert result.mixture_bits == pytest.approx(tuning.mixture_bits(
      [t.codelength_bits for t in result.trials],
      [t.hyperparameter_bits for t in result.trials]))
  assert (min(t.codelength_bits for t in result.trials) <=
          result.mixture_bits <= min(totals))


def test_hyperband_budgets_are_paid_and_run(tmp_path):
  space = tuning.SearchSpace.create(SPACE)
  search = tuning.Search("hyperband", max_trials=4, max_epochs=3)
  counter = _Counter()
  result = tuning.run_search(search, space, counter, directory=str(tmp_path))
  # Three random configurations with 1 epoch, then the best gets 3 epochs,
  # retrained from scratch (a new trial with its own code).
  assert counter.ran == [0, 1, 2, 3]
  first = result.trials[:3]
  assert [t.hyperparameters["max_epochs"] for t in result.trials] == [1, 1, 1,
                                                                      3]
  best = min(first, key=lambda t: t.codelength_bits).hyperparameters
  assert result.trials[3].hyperparameters == dict(best, max_epochs=3)
  for t in result.trials:
    assert t.hyperparameters["max_epochs"] in tuning.budget_levels(3, 3)
    assert not any(k.startswith("tuner/") for k in t.hyperparameters)
    assert t.hyperparameter_bits == pytest.approx(
        space.bits(t.hyperparameters) + 1.0)


class _Killed(BaseException):
  """A process killed in the middle of a trial (not an error of the code:
  nothing catches it)."""


def test_resume_reloads_the_oracle_and_runs_only_the_rest(tmp_path):
  """keras-tuner's resume (overwrite=False): the oracle's saved state and
  trials come back, the finished trials are not rerun, a trial killed in
  the middle is run again, and the proposals are those of an uninterrupted
  search (for Bayesian, the third is model-based: it depends on the first
  two codelengths; one model-based proposal takes seconds, a second one
  here most of a minute)."""
  space = tuning.SearchSpace.create(SPACE)
  resumed_trials = {}
  for name, extra, trials in (("random", {}, 4),
                              ("bayesian", dict(num_initial_points=2), 3)):
    search = lambda t: tuning.Search(name, max_trials=t, **extra)
    whole = tuning.run_search(search(trials), space, _Counter(),
                              directory=str(tmp_path / name / "whole"))
    resumed_dir = str(tmp_path / name / "resumed")
    first = _Counter()
    part = tuning.run_search(search(2), space, first, directory=resumed_dir)

    def killed_at_2(index, hparams):
      if index == 2:
        raise _Killed()
      return first(index, hparams)

    with pytest.raises(_Killed):
      tuning.run_search(search(trials), space, killed_at_2,
                        directory=resumed_dir)
    rest = _Counter()
    resumed = tuning.run_search(search(trials), space, rest,
                                directory=resumed_dir)
    # (A trial that repeats an earlier one's hyperparameters reuses it.)
    assert first.ran == [0, 1] and rest.ran == [
        t.index for t in whole.trials[2:] if t.duplicate_of is None], name
    assert 2 in rest.ran
    assert resumed.trials[:2] == part.trials
    assert ([t.hyperparameters for t in resumed.trials] ==
            [t.hyperparameters for t in whole.trials]), name
    assert [t.codelength_bits for t in resumed.trials] == [
        t.codelength_bits for t in whole.trials]
    resumed_trials[name] = resumed.trials
  # A smaller T reports over the first T trials and runs nothing.
  none = _Counter()
  shorter = tuning.run_search(tuning.Search("random", max_trials=1), space,
                              none, directory=str(tmp_path / "random" /
                                                  "resumed"))
  assert none.ran == [] and shorter.trials == resumed_trials["random"][:1]


def test_the_bayesian_oracle_reloads_its_generator():
  """keras-tuner's Bayesian oracle rebuilds the generator of its
  acquisition's starting points from the seed on reload; ours saves it, so
  a resumed search draws what the uninterrupted one would have."""
  space = tuning.SearchSpace.create(SPACE)
  search = tuning.Search("bayesian", max_trials=4)
  oracle = search.make_oracle(space)
  oracle._random_state.uniform(size=7)  # pylint: disable=protected-access
  state = json.loads(json.dumps(oracle.get_state()))
  reloaded = search.make_oracle(space)
  reloaded.set_state(state)
  np.testing.assert_array_equal(
      reloaded._random_state.uniform(size=5),  # pylint: disable=protected-access
      oracle._random_state.uniform(size=5))  # pylint: disable=protected-access


def test_a_folder_of_another_search_is_refused(tmp_path):
  space = tuning.SearchSpace.create(SPACE)
  tuning.run_search(tuning.Search("random", max_trials=2), space,
                    _Counter(), directory=str(tmp_path))
  counter = _Counter()
  with pytest.raises(ValueError, match="holds another search"):
    tuning.run_search(tuning.Search("random", max_trials=3, seed=2), space,
                      counter, directory=str(tmp_path))
  assert counter.ran == []


def test_a_trial_that_raises_stops_the_search_with_its_error(tmp_path):
  space = tuning.SearchSpace.create(SPACE)

  def broken(index, hparams):
    del index, hparams
    raise ValueError("this trial's config is bad")

  with pytest.raises(ValueError, match="^this trial's config is bad$"):
    tuning.run_search(tuning.Search("random", max_trials=3), space, broken,
                      directory=str(tmp_path))


def test_exhausted_space_stops_early_and_still_pays_log2_t(tmp_path):
  space = tuning.SearchSpace.create({"model": ("lenet",),
                                     "learning_rate": (1e-3, 1e-2)})
  result = tuning.run_search(tuning.Search("random", max_trials=5), space,
                             _Counter(), directory=str(tmp_path))
  lengths = sorted(t.codelength_bits for t in result.trials)
  assert len(lengths) == 2
  assert result.best_plus_selection_bits == lengths[0] + math.log2(5)
  assert result.mixture_bits == pytest.approx(
      -math.log2((2.0 ** -lengths[0] + 2.0 ** -lengths[1]) / 5))


def test_repeated_proposals_reuse_the_result_and_count_once(tmp_path,
                                                           monkeypatch):
  make_oracle = tuning.Search.make_oracle

  def without_dedup(self, space):
    oracle = make_oracle(self, space)
    oracle._duplicate = lambda values: False  # propose repeats
    return oracle

  monkeypatch.setattr(tuning.Search, "make_oracle", without_dedup)
  space = tuning.SearchSpace.create({"model": ("lenet",),
                                     "learning_rate": (1e-3,)})
  for name in ("random", "bayesian"):
    counter = _Counter()
    result = tuning.run_search(
        tuning.Search(name, max_trials=4, num_initial_points=4), space,
        counter, directory=str(tmp_path / name))
    assert counter.ran == [0]
    assert [t.duplicate_of for t in result.trials] == [None, 0, 0, 0]
    length = result.trials[0].codelength_bits
    # index rule: four equal components of weight 1/4 each give L exactly;
    # explicit rule: one distinct configuration, which costs H = 0 bits.
    assert result.mixture_bits == pytest.approx(length)


# --- the experiment on real data --------------------------------------------


def _digits_config(max_trials):
  config = tune.add_defaults(default_config("digits", "mlp"))
  config.num_train = 150
  config.train.update(dict(batch_size=32, max_epochs=2, verbose=0))
  config.prequential.timesteps = (50, 150)
  config.block.final_model = False
  config.block.record_epoch_bits = False
  config.tune.max_trials = max_trials
  space = config.tune.space
  space.learning_rate = (3e-3, 1e-2)
  space.width = (8, 16)
  space.depth = (1,)
  space.dropout = (0.0, 0.5)
  return config


@pytest.mark.slow  # 5 CPU-seconds, a whole search
def test_digits_search_resumes_and_reports_a_paid_codelength(tmp_path,
                                                             tb_events):
  workdir = str(tmp_path / "search")
  tune.run(_digits_config(2), workdir)
  first = {p: (os.path.getmtime(p), open(p).read()) for p in
           glob.glob(os.path.join(workdir, TRIALS, "trial_*.json")) +
           glob.glob(os.path.join(workdir, TRIALS, "*", "results.json"))}
  assert len(first) == 4
  result = tune.run(_digits_config(3), workdir)
  for path, (mtime, text) in first.items():
    assert os.path.getmtime(path) == mtime and open(path).read() == text
  assert len(result.trials) == 3

  with open(os.path.join(workdir, "results.json")) as f:
    record = json.load(f)
  lengths = []
  for trial in record["trials"]:
    with open(os.path.join(workdir, trial["workdir"], "results.json")) as f:
      inner = json.load(f)
    assert inner["code"] == "prequential"
    assert inner["codelength_bits"] == trial["codelength_bits"]
    # Without block.final_model, the last block's model gives it, free.
    assert inner["test_accuracy"] is not None
    assert inner["test_accuracy"] == trial["test_accuracy"]
    assert inner["test_accuracy_model"].startswith("the last block's model")
    assert inner["config"]["model_options"]["hidden_sizes"] == [
        trial["hyperparameters"]["width"]]
    lengths.append(trial["codelength_bits"])
  best = min(lengths)
  assert record["best_trial"]["codelength_bits"] == best
  assert record["best_trial"]["index"] == lengths.index(best)
  assert record["test_accuracy"] == record["best_trial"]["test_accuracy"]
  assert record["best_plus_selection_bits"] == best + math.log2(3)
  assert best <= record["mixture_bits"] <= best + math.log2(3)
  assert record["codelength_bits"] == record["mixture_bits"]
  assert record["parts"]["best_trial_bits"] + record["parts"][
      "selection_bits"] - record["parts"]["mixture_saving_bits"] == (
          pytest.approx(record["codelength_bits"]))
  assert record["max_trials"] == 3 and record["selection_rule"] == "index"
  assert record["uniform_bits"] == pytest.approx(150 * math.log2(10))

  tags_of = lambda logdir: {(e.tag, e.plugin) for e in tb_events(logdir)}
  assert ("_hparams_/experiment", "hparams") in tags_of(
      os.path.join(workdir, "tb"))
  for index in range(3):
    tags = tags_of(os.path.join(workdir, "tb", f"trial_{index:03d}"))
    assert ("_hparams_/session_start_info", "hparams") in tags
    assert ("tune/codelength_kbits", "scalars") in tags


def test_trial_configs_carry_the_hyperparameters():
  config = _digits_config(3)
  config.tune.search = "hyperband"
  config.tune.code = "variational"
  config.tune.space.prior_stddev = (0.1, 1.0)
  space = tune.search_space(config)
  trial = tune.trial_config(config, space, {
      "model": "mlp", "learning_rate": 3e-3, "batch_size": 32, "width": 16,
      "depth": 1, "dropout": 0.0, "prior_stddev": 0.1, "max_epochs": 1})
  # The prequential code's sections (and its learner) are dropped.
  for name in ("tune", "prequential", "block", "online", "learner"):
    assert name not in trial, name
  assert tuple(trial.variational.prior_stddevs) == (0.1,)
  assert trial.train.max_epochs == 1 and trial.train.learning_rate == 3e-3
  assert trial.model_options.to_dict() == {"hidden_sizes": (16,),
                                           "dropout": 0.0,
                                           "activation": "relu"}
  lenet = tune.trial_config(config, space, {"model": "lenet",
                                            "learning_rate": 1e-2})
  assert lenet.model == "lenet" and lenet.model_options.to_dict() == {}
  assert tune.make_search(config).max_epochs == config.train.max_epochs


def test_bad_options_are_one_line_errors(tmp_path, capsys):
  config = _digits_config(0)
  with pytest.raises(ValueError, match="max_trials must be >= 1, got 0"):
    tune.run(config, str(tmp_path / "zero"))
  assert not os.path.exists(tmp_path / "zero")
  # bin/tune --search=grid, in process: the search runs under run_or_exit.
  config = _digits_config(3)
  config.tune.search = "grid"
  workdir = str(tmp_path / "bad")
  with pytest.raises(SystemExit) as exit_info:
    cli.run_or_exit(lambda: tune.run(config, workdir))
  assert exit_info.value.code == 2
  last = capsys.readouterr().err.strip().splitlines()[-1]
  assert last == ("error: unknown search 'grid'; known: random, bayesian, "
                  "hyperband")
  assert not os.path.exists(workdir)


@pytest.mark.slow
def test_bin_tune_smoke(tmp_path, run_bin):
  workdir = str(tmp_path / "search")
  proc = run_bin("tune", [
      f"--workdir={workdir}", "--max_trials=1", "--config.num_train=100",
      "--config.train.max_epochs=1", "--config.train.verbose=0",
      "--config.prequential.timesteps=(50,100)",
      "--config.block.final_model=False",
      "--config.tune.space.width=(8,)", "--config.tune.space.depth=(1,)"],
                 cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert "random search, 1 of 1 trials, prequential code of digits" in (
      proc.stdout)
  with open(os.path.join(workdir, "results.json")) as f:
    record = json.load(f)
  assert record["code"] == "tune/prequential" and record["num_trials"] == 1
  assert record["best_plus_selection_bits"] == record["best_trial"][
      "codelength_bits"]  # log2 T = 0 bits for T = 1


@pytest.mark.slow
def test_bin_tune_refuses_an_unknown_search_in_one_line(tmp_path, run_bin):
  workdir = str(tmp_path / "bad")
  proc = run_bin("tune", [f"--workdir={workdir}", "--search=grid"],
                 cwd=tmp_path)
  assert proc.returncode == 2, proc.stderr[-2000:]
  last = proc.stderr.strip().splitlines()[-1]
  assert last == ("error: unknown search 'grid'; known: random, bayesian, "
                  "hyperband")
  assert not os.path.exists(workdir)


# --- keras-tuner's distributed mode: a chief and two workers ----------------

# 6 configurations, T = 4; every trial pays no setting bits of its own, so
# a trial's codelength does not depend on which trials the ledger counted
# before it (on a cluster, the order in which trials finish).
DISTRIBUTED = [
    "--max_trials=4", "--config.num_train=100", "--config.train.max_epochs=1",
    "--config.train.verbose=0", "--config.prequential.timesteps=(50,100)",
    "--config.prequential.setting_bits=0.0", "--config.block.final_model=False",
    "--config.tune.space.learning_rate=(0.003,0.01,0.03)",
    "--config.tune.space.width=(8,16)", "--config.tune.space.depth=(1,)",
    "--config.tune.space.dropout=(0.0,)", "--config.tune.space.batch_size=(32,)"]


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


@pytest.mark.slow
def test_a_chief_and_two_workers_run_the_single_process_search(tmp_path,
                                                               start_bin):
  """bin/tune as keras-tuner's chief (the oracle, over gRPC on loopback) and
  two workers, and as one process, all started at once: the same four
  trials, each run once by a worker, the same best trial and paid bits."""
  port = _free_port()
  workdirs = {"cluster": str(tmp_path / "cluster"),
              "single": str(tmp_path / "single")}
  ledgers = {name: str(tmp_path / f"{name}_ledger.jsonl") for name in workdirs}
  procs = {}
  for tuner_id in ("chief", "tuner1", "tuner2"):
    procs[tuner_id] = start_bin(
        "tune", [f"--workdir={workdirs['cluster']}"] + DISTRIBUTED,
        cwd=tmp_path, env={
            "KERASTUNER_TUNER_ID": tuner_id,
            "KERASTUNER_ORACLE_IP": "127.0.0.1",
            "KERASTUNER_ORACLE_PORT": str(port),
            "TFMDL_LEDGER": ledgers["cluster"]})
  procs["single"] = start_bin(
      "tune", [f"--workdir={workdirs['single']}"] + DISTRIBUTED, cwd=tmp_path,
      env={"TFMDL_LEDGER": ledgers["single"]})
  outs = {}
  for name, proc in procs.items():
    try:
      out, err = proc.communicate(timeout=600)
    except subprocess.TimeoutExpired:
      for p in procs.values():
        p.kill()
      raise
    assert proc.returncode == 0, f"{name}: {err[-3000:]}"
    outs[name] = out
  assert "random search, 4 of 4 trials" in outs["chief"]
  for worker in ("tuner1", "tuner2"):
    assert f"tuner {worker}: the oracle has no trial left" in outs[worker]

  records = {}
  for name, workdir in workdirs.items():
    with open(os.path.join(workdir, "results.json")) as f:
      records[name] = json.load(f)
  cluster, single = records["cluster"], records["single"]
  # Trial t has the same hyperparameters and the same code in both.
  assert [t["index"] for t in cluster["trials"]] == [0, 1, 2, 3]
  for a, b in zip(cluster["trials"], single["trials"]):
    assert a["hyperparameters"] == b["hyperparameters"]
    assert a["codelength_bits"] == b["codelength_bits"]
    assert a["duplicate_of"] is None
  assert {t["tuner_id"] for t in single["trials"]} == {"tuner0"}
  assert {t["tuner_id"] for t in cluster["trials"]} <= {"tuner1", "tuner2"}
  # Each trial ran once: one ledger line per trial, four settings.
  with open(ledgers["cluster"]) as f:
    lines = [json.loads(line) for line in f]
  assert len(lines) == 4 and len({line["setting"] for line in lines}) == 4
  assert sorted(line["codelength_bits"] for line in lines) == sorted(
      t["codelength_bits"] for t in cluster["trials"])
  # The same choice, paid the same: log2 T = 2 bits on the best trial.
  assert cluster["best_trial"]["index"] == single["best_trial"]["index"]
  best = min(t["codelength_bits"] for t in cluster["trials"])
  assert cluster["best_plus_selection_bits"] == best + 2.0
  assert cluster["best_plus_selection_bits"] == single[
      "best_plus_selection_bits"]
  assert cluster["mixture_bits"] == single["mixture_bits"]
  assert cluster["codelength_bits"] == cluster["mixture_bits"]
