"""Test setup: quiet TensorFlow, two logical CPU devices for tf.distribute.

Under ``pytest -n 2`` (pytest-xdist) the controller process only hands tests
to the workers: it skips TensorFlow's import (seconds of CPU that the workers
need at start-up). The shared fixtures are in tests/conftest.py.
"""

import contextlib
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@contextlib.contextmanager
def _stderr_silenced():
  """TensorFlow's C++ start-up lines (CUDA probing, oneDNN notices) ignore
  TF_CPP_MIN_LOG_LEVEL and would be replayed after pytest's summary line."""
  saved = os.dup(2)
  with open(os.devnull, "w") as devnull:
    os.dup2(devnull.fileno(), 2)
  try:
    yield
  finally:
    os.dup2(saved, 2)
    os.close(saved)


def _is_xdist_controller(config) -> bool:
  """Whether this process hands the tests to xdist workers (and runs none)."""
  distributing = (getattr(config.option, "dist", "no") != "no" and
                  bool(getattr(config.option, "tx", None)))
  return distributing and not hasattr(config, "workerinput")


def pytest_configure(config):
  """Before any test module is imported: TensorFlow's devices, quietly."""
  if _is_xdist_controller(config):
    return
  with _stderr_silenced():
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    # Split the one physical CPU into two logical devices, so
    # MirroredStrategy can be tested with two replicas on a machine without
    # GPUs. This must happen before TensorFlow initialises its devices.
    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
    tf.config.list_logical_devices()  # initialise devices now, quietly
