"""keras-tuner's own engine running a search whose trials are codes.

:class:`CodelengthTuner` is a keras-tuner ``BaseTuner`` whose ``run_trial``
runs one trial's code and returns its codelength in bits, the objective the
oracle minimises. The trials go through keras-tuner's ``search`` loop, so
its distributed mode works unchanged: one *chief* process holds the oracle
and serves it over gRPC; *worker* processes ask it for trials, run them and
report their codelengths, as many workers as there are machines (or GPUs).
Each process is told its part by keras-tuner's environment variables
(:func:`tuner_role`):

* ``KERASTUNER_ORACLE_IP``, ``KERASTUNER_ORACLE_PORT``: where the chief
  serves the oracle (the same in every process);
* ``KERASTUNER_TUNER_ID``: ``chief`` for the chief (any id containing
  ``chief``), a distinct id per worker (``tuner1``, ``tuner2``, ...).

None of them set: one process proposes and runs every trial.

What the search reports is unchanged (:mod:`~.search`): a random oracle's
proposals depend on its seed and its earlier proposals only, never on which
worker asks or when, so trial t has the same hyperparameters in a single
process and on a cluster, and ``log2 T`` still pays for choosing among them;
an adaptive oracle's proposals depend on the codelengths it has heard of
(on a cluster: on which trials have finished when a worker asks), and its
choice is paid explicitly, which needs no replay.

Every finished trial is saved at once as a :class:`~.search.TrialRecord` in
a :class:`TrialStore` that every process sees (a shared folder); the chief
builds the :class:`~.search.SearchResult` from it once the oracle has
stopped. Resuming is keras-tuner's (``overwrite=False``): the oracle reloads
its state and trials from its folder, a trial that was running when a
process died is run again (its code resumes from its own files; a trial
whose record was saved before the oracle heard of it is not rerun), and only
the trials left are proposed. The oracle folder and the store hold one
search: another search (other space, oracle or seed) is refused.
"""

import dataclasses
import datetime
import glob
import json
import os
import time
from typing import Callable, Optional

from absl import logging
import keras_tuner

from tfmdl import progress as progress_lib
from tfmdl import results
from tfmdl.codes.tuning.search import OBJECTIVE
from tfmdl.codes.tuning.search import Search
from tfmdl.codes.tuning.search import SearchResult
from tfmdl.codes.tuning.search import SearchSpace
from tfmdl.codes.tuning.search import TrialOutcome
from tfmdl.codes.tuning.search import TrialRecord
from tfmdl.codes.tuning.search import same_hyperparameters

ORACLE_IP = "KERASTUNER_ORACLE_IP"
ORACLE_PORT = "KERASTUNER_ORACLE_PORT"
TUNER_ID = "KERASTUNER_TUNER_ID"
SINGLE_TUNER_ID = "tuner0"  # keras-tuner's id of a single process
# keras-tuner's project folder (oracle.json, trial_*/) under the directory.
PROJECT = "oracle"
IDENTITY = "search.json"

RunTrial = Callable[[int, dict], TrialOutcome]


def tuner_role() -> str:
  """``"single"``, ``"chief"`` or ``"worker"``, from keras-tuner's
  environment variables (module docstring).

  Raises:
    ValueError: ``KERASTUNER_ORACLE_IP`` without the port or the tuner id.
  """
  if ORACLE_IP not in os.environ:
    return "single"
  missing = [v for v in (ORACLE_PORT, TUNER_ID) if not os.environ.get(v)]
  if missing:
    raise ValueError(f"{ORACLE_IP} is set, {' and '.join(missing)} not: a "
                     "distributed search needs all three (docs/cluster.md)")
  return "chief" if "chief" in os.environ[TUNER_ID] else "worker"


