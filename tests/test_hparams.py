"""TensorBoard's HParams dashboard shows the settings a run used.

An online run is defined by ``online.*`` (it trains no block model, so
``train.*`` would mislead), a block run by ``train.*`` and
``prequential.*``; both by the data, the model and its options, the seed
and the learner.
"""

import glob
import os

import pytest
import tensorflow as tf
from tensorboard.compat.proto import event_pb2
from tensorboard.plugins.hparams import plugin_data_pb2

from tfmdl.experiments import defaults
from tfmdl.experiments import prequential


def _hparams(logdir: str) -> dict:
  """The hyperparameters of the session recorded in ``logdir``."""
  values = {}
  for path in glob.glob(os.path.join(logdir, "events.out.tfevents.*")):
    for raw in tf.data.TFRecordDataset(path):
      for value in event_pb2.Event.FromString(raw.numpy()).summary.value:
        if value.tag == "_hparams_/session_start_info":
          data = plugin_data_pb2.HParamsPluginData.FromString(
              value.metadata.plugin_data.content)
          for key, hparam in data.session_start_info.hparams.items():
            values[key] = hparam.WhichOneof("kind") and getattr(
                hparam, hparam.WhichOneof("kind"))
  return values


def _config(learner: str):
  config = defaults.base_config("digits", "mlp", hidden_sizes=(8,))
  config.num_train = 64
  config.learner = learner
  config.prequential.timesteps = (32, 64)
  config.prequential.final_model = False
  config.train.max_epochs = 1
  config.online.batch_size = 16
  config.online.replay = 2
  return config


@pytest.mark.parametrize("learner", ["online", "block"])
def test_a_run_records_the_settings_it_used(learner, tmp_path):
  config = _config(learner)
  prequential.run(config, str(tmp_path))
  values = _hparams(str(tmp_path / "tb"))
  assert values["learner"] == learner and values["code"] == "prequential"
  assert (values["dataset"], values["model"]) == ("digits", "mlp")
  assert values["model_options.hidden_sizes"] == "(8,)"
  assert values["seed"] == 0 and values["num_train"] == 64
  if learner == "online":
    assert values["online.batch_size"] == 16 and values["online.replay"] == 2
    assert set(values) >= {f"online.{k}" for k in config.online}
    assert not [k for k in values if k.startswith(("train.", "prequential."))]
  else:
    assert values["train.max_epochs"] == 1
    assert values["prequential.timesteps"] == "(32, 64)"
    assert "train.verbose" not in values
    assert not [k for k in values if k.startswith("online.")]
