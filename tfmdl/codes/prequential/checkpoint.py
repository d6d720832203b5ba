"""A prequential run saved between units, to resume where it stopped.

A learner whose state can be saved (the online learner:
:meth:`~tfmdl.codes.prequential.online.OnlineEnsemble.state`) and Alice's
bit counter (:meth:`~tfmdl.codes.prequential.coders.BitCounter.state`) are
written together into one file, ``state.npz``, atomically (a temporary file
renamed over the last one), and only once the counter has coded every unit
the learner has predicted: the file always holds both states after the same
unit, and a crash at any moment leaves the last complete one. A rerun
restores them and runs the protocol on from the next unit; the learner's
whole state is restored (weights, optimizer slots, weight average,
temperature, random generators, replay memory, position in the data), so it
computes the same floats, and the code is the one of an uninterrupted run,
bit for bit.

A save is due once ``every_units`` units or ``every_seconds`` seconds have
passed since the last one (or since the start), whichever comes first;
Alice's learner predicts several units per call, and saves wait for the end
of a call.

Example::

    checkpoint = Checkpoint("/tmp/run/online", every_seconds=300)
    first = checkpoint.restore(learner, counter)  # 0 when nothing is saved
    protocol.run(learner, [counter], labels,
                 units=range(first, len(learner.units)),
                 on_unit=lambda p: checkpoint.after_unit(learner, counter, p))
"""

import os
import time
from typing import Callable

import numpy as np

from tfmdl import results
from tfmdl.codes.prequential.protocol import Prediction

FILE = "state.npz"
FORMAT = "tfmdl-prequential-checkpoint-v1"
_LEARNER, _COUNTER = "learner/", "counter/"


class Checkpoint:
  """Saves and restores a learner and a bit counter in ``folder``.

  The learner has ``state()``, ``restore(state)``, ``position`` (units
  predicted so far) and ``units``; the counter ``state()`` and
  ``restore(state)``.

  Attributes:
    path: the file.
    saves: saves made by this object.
  """

  def __init__(self, folder: str, *, every_units: int = 0,
               every_seconds: float = 0.0, writable: bool = True,
               clock: Callable[[], float] = time.monotonic):
    """
    Args:
      folder: where the file lives (created at the first save).
      every_units: a save is due this many units after the last; 0: never
        by count.
      every_seconds: ... or this many seconds after; 0: never by time.
      writable: False restores only (a worker that is not the chief).
      clock: seconds, for the time interval.
    """
    self.path = os.path.join(folder, FILE)
    self._every_units = every_units
    self._every_seconds = every_seconds
    self._writable = writable
    self._clock = clock
    self._last_units = 0
    self._last_time = clock()
    self.saves = 0

  def restore(self, learner, counter) -> int:
    """Restore the saved states, if any: the first unit still to run.

    Raises:
      ValueError: if the file is not a checkpoint, or another learner's.
    """
    if not os.path.exists(self.path):
      return 0
    with np.load(self.path) as arrays:
      state = {key: arrays[key] for key in arrays.files}
    if str(state.pop("format", "")) != FORMAT:
      raise ValueError(f"{self.path} is not a tfmdl checkpoint ({FORMAT}); "
                       "remove it to start again")
    learner.restore(_part(state, _LEARNER))
    counter.restore(_part(state, _COUNTER))
    self._last_units, self._last_time = learner.position, self._clock()
    return learner.position

  def after_unit(self, learner, counter, prediction: Prediction) -> bool:
    """Save if a save is due and the counter has coded everything the
    learner predicted (``prediction`` was its last unit). Returns whether it
    saved."""
    position = learner.position
    caught_up = prediction.end == learner.units[position - 1][1]
    due = ((self._every_units and
            position - self._last_units >= self._every_units) or
           (self._every_seconds and
            self._clock() - self._last_time >= self._every_seconds))
    if not (caught_up and due and self._writable):
      return False
    self.save(learner, counter)
    return True

  def save(self, learner, counter) -> None:
    """Write both states now (the counter must have coded every unit the
    learner predicted)."""
    arrays = {_LEARNER + k: v for k, v in learner.state().items()}
    arrays.update({_COUNTER + k: v for k, v in counter.state().items()})
    results.write_npz(self.path, compressed=False, format=np.array(FORMAT),
                      **arrays)
    self._last_units, self._last_time = learner.position, self._clock()
    self.saves += 1


def _part(state: dict, prefix: str) -> dict:
  return {key[len(prefix):]: value for key, value in state.items()
          if key.startswith(prefix)}
