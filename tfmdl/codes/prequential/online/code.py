"""The online code: drive an :class:`OnlineLearner` over all n labels.

Alice's side of the protocol of :mod:`tfmdl.online`: the learner predicts
each minibatch before learning from it; this module turns its predictions
into per-sample bits (minibatch 0 uniform, the setting's price before the
first label), sums them into the blocks of the usual prequential timesteps,
and measures the final encoding model's test accuracy.
"""

import dataclasses
import math
import time
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from tfmdl.codes.prequential import block as prequential
from tfmdl import training
from tfmdl.models import adapter
from tfmdl.bits import mixtures
from tfmdl.bits import units
from tfmdl.data import validate_labelled_arrays
from tfmdl.codes.prequential.online.config import OnlineConfig
from tfmdl.codes.prequential.online.learner import OnlineLearner
from tfmdl.progress import Progress


def member_seeds(config: OnlineConfig) -> tuple:
  """The seeds of the ensemble's learners: ``seed, seed + 1, ...``."""
  return tuple(config.seed + e for e in range(config.ensemble))


def _average(log_probs: list) -> np.ndarray:
  """Log of the equal-weight average of the members' predictive
  distributions, row by row (nats)."""
  if len(log_probs) == 1:
    return log_probs[0]
  return (np.logaddexp.reduce(np.stack(log_probs).astype(np.float64), axis=0)
          - math.log(len(log_probs)))


def _block(index: int, start: int, end: int, bits: np.ndarray,
           correct: np.ndarray, config: OnlineConfig, num_classes: int,
           wall_s: float) -> prequential.BlockResult:
  per_sample = bits[start:end]
  if config.uniform_fallback:
    per_sample = mixtures.block_uniform_fallback_bits(per_sample, index,
                                                      num_classes)
  return prequential.BlockResult(
      index=index, start=start, end=end, bits=float(per_sample.sum()),
      accuracy=float(correct[start:end].mean()), epochs_trained=0,
      best_epoch=0, train_size=start, val_size=0, seed=config.seed,
      wall_s=wall_s, per_sample_bits=per_sample.copy())


def online_code(
    model_fn: Callable[[int], object],
    x: np.ndarray,
    y: np.ndarray,
    num_classes: int,
    *,
    config: OnlineConfig = OnlineConfig(),
    x_test: Optional[np.ndarray] = None,
    y_test: Optional[np.ndarray] = None,
    strategy: Optional[tf.distribute.Strategy] = None,
    block_callback: Optional[Callable[[prequential.BlockResult], None]] = None,
    progress: Optional[Progress] = None,
) -> prequential.PrequentialResult:
  """Online prequential codelength of labels ``y`` given inputs ``x``, in bits.

  Args:
    model_fn: ``model_fn(seed)`` returns a fresh ``tf_keras`` or Keras 3 model;
      called once per ensemble member, twice with an EMA. Or a built model,
      cloned (:mod:`tfmdl.user_models`); a softmax or sigmoid head is
      measured through its logits.
    x, y: inputs and integer labels, in the agreed transmission order.
    num_classes: K.
    config: the protocol's hyperparameters (module docstring).
    x_test, y_test: optional test data for the final encoding model's
      accuracy.
    strategy: a one-replica ``tf.distribute`` strategy; the default one when
      None.
    block_callback: called with each block of the timesteps as soon as all
      its samples are encoded (TensorBoard, block files).
    progress: advanced by one per iteration of the learner (minibatches + 1),
      with a line per block; None: a new report on stderr.

  Returns:
    A :class:`tfmdl.prequential.PrequentialResult` whose blocks follow the
    timesteps; ``epoch_bits`` is None (there are no epochs) and
    ``final_model_wall_s`` the test evaluation's time.
  """
  began = time.perf_counter()
  validate_labelled_arrays(x, y, num_classes)
  model_fn = adapter.as_model_fn(model_fn, num_classes, example=x[:8])
  n = len(x)
  timesteps = (prequential.default_timesteps(n, config.first_block)
               if config.timesteps is None
               else prequential.check_timesteps(config.timesteps, n))
  learners = [OnlineLearner(model_fn, x, num_classes,
                            dataclasses.replace(config, seed=seed), strategy)
              for seed in member_seeds(config)]
  learner = learners[0]
  labels = np.asarray(y, np.int64)
  y_tensor = tf.convert_to_tensor(labels.astype(np.int32))
  bits = np.empty(n)
  correct = np.empty(n)
  first = min(config.batch_size, n)
  bits[:first] = math.log2(num_classes)
  bits[0] += config.setting_bits
  correct[:first] = 1.0 / num_classes
  bounds = list(zip((0,) + timesteps[:-1], timesteps))
  progress = Progress.started(progress, "prequential (online)",
                              learner.num_minibatches + 1)
  blocks, encoded, block_began = [], 0, time.perf_counter()
  while learner.position <= learner.num_minibatches:
    count = min(config.steps_per_call,
                learner.num_minibatches + 1 - learner.position)
    log_probs = _average(
        [member.advance(y_tensor, count) for member in learners])
    start, encoded = encoded, encoded + len(log_probs)
    # Minibatch 0's predictions are not used: it is sent uniformly.
    keep = max(start, first)
    rows = log_probs[keep - start:]
    bits[keep:encoded] = units.nats_to_bits(
        training.per_sample_nll_nats(rows, labels[keep:encoded]))
    correct[keep:encoded] = rows.argmax(1) == labels[keep:encoded]
    while len(blocks) < len(bounds) and bounds[len(blocks)][1] <= encoded:
      now = time.perf_counter()
      block = _block(len(blocks), *bounds[len(blocks)], bits, correct,
                     config, num_classes, now - block_began)
      block_began = now
      blocks.append(block)
      if block_callback is not None:
        block_callback(block)
      progress.advance(0, note=(
          f"online block {block.index + 1}/{len(bounds)} [{block.start}, "
          f"{block.end}): {block.bits:.1f} bits, {block.bits_per_sample:.3f} "
          f"bits/sample, accuracy {block.accuracy:.3f}, temperature "
          f"{learner.temperature:.3f}"))
    done = min(learner.position, learner.num_minibatches)
    progress.advance(
        count, minibatch=f"minibatch {done}/{learner.num_minibatches}",
        bits=f"{units.bits_to_kbits(bits[:encoded].sum()):.3f} kbits so far")
  wall_s = time.perf_counter() - began

  test_accuracy, test_wall_s = None, 0.0
  if x_test is not None and y_test is not None:
    test_began = time.perf_counter()
    test_log_probs = _average([training.predict_log_probs(
        None, x_test, config.eval_batch_size,
        forward=training.make_forward(member.encoding_model))
                               for member in learners])
    test_accuracy = float(np.mean(test_log_probs.argmax(1) ==
                                  np.asarray(y_test)))
    test_wall_s = time.perf_counter() - test_began
  return prequential.PrequentialResult(
      n=n, num_classes=num_classes, timesteps=timesteps, blocks=tuple(blocks),
      test_accuracy=test_accuracy, wall_s=wall_s,
      final_model_wall_s=test_wall_s)
