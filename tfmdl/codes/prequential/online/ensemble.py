"""Online learners in the prequential protocol: side by side, combined.

Every learner (:class:`OnlineLearner`) walks the same minibatches of B
examples and predicts minibatch t from minibatches < t. The learners form
*strategies*: one learner, or an ensemble of E whose prediction is the
equal-weight average of their predictive distributions. Minibatch 0 is sent
with the uniform code. How the strategies' predictions code a label:

* one strategy (:class:`OnlineConfig`, ``ensemble = E``): its prediction
  codes minibatch t; a unit of the protocol is a minibatch;
* several strategies (the online switch, :class:`OnlineSwitch`): every label
  from minibatch 1 on is coded with a switching mixture over the strategies'
  predictions (:mod:`tfmdl.bits.mixtures`, prior fixed in advance,
  :class:`~tfmdl.codes.prequential.online.config.SwitchConfig`), whose
  weights are updated after each label with the bits each strategy gave it;
  a unit is one label, so that Bob updates the weights with each label he
  decodes. The weights depend on the labels before the one coded only.
  With ``average``, the equal-weight average of all the strategies'
  predictions is one more strategy (named ``"average"``): the mixture can
  follow the ensemble of the learners where it codes shorter than any one.

Alice runs many minibatches per call, Bob one. Between calls the learners'
state can be saved and restored (:meth:`OnlineEnsemble.state`), to resume a
run of one strategy (the online switch's mixture is not saved: it reruns).
"""

import math
import time
from typing import Optional, Sequence

import numpy as np
import tensorflow as tf

from tfmdl import training
from tfmdl.bits import units as units_lib
from tfmdl.codes.prequential.online.config import OnlineConfig
from tfmdl.codes.prequential.online.config import OnlineSwitch
from tfmdl.codes.prequential.online.learner import OnlineLearner
from tfmdl.codes.prequential.protocol import Learner
from tfmdl.codes.prequential.protocol import Prediction


def member_seeds(seed: int, ensemble: int) -> tuple:
  """The seeds of the ensemble's learners: ``seed, seed + 1, ...``."""
  return tuple(seed + e for e in range(ensemble))


def average_log_probs(log_probs: list) -> np.ndarray:
  """Log of the equal-weight average of the members' predictive
  distributions, row by row (nats)."""
  if len(log_probs) == 1:
    return log_probs[0]
  return _at_most_one(np.logaddexp.reduce(
      np.stack(log_probs).astype(np.float64), axis=0) -
                      math.log(len(log_probs)))


def mix_log_probs(log2_weights: np.ndarray, log_probs: np.ndarray
                  ) -> np.ndarray:
  """``log sum_m w(m) p_m`` (nats) of (M, ..., K) log-probabilities under
  weights given by their log2."""
  weights = np.asarray(log2_weights, np.float64) * units_lib.LN2
  return _at_most_one(np.logaddexp.reduce(
      weights.reshape((-1,) + (1,) * (log_probs.ndim - 1)) +
      np.asarray(log_probs, np.float64), axis=0))


def _at_most_one(log_probs: np.ndarray) -> np.ndarray:
  """Log-probabilities rounded above 0 (a probability of 1 plus a rounding
  error, from a mixture) set to 0: no label costs negative bits."""
  return np.minimum(log_probs, 0.0)


