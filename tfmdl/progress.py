"""Progress of a long run: a bar with an ETA on a terminal, lines in a log.

A thin layer over ``tqdm``: every long loop of tfmdl (the blocks of a
prequential code, the minibatches of an online one, grid points, trials)
reports the weight of the work it finished (a block: the prefix it trained
on, about what a training epoch costs; an online unit: its examples), a
status (the block, the epoch in course, the bits so far) and notes, one line
each (a finished block and its bits). On a terminal the bar is redrawn in
place and the notes scroll above it; in a log (stderr not a terminal) only
the notes are written, so a log has one line per block, not a stream of
redraws.

Example::

    with Progress("prequential", total=sum(sizes)) as progress:
      for i, size in enumerate(sizes):
        progress.status(block=f"block {i + 1}/{len(sizes)}")
        ...
        progress.advance(size)
        progress.note(f"block {i + 1}: {bits:.1f} bits")
"""

import sys
from typing import Optional, TextIO

import tqdm


class Progress:
  """One job's progress over weighted units of work (module docstring)."""

  def __init__(self, label: str, total: float, *,
               stream: Optional[TextIO] = None,
               interactive: Optional[bool] = None):
    """
    Args:
      label: the job's name, first on the bar and on every note.
      total: the whole job's weight.
      stream: where to write; stderr when None.
      interactive: draw the bar; when None, whether ``stream`` is a
        terminal.
    """
    self.label = label
    self._stream = stream or sys.stderr
    if interactive is None:
      interactive = getattr(self._stream, "isatty", lambda: False)()
    self._status = {}
    self._bar = tqdm.tqdm(
        total=total, desc=label, file=self._stream, disable=not interactive,
        dynamic_ncols=True, unit_scale=True, leave=True, mininterval=0.2,
        bar_format="{desc}: {percentage:3.0f}%|{bar:20}| [{elapsed}<"
                   "{remaining}]{postfix}")

  def status(self, **values: str) -> None:
    """Show new status values (``key=shown string``; "" hides one)."""
    self._status.update(values)
    self._bar.set_postfix_str(
        ", ".join(v for v in self._status.values() if v), refresh=True)

  def advance(self, weight: float) -> None:
    """Record ``weight`` of work done; the report ends with the total."""
    if weight:
      self._bar.update(weight)
      if self._bar.total and self._bar.n >= self._bar.total * (1 - 1e-12):
        self.close()

  def note(self, line: str) -> None:
    """A line to keep, above the bar (or in the log)."""
    self._bar.write(f"{self.label}: {line}", file=self._stream)

  def close(self) -> None:
    """End the report: the bar stays on screen, followed by a newline."""
    self._bar.close()

  def __enter__(self) -> "Progress":
    return self

  def __exit__(self, *exc) -> None:
    self.close()


def reporting(progress, label: str, total: float):
  """How a library loop gets its report: the caller's ``progress`` (a larger
  job's), else a new :class:`Progress` of this loop's ``total`` on stderr,
  which ends once the total is done."""
  return progress if progress is not None else Progress(label, total)


class NoProgress:
  """A report that writes nothing, with :class:`Progress`'s methods."""

  def status(self, **values: str) -> None:
    del values

  def advance(self, weight: float) -> None:
    del weight

  def note(self, line: str) -> None:
    del line

  def close(self) -> None:
    pass

  def __enter__(self) -> "NoProgress":
    return self

  def __exit__(self, *exc) -> None:
    pass
