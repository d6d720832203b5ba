"""Every model name of the paper runs end to end through bin/prequential's
config: ``--model=<alias> --dataset=<d>`` picks configs/prequential_<d>.py,
whose config resolves the alias once (vgga: VGG without batch norm, vggb
with batch norm and augmentation), and the run trains and codes a block.

MNIST-shaped models on Fashion-MNIST's local files, the CIFAR-10 models on a
tiny CIFAR-10 folder as Keras caches it (the python batches), given as
``--data_dir``: the offline machine's way to the paper's headline command.
"""

import json
import os
import pickle

import numpy as np
import pytest

from tfmdl.data import cifar_pickle
from tfmdl.experiments import config as config_lib
from tfmdl.experiments import prequential as experiment

MNIST_SHAPED = ("mlp", "shallow", "tinycnn", "lenet", "vgg_mnist")
CIFAR_SHAPED = ("vgga", "vggb", "vgg")
TINY = ["--config.num_train=20", "--config.num_test=10",
        "--config.prequential.timesteps=(10,20)",
        "--config.train.max_epochs=1", "--config.train.batch_size=8"]


def test_every_paper_alias_is_tested():
  assert set(MNIST_SHAPED + CIFAR_SHAPED) == set(config_lib.PAPER_MODELS)


@pytest.fixture(scope="module")
def cifar10_folder(tmp_path_factory):
  """A cifar-10-batches-py with 4 images per training batch and 10 test
  images (pickled with protocol 4: bytes without ``_codecs``)."""
  folder = tmp_path_factory.mktemp("cifar") / "cifar-10-batches-py"
  folder.mkdir()
  rng = np.random.default_rng(0)
  for name, size in [(f, 4) for f in cifar_pickle.TRAIN_FILES] + [
      (cifar_pickle.TEST_FILE, 10)]:
    batch = {b"batch_label": b"fake", b"labels": [
        int(k) for k in rng.integers(0, 10, size)],
             b"data": rng.integers(0, 256, (size, 3072), dtype=np.uint8),
             b"filenames": [b"x.png"] * size}
    with open(folder / name, "wb") as f:
      pickle.dump(batch, f, protocol=4)
  return str(folder)


def _run(bin_config, tmp_path, argv):
  config = bin_config("prequential", argv + TINY)
  workdir = str(tmp_path / "run")
  result = experiment.run(config, workdir)
  with open(os.path.join(workdir, "results.json")) as f:
    return config, result, json.load(f)


@pytest.mark.slow
@pytest.mark.parametrize("alias", MNIST_SHAPED)
def test_the_mnist_models_run_under_their_paper_names(alias, bin_config,
                                                      tmp_path):
  name, options, augment = config_lib.PAPER_MODELS[alias]
  config, result, record = _run(
      bin_config, tmp_path, [f"--model={alias}", "--dataset=fashion_mnist"])
  assert (config.model, config.train.augment) == (name, augment)
  assert record["config"]["model_options"] == {
      k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}
  assert [b.end for b in result.blocks] == [10, 20]
  assert result.blocks[1].epochs_trained == 1
  assert record["test_accuracy"] is not None


@pytest.mark.slow
@pytest.mark.parametrize("alias", CIFAR_SHAPED)
def test_the_cifar10_models_run_under_their_paper_names(
    alias, bin_config, tmp_path, cifar10_folder):
  name, options, augment = config_lib.PAPER_MODELS[alias]
  config, result, record = _run(
      bin_config, tmp_path, [f"--model={alias}", "--dataset=cifar10",
                             f"--data_dir={cifar10_folder}"])
  assert (config.model, config.train.augment) == (name, augment)
  assert config.model_options.batch_norm == options["batch_norm"]
  assert record["data_source"] == cifar10_folder
  assert record["n"] == 20 and [b.end for b in result.blocks] == [10, 20]
