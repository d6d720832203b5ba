"""A hyperparameter search: config -> trials saved as they end -> results.json.

The config is a prequential/variational config with a ``tune`` section (see
:func:`add_defaults`). keras-tuner's engine runs the search
(:mod:`tfmdl.codes.tuning.tuner`): in one process, or as a chief that serves
the oracle and workers that run trials, all into the same workdir on a
shared file system (docs/cluster.md). Each trial runs the code of
``tune.code`` in its own workdir ``trials/trial_NNN/`` (a normal prequential
or variational workdir, itself resumable block by block) with the trial's
hyperparameters written into the config. A finished trial is saved at once
(``trials/trial_NNN.json``: its hyperparameters, codelength and workdir);
rerunning into the same workdir reloads keras-tuner's oracle from
``keras_tuner/oracle/`` and runs only the trials left (a trial cut short is
run again, its own workdir resuming). ``tune.max_trials`` is not part of the
workdir's identity: a search can be extended to more trials, or reported over
its first T (but T belongs to the code: see :mod:`tfmdl.codes.tuning`).
The chief (or the single process) writes ``results.json`` and the HParams
experiment; each trial's TensorBoard session is written by whoever ran it.

TensorBoard: ``tb/`` holds the HParams experiment (the search space and the
metric ``tune/codelength_kbits``); ``tb/trial_NNN`` each trial's
hyperparameters and scalars (step 0). What the reported numbers mean and why
they are codes: :mod:`tfmdl.codes.tuning`.
"""

import glob
import os
import time
from typing import Optional

from absl import logging
import ml_collections
from ml_collections import config_dict
import tensorflow as tf
from tensorboard.plugins.hparams import api as hp_api

from tfmdl import summaries
from tfmdl import training
from tfmdl.codes import tuning
from tfmdl.bits import units
from tfmdl.bits.uniform import uniform_bits
from tfmdl.experiments import common
from tfmdl.experiments import prequential
from tfmdl.experiments import variational
from tfmdl.experiments.workdir import TENSORBOARD
from tfmdl.experiments.workdir import Workdir

CODE = "tune"
METRIC = f"{CODE}/codelength_kbits"


def add_defaults(config: ml_collections.ConfigDict, code: str = "prequential"
                 ) -> ml_collections.ConfigDict:
  """Adds the ``variational`` section (if missing) and the ``tune`` section.

  ``tune`` fields: ``code`` (``prequential`` or ``variational``), ``search``
  (``random``, ``bayesian``, ``hyperband``), ``max_trials`` (T), ``seed``
  (the oracle's, >= 1), ``factor`` (Hyperband; its budget is
  ``train.max_epochs``), ``num_initial_points`` (Bayesian) and ``space``: one
  tuple of choices per hyperparameter of :data:`tfmdl.codes.tuning.KNOBS`, fixed in
  advance (a one-value tuple fixes it; a missing field keeps the config's
  value). ``space.model`` defaults to ``(config.model,)``. The trial's model
  options: see :func:`trial_config`.
  """
  variational.add_defaults(config)
  config.tune = ml_collections.ConfigDict(dict(
      code=code, search="random", max_trials=5, seed=1, factor=3,
      num_initial_points=config_dict.placeholder(int),
      space=ml_collections.ConfigDict(dict(model=(config.model,)))))
  return config


def search_space(config: ml_collections.ConfigDict) -> tuning.SearchSpace:
  """The validated search space of ``config.tune``."""
  return tuning.SearchSpace.create(config.tune.space.to_dict(),
                                   code=config.tune.code)


def make_search(config: ml_collections.ConfigDict) -> tuning.Search:
  """The oracle settings of ``config.tune`` (Hyperband's budget:
  ``train.max_epochs``)."""
  t = config.tune
  return tuning.Search(
      search=t.search, max_trials=t.max_trials, seed=t.seed,
      max_epochs=config.train.max_epochs if t.search == "hyperband" else None,
      factor=t.factor, num_initial_points=t.num_initial_points)


def trial_config(config: ml_collections.ConfigDict,
                 space: tuning.SearchSpace,
                 hyperparameters: dict) -> ml_collections.ConfigDict:
  """The plain prequential/variational config of one trial.

  The model's options are the trial's knobs over ``config.model_options``
  when the trial's model is ``config.model``, over the builder's defaults
  otherwise; the section of the other code and ``tune`` are dropped.
  """
  trial = config.copy_and_resolve_references()
  code = config.tune.code
  other = (set(variational.SECTIONS) if code == "prequential" else
           set(prequential.SECTIONS) | {"learner"}) - {"train"}
  with trial.unlocked():
    for name in {"tune"} | other:
      if name in trial:
        del trial[name]
  options = (config.model_options.to_dict()
             if hyperparameters["model"] == config.model else {})
  options.update(space.model_options(hyperparameters))
  trial.model = hyperparameters["model"]
  trial.model_options = ml_collections.ConfigDict(options)
  for knob in ("learning_rate", "batch_size", tuning.BUDGET):
    if knob in hyperparameters:
      trial.train[knob] = hyperparameters[knob]
  if "prior_stddev" in hyperparameters and code == "variational":
    trial.variational.prior_stddevs = (hyperparameters["prior_stddev"],)
  return trial


