"""Shared plumbing of the ``bin/`` binaries: flags, config selection, errors.

A binary defines its flags, its ``main`` and its summary line; the rest is
here, once::

  _FLAGS = cli.define_config_flags("twopart", "/tmp/tfmdl/twopart")
  _CODE = flags.DEFINE_string("code", None, "...")

  def main():
    config = cli.config_from_flags(_FLAGS)
    ...

  if __name__ == "__main__":
    cli.run_main(main, _FLAGS)

``bin/prequential --model=vgg --dataset=cifar10`` is shorthand for
``--config=configs/prequential_cifar10.py:vgg``: the two flags only pick the
config file and its argument (the config file resolves a model alias, once);
with an explicit ``--config`` they are refused. Field overrides
(``--config.train.max_epochs=5``) work either way, on the fields of the
binary's own config sections only: another code's section is refused in one
line. (The pattern of google-research/big_vision: the experiment is the
config, the command line picks it and overrides fields.)

Usage errors (bad flags, unknown config fields, bad config, bad data) end with
a one-line message and exit status 2, before any results file is written;
other failures (a full disk) with a one-line message and exit status 1.

Importing this module quiets TensorFlow's C++ start-up logging, which must be
set before TensorFlow loads: binaries import it first.
"""

import dataclasses
import os
import sys
from typing import Callable, Optional, Sequence

from absl import app
from absl import flags
from absl import logging
import ml_collections
from ml_collections import config_flags


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The flags defined here are defined for the binary that calls
# define_config_flags: they are its key flags, listed by its --help.
flags.disclaim_key_flags()

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "configs")
USAGE_ERROR = 2


def _flag_value(argv: Sequence[str], name: str) -> Optional[str]:
  """The value of ``--name=value`` or ``--name value`` in ``argv``; the last
  one wins, as in absl's parsing."""
  value = None
  for i, arg in enumerate(argv):
    if arg.startswith(f"--{name}="):
      value = arg.split("=", 1)[1]
    elif arg == f"--{name}" and i + 1 < len(argv):
      value = argv[i + 1]
  return value


def with_default_config(argv: Sequence[str], code: str,
                        default_dataset: str = "digits",
                        config_argument: str = "model") -> list:
  """``argv`` with ``--config=configs/<code>_<dataset>.py[:<argument>]``
  added when the user gave none, picked from ``--dataset`` and the flag
  ``--<config_argument>`` (``--model``; ``bin/tune``'s ``--code``)."""
  argv = list(argv)
  if _flag_value(argv, "config") is not None:
    given = [f"--{name}" for name in ("dataset", config_argument)
             if _flag_value(argv, name) is not None]
    if given:
      sys.stderr.write(
          f"error: {' and '.join(given)} pick the config file, and --config "
          f"gives it: pass the model as the config's argument "
          f"(--config=configs/{code}_<dataset>.py:<{config_argument}>) or "
          "set --config.<field>\n")
      sys.exit(USAGE_ERROR)
    return argv
  dataset = _flag_value(argv, "dataset") or default_dataset
  model = _flag_value(argv, config_argument)
  path = os.path.join(CONFIG_DIR, f"{code}_{dataset}.py")
  if not os.path.exists(path):
    known = sorted(f[len(code) + 1:-3] for f in os.listdir(CONFIG_DIR)
                   if f.startswith(code + "_") and f.endswith(".py"))
    sys.stderr.write(f"error: no config for dataset {dataset!r} in "
                     f"{CONFIG_DIR}; known: {', '.join(known)} (or pass "
                     "--config)\n")
    sys.exit(USAGE_ERROR)
  return argv[:1] + [f"--config={path}" + (f":{model}" if model else "")
                     ] + argv[1:]


@dataclasses.dataclass(frozen=True)
class ConfigFlags:
  """The flags of :func:`define_config_flags`, and how to pick a config.

  Attributes:
    code: the configs' prefix, ``configs/<code>_<dataset>.py``.
    config_argument: the flag whose value is the config file's argument
      when ``--config`` is not given.
    config, dataset, data_dir, random_labels, verbose: the flags' handles.
    model: the handle of ``--model``; None without it.
    workdir: the handle of ``--workdir``; None without it.
    flag_values: where they are defined.
  """
  code: str
  config_argument: str
  config: flags.FlagHolder
  dataset: flags.FlagHolder
  data_dir: flags.FlagHolder
  random_labels: flags.FlagHolder
  verbose: flags.FlagHolder
  model: Optional[flags.FlagHolder]
  workdir: Optional[flags.FlagHolder]
  flag_values: flags.FlagValues = flags.FLAGS


