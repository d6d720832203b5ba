"""TensorBoard's HParams dashboard shows the settings a run used.

An online run is defined by ``online.*`` (it trains no block model, so
``train.*`` and ``block.*`` would mislead), a block run by ``train.*`` and
``block.*``; both by the protocol ``prequential.*``, the data, the model and
its options, the seed and the learner.
"""

import glob
import os

import pytest
import tensorflow as tf
from tensorboard.compat.proto import event_pb2
from tensorboard.plugins.hparams import plugin_data_pb2

from tfmdl.experiments import config as config_lib
from tfmdl.experiments import prequential
from tfmdl.experiments import workdir


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
  config = config_lib.add_sections(
      config_lib.base_config("digits", "mlp", hidden_sizes=(8,)),
      prequential.SECTIONS)
  config.num_train = 64
  config.learner = learner
  config.prequential.timesteps = (32, 64)
  config.block.final_model = False
  config.train.max_epochs = 1
  config.online.batch_size = 16
  config.online.replay = 2
  return config


@pytest.mark.parametrize("learner", ["online", "block"])
def test_a_run_records_the_settings_it_used(learner, tmp_path):
  config = _config(learner)
  prequential.run(config, str(tmp_path))
  values = _hparams(str(tmp_path / "tb"))
  # TensorBoard and results.json name the registry's code: "online" for an
  # online run.
  code = "online" if learner == "online" else "prequential"
  assert values["learner"] == learner and values["code"] == code
  assert workdir.read_results(str(tmp_path))["code"] == code
  assert (values["dataset"], values["model"]) == ("digits", "mlp")
  assert values["model_options.hidden_sizes"] == "(8,)"
  assert values["seed"] == 0 and values["num_train"] == 64
  # The protocol (schedule, uniform fallback, setting bits) is either's.
  assert values["prequential.timesteps"] == "(32, 64)"
  assert set(values) >= {f"prequential.{k}" for k in config.prequential}
  if learner == "online":
    assert values["online.batch_size"] == 16 and values["online.replay"] == 2
    assert set(values) >= {f"online.{k}" for k in config.online}
    assert not [k for k in values if k.startswith(("train.", "block."))]
  else:
    assert values["train.max_epochs"] == 1
    assert values["block.final_model"] is False
    assert set(values) >= {f"block.{k}" for k in config.block}
    assert "train.verbose" not in values
    assert not [k for k in values if k.startswith("online.")]