class TrialStore:
  """The finished trials of a search: ``trial_NNN.json`` files in a folder
  that every tuner process sees, each written atomically when its trial
  ends."""

  def __init__(self, folder: str):
    self.folder = folder

  def save(self, record: TrialRecord) -> None:
    results.write_json(
        os.path.join(self.folder, f"trial_{record.index:03d}.json"),
        record.summary())

  def load(self) -> list:
    """The saved records, by index."""
    records = [TrialRecord.from_summary(results.read_json(p)) for p in
               glob.glob(os.path.join(self.folder, "trial_*.json"))]
    return sorted(records, key=lambda r: r.index)


class _TrialFailed(keras_tuner.errors.FatalError):
  """A trial's code raised: keras-tuner would mark the trial failed and go
  on; the search stops instead (the error is the caller's, e.g. a bad
  config), and :func:`run_search` raises the original error."""


class CodelengthTuner(keras_tuner.engine.base_tuner.BaseTuner):
  """A keras-tuner tuner whose trials are codes (module docstring).

  ``run_trial(trial)`` runs ``run_code(index, hyperparameters)`` for the
  trial's index (keras-tuner's trial id: its place in the oracle's order of
  proposals) and returns ``{"codelength_bits": L}``. A trial whose
  hyperparameters repeat a finished trial's reuses its result.
  """

  def __init__(self, search: Search, space: SearchSpace, run_code: RunTrial,
               store: TrialStore, *, directory: str, progress=None):
    self.role = tuner_role()
    super().__init__(search.make_oracle(space), directory=directory,
                     project_name=PROJECT, overwrite=False)
    oracle_file = os.path.join(directory, PROJECT, "oracle.json")
    if (self.role != "worker" and not self.oracle.trials and
        os.path.exists(oracle_file)):
      # keras-tuner reloads only from its own tuner's file: a search begun
      # by another tuner id (a chief, or a single process) reloads here.
      self.oracle.reload()
    self._search = search
    self._space = space
    self._run_code = run_code
    self._store = store
    self._progress = progress or progress_lib.NoProgress()

  def run_trial(self, trial, *args, **kwargs) -> dict:
    del args, kwargs
    index = int(trial.trial_id)
    values = results.json_round_trip(dict(trial.hyperparameters.values))
    try:
      record = self._record(index, values)
    except Exception as e:
      raise _TrialFailed(str(e)) from e
    self._progress.note(
        f"trial {index + 1}/{self._search.max_trials} "
        f"{record.hyperparameters}: {record.codelength_bits:.1f} bits")
    self._progress.advance(1)
    return {OBJECTIVE: record.codelength_bits}

  def _record(self, index: int, values: dict) -> TrialRecord:
    """Trial ``index``'s record: saved already, a repeat's, or run now."""
    done = {r.index: r for r in self._store.load()}
    if index in done:  # finished, then the process died before end_trial
      if done[index].oracle_values != values:
        raise ValueError(f"saved trial {index} had {done[index].oracle_values}"
                         f" but the oracle proposes {values}; use a new "
                         "workdir")
      return done[index]
    self._progress.status(trial=f"trial {index + 1}/{self._search.max_trials}")
    hparams = self._search.trial_hyperparameters(values)
    began = time.perf_counter()
    twin = next((r for r in done.values()
                 if same_hyperparameters(r.hyperparameters, hparams)), None)
    if twin is None:
      outcome = self._run_code(index, hparams)
    else:
      logging.info("trial %d repeats trial %d: result reused", index,
                   twin.index)
      outcome = TrialOutcome(twin.codelength_bits, twin.test_accuracy,
                             twin.workdir)
    record = TrialRecord(
        index=index, oracle_values=values,
        hyperparameters=results.json_round_trip(hparams),
        codelength_bits=float(outcome.codelength_bits),
        hyperparameter_bits=self._search.hyperparameter_bits(self._space,
                                                             hparams),
        test_accuracy=outcome.test_accuracy, workdir=outcome.workdir,
        wall_s=time.perf_counter() - began,
        finished_at=datetime.datetime.now().isoformat(timespec="seconds"),
        duplicate_of=None if twin is None else twin.index,
        tuner_id=self.tuner_id)
    self._store.save(record)
    return record

  def result(self) -> SearchResult:
    """The search over the first T trials that the oracle saw finish (the
    chief's or a single process's oracle).

    Raises:
      ValueError: a finished trial without a record in the store (tuners
        that do not share the store's folder).
    """
    completed = keras_tuner.engine.trial.TrialStatus.COMPLETED
    finished = sorted(int(t.trial_id) for t in self.oracle.trials.values()
                      if t.status == completed)
    records = {r.index: r for r in self._store.load()}
    missing = [i for i in finished if i not in records]
    if missing:
      raise ValueError(
          f"trial(s) {missing} finished but their records are not in "
          f"{self._store.folder}: every tuner process must write to the "
          "same (shared) folder")
    return SearchResult(self._search, tuple(
        records[i] for i in finished if i < self._search.max_trials))


