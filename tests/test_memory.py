"""A model too large for the machine is refused before its weights exist
(tfmdl.models.memory), in one line."""

import re

import pytest
import tensorflow as tf

from tfmdl import models
from tfmdl.models import memory


def _never(*args, **kwargs):
  raise AssertionError("the initial value of a refused variable was computed")


def test_refused_at_the_byte_before_its_initial_value_is_computed():
  """Two float32 variables of 1,000 and 500 elements: 6,000 bytes, times 3
  copies 18,000."""
  with memory.weights_within(copies=3, available=18_000):
    tf.Variable(tf.zeros([1000]))
    tf.Variable(tf.zeros([500]))
  with pytest.raises(ValueError) as refused:
    with memory.weights_within(copies=3, available=17_999):
      tf.Variable(tf.zeros([1000]))
      tf.Variable(_never, shape=[500], dtype=tf.float32)
  message = str(refused.value)
  assert "\n" not in message
  assert message == (
      "the model needs at least 17.6 KiB for 3 copies of its weights (over "
      "1,500 parameters); this machine has 17.6 KiB of memory: choose a "
      "smaller model")
  # int64 counts 8 bytes an element.
  with pytest.raises(ValueError, match="over 10 parameters"):
    with memory.weights_within(copies=1, available=79):
      tf.Variable(_never, shape=[10], dtype=tf.int64)


def test_a_layer_of_10_to_the_8_units_is_refused_without_allocating_it():
  with pytest.raises(ValueError) as refused:
    with memory.weights_within(copies=5, what="model 'mlp'"):
      models.build("mlp", (28, 28, 1), 10, hidden_sizes=(10**8,))
  # 784 * 10**8 float32 weights, 5 copies: 1.4 TiB.
  assert re.fullmatch(
      r"model 'mlp' needs at least 1\.4 TiB for 5 copies of its weights "
      r"\(over 78,400,000,\d{3} parameters\); this machine has [\d.]+ \w+ of "
      r"memory: choose a smaller model", str(refused.value))
  # A model that fits is built as usual.
  with memory.weights_within(copies=5):
    model = models.build("mlp", (28, 28, 1), 10, hidden_sizes=(16,))
  assert model.count_params() == 784 * 16 + 16 + 16 * 10 + 10


def test_the_machine_has_some_memory_and_copies_are_at_least_one():
  assert 2**20 < memory.machine_bytes() < 2**50
  with pytest.raises(ValueError, match="copies must be >= 1, got 0"):
    with memory.weights_within(copies=0):
      pass
