"""The prequential protocol, written once: predict, code, learn.

Alice and Bob agree on a learner (block retraining or online), the data
order, the blocks (:mod:`~tfmdl.codes.prequential.schedule`) and seeds. The
learner cuts the n examples into *units* (a block of the schedule for the
block learner, a minibatch for the online learner) and predicts each unit's
labels from the labels of the units before it only. Then, unit by unit:

1. the learner gives the unit's predictions (:class:`Prediction`: the
   log-probabilities of its examples, or the uniform code);
2. each *coder* takes them in turn (:mod:`~tfmdl.codes.prequential.coders`):
   Bob's range decoder first writes the unit's labels into the label array,
   then the others read them: Alice's bit counter sums the bits into blocks
   (and hands finished blocks to the run's consumers: block files,
   TensorBoard, progress), Alice's range encoder writes the payload;
3. the learner learns from them before it predicts a later unit.

Alice knows every label, so a learner may predict several units in one call
(the online learner runs many minibatches in one traced function); Bob
predicts one unit at a time and decodes it before the next. Both run
:func:`run`, which is why Bob's labels are Alice's: the same learner calls in
the same order, reading the same labels.

Example (Alice's bits of a block learner)::

    learner = block.BlockLearner(model_fn, source, labels, config, BlockConfig())
    counter = coders.BitCounter(timesteps, K, uniform_fallback=True)
    run(learner, [counter], labels)
    counter.blocks()  # the BlockResults
"""

import abc
import dataclasses
from typing import Callable, Optional, Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class Prediction:
  """A unit's coding distributions: examples ``[start, end)``.

  Attributes:
    start, end: the unit's examples.
    log_probs: (end - start, K) log-probabilities in nats, each row a
      distribution over the K labels; None: the unit is sent with the
      uniform code.
    weight: how much work the unit took, for progress reports (the block
      learner: the prefix it trained on; the online learner: its examples).
  """
  start: int
  end: int
  log_probs: Optional[np.ndarray]
  weight: float = 0.0


class Learner(abc.ABC):
  """What Alice and Bob both run: predictions of each unit from the labels
  of the units before it.

  Attributes:
    units: ``((start, end), ...)``, consecutive, covering ``[0, n)``.
  """
  units: tuple

  @abc.abstractmethod
  def predict(self, first: int, labels: np.ndarray, count: int
              ) -> Sequence[Prediction]:
    """Predictions of units ``first, first + 1, ...``: at least one, at
    most ``count``.

    Unit u's predictions may read ``labels[:units[u][0]]`` only (Bob fills
    the array as he decodes); a unit predicted in this call after another
    one may read that one's labels too, so ``count > 1`` is only for Alice,
    who knows them all.
    """

  @abc.abstractmethod
  def test_accuracy(self, x_test: np.ndarray, y_test: np.ndarray,
                    labels: np.ndarray) -> tuple:
    """``(accuracy, which model in words, wall seconds)`` of the
    learner's final model on test data, once every unit is predicted (it
    may train on ``labels``, all of them); ``(None, None, 0.0)`` when it has
    none."""


class Coder(abc.ABC):
  """Takes predictions in transmission order (see the module docstring)."""

  @abc.abstractmethod
  def code(self, prediction: Prediction, labels: np.ndarray) -> None:
    """Code the unit's labels ``labels[start:end]`` (a decoder writes
    them)."""


def run(learner: Learner, coders: Sequence[Coder], labels: np.ndarray, *,
        units: Optional[Sequence[int]] = None, lookahead: bool = True,
        on_unit: Optional[Callable[[Prediction], None]] = None) -> None:
  """Run the protocol over ``units`` (all, in order, when None).

  Args:
    learner: the agreed learner.
    coders: called in order on every prediction; a decoder goes first.
    labels: (n,) int labels: all of them (Alice), or an array that a
      decoder fills (Bob).
    units: the units to run, increasing; a block learner's blocks may be any
      subset (each block is independent given the labels), an online
      learner's must run on from where its state is.
    lookahead: let the learner predict several consecutive units per call
      (Alice); False for Bob.
    on_unit: called after each unit is coded (progress, checkpoints).
  """
  todo = list(range(len(learner.units)) if units is None else units)
  i = 0
  while i < len(todo):
    run_length = 1
    while (lookahead and i + run_length < len(todo) and
           todo[i + run_length] == todo[i] + run_length):
      run_length += 1
    for prediction in learner.predict(todo[i], labels, run_length):
      for coder in coders:
        coder.code(prediction, labels)
      if on_unit is not None:
        on_unit(prediction)
      i += 1
