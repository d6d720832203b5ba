"""The online learner in the prequential protocol: E members, one minibatch
a unit.

Minibatch t's prediction is the equal-weight average of the members'
predictive distributions (one member without an ensemble), each of which
depends on minibatches < t only (:class:`OnlineLearner`). Minibatch 0 is sent
with the uniform code. Alice runs many minibatches per call; Bob one. Between
calls the members' state can be saved and restored (:meth:`OnlineEnsemble.
state`), to resume a run.
"""

import math
import time
from typing import Optional, Union

import numpy as np
import tensorflow as tf

from tfmdl import training
from tfmdl.codes.prequential.online.config import OnlineConfig
from tfmdl.codes.prequential.online.learner import OnlineLearner
from tfmdl.codes.prequential.protocol import Learner
from tfmdl.codes.prequential.protocol import Prediction
from tfmdl.data.labelled import LabelledData


def member_seeds(seed: int, ensemble: int) -> tuple:
  """The seeds of the ensemble's learners: ``seed, seed + 1, ...``."""
  return tuple(seed + e for e in range(ensemble))


def average_log_probs(log_probs: list) -> np.ndarray:
  """Log of the equal-weight average of the members' predictive
  distributions, row by row (nats)."""
  if len(log_probs) == 1:
    return log_probs[0]
  return (np.logaddexp.reduce(np.stack(log_probs).astype(np.float64), axis=0)
          - math.log(len(log_probs)))


class OnlineEnsemble(Learner):
  """The units are the minibatches of B examples (the last may be shorter).

  Attributes:
    units: ``((0, B), (B, 2B), ...)``.
    members: the :class:`OnlineLearner` of each member.
  """

  def __init__(self, model_fn, x: Union[np.ndarray, LabelledData],
               num_classes: int, config: OnlineConfig, *, seed: int = 0,
               strategy: Optional[tf.distribute.Strategy] = None):
    """``x``: the inputs, an array or a :class:`~tfmdl.data.LabelledData`
    (each member reads a stream on its own)."""
    self.config = config
    self.members = [OnlineLearner(model_fn, x, num_classes, config, strategy,
                                  seed=s)
                    for s in member_seeds(seed, config.ensemble)]
    n, size = self.members[0].n, config.batch_size
    self.units = tuple((s, min(s + size, n)) for s in range(0, n, size))

  @property
  def temperature(self) -> float:
    """The first member's softmax temperature (forward calibration)."""
    return self.members[0].temperature

  @property
  def position(self) -> int:
    """The units predicted so far (the next one to predict)."""
    return self.members[0].position

  def state(self) -> dict:
    """Every member's :meth:`OnlineLearner.state`, keys prefixed by the
    member (``"0/..."``)."""
    return {f"{e}/{key}": value for e, member in enumerate(self.members)
            for key, value in member.state().items()}

  def restore(self, state: dict) -> None:
    """Continue from a :meth:`state` of an ensemble built alike.

    Raises:
      ValueError: if the state is another ensemble's.
    """
    members = {key.split("/", 1)[0] for key in state}
    if members != {str(e) for e in range(len(self.members))}:
      raise ValueError(f"the saved online state has {len(members)} "
                       f"member(s), this ensemble {len(self.members)}")
    for e, member in enumerate(self.members):
      prefix = f"{e}/"
      member.restore({key[len(prefix):]: value for key, value in state.items()
                      if key.startswith(prefix)})

  def predict(self, first: int, labels: np.ndarray, count: int) -> list:
    count = min(count, self.config.steps_per_call)
    position = self.position
    if first != position:
      raise ValueError(f"the online learner is at minibatch {position}, "
                       f"asked for minibatch {first}")
    y = tf.convert_to_tensor(np.asarray(labels, np.int32))
    rows = average_log_probs([m.advance(y, count) for m in self.members])
    predictions, offset = [], 0
    for start, end in self.units[first:first + count]:
      predictions.append(Prediction(
          start, end, None if start == 0 else rows[offset:offset + end - start],
          weight=end - start))
      offset += end - start
    return predictions

  def test_accuracy(self, x_test, y_test, labels) -> tuple:
    """The final encoding model's accuracy (the ensemble's average), after
    the last learning step (on the last minibatch): no extra training."""
    began = time.perf_counter()
    y = tf.convert_to_tensor(np.asarray(labels, np.int32))
    for member in self.members:
      if member.position == member.num_minibatches:
        member.advance(y, 1)
    log_probs = average_log_probs([training.predict_log_probs(
        None, x_test, self.config.eval_batch_size,
        forward=training.make_forward(m.encoding_model))
                                   for m in self.members])
    accuracy = float(np.mean(log_probs.argmax(1) == np.asarray(y_test)))
    return (accuracy, "the final encoding model",
            time.perf_counter() - began)
