"""Progress of a long job: one bar on a terminal, plain lines in a log.

A prequential run of a convnet on fashion_mnist trains for a quarter of an
hour; its user wants to know where it is and how long is left, not read a
line per epoch. Every loop of the codes (blocks, online minibatches, the
variational grid, two-part candidates, tuning trials) reports through one
:class:`Progress`:

* ``start(total_weight)``: the job's cost, in whatever unit of work suits the
  loop (a block of the prequential code weighs its prefix size: its training
  costs about that much per epoch);
* ``update(**status)``: within a unit (an epoch ended): new status, no work;
* ``advance(weight, note=None, **status)``: ``weight`` of work done, with a
  line worth keeping (a block's bits).

Status values are the strings shown, joined by `` | ``; their keys only say
which one a new value replaces; an empty string hides one. On a terminal the
bar is one line redrawn in place: label, bar, percent, elapsed time and ETA,
status (cut at the terminal's width); kept lines scroll above it. Elsewhere
(a log file, a pipe) each kept line is written after the label, percent,
elapsed time and ETA, and a status line at most every ``interval_s`` seconds
between them. Output is ASCII.

The ETA is calibrated as units finish: their durations are fitted by
``a + b * weight`` (``a``: what a unit costs whatever its size, building and
tracing a model), or by ``b * weight`` alone until two sizes have been seen
or when the caller gives no unit count. Time already spent in the running
unit is subtracted.

The loops take an optional ``progress`` (:meth:`Progress.started`): one
that its caller started, for a larger job (a run's blocks and its final
model), is advanced as it is; one not started yet is started for the loop's
own work (a test passes one writing to a buffer); None is a new report on
stderr.

A Progress started while another is running (a tuning trial's prequential
run) is nested: its lines start with the outer one's label and status.
"""

import logging
import os
import shutil
import sys
import time
from typing import Callable, Optional, TextIO

from absl import logging as absl_logging

# Progress objects started and not finished, outermost first.
_ACTIVE = []
_BAR_WIDTH = 20
_MIN_REDRAW_S = 0.1


def format_duration(seconds: float) -> str:
  """``45s``, ``3m05s`` or ``2h07m``.

  >>> format_duration(185)
  '3m05s'
  """
  seconds = int(round(seconds))
  if seconds < 60:
    return f"{seconds}s"
  if seconds < 3600:
    return f"{seconds // 60}m{seconds % 60:02d}s"
  return f"{seconds // 3600}h{seconds // 60 % 60:02d}m"


def interrupt() -> None:
  """Take any bar off the screen and end every report (before an error
  message)."""
  for progress in list(_ACTIVE):
    progress.clear()
    progress.end()


class _ClearBarFilter(logging.Filter):
  """Takes a bar off the screen before a log line is written over it."""

  def filter(self, record):
    for progress in _ACTIVE:
      progress.clear()
    return True


_CLEAR_BAR_FILTER = _ClearBarFilter()


