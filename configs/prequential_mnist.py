"""The paper's MNIST prequential experiments (appendix D).

Models: ``mlp`` (two hidden layers of 256, dropout 0.5) and ``vgg_mnist``
(8 convs, dropout 0.5); any zoo model works. Adam, learning rate 1e-3;
timesteps 8, 16, ..., 32768, 60000. Needs MNIST: TFDS downloads it where there
is a network, or pass ``--config.data_dir`` with the four IDX files.

  bin/prequential --config=configs/prequential_mnist.py:vgg_mnist \\
      --workdir=/tmp/tfmdl/mnist_vgg
"""

from tfmdl.experiments.prequential import default_config


def get_config(model: str = "vgg_mnist"):
  config = default_config("mnist", model)
  config.prequential.first_block = 8
  return config
