"""Which ``tf.distribute`` strategy a run trains under.

By default: ``MirroredStrategy`` when more than one GPU is visible, the default
(no-op) strategy otherwise. A name overrides the choice, so a user (or a test
with logical CPU devices) can force one. :func:`is_chief` tells the one process
of a multi-worker run that writes files.

A process gets one ``MirroredStrategy`` per set of devices, made on first use
and returned again after: two strategies over the same devices number their
collective all-reduces alike, and the second one's steps would meet the
first one's (TensorFlow aborts them with "Shape mismatch in the collective
instance" as soon as two models of different sizes are trained).
"""

import functools
import json
import os

import tensorflow as tf

STRATEGY_NAMES = ("auto", "default", "mirrored", "multi_worker")


def get_strategy(name: str = "auto") -> tf.distribute.Strategy:
  """Return the strategy called ``name`` (one of :data:`STRATEGY_NAMES`).

  ``auto``: mirrored over all GPUs when there are two or more, else default.
  ``mirrored``: ``MirroredStrategy`` over every logical GPU, or every logical
  CPU when there is no GPU (what tests use with
  ``tf.config.set_logical_device_configuration``).
  ``multi_worker``: ``MultiWorkerMirroredStrategy`` configured by ``TF_CONFIG``
  (see docs/cluster.md); it must be created before TensorFlow runs anything
  else in the process, so experiments create their strategy first.
  """
  if name not in STRATEGY_NAMES:
    raise ValueError(
        f"unknown strategy {name!r}; known: {', '.join(STRATEGY_NAMES)}")
  if name == "multi_worker":
    # Before anything that initialises TensorFlow's runtime (listing devices
    # included): collective ops can only be configured at program start.
    return _multi_worker()
  gpus = tf.config.list_logical_devices("GPU")
  if name == "auto":
    name = "mirrored" if len(gpus) > 1 else "default"
  if name == "default":
    return tf.distribute.get_strategy()
  devices = gpus or tf.config.list_logical_devices("CPU")
  return _mirrored(tuple(d.name for d in devices))


@functools.lru_cache(maxsize=None)
def _mirrored(devices: tuple) -> tf.distribute.Strategy:
  """The process's one ``MirroredStrategy`` over ``devices`` (module
  docstring)."""
  return tf.distribute.MirroredStrategy(list(devices))


def _multi_worker() -> tf.distribute.Strategy:
  """``MultiWorkerMirroredStrategy`` from ``TF_CONFIG``, checked first."""
  if "TF_CONFIG" not in os.environ:
    raise ValueError("strategy 'multi_worker' needs the TF_CONFIG environment "
                     "variable (cluster and task), see docs/cluster.md")
  try:
    tf_config = json.loads(os.environ["TF_CONFIG"])
  except json.JSONDecodeError as e:
    raise ValueError(f"TF_CONFIG is not valid JSON: {e}") from e
  if not isinstance(tf_config, dict) or not {"cluster", "task"} <= set(
      tf_config):
    raise ValueError("TF_CONFIG needs a 'cluster' and a 'task' entry, see "
                     "docs/cluster.md")
  return tf.distribute.MultiWorkerMirroredStrategy()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
  """Whether this process is the one that writes files.

  Single-process strategies always are. Under ``MultiWorkerMirroredStrategy``
  the chief is task ``chief``, or worker 0 when the cluster has no ``chief``
  task (TensorFlow's convention); the other workers compute the same numbers
  in lockstep and must write nothing.
  """
  resolver = strategy.cluster_resolver
  if resolver is None or not resolver.task_type:
    return True
  if resolver.task_type == "chief":
    return True
  has_chief = "chief" in resolver.cluster_spec().as_dict()
  return (not has_chief and resolver.task_type == "worker" and
          resolver.task_id == 0)
