"""The prequential code on a ``tf.data`` stream: data that need not fit in memory.

The protocol, schedule, seeds and blocks are those of :mod:`tfmdl.prequential`;
only the data access differs. The stream (a
:class:`tfmdl.data.user.UserData` of checked ``(x, y)`` examples in a fixed
order) is read again for every block: block k's model trains on
``take(n_train)`` of the prefix ``take(t_k)``, early-stops on the prefix's
last ``val_fraction`` (``skip(n_train).take(t_k - n_train)``), and encodes
``skip(t_k).take(t_{k+1} - t_k)``. Nothing beyond the prefix reaches the
model, as for arrays.

Training shuffles through a buffer (:func:`tfmdl.training.train_on_stream`):
with ``shuffle_buffer=None`` the buffer holds the whole training part of the
prefix and the blocks are bit for bit those of
:func:`tfmdl.prequential.prequential_code` on the same examples as arrays; a
smaller buffer bounds the memory (another agreed constant, another code).
The per-sample bits (8 bytes per label) are the only arrays of size n kept.

Example::

    import tensorflow as tf
    from tfmdl.codes.prequential import stream as prequential_stream
    from tfmdl.data import user
    stream = user.labelled(tf.data.Dataset.from_tensor_slices((x, y)),
                           num_classes=10)
    result = prequential_stream.prequential_code(model, stream)
"""

import time
from typing import Callable, Optional

from absl import logging
import numpy as np
import tensorflow as tf

from tfmdl.codes.prequential import block as prequential
from tfmdl import training
from tfmdl.models import adapter
from tfmdl.bits import units
from tfmdl.data.user import UserData


def _trained_on_prefix(model_fn, stream: UserData, index: int, start: int,
                       config: prequential.PrequentialConfig, strategy,
                       shuffle_buffer, epoch_callback=None):
  """Block ``index``'s model, trained on the stream's first ``start``
  examples: ``(model, forward, TrainResult, n_train, seed)``."""
  seed = prequential.block_seed(config.seed, index)
  n_train = prequential.split_prefix(start, config.val_fraction)
  training.seed_everything(seed)
  with strategy.scope():
    model = model_fn(seed)
  forward = training.make_forward(model)
  result = training.train_on_stream(
      model, stream.slice(0, n_train), n_train,
      val_examples=stream.slice(n_train, start), num_val=start - n_train,
      config=config.train, seed=seed, shuffle_buffer=shuffle_buffer,
      strategy=strategy,
      epoch_callback=(None if epoch_callback is None else
                      lambda epoch, _: epoch_callback(epoch, forward)))
  return model, forward, result, n_train, seed


def encode_block(model_fn, stream: UserData, index: int, start: int,
                 end: int, config: prequential.PrequentialConfig,
                 strategy: tf.distribute.Strategy,
                 shuffle_buffer: Optional[int] = None
                 ) -> prequential.BlockResult:
  """Train on the stream's ``[0, start)`` and encode ``[start, end)``."""
  began = time.perf_counter()
  block = stream.slice(start, end)
  eval_batch = config.train.eval_batch_size

  def bits_on_block(forward):
    log_probs, labels = training.predict_stream_log_probs(
        block, eval_batch, forward=forward)
    return units.nats_to_bits(training.per_sample_nll_nats(log_probs,
                                                           labels))

  epoch_bits = []
  callback = ((lambda epoch, forward: epoch_bits.append(bits_on_block(forward)))
              if config.record_epoch_bits else None)
  _, forward, result, n_train, seed = _trained_on_prefix(
      model_fn, stream, index, start, config, strategy, shuffle_buffer,
      epoch_callback=callback)
  log_probs, labels = training.predict_stream_log_probs(block, eval_batch,
                                                        forward=forward)
  return prequential.block_result(
      index, start, end, log_probs, labels, config=config,
      train_result=result, train_size=n_train, seed=seed,
      wall_s=time.perf_counter() - began, epoch_bits=epoch_bits)


def prequential_code(
    model_fn,
    stream: UserData,
    *,
    config: prequential.PrequentialConfig = prequential.PrequentialConfig(),
    shuffle_buffer: Optional[int] = None,
    x_test: Optional[np.ndarray] = None,
    y_test: Optional[np.ndarray] = None,
    strategy: Optional[tf.distribute.Strategy] = None,
    block_callback: Optional[Callable[[prequential.BlockResult], None]] = None,
) -> prequential.PrequentialResult:
  """Prequential codelength, in bits, of a stream's labels given its inputs.

  Args:
    model_fn: a ``model_fn(seed)`` or a built model (as in
      :func:`tfmdl.prequential.prequential_code`); with a dict of inputs, the
      stream's packing is put in front of it.
    stream: checked examples in the agreed order
      (:func:`tfmdl.data.user.labelled` of a ``tf.data.Dataset``).
    config: schedule, validation split, seed and training.
    shuffle_buffer: examples held in memory to shuffle a prefix; None for a
      whole prefix (the blocks of the array code).
    x_test, y_test: optional test arrays for the final model's accuracy.
    strategy: a ``tf.distribute`` strategy; the default one when None.
    block_callback: called with each block as soon as it is finished.

  Returns:
    A :class:`tfmdl.prequential.PrequentialResult`.
  """
  began = time.perf_counter()
  num_classes = stream.num_classes
  model_fn = adapter.as_model_fn(model_fn, num_classes).with_layout(
      stream.layout)
  timesteps = prequential.schedule(stream.n, config)
  strategy = strategy or tf.distribute.get_strategy()
  bounds = prequential.block_bounds(timesteps)
  blocks = []
  for index, (start, end) in enumerate(bounds):
    block = (prequential.uniform_block(index, start, end, num_classes)
             if index == 0 else
             encode_block(model_fn, stream, index, start, end, config,
                          strategy, shuffle_buffer))
    logging.info(
        "block %d/%d [%d, %d): %.1f bits, %.3f bits/sample, accuracy %.3f, "
        "%d epochs, %.1fs", index, len(bounds) - 1, start, end, block.bits,
        block.bits_per_sample, block.accuracy, block.epochs_trained,
        block.wall_s)
    if block_callback is not None:
      block_callback(block)
    blocks.append(block)
  wall_s = time.perf_counter() - began

  test_accuracy, final_wall_s = None, 0.0
  if config.final_model and x_test is not None and y_test is not None:
    final_began = time.perf_counter()
    model, forward, *_ = _trained_on_prefix(
        model_fn, stream, len(timesteps), stream.n, config, strategy,
        shuffle_buffer)
    log_probs = training.predict_log_probs(
        model, x_test, config.train.eval_batch_size, forward=forward)
    test_accuracy = float(np.mean(log_probs.argmax(1) == np.asarray(y_test)))
    final_wall_s = time.perf_counter() - final_began
  return prequential.assemble(blocks, stream.n, num_classes, timesteps,
                              test_accuracy=test_accuracy, wall_s=wall_s,
                              final_model_wall_s=final_wall_s)
