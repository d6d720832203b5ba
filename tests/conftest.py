"""Fixtures shared by the test files.

Helpers come as session fixtures that return functions, so a test asks for
what it uses by name:

* ``repo``: the repository's root folder;
* ``start_bin`` / ``run_bin``: a ``bin/`` binary as a subprocess (started, or
  run to its end), with this interpreter;
* ``bin_config``: the config a binary builds from its command line (config
  file picked from ``--dataset``/``--model``, ``--config.<field>``
  overrides, the common flags), parsed in process as
  :mod:`tfmdl.experiments.cli` does, with its one-line usage errors;
* ``tb_events`` / ``event_tags``: what a run wrote for TensorBoard;
* ``mlp_fn``: ``seed -> zoo MLP`` for a data set;
* ``digits``: scikit-learn's digits, first 200 training samples (read-only
  arrays, so one copy serves the whole session).

End-to-end tests call the experiments' ``run(config, workdir)`` in process
(google/uncertainty-baselines' ``baselines/jft/deterministic_test.py`` calls
``main(config, output_dir)`` the same way); each binary also has one
``slow`` smoke test that runs it as a subprocess.

Tests that use a module-scoped fixture of their file run on one xdist worker
(``--dist=loadgroup`` in pytest.ini), so that the fixture is built once.

TensorFlow and the modules that load it are imported inside the fixtures:
the xdist controller imports this file too, and runs no test.

Each test runs with a run ledger of its own (``$TFMDL_LEDGER``, empty at its
start), and everything the suite writes to the temporary folder goes to a
folder of its own, removed at the end.
"""

import collections
import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from unittest import mock

from absl import flags
import pytest

from tfmdl.experiments import cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Everything a test run writes to the temporary folder (TensorFlow's
# autograph sources, the binaries' own files, the run ledgers) goes to a
# folder of this process's own, removed at the end: the system's temporary
# folder is left as it was. Set before TensorFlow is imported.
_TMP = tempfile.mkdtemp(prefix="tfmdl-tests-")
os.environ["TMPDIR"] = _TMP
tempfile.tempdir = _TMP


def pytest_sessionfinish(session, exitstatus):
  del session, exitstatus
  shutil.rmtree(_TMP, ignore_errors=True)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
  """Each test (and the module fixtures first built for it) runs with a run
  ledger of its own, empty at its start: a code's setting bits then come
  from the test's own runs only (:mod:`tfmdl.ledger`)."""
  name = hashlib.sha256(item.nodeid.encode()).hexdigest()[:16]
  os.environ["TFMDL_LEDGER"] = os.path.join(_TMP, "ledgers", f"{name}.jsonl")

Event = collections.namedtuple("Event", "tag step plugin value")
Event.__doc__ = """One TensorBoard summary value: ``value`` is the float of a
scalar summary, None for other plugins (hparams, images)."""


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items):
  """Group the tests that use a module-scoped fixture by their module
  (``xdist_group``): under ``--dist=loadgroup`` each group runs on one
  worker, which builds the fixture once."""
  for item in items:
    info = getattr(item, "_fixtureinfo", None)
    if info is not None and any(
        defs and defs[-1].scope == "module"
        for defs in info.name2fixturedefs.values()):
      item.add_marker(pytest.mark.xdist_group(item.module.__name__))


@pytest.fixture(scope="session")
def repo():
  """The repository's root folder."""
  return REPO


@pytest.fixture(scope="session")
def start_bin():
  """``(name, args, *, cwd=None, env=None) -> Popen``: ``bin/<name> *args``
  started with this interpreter, text pipes for stdout and stderr; ``env``
  adds to the environment."""

  def start(name, args=(), *, cwd=None, env=None):
    return subprocess.Popen(
        [sys.executable, os.path.join(REPO, "bin", name)] + list(args),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
        env=None if env is None else dict(os.environ, **env))

  return start


@pytest.fixture(scope="session")
def run_bin():
  """``(name, args, *, cwd=None, env=None, timeout=300) ->
  CompletedProcess``: ``bin/<name> *args`` run to its end, output captured
  as text; ``env`` adds to the environment."""

  def run(name, args=(), *, cwd=None, env=None, timeout=300):
    return subprocess.run(
        [sys.executable, os.path.join(REPO, "bin", name)] + list(args),
        capture_output=True, text=True, cwd=cwd, timeout=timeout,
        check=False, env=None if env is None else dict(os.environ, **env))

  return run


def _parse_bin_flags(code, argv=()):
  """The common flags of a binary whose configs are ``configs/<code>_*.py``,
  defined on a fresh ``FlagValues`` and parsed from ``prog *argv`` the way
  ``cli.run_main`` does (default ``--config`` added, one-line usage errors
  with ``SystemExit(2)``). ``--workdir`` is defined too. Returns the
  :class:`cli.ConfigFlags` handles."""
  flag_values = flags.FlagValues()
  handles = cli.define_config_flags(code, "/nonexistent/workdir",
                                    flag_values=flag_values)
  full = cli.with_default_config(["prog"] + list(argv), code)
  # ml_collections reads the --config.<field> overrides from sys.argv.
  with mock.patch.object(sys, "argv", full):
    cli.parse_flags(full, flag_values)
  return handles


@pytest.fixture(scope="session")
def bin_config():
  """``(code, argv=()) -> ConfigDict``: the config that ``bin/<binary>
  *argv`` runs, for a binary of ``configs/<code>_*.py`` (``prequential``
  for bin/prequential and bin/compress, ``twopart``, ``variational``):
  :func:`_parse_bin_flags` then ``cli.config_from_flags``. The binary's own
  flags (``--code``, ``--learner``, ...) are not defined: a test sets their
  config fields itself, as the binary's ``main`` does, or passes the
  ``adjust`` the binary gives ``cli.config_from_flags``."""

  def build(code, argv=(), adjust=None):
    return cli.config_from_flags(_parse_bin_flags(code, argv), adjust)

  return build


def _events(logdir):
  """Every summary value in the event files directly in ``logdir``."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  found = []
  for path in sorted(glob.glob(os.path.join(logdir, "events.out.tfevents.*"))):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        plugin = value.metadata.plugin_data.plugin_name
        number = (float(tf.make_ndarray(value.tensor)) if plugin == "scalars"
                  else None)
        found.append(Event(value.tag, event.step, plugin, number))
  return found


@pytest.fixture(scope="session")
def tb_events():
  """``logdir -> [Event(tag, step, plugin, value)]``: the summaries of the
  event files in ``logdir`` (not its subfolders), in file order."""
  return _events


@pytest.fixture(scope="session")
def event_tags():
  """``logdir -> set of tags`` of the event files in ``logdir``."""
  return lambda logdir: {event.tag for event in _events(logdir)}


@pytest.fixture(scope="session")
def mlp_fn():
  """``(ds, hidden=(32,), dropout=0.0) -> (seed -> zoo MLP)`` for the
  inputs and classes of the data set ``ds``."""

  from tfmdl import models  # pylint: disable=g-import-not-at-top

  def build_fn(ds, hidden=(32,), dropout=0.0):
    return lambda seed: models.build("mlp", ds.input_shape, ds.num_classes,
                                     seed=seed, hidden_sizes=hidden,
                                     dropout=dropout)

  return build_fn


@pytest.fixture(scope="session")
def digits():
  """scikit-learn's digits in the data set's fixed order: the first 200
  training samples and the whole test split (read-only arrays)."""
  from tfmdl import data  # pylint: disable=g-import-not-at-top
  return data.load("digits", num_train=200)
