"""Test setup: quiet TensorFlow, two logical CPU devices for tf.distribute."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

# Split the one physical CPU into two logical devices, so MirroredStrategy can
# be tested with two replicas on a machine without GPUs. This must happen
# before TensorFlow initialises its devices, hence at import time.
_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