def _run_trial(config, space, workdir: Workdir):
  """``run_trial(index, hyperparameters)`` for :func:`tuning.run_search`."""
  module = prequential if config.tune.code == "prequential" else variational

  def run_trial(index: int, hyperparameters: dict) -> tuning.TrialOutcome:
    relative = workdir.trial_workdir(index)
    logging.info("trial %d: %s in %s", index + 1, hyperparameters, relative)
    result = module.run(trial_config(config, space, hyperparameters),
                        workdir.file(relative))
    accuracy = (result.test_accuracy if module is prequential
                else result.best.test_accuracy_sampled)
    return tuning.TrialOutcome(result.codelength_bits, accuracy, relative)

  return run_trial


def write_hparams_config(workdir: Workdir, space: tuning.SearchSpace,
                         search: tuning.Search) -> None:
  """The HParams experiment in ``tb/``: the space and the metric."""
  hparams = [hp_api.HParam(knob, hp_api.Discrete(list(space.values[knob])))
             for knob in space.used()]
  if search.search == "hyperband":
    hparams.append(hp_api.HParam(tuning.BUDGET, hp_api.Discrete(list(
        tuning.budget_levels(search.max_epochs, search.factor)))))
  writer = tf.summary.create_file_writer(workdir.tensorboard_dir)
  with writer.as_default():
    hp_api.hparams_config(hparams=hparams, metrics=[
        hp_api.Metric(METRIC, display_name="codelength (kbits)"),
        hp_api.Metric(f"{CODE}/compression_ratio"),
        hp_api.Metric(f"{CODE}/hyperparameter_bits"),
        hp_api.Metric(f"{CODE}/test_accuracy")])
  writer.flush()


def write_trial_summary(workdir: Workdir, record: tuning.TrialRecord,
                        uniform: float) -> None:
  """One HParams session, ``tb/trial_NNN``, unless it is there already."""
  logdir = workdir.file(TENSORBOARD, workdir.trial_name(record.index))
  if os.path.exists(logdir):
    return
  writer = summaries.SummaryWriter(logdir)
  writer.hparams(record.hyperparameters)
  values = {METRIC: units.bits_to_kbits(record.codelength_bits),
            f"{CODE}/compression_ratio": record.codelength_bits / uniform,
            f"{CODE}/hyperparameter_bits": record.hyperparameter_bits}
  if record.test_accuracy is not None:
    values[f"{CODE}/test_accuracy"] = record.test_accuracy
  writer.scalars(values, step=0)
  writer.flush()


class _WorkdirTrials(tuning.TrialStore):
  """The workdir's ``trials/trial_NNN.json``; saving a trial also writes
  its TensorBoard session."""

  def __init__(self, workdir: Workdir, uniform: float):
    super().__init__(workdir.trials_dir)
    self._workdir = workdir
    self._uniform = uniform

  def save(self, record: tuning.TrialRecord) -> None:
    super().save(record)
    write_trial_summary(self._workdir, record, self._uniform)


def _identity(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The config minus ``tune.max_trials`` (a search may be extended)."""
  identity = config.copy_and_resolve_references()
  with identity.unlocked():
    del identity.tune["max_trials"]
  return identity


def run(config: ml_collections.ConfigDict, workdir: str
        ) -> Optional[tuning.SearchResult]:
  """Run (or resume) the search of ``config`` in ``workdir``, or this
  process's part of a distributed one (keras-tuner's variables:
  :func:`tfmdl.codes.tuning.tuner_role`).

  Returns:
    The :class:`tfmdl.codes.tuning.SearchResult` (``results.json`` holds its
    numbers); None on a worker, which runs trials and writes only theirs.
  """
  began = time.perf_counter()
  if "tune" not in config:
    raise ValueError("the config has no 'tune' section; use a "
                     "configs/tune_*.py file or tune.add_defaults")
  role = tuning.tuner_role()
  space = search_space(config)
  search = make_search(config)
  training.make_deterministic(config.seed, config.deterministic)
  dataset = common.load_dataset(config)
  wd = Workdir(workdir, _identity(config), dataset.fingerprint())
  uniform = uniform_bits(len(dataset.y_train), dataset.num_classes)
  if role != "worker" and not glob.glob(
      os.path.join(wd.tensorboard_dir, "events.out.tfevents.*")):
    # (tb/ itself may exist: a worker writes its trials' sessions in it.)
    write_hparams_config(wd, space, search)
  result = tuning.run_search(
      search, space, _run_trial(config, space, wd),
      directory=wd.file("keras_tuner"), store=_WorkdirTrials(wd, uniform))
  if result is None:
    return None
  for record in result.trials:  # one cut short after its trial file
    write_trial_summary(wd, record, uniform)
  wd.write_results(result_record(result, config, dataset,
                                 time.perf_counter() - began))
  return result


def result_record(result: tuning.SearchResult,
                  config: ml_collections.ConfigDict, dataset,
                  wall_s: float) -> dict:
  """The results.json of a search; the headline is the mixture."""
  best = result.best
  return common.result_record(
      f"{CODE}/{config.tune.code}", config, dataset, dict(
      codelength_bits=result.codelength_bits,
      search=config.tune.search,
      selection_rule=result.rule,
      headline="mixture",
      model=best.hyperparameters["model"],
      test_accuracy=best.test_accuracy,
      mixture_bits=result.mixture_bits,
      best_plus_selection_bits=result.best_plus_selection_bits,
      parts={
          "best_trial_bits": best.codelength_bits,
          "selection_bits": result.selection_bits(best),
          "mixture_saving_bits":
              result.best_plus_selection_bits - result.mixture_bits,
      },
      max_trials=result.search.max_trials,
      num_trials=len(result.trials),
      best_trial=best.summary(),
      trials=[t.summary() for t in result.trials],
      trials_wall_s=sum(t.wall_s for t in result.trials)), wall_s=wall_s)