class OnlineEnsemble(Learner):
  """Strategies of online learners run side by side (module docstring).

  Attributes:
    units: the minibatches ``((0, B), (B, 2B), ...)`` with one strategy;
      the labels ``((0, 1), (1, 2), ...)`` with several.
    strategies: the :class:`OnlineLearner` s of each strategy.
    names: the strategies' names.
  """

  def __init__(self, strategies: Sequence[Sequence[OnlineLearner]], *,
               mixture=None, names: Optional[Sequence[str]] = None,
               average: bool = False, steps_per_call: int = 64,
               eval_batch_size: int = 1024):
    """
    Args:
      strategies: the learners of each strategy, all on the same examples
        and minibatch size.
      mixture: the :class:`tfmdl.bits.mixtures.SwitchingCode` over several
        strategies; None for one.
      names: the strategies' names (default ``0, 1, ...``).
      average: mix the average of the strategies' predictions too (with a
        mixture only).
      steps_per_call: minibatches per call of the learners (speed only).
      eval_batch_size: batch size of the test-accuracy evaluation.

    Raises:
      ValueError: strategies of other sizes or data, several without a
        mixture, or names that do not match.
    """
    self.strategies = [list(s) for s in strategies]
    learners = [m for s in self.strategies for m in s]
    if not all(self.strategies):
      raise ValueError("every strategy needs at least one learner")
    if len({(m.n, m.config.batch_size) for m in learners}) != 1:
      raise ValueError("the learners of an online switch must share the "
                       "examples and the minibatch size (batch_size)")
    if (mixture is None) != (len(self.strategies) == 1):
      raise ValueError("several strategies need a switching mixture, one "
                       "strategy none")
    self.names = tuple(str(i) for i in range(len(self.strategies))) if (
        names is None) else tuple(names)
    if len(self.names) != len(self.strategies):
      raise ValueError(f"{len(self.names)} names for "
                       f"{len(self.strategies)} strategies")
    if average and mixture is None:
      raise ValueError("the average is a strategy of a switching mixture")
    self._average = average
    if average:
      self.names += ("average",)
    self._learners = learners
    self._steps = steps_per_call
    self._eval_batch_size = eval_batch_size
    self.n, self.batch_size = learners[0].n, learners[0].config.batch_size
    self.num_classes = learners[0].num_classes
    if mixture is None:
      self._mixing = None
      self.units = tuple((s, min(s + self.batch_size, self.n))
                         for s in range(0, self.n, self.batch_size))
    else:
      self._mixing = _LabelMixing(mixture, len(self.names), self.n,
                                  self.batch_size, self.num_classes)
      self.units = tuple((i, i + 1) for i in range(self.n))

  @property
  def temperature(self) -> float:
    """The first learner's softmax temperature (forward calibration)."""
    return self._learners[0].temperature

  def _advance(self, labels: np.ndarray, count: int) -> np.ndarray:
    """Every learner runs ``count`` iterations; (M, samples, K) log-probs of
    the strategies for the minibatches they predicted."""
    y = tf.convert_to_tensor(np.asarray(labels, np.int32))
    return self._with_average([average_log_probs([m.advance(y, count)
                                                  for m in s])
                               for s in self.strategies])

  def _with_average(self, log_probs: list) -> np.ndarray:
    """The strategies' log-probs stacked, their average last if mixed."""
    if self._average:
      log_probs = log_probs + [average_log_probs(log_probs)]
    return np.stack(log_probs)

  @property
  def position(self) -> int:
    """The units predicted so far (the next one to predict)."""
    if self._mixing is not None:
      return self._mixing.next
    return self._learners[0].position

  def state(self) -> dict:
    """Every learner's :meth:`OnlineLearner.state`, keys prefixed by the
    learner (``"0/..."``).

    Raises:
      ValueError: for several strategies (the mixture's state is not saved).
    """
    if self._mixing is not None:
      raise ValueError("the online switch is not checkpointed: its mixture "
                       "state is not saved")
    return {f"{e}/{key}": value for e, member in enumerate(self._learners)
            for key, value in member.state().items()}

  def restore(self, state: dict) -> None:
    """Continue from a :meth:`state` of an ensemble built alike.

    Raises:
      ValueError: if the state is another ensemble's, or for several
        strategies.
    """
    if self._mixing is not None:
      raise ValueError("the online switch is not checkpointed: its mixture "
                       "state is not saved")
    members = {key.split("/", 1)[0] for key in state}
    if members != {str(e) for e in range(len(self._learners))}:
      raise ValueError(f"the saved online state has {len(members)} "
                       f"member(s), this ensemble {len(self._learners)}")
    for e, member in enumerate(self._learners):
      prefix = f"{e}/"
      member.restore({key[len(prefix):]: value for key, value in state.items()
                      if key.startswith(prefix)})

  def predict(self, first: int, labels: np.ndarray, count: int) -> list:
    if self._mixing is not None:
      return self._predict_labels(first, labels, count)
    count = min(count, self._steps)
    position = self._learners[0].position
    if first != position:
      raise ValueError(f"the online learner is at minibatch {position}, "
                       f"asked for minibatch {first}")
    rows = self._advance(labels, count)[0]
    predictions, offset = [], 0
    for start, end in self.units[first:first + count]:
      predictions.append(Prediction(
          start, end, None if start == 0 else rows[offset:offset + end - start],
          weight=end - start))
      offset += end - start
    return predictions

  def _predict_labels(self, first: int, labels: np.ndarray,
                      count: int) -> list:
    """Labels ``first ..`` (at most ``count``, up to the last minibatch the
    learners have predicted, or the next ones')."""
    mixing = self._mixing
    if first != mixing.next:
      raise ValueError(f"the online switch is at label {mixing.next}, "
                       f"asked for label {first}")
    mixing.catch_up(labels, first)
    if first == mixing.predicted_end:
      minibatch = first // self.batch_size
      wanted = math.ceil(min(first + count, self.n) / self.batch_size)
      steps = max(1, min(self._steps, wanted - minibatch))
      mixing.cache(minibatch * self.batch_size,
                   self._advance(labels, steps))
    predictions = []
    for label in range(first, min(first + count, mixing.predicted_end)):
      mixing.catch_up(labels, label)  # Alice: the labels of this call
      predictions.append(Prediction(label, label + 1, mixing.predict(label),
                                    weight=1))
    mixing.next = predictions[-1].end
    return predictions

  def strategy_record(self, labels: np.ndarray) -> Optional[dict]:
    """Once every label is coded: ``{"bits": (M, n) bits of each label
    under each strategy alone, "weights": (M, n) the mixture's weights when
    it was coded}`` (log2 K and the prior in minibatch 0); None with one
    strategy."""
    if self._mixing is None:
      return None
    self._mixing.catch_up(labels, self.n)
    return {"bits": self._mixing.bits.copy(),
            "weights": self._mixing.weights.copy()}

  def test_accuracy(self, x_test, y_test, labels) -> tuple:
    """The final encoding model's accuracy (the strategies' predictions
    mixed under the final weights), after the last learning step (on the
    last minibatch): no extra training."""
    began = time.perf_counter()
    y = tf.convert_to_tensor(np.asarray(labels, np.int32))
    for member in self._learners:
      if member.position == member.num_minibatches:
        member.advance(y, 1)
    log_probs = self._with_average([average_log_probs([
        training.predict_log_probs(
            None, x_test, self._eval_batch_size,
            forward=training.make_forward(m.encoding_model)) for m in s])
                                    for s in self.strategies])
    if self._mixing is not None:
      self._mixing.catch_up(labels, self.n)
      log_probs = mix_log_probs(self._mixing.state.log2_weights(),
                                log_probs)
    else:
      log_probs = log_probs[0]
    accuracy = float(np.mean(log_probs.argmax(-1) == np.asarray(y_test)))
    return (accuracy, "the final encoding model",
            time.perf_counter() - began)


