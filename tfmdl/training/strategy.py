"""Which ``tf.distribute`` strategy a run trains under.

By default: ``MirroredStrategy`` when more than one GPU is visible, the default
(no-op) strategy otherwise. A name overrides the choice, so a user (or a test
with logical CPU devices) can force one.
"""

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
  ``multi_worker``: ``MultiWorkerMirroredStrategy`` configured by ``TF_CONFIG``.
  """
  if name not in STRATEGY_NAMES:
    raise ValueError(
        f"unknown strategy {name!r}; known: {', '.join(STRATEGY_NAMES)}")
  gpus = tf.config.list_logical_devices("GPU")
  if name == "auto":
    name = "mirrored" if len(gpus) > 1 else "default"
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    devices = gpus or tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy([d.name for d in devices])
  if "TF_CONFIG" not in os.environ:
    raise ValueError("strategy 'multi_worker' needs the TF_CONFIG environment "
                     "variable (cluster and task), see the README")
  json.loads(os.environ["TF_CONFIG"])  # a malformed TF_CONFIG fails here, early
  return tf.distribute.MultiWorkerMirroredStrategy()