def _check_identity(directory: str, search: Search,
                    space: SearchSpace) -> None:
  """Record the search in ``directory`` (race-free) or check that it holds
  this one; ``max_trials`` may change (a search extended or cut)."""
  identity = results.json_round_trip({
      "search": {k: v for k, v in dataclasses.asdict(search).items()
                 if k != "max_trials"},
      "space": dataclasses.asdict(space)})
  path = os.path.join(directory, IDENTITY)
  if results.write_json_if_absent(path, identity):
    return
  saved = results.read_json(path)
  if saved != identity:
    raise ValueError(
        f"{directory} holds another search ({json.dumps(saved)}), not "
        f"{json.dumps(identity)}; use a new directory")


def run_search(search: Search, space: SearchSpace, run_trial: RunTrial, *,
               directory: str, store: Optional[TrialStore] = None,
               progress=None) -> Optional[SearchResult]:
  """Run (or resume) a search with keras-tuner's engine: propose, run each
  trial's code, pay for the choice.

  In a single process (no keras-tuner variables set) this runs every trial.
  On a cluster (module docstring) the chief serves the oracle until every
  trial is done and returns the result; a worker runs trials until the
  oracle stops and returns None.

  Args:
    search: oracle, T and seed.
    space: the search space.
    run_trial: ``run_trial(index, hyperparameters)`` runs the code of one
      trial and returns its :class:`TrialOutcome`.
    directory: the oracle's folder (keras-tuner's project ``oracle/`` and
      the search's identity), shared by every process of a cluster.
    store: where finished trials are saved (shared too); None:
      ``directory/records``.
    progress: advanced by one per trial run here, with a line per trial (a
      trial's own code reports nested in it); None: a new report on stderr.

  Returns:
    The :class:`SearchResult` over at most ``max_trials`` trials (fewer if
    the oracle stops early, e.g. an exhausted space); None on a worker.

  Raises:
    ValueError: ``directory`` holds another search, the keras-tuner
      variables are incomplete, or a trial's code raised it.
  """
  role = tuner_role()
  _check_identity(directory, search, space)
  store = store or TrialStore(os.path.join(directory, "records"))
  done = sum(r.index < search.max_trials for r in store.load())
  report = progress_lib.reporting(progress, "tune", search.max_trials - done)
  try:
    tuner = CodelengthTuner(search, space, run_trial, store,
                            directory=directory, progress=report)
    if role != "worker" and tuner.oracle.trials:
      logging.info("resuming: %d trial(s) in %s", len(tuner.oracle.trials),
                   directory)
    try:
      tuner.search()
    except _TrialFailed as e:
      raise e.__cause__  # pylint: disable=raise-missing-from
    if role == "worker":
      return None
    result = tuner.result()
    if len(result.trials) < search.max_trials:
      report.note(f"the oracle stopped after {len(result.trials)} trial(s)")
    return result
  finally:
    if progress is None:
      report.close()
