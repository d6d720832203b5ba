"""The block learner: the paper's prequential code (section 3.4, Algorithm 2).

Block 0, ``[0, t_1)``, is sent with the uniform code. For every next block
``[t_k, t_{k+1})`` Alice and Bob both train a fresh model, built and seeded
from ``block_seed(seed, k)``, on the prefix ``[0, t_k)`` only --
early-stopped on the prefix's last ``val_fraction`` -- and code the block's
labels with its predictions. Bob has the prefix's labels when he decodes the
block, so he trains the same model; no weight is transmitted.

The block being coded never influences its own model: it is not trained on,
not validated on, and the per-epoch bits recorded on it (the self-switch
code's strategies) are read after each epoch without feeding back.

Blocks are independent given the labels: each reseeds every generator from
its own seed, so any subset of them, in any process, gives the blocks of one
whole run (how a run resumes and is split into shards, docs/cluster.md).

The inputs come from a :class:`tfmdl.data.LabelledData`: arrays, or a
``tf.data`` stream. With ``shuffle_buffer=None`` the stream is read once, in
order, into memory as the blocks need it (a full shuffle buffer would hold
each prefix anyway), and the blocks are bit for bit those of the same
examples as arrays; a smaller buffer bounds the memory (another agreed
constant, another code): the stream is then read again for every block
(prefix, validation split, block) and need not fit in memory.
"""

import time
from typing import Optional

import numpy as np
import tensorflow as tf

from tfmdl import training
from tfmdl.codes.prequential import schedule
from tfmdl.codes.prequential.config import BlockConfig
from tfmdl.codes.prequential.config import PrequentialConfig
from tfmdl.codes.prequential.protocol import Learner
from tfmdl.codes.prequential.protocol import Prediction
from tfmdl.codes.prequential.coders import per_sample_nll_bits
from tfmdl.data.labelled import LabelledData