class _LabelMixing:
  """The online switch's mixture, label by label.

  ``cache`` holds the strategies' log-probs of the minibatches the learners
  predicted last; ``predict(i)`` mixes those of label i under the current
  weights; ``catch_up(labels, i)`` feeds the mixture the bits each strategy
  gave the labels before i (labels of minibatch 0, sent uniformly, are not
  fed: they cost log2 K under every strategy).
  """

  def __init__(self, mixture, num_strategies: int, n: int, batch_size: int,
               num_classes: int):
    self.state = mixture.forward(num_strategies)
    self.next = 0  # the next label to predict
    self.predicted_end = 0  # the end of the labels in the cache
    self._first = batch_size  # minibatch 0 is uniform
    self._updated = batch_size
    self._start = 0
    self._rows = np.zeros((num_strategies, 0, num_classes))
    self.bits = np.full((num_strategies, n), math.log2(num_classes))
    self.weights = np.repeat(2.0**self.state.log2_weights()[:, None], n,
                             axis=1)

  def cache(self, start: int, rows: np.ndarray) -> None:
    """Hold ``rows``, (M, samples, K) log-probs from example ``start`` on."""
    self._start, self._rows = start, np.asarray(rows, np.float64)
    self.predicted_end = start + rows.shape[1]

  def predict(self, label: int) -> Optional[np.ndarray]:
    """Label ``label``'s (1, K) log-probs (nats); None: uniform."""
    if label < self._first:
      return None
    log2_w = self.state.log2_weights()
    self.weights[:, label] = 2.0**log2_w
    return mix_log_probs(log2_w, self._rows[:, label - self._start])[None]

  def catch_up(self, labels: np.ndarray, end: int) -> None:
    """Feed the mixture the labels ``[.., end)`` not fed yet (they are in
    the cache: a call predicts no further than the cache)."""
    for label in range(self._updated, end):
      bits = units_lib.nats_to_bits(-self._rows[:, label - self._start,
                                                labels[label]])
      self.bits[:, label] = bits
      self.state.update(bits)
    self._updated = max(self._updated, end)
