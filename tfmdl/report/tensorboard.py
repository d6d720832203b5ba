"""The report's figures as TensorBoard images, beside the runs' scalars.

TensorFlow loads here only, when the images are written, after every file
has been read and every table and figure made with numpy and matplotlib.
"""

import glob
import os


def write_tensorboard(pngs: dict, logdir: str) -> None:
  """Each figure as a TensorBoard image, tag ``report/<name>``, step 0.

  ``logdir`` is the report's own: the event files of an earlier report there
  are removed, so that TensorBoard shows this report's figures only.
  """
  from tfmdl import summaries  # pylint: disable=g-import-not-at-top
  for old in glob.glob(os.path.join(logdir, "events.out.tfevents.*")):
    os.remove(old)
  writer = summaries.SummaryWriter(logdir)
  for name, png in pngs.items():
    writer.image(f"report/{name}", png)
  writer.flush()