class BlockLearner(Learner):
  """Block k's predictions: a fresh model trained on blocks < k.

  Attributes:
    units: the schedule's blocks.
  """

  def __init__(self, model_fn, data: LabelledData, config: PrequentialConfig,
               block: BlockConfig,
               strategy: Optional[tf.distribute.Strategy] = None, *,
               shuffle_buffer: Optional[int] = None, progress=None):
    """
    Args:
      model_fn: ``model_fn(seed)``, a fresh model outputting logits
        (:func:`tfmdl.models.adapter.as_model_fn`).
      data: the inputs, in the agreed order (their labels are not read:
        every label comes from the protocol's label array).
      config: the protocol's constants (schedule, seed).
      block: the learner's config.
      strategy: a ``tf.distribute`` strategy; the default one when None.
      shuffle_buffer: for a stream, the examples held to shuffle a prefix;
        None for all of them.
      progress: shown the epoch of the training in course, if given.
    """
    self._model_fn = model_fn
    self._data = data
    self._config = config
    self._block = block
    self._strategy = strategy or tf.distribute.get_strategy()
    self._shuffle_buffer = shuffle_buffer
    self._progress = progress
    self.timesteps = schedule.timesteps_for(data.n, config.timesteps,
                                            config.first_block)
    self.units = schedule.block_bounds(self.timesteps)
    self._info = {}
    self._last_model = None
    self._read = None  # a stream's inputs read so far, in order

  def _inputs(self, start: int, end: int) -> np.ndarray:
    """Inputs ``[start, end)``. A stream trained with a full shuffle buffer
    is read once, in order: what was read stays (a later prefix holds it
    anyway), and each block reads only what is new."""
    if not self._data.is_stream or self._shuffle_buffer is not None:
      return self._data.inputs(start, end)
    have = 0 if self._read is None else len(self._read)
    if end > have:
      new = self._data.inputs(have, end)
      self._read = new if self._read is None else np.concatenate(
          [self._read, new])
    return self._read[start:end]

  def block_info(self, index: int) -> dict:
    """What the training behind block ``index`` did (for its result)."""
    return self._info.get(index, dict(
        epochs_trained=0, best_epoch=0, train_size=0, val_size=0, seed=0,
        epoch_bits=None))

  def predict(self, first: int, labels: np.ndarray, count: int) -> list:
    del count  # one block at a time: each is a whole training
    start, end = self.units[first]
    if first == 0:
      return [Prediction(start, end, None)]
    epoch_bits = []
    known = self._block.record_epoch_bits and labels is not None
    block_x = self._inputs(start, end)
    eval_batch = self._block.train.eval_batch_size

    def on_epoch(epoch, forward):
      if known:
        log_probs = training.predict_log_probs(None, block_x, eval_batch,
                                               forward=forward)
        epoch_bits.append(per_sample_nll_bits(log_probs, labels[start:end]))
      if self._progress is not None:
        self._progress.status(epoch=f"epoch {epoch}")

    model, forward, result, n_train, seed = self.train_model(
        first, labels, start, on_epoch)
    if first == len(self.units) - 1:
      self._last_model = (model, forward)
    self._info[first] = dict(
        epochs_trained=result.epochs_trained, best_epoch=result.best_epoch,
        train_size=n_train, val_size=start - n_train, seed=seed,
        epoch_bits=np.stack(epoch_bits) if epoch_bits else None)
    log_probs = training.predict_log_probs(model, block_x, eval_batch,
                                           forward=forward)
    return [Prediction(start, end, log_probs, weight=start)]

  def train_model(self, index: int, labels: np.ndarray, prefix: int,
                  on_epoch=None):
    """Model ``index`` (seeded ``block_seed(seed, index)``) trained on the
    examples ``[0, prefix)`` with ``labels[:prefix]``, early-stopped on the
    last ``val_fraction`` of them: ``(model, forward, TrainResult, training
    examples, seed)``. ``on_epoch(epoch, forward)`` after each epoch."""
    seed = schedule.block_seed(self._config.seed, index)
    n_train = schedule.split_prefix(prefix, self._block.val_fraction)
    training.seed_everything(seed)
    with self._strategy.scope():
      model = self._model_fn(seed)
    forward = training.make_forward(model)
    callback = (None if on_epoch is None else
                lambda epoch, _: on_epoch(epoch, forward))
    y = np.asarray(labels[:prefix], np.int32)
    if self._data.is_stream and self._shuffle_buffer is not None:
      result = training.train_on_stream(
          model, self._data.examples(0, n_train, y[:n_train]), n_train,
          val_examples=self._data.examples(n_train, prefix, y[n_train:]),
          num_val=prefix - n_train, config=self._block.train, seed=seed,
          shuffle_buffer=self._shuffle_buffer, strategy=self._strategy,
          epoch_callback=callback, forward=forward)
    else:
      x = self._inputs(0, prefix)
      result = training.train(
          model, x[:n_train], y[:n_train], val_x=x[n_train:],
          val_y=y[n_train:], config=self._block.train, seed=seed,
          strategy=self._strategy, epoch_callback=callback, forward=forward)
    return model, forward, result, n_train, seed

  def test_accuracy(self, x_test, y_test, labels) -> tuple:
    """The final model's test accuracy (:class:`BlockConfig`'s
    ``final_model``): one trained on all n labels, or the last block's
    (retrained, the same model, if this process did not train it)."""
    began = time.perf_counter()
    last = len(self.units) - 1
    if self._block.final_model:
      if self._progress is not None:
        self._progress.status(block="final model, trained on all n", epoch="")
      model, forward, *_ = self.train_model(last + 1, labels, self._data.n)
      which = f"a model trained on all {self._data.n} labels"
    elif last == 0:
      return None, None, 0.0
    else:
      if self._last_model is None:
        self._last_model = self.train_model(last, labels,
                                            self.units[last][0])[:2]
      model, forward = self._last_model
      which = (f"the last block's model, trained on the first "
               f"{self.units[last][0]} labels")
    log_probs = training.predict_log_probs(
        model, x_test, self._block.train.eval_batch_size, forward=forward)
    accuracy = float(np.mean(log_probs.argmax(1) == np.asarray(y_test)))
    return accuracy, which, time.perf_counter() - began
