"""TensorBoard summaries, with a no-op mode for runs without a workdir.

Tags follow ``<code>/<quantity>_<unit>``, e.g. ``prequential/cumulative_kbits``;
the step is the number of transmitted samples where that is the natural axis.
"""

from typing import Mapping, Optional

import tensorflow as tf


class SummaryWriter:
  """Writes scalars, hyperparameters and images; does nothing when ``logdir``
  is None."""

  def __init__(self, logdir: Optional[str]):
    self._writer = (tf.summary.create_file_writer(logdir)
                    if logdir is not None else None)

  def scalars(self, values: Mapping[str, float], step: int) -> None:
    if self._writer is None:
      return
    with self._writer.as_default():
      for tag, value in values.items():
        tf.summary.scalar(tag, float(value), step=int(step))

  def hparams(self, values: Mapping[str, object]) -> None:
    """Record the run's hyperparameters for TensorBoard's HParams dashboard."""
    if self._writer is None:
      return
    from tensorboard.plugins.hparams import api as hp  # pylint: disable=g-import-not-at-top
    clean = {k: v if isinstance(v, (bool, int, float, str)) else str(v)
             for k, v in values.items()}
    with self._writer.as_default():
      hp.hparams(clean)

  def image(self, tag: str, png: bytes, step: int = 0) -> None:
    """A PNG file's bytes (a figure of ``bin/report``) as an image summary."""
    if self._writer is None:
      return
    with self._writer.as_default():
      tf.summary.image(tag, tf.io.decode_png(png)[tf.newaxis], step=int(step))

  def flush(self) -> None:
    if self._writer is not None:
      self._writer.flush()
