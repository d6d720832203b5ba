"""Shared plumbing of the ``bin/`` binaries: config selection, errors, summary.

``bin/prequential --model=vgg --dataset=cifar10`` is shorthand for
``--config=configs/prequential_cifar10.py:vgg``; with an explicit ``--config``
the two flags override ``config.dataset`` and ``config.model``. Field
overrides (``--config.train.max_epochs=5``) work either way.

Usage errors (bad flags, unknown config fields, bad config, bad data) end with
a one-line message and exit status 2, before any results file is written;
other failures (a full disk) with a one-line message and exit status 1.
"""

import os
import sys
from typing import Callable, Sequence

from absl import flags
from absl import logging

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "configs")
USAGE_ERROR = 2


def _flag_value(argv: Sequence[str], name: str):
  for i, arg in enumerate(argv):
    if arg.startswith(f"--{name}="):
      return arg.split("=", 1)[1]
    if arg == f"--{name}" and i + 1 < len(argv):
      return argv[i + 1]
  return None


def with_default_config(argv: Sequence[str], code: str,
                        default_dataset: str = "digits") -> list:
  """``argv`` with ``--config=configs/<code>_<dataset>.py[:<model>]`` added
  when the user gave none, picked from ``--dataset`` and ``--model``."""
  argv = list(argv)
  if _flag_value(argv, "config") is not None:
    return argv
  dataset = _flag_value(argv, "dataset") or default_dataset
  model = _flag_value(argv, "model")
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


def apply_overrides(config, *, dataset=None, model=None,
                    random_labels=False, data_dir=None):
  """Apply the ``--dataset/--model/--random_labels/--data_dir`` flags."""
  if dataset is not None:
    config.dataset = dataset
  if model is not None and model != config.model:
    config.model = model
    config.model_options = type(config.model_options)()
  if random_labels:
    config.random_labels = True
  if data_dir is not None:
    config.data_dir = data_dir
  return config


def _exit(message: str, status: int):
  line = message.splitlines()[0] if message else "unknown error"
  sys.stderr.write(f"error: {line}\n")
  sys.exit(status)


def parse_flags(argv: Sequence[str]) -> list:
  """absl's flag parsing (``app.run(..., flags_parser=parse_flags)``) with
  every error -- an unknown flag, a bad value, a ``--config.<field>`` that
  the config does not have -- as one line and exit status 2."""
  try:
    remaining = flags.FLAGS(argv)
  except flags.Error as e:
    _exit(str(e), USAGE_ERROR)
  except (AttributeError, KeyError) as e:
    # ml_collections' way of saying that an overridden field does not exist.
    field = str(e.args[0] if e.args else e).strip("\"'")
    _exit(f"unknown config field {field!r} in a --config.<field> override "
          "(see tfmdl/experiments/defaults.py for the fields)", USAGE_ERROR)
  if "config" in flags.FLAGS and flags.FLAGS["config"].value is not None:
    try:
      flags.FLAGS["config"].value.keys()
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


def setup_logging() -> None:
  """Progress lines on stderr, without TensorFlow's start-up noise."""
  logging.set_verbosity(logging.INFO)
  logging.get_absl_handler().use_absl_log_file = False