class Progress:
  """Progress of one job over weighted units of work (module docstring).

  Example::

    progress = Progress("prequential")
    progress.start(sum(sizes), units=len(sizes))
    for i, size in enumerate(sizes):
      progress.update(block=f"block {i + 1}/{len(sizes)}")
      ...
      progress.advance(size, note=f"block {i + 1}: {bits:.1f} bits")
  """

  def __init__(self, label: str, *, stream: Optional[TextIO] = None,
               interactive: Optional[bool] = None, interval_s: float = 30.0,
               clock: Callable[[], float] = time.monotonic,
               columns: Optional[int] = None):
    """A progress report, shown once :meth:`start` is called.

    Args:
      label: the job's name, first on every line.
      stream: where to write; ``sys.stderr`` (at the time of writing) when
        None.
      interactive: draw a bar redrawn in place; when None, whether
        ``stream`` is a terminal (and ``TERM`` is not ``dumb``).
      interval_s: plain output: least seconds between two status lines.
      clock: seconds, monotonic (tests pass a fake one).
      columns: terminal width; asked of the terminal when None.
    """
    self.label = label
    self._stream = stream
    self._interactive = interactive
    self._interval_s = interval_s
    self._clock = clock
    self._columns = columns
    self._status = {}
    self._total = self._done = 0.0
    self._units_left = None
    self._finished_units = []  # (weight, seconds) of units run here
    self._began = self._unit_began = self._last_line = self._last_draw = 0.0
    self._drawn = False
    self._active = False
    self.is_started = False

  @classmethod
  def started(cls, progress: Optional["Progress"], label: str,
              total_weight: float, **start_args) -> "Progress":
    """How a library loop gets its report: ``progress`` as it is when its
    caller started it (for a larger job), else started now for this loop's
    ``total_weight`` (``start_args`` as in :meth:`start`); a new report on
    stderr, labelled ``label``, when None."""
    if progress is None:
      progress = cls(label)
    if not progress.is_started:
      progress.start(total_weight, **start_args)
    return progress

  @property
  def stream(self) -> TextIO:
    return self._stream if self._stream is not None else sys.stderr

  @property
  def fraction(self) -> float:
    """Share of the total weight done, in [0, 1]."""
    return min(1.0, self._done / self._total) if self._total > 0 else 1.0

  def start(self, total_weight: float, *,
            units: Optional[int] = None) -> None:
    """Begin the job.

    Args:
      total_weight: the whole job's weight.
      units: how many units of positive weight it has (enables the fitted
        per-unit cost of the ETA); None: the ETA is proportional to weight.
    """
    if self._interactive is None:
      isatty = getattr(self.stream, "isatty", lambda: False)
      self._interactive = isatty() and os.environ.get("TERM") != "dumb"
    self._total, self._done = float(total_weight), 0.0
    self._units_left = units
    self._began = self._unit_began = self._last_line = self._clock()
    self._finished_units = []
    self.is_started = True
    if self._done >= self._total:
      return
    self._active = True
    _ACTIVE.append(self)
    if self._interactive:
      handler = absl_logging.get_absl_handler()
      if _CLEAR_BAR_FILTER not in handler.filters:
        handler.addFilter(_CLEAR_BAR_FILTER)
      self._draw()

  def update(self, **status: str) -> None:
    """Show new status values (``key=shown string``) without work done."""
    self._status.update(status)
    if not self._active:
      return
    if self._interactive:
      if self._clock() - self._last_draw >= _MIN_REDRAW_S:
        self._draw()
    elif self._clock() - self._last_line >= self._interval_s:
      self._write_line(self._status_text())

  def advance(self, weight: float, note: Optional[str] = None,
              **status: str) -> None:
    """Record ``weight`` of work done, new status, and a line to keep.

    A call with positive weight ends a unit (its duration calibrates the
    ETA). When the total is reached, the report ends: the bar stays on
    screen with a newline, or a last plain line is written.
    """
    self._status.update(status)
    if not self._active:
      return
    now = self._clock()
    if weight > 0:
      self._finished_units.append((float(weight), now - self._unit_began))
      self._unit_began = now
      if self._units_left is not None:
        self._units_left = max(0, self._units_left - 1)
    self._done += weight
    finished = self._done >= self._total * (1 - 1e-12)
    if self._interactive:
      if note is not None:
        self.clear()
        self.stream.write(self._prefix() + note + "\n")
      self._draw()
      if finished:
        self.stream.write("\n")
        self.stream.flush()
        self._drawn = False
    elif note is not None:
      self._write_line(note)
    elif finished or now - self._last_line >= self._interval_s:
      self._write_line(self._status_text())
    if finished:
      self.end()

  def eta_s(self) -> Optional[float]:
    """Seconds left by the fitted unit costs; None before a unit ends."""
    finished = [(w, s) for w, s in self._finished_units if w > 0]
    if not finished:
      return None
    weights = [w for w, _ in finished]
    seconds = [s for _, s in finished]
    per_unit, per_weight = 0.0, sum(seconds) / sum(weights)
    if self._units_left is not None and len(set(weights)) >= 2:
      mean_w = sum(weights) / len(weights)
      mean_s = sum(seconds) / len(seconds)
      slope = (sum((w - mean_w) * (s - mean_s) for w, s in finished) /
               sum((w - mean_w) ** 2 for w in weights))
      if slope > 0 and mean_s - slope * mean_w >= 0:
        per_unit, per_weight = mean_s - slope * mean_w, slope
    left = (per_unit * (self._units_left or 0) +
            per_weight * max(0.0, self._total - self._done))
    return max(0.0, left - (self._clock() - self._unit_began))

  def end(self) -> None:
    """Stop reporting (done, or interrupted): later calls write nothing."""
    self._active = False
    if self in _ACTIVE:
      _ACTIVE.remove(self)

  def clear(self) -> None:
    """Take the bar off the screen until the next redraw."""
    if self._drawn:
      self.stream.write("\r\x1b[K")
      self.stream.flush()
      self._drawn = False

  def _prefix(self) -> str:
    """Outer reports' label and status, for a nested one."""
    outer = _ACTIVE[:_ACTIVE.index(self)] if self in _ACTIVE else []
    return "".join(f"{p.label}: {p._status_text()} > " for p in outer)

  def _timing(self) -> str:
    elapsed = format_duration(self._clock() - self._began)
    if self._done >= self._total:
      return f"done in {elapsed}"
    eta = self.eta_s()
    return (f"{elapsed} elapsed, ETA "
            f"{'?' if eta is None else format_duration(eta)}")

  def _status_text(self) -> str:
    return " | ".join(v for v in self._status.values() if v)

  def _write_line(self, text: str) -> None:
    parts = [f"{self._prefix()}{self.label} {100 * self.fraction:3.0f}%",
             self._timing(), text]
    self.stream.write(" | ".join(p for p in parts if p) + "\n")
    self.stream.flush()
    self._last_line = self._clock()

  def _draw(self) -> None:
    filled = int(round(_BAR_WIDTH * self.fraction))
    bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
    parts = [f"{self._prefix()}{self.label} [{bar}] "
             f"{100 * self.fraction:3.0f}%", self._timing(),
             self._status_text()]
    line = " | ".join(p for p in parts if p)
    columns = self._columns or shutil.get_terminal_size((100, 24)).columns
    self.stream.write("\r\x1b[K" + line[:max(columns - 1, 10)])
    self.stream.flush()
    self._drawn = True
    self._last_draw = self._clock()