def define_config_flags(code: str, default_workdir: Optional[str] = None, *,
                        config_argument: str = "model",
                        flag_values: flags.FlagValues = flags.FLAGS
                        ) -> ConfigFlags:
  """Define the flags that pick and adjust an experiment's config.

  ``--config`` (with ``--config.<field>`` overrides), ``--dataset``,
  ``--data_dir``, ``--random_labels``, ``--verbose``, ``--model`` when
  ``config_argument`` is ``"model"``, and ``--workdir`` when
  ``default_workdir`` is given.

  Args:
    code: the configs' prefix: without ``--config``, :func:`run_main` picks
      ``configs/<code>_<--dataset>.py:<--config_argument>``.
    default_workdir: the default of ``--workdir``; None: no such flag.
    config_argument: the flag whose value is the config file's argument:
      ``"model"`` (defined here), or a flag of the binary's own, defined by
      it (``bin/tune``'s ``--code``); then there is no ``--model``.
    flag_values: where to define them (tests use their own).

  Returns:
    The flags' handles, for :func:`config_from_flags` and :func:`run_main`.
  """
  config = config_flags.DEFINE_config_file(
      "config", None, f"A config file from configs/, e.g. configs/{code}_"
      f"digits.py:<{config_argument}> (default: picked from --dataset and "
      f"--{config_argument}); fields can be overridden with "
      "--config.<field>=<value>.", flag_values=flag_values)
  model = workdir = None
  if config_argument == "model":
    model = flags.DEFINE_string("model", None,
                                "A zoo model (overrides config).",
                                flag_values=flag_values)
  if default_workdir is not None:
    workdir = flags.DEFINE_string(
        "workdir", default_workdir, "Folder for results.json, TensorBoard "
        "events and the code's other files.", flag_values=flag_values)
  return ConfigFlags(
      code=code, config_argument=config_argument, config=config,
      dataset=flags.DEFINE_string(
          "dataset", None, "A data set: picks configs/<code>_<dataset>.py.",
          flag_values=flag_values),
      data_dir=flags.DEFINE_string("data_dir", None,
                                   "Folder with local data.",
                                   flag_values=flag_values),
      random_labels=flags.DEFINE_bool(
          "random_labels", False, "Replace training labels by random ones.",
          flag_values=flag_values),
      verbose=flags.DEFINE_bool(
          "verbose", False, "A log line per training epoch (sets "
          "config.train.verbose), besides the progress bar.",
          flag_values=flag_values),
      model=model, workdir=workdir, flag_values=flag_values)


def config_from_flags(
    handles: ConfigFlags,
    adjust: Optional[Callable[[ml_collections.ConfigDict], object]] = None
) -> ml_collections.ConfigDict:
  """The parsed ``--config`` with ``--random_labels``, ``--data_dir`` and
  ``--verbose`` applied (``--dataset`` and ``--model`` picked the file).

  ``adjust(config)``, when given, changes the config file's values the way
  a binary's own flag asks (``bin/prequential --learner``), under the
  ``--config.<field>`` overrides: they are set again after it, so the
  command line has the last word."""
  config = handles.config.value
  if adjust is not None:
    adjust(config)
    overrides = config_flags.get_override_values(
        handles.flag_values[handles.config.name])
    for path, value in overrides.items():
      *parents, field = path.split(".")
      node = config
      for parent in parents:
        node = node[parent]
      node[field] = value
  if handles.random_labels.value:
    config.random_labels = True
  if handles.data_dir.value is not None:
    config.data_dir = handles.data_dir.value
  if handles.verbose.value:
    config.train.verbose = 1
  return config


def _exit(message: str, status: int):
  line = message.splitlines()[0] if message else "unknown error"
  sys.stderr.write(f"error: {line}\n")
  sys.exit(status)


def parse_flags(argv: Sequence[str],
                flag_values: flags.FlagValues = flags.FLAGS) -> list:
  """absl's flag parsing (``app.run(..., flags_parser=parse_flags)``) with
  every error -- an unknown flag, a bad value, a ``--config.<field>`` that
  the config does not have -- as one line and exit status 2."""
  try:
    remaining = flag_values(argv)
  except flags.Error as e:
    _exit(str(e), USAGE_ERROR)
  except (AttributeError, KeyError) as e:
    # ml_collections' way of saying that an overridden field does not exist.
    field = str(e.args[0] if e.args else e).strip("\"'")
    _exit(f"unknown config field {field!r} in a --config.<field> override: "
          "not a field of this binary's config (bin/<binary> --helpfull, or "
          "the config file, lists them)", USAGE_ERROR)
  if "config" in flag_values and flag_values["config"].value is not None:
    try:
      flag_values["config"].value.keys()
    except OSError as e:  # ml_collections defers a failed load to first use
      cause = str(e).strip().splitlines()[-1].strip()
      _exit(f"cannot load --config: {cause}", USAGE_ERROR)
  return remaining


def run_or_exit(run: Callable[[], object]):
  """Call ``run``; a ``ValueError`` becomes a one-line message and exit 2,
  an ``OSError`` (a full disk, a lost mount) one line and exit 1."""
  try:
    return run()
  except ValueError as e:
    _exit(str(e) or type(e).__name__, USAGE_ERROR)
  except OSError as e:
    where = f" ({e.filename})" if e.filename else ""
    _exit(f"{e.strerror or e}{where}", 1)


def _setup_logging() -> None:
  """Progress lines on stderr, without TensorFlow's start-up noise."""
  logging.set_verbosity(logging.INFO)
  logging.get_absl_handler().use_absl_log_file = False


def run_main(main: Callable[..., None],
             handles: Optional[ConfigFlags] = None, *, num_args: int = 0,
             usage: Optional[str] = None) -> None:
  """Run a binary: ``app.run`` with the plumbing every binary shares.

  Without ``--config``, adds the one that ``handles`` picks
  (:func:`with_default_config`); parses the flags with :func:`parse_flags`
  (one-line errors, exit status 2); checks that there are ``num_args``
  positional arguments (else absl's usage message with ``usage``); sets up
  logging; then calls ``main(*arguments)``.

  Args:
    main: the binary's own work; takes the positional arguments.
    handles: from :func:`define_config_flags`; None for a binary without a
      config.
    num_args: how many positional arguments ``main`` takes.
    usage: the message when their number is wrong (default: the unexpected
      arguments).
  """
  def checked_main(argv):
    if len(argv) - 1 != num_args:
      raise app.UsageError(usage or f"unexpected arguments: {argv[1:]}")
    _setup_logging()
    main(*argv[1:])

  argv = sys.argv
  if handles is not None:
    argv = with_default_config(argv, handles.code,
                               config_argument=handles.config_argument)
  app.run(checked_main, argv=argv, flags_parser=parse_flags)
