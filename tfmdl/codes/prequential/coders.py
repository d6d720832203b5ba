"""What is done with a learner's predictions: bits counted, labels range-coded.

Every coder sees the predictions of :func:`~tfmdl.codes.prequential.protocol.
run` in transmission order, unit by unit, and codes each label with the
distribution Bob will also have:

* block 0 (``[0, t_1)``) and any unit the learner sends uniformly: the
  uniform code, ``log2 K`` bits a label;
* a label of block k >= 1: the learner's distribution or, with the uniform
  fallback, the Bayes mixture of it and the uniform code with prior ``2**-k``
  on uniform, restarted at each block and updated after each label
  (:func:`tfmdl.bits.mixtures.block_uniform_fallback_bits`).

:class:`BitCounter` is Alice's codelength: per-sample bits summed into the
blocks of the schedule, each finished block handed on as a
:class:`~tfmdl.codes.prequential.results.BlockResult`.
:class:`RangeEncoding` and :class:`RangeDecoding` write and read the same
code as bytes (:mod:`tfmdl.bits.label_coding`), sequentially, label by label
where the fallback mixture needs it, so that a decoder that sees one unit at
a time computes the encoder's masses bit for bit.
"""

import abc
import json
import math
import time
from typing import Callable, Optional

import numpy as np

from tfmdl.bits import label_coding
from tfmdl.bits import mixtures
from tfmdl.bits import units
from tfmdl.codes.prequential import schedule
from tfmdl.codes.prequential.protocol import Coder
from tfmdl.codes.prequential.protocol import Prediction
from tfmdl.codes.prequential.results import BlockResult


def per_sample_nll_bits(log_probs: np.ndarray, labels: np.ndarray
                        ) -> np.ndarray:
  """``-log2 p(y_i | x_i)`` of each label under log-probabilities in nats."""
  return units.nats_to_bits(
      -log_probs[np.arange(len(labels)), labels].astype(np.float64))


def _pieces(prediction: Prediction, timesteps: tuple):
  """``(block index, start, end)`` of each block part the unit covers."""
  start = prediction.start
  while start < prediction.end:
    index = int(np.searchsorted(timesteps, start, side="right"))
    end = min(prediction.end, timesteps[index])
    yield index, start, end
    start = end


class _Block:
  """A block's per-sample model bits and hits, filled unit by unit."""

  def __init__(self, start: int, end: int):
    self.start = start
    self.bits = np.empty(end - start)
    self.correct = np.empty(end - start)
    self.filled = 0


# What the block learner says about the training behind a block (the
# BlockResult fields besides bits, accuracy and wall time).
BlockInfo = Callable[[int], dict]


def no_training(index: int) -> dict:
  """The :data:`BlockInfo` of a learner that trains nothing per block."""
  del index
  return dict(epochs_trained=0, best_epoch=0, train_size=0, val_size=0,
              seed=0, epoch_bits=None)


class BitCounter(Coder):
  """Alice's codelength: the bits of every label, summed into blocks.

  Each block's result goes to ``on_block`` as soon as all its labels are
  coded (blocks may finish in any order when a run is split into shards).
  """

  def __init__(self, timesteps, num_classes: int, *,
               uniform_fallback: bool = True,
               block_info: BlockInfo = no_training,
               on_block: Optional[Callable[[BlockResult], None]] = None):
    """
    Args:
      timesteps: the schedule's block ends.
      num_classes: K.
      uniform_fallback: mix each block k >= 1 with the uniform code.
      block_info: the training behind block k (:data:`BlockInfo`).
      on_block: called with each finished block.
    """
    self._timesteps = tuple(timesteps)
    self._num_classes = num_classes
    self._fallback = uniform_fallback
    self._block_info = block_info
    self._on_block = on_block
    self._open = {}
    self._finished = {}
    self._since = time.perf_counter()

  def code(self, prediction: Prediction, labels: np.ndarray) -> None:
    for index, start, end in _pieces(prediction, self._timesteps):
      offset = start - prediction.start
      if index not in self._open:
        self._open[index] = _Block(*schedule.block_bounds(
            self._timesteps)[index])
      block = self._open[index]
      where = slice(start - block.start, end - block.start)
      y = labels[start:end]
      if prediction.log_probs is None:
        block.bits[where] = math.log2(self._num_classes)
        block.correct[where] = 1.0 / self._num_classes
      else:
        rows = prediction.log_probs[offset:offset + end - start]
        block.bits[where] = per_sample_nll_bits(rows, y)
        block.correct[where] = rows.argmax(1) == y
      block.filled += end - start
      if block.filled == len(block.bits):
        self._finish(index, self._open.pop(index))

  def _finish(self, index: int, block: _Block) -> None:
    now = time.perf_counter()
    per_sample = block.bits
    if self._fallback and index > 0:
      per_sample = mixtures.block_uniform_fallback_bits(
          per_sample, index, self._num_classes)
    result = BlockResult(
        index=index, start=block.start, end=block.start + len(per_sample),
        bits=float(per_sample.sum()), accuracy=float(block.correct.mean()),
        wall_s=now - self._since, per_sample_bits=per_sample,
        **self._block_info(index))
    self._since = now
    self._finished[index] = result
    if self._on_block is not None:
      self._on_block(result)

  def blocks(self) -> tuple:
    """The finished blocks, by index."""
    return tuple(self._finished[i] for i in sorted(self._finished))

  def state(self) -> dict:
    """What the counter holds between units, as arrays (to resume a run
    whose units are coded in order): each open block's bits and hits so far,
    and each finished block."""
    state = {}
    for index, block in self._open.items():
      state[f"open/{index}/bits"] = block.bits[:block.filled]
      state[f"open/{index}/correct"] = block.correct[:block.filled]
    for index, block in self._finished.items():
      state[f"finished/{index}/bits"] = block.per_sample_bits
      state[f"finished/{index}/record"] = np.array(json.dumps(
          block.to_json()))
    return state

  def restore(self, state: dict) -> None:
    """Continue from a :meth:`state`; the finished blocks are not handed to
    ``on_block`` again."""
    bounds = schedule.block_bounds(self._timesteps)
    self._open, self._finished = {}, {}
    for key in state:
      kind, index, part = key.split("/")
      index = int(index)
      if kind == "open" and part == "bits":
        block = _Block(*bounds[index])
        filled = len(state[key])
        block.bits[:filled] = state[key]
        block.correct[:filled] = state[f"open/{index}/correct"]
        block.filled = filled
        self._open[index] = block
      elif kind == "finished" and part == "bits":
        self._finished[index] = BlockResult.from_json(
            json.loads(str(state[f"finished/{index}/record"])),
            per_sample_bits=np.asarray(state[key], np.float64))

  def float_bits(self) -> float:
    """The finished blocks' bits."""
    return float(sum(b.bits for b in self._finished.values()))


