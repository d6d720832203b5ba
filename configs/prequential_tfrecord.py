"""Online code of a data set in TFRecord files, read as a stream.

The folder (``--config.data_dir``) holds the files and their
``tfmdl_tfrecord.json`` (:mod:`tfmdl.data.tfrecord`, which writes them); the
examples are coded in the files' order, read once, never all in memory: the
online learner replays from a memory of ``online.replay_memory`` samples,
and saves its state in the workdir every ``online.checkpoint_seconds``, so a
rerun resumes (docs/cluster.md).

  bin/prequential --dataset=tfrecord --config.data_dir=/data/my_records \\
      --workdir=/tmp/tfmdl/my_records
  bin/prequential --dataset=tfrecord --config.data_dir=/data/my_records \\
      --config.online.replay_memory=16384 --workdir=/tmp/tfmdl/my_records_16k
"""

from tfmdl.experiments.prequential import default_config


def get_config(model: str = "mlp"):
  config = default_config("tfrecord", model)
  config.learner = "online"
  config.online.replay_memory = 65536
  if "dropout" in config.model_options:
    config.model_options.dropout = 0.0  # it lengthens online codes
  return config
