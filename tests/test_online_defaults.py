"""The online learner's settings per zoo model: what ``bin/prequential
--learner=online`` runs (tfmdl/codes/prequential/online/defaults.py)."""

import importlib.util
import os

import pytest

from tfmdl import ledger
from tfmdl.codes import prequential
from tfmdl.codes.prequential.online import defaults
from tfmdl.experiments import config as config_lib
from tfmdl.experiments import prequential as prequential_experiment

RECIPES = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "configs", "shortest_fashion_mnist.py")


def _recipe(name):
  spec = importlib.util.spec_from_file_location("recipes", RECIPES)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(name)


def _setting(config):
  return ledger.setting_digest(config_lib.ledger_setting(config, "online"))


def _online(config):
  """What ``bin/prequential --learner=online`` does to its config."""
  return prequential_experiment.with_learner(config, "online")


@pytest.mark.parametrize("model", ["mlp", "tinycnn"])
def test_the_plain_online_command_is_the_recipe(bin_config, model):
  """``--dataset=fashion_mnist --model=<m> --learner=online`` runs the
  setting of recipe <m>: the same code, counted once in the ledger."""
  config = bin_config("prequential", ["--dataset=fashion_mnist",
                                      f"--model={model}"],
                      adjust=_online)
  assert config.learner == "online"
  assert config.model_options.dropout == 0.0
  assert _setting(config) == _setting(_recipe(model))


def test_the_online_mlp_is_the_gelu_recipe_and_the_block_mlp_the_papers(
    bin_config):
  online = bin_config("prequential", ["--dataset=fashion_mnist",
                                      "--model=mlp"], adjust=_online)
  assert online.model_options.activation == "gelu"
  assert prequential_experiment.learner_config(online).jit_compile
  block = bin_config("prequential", ["--dataset=fashion_mnist",
                                     "--model=mlp"])
  assert block.model_options.activation == "relu"
  assert block.model_options.dropout == 0.5


def test_the_command_line_can_set_the_online_mlps_activation(bin_config):
  config = bin_config("prequential", [
      "--dataset=fashion_mnist", "--model=mlp",
      "--config.model_options.activation=relu"], adjust=_online)
  assert config.model_options.activation == "relu"
  assert config.model_options.dropout == 0.0


def test_an_option_added_later_keeps_earlier_runs_settings():
  """The paper MLP's ``activation="relu"`` (added in round 3) is left out of
  its ledger setting, so a block run counts as the same setting as before;
  another activation is a setting of its own."""
  config = prequential_experiment.default_config("fashion_mnist", "mlp")
  assert config.model_options.activation == "relu"
  setting = config_lib.ledger_setting(config, "prequential")
  assert setting["model"] == {"hidden_sizes": (256, 256), "dropout": 0.5}
  config.model_options.activation = "gelu"
  assert config_lib.ledger_setting(config, "prequential")["model"][
      "activation"] == "gelu"


def test_the_command_line_overrides_the_online_settings(bin_config):
  config = bin_config("prequential", [
      "--dataset=fashion_mnist", "--model=mlp",
      "--config.online.batch_size=16", "--config.model_options.dropout=0.5"],
                      adjust=_online)
  online = prequential_experiment.learner_config(config)
  assert online.batch_size == 16 and online.replay == 8
  assert config.model_options.dropout == 0.5
  assert tuple(config.model_options.hidden_sizes) == (256, 256)


def test_the_block_learner_keeps_the_paper_settings():
  block = prequential_experiment.default_config("fashion_mnist", "tinycnn")
  assert block.learner == "block" and block.model_options.dropout == 0.5
  online = prequential_experiment.default_config("fashion_mnist", "tinycnn",
                                                 learner="online")
  assert online.model_options.dropout == 0.0
  assert (prequential_experiment.learner_config(online) ==
          defaults.BY_MODEL["tinycnn"].online)
  # Back to the block learner: the config's own settings stay.
  assert prequential_experiment.with_learner(online, "block").learner == "block"


def test_a_config_on_the_online_learner_keeps_its_settings():
  recipe = _recipe("mlp_fast")
  before = _setting(recipe)
  assert _setting(prequential_experiment.with_learner(recipe, "online")) == (
      before)


def test_a_model_without_online_settings_gets_the_general_ones():
  config = prequential_experiment.default_config("fashion_mnist", "lenet",
                                                 learner="online")
  assert (prequential_experiment.learner_config(config) ==
          prequential.OnlineConfig())
  assert defaults.for_model("lenet").model_options == {}


def test_unknown_learner_is_refused():
  config = prequential_experiment.default_config("digits", "mlp")
  with pytest.raises(ValueError, match="unknown learner 'stream'; known: "
                     "block, online"):
    prequential_experiment.with_learner(config, "stream")