class _FallbackMixture:
  """The running weights of block k's mixture of learner and uniform code.

  Sequential, as Bob decodes: a label's masses depend on the labels before
  it in the block (:func:`tfmdl.bits.mixtures.block_uniform_fallback_bits`
  computes the same code's bits). Alice and Bob call the same scalar
  operations in the same order, so their floats agree.
  """

  def __init__(self, index: int, num_classes: int):
    self._log2_model = math.log2(1.0 - 2.0**-index)
    self._log2_uniform = -float(index)
    self._log2_k = math.log2(num_classes)

  def masses(self, row: np.ndarray) -> np.ndarray:
    """Quantised masses (1, K) of the mixture for one learner row (nats)."""
    mixed = np.logaddexp(self._log2_model * units.LN2 + row.astype(np.float64),
                         (self._log2_uniform - self._log2_k) * units.LN2)
    return label_coding.quantize_log_probs(mixed[None, :])

  def update(self, label_log_prob: float) -> None:
    """Bayes' rule after a label whose learner log-probability (nats) is
    ``label_log_prob``."""
    model = self._log2_model + float(label_log_prob) / units.LN2
    uniform = self._log2_uniform - self._log2_k
    top = max(model, uniform)
    total = top + math.log2(1.0 + 2.0**(min(model, uniform) - top))
    self._log2_model, self._log2_uniform = model - total, uniform - total


class _RangeCoding(Coder):
  """The masses of every label, shared by the encoder and the decoder."""

  def __init__(self, timesteps, num_classes: int, uniform_fallback: bool):
    self.timesteps = tuple(timesteps)
    self._num_classes = num_classes
    self._fallback = uniform_fallback
    self._mixtures = {}
    self.quantized_bits = 0.0

  def code(self, prediction: Prediction, labels: np.ndarray) -> None:
    for index, start, end in _pieces(prediction, self.timesteps):
      offset = start - prediction.start
      rows = (None if prediction.log_probs is None else
              prediction.log_probs[offset:offset + end - start])
      if rows is None:
        self._code_rows(label_coding.uniform_masses(end - start,
                                                    self._num_classes),
                        labels, start, end)
      elif not self._fallback or index == 0:
        self._code_rows(label_coding.quantize_log_probs(rows), labels, start,
                        end)
      else:
        if index not in self._mixtures:
          self._mixtures = {index: _FallbackMixture(index, self._num_classes)}
        mixture = self._mixtures[index]
        for i, row in enumerate(rows):
          self._code_rows(mixture.masses(row), labels, start + i,
                          start + i + 1)
          mixture.update(row[labels[start + i]])

  @abc.abstractmethod
  def _code_rows(self, masses: np.ndarray, labels: np.ndarray, start: int,
                 end: int) -> None:
    """Code (or decode into ``labels``) labels ``[start, end)`` under
    ``masses``."""


class RangeEncoding(_RangeCoding):
  """Alice: range-codes every label into one payload."""

  def __init__(self, timesteps, num_classes: int, uniform_fallback: bool):
    super().__init__(timesteps, num_classes, uniform_fallback)
    self._encoder = label_coding.LabelEncoder()

  def _code_rows(self, masses, labels, start, end):
    self._encoder.encode(labels[start:end], masses)
    self.quantized_bits += label_coding.quantized_bits(masses,
                                                       labels[start:end])

  def payload(self) -> bytes:
    return self._encoder.payload()


class RangeDecoding(_RangeCoding):
  """Bob: decodes every label from the payload into the label array."""

  def __init__(self, payload: bytes, timesteps, num_classes: int,
               uniform_fallback: bool):
    super().__init__(timesteps, num_classes, uniform_fallback)
    self._decoder = label_coding.LabelDecoder(payload)

  def _code_rows(self, masses, labels, start, end):
    labels[start:end] = self._decoder.decode(masses)
