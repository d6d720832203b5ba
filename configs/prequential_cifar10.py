"""The paper's CIFAR-10 prequential experiments (appendix D, Figure 2).

Models: ``mlp`` (two hidden layers of 512), ``shallow`` (one of 5000),
``tinycnn`` (4 convs of 32, dropout 0.5), ``vgga`` (13-conv VGG, dropout 0.5,
no batch norm, no augmentation) and ``vggb`` = ``vgg`` (with batch norm and
data augmentation: random shifts and horizontal flips). Adam, learning rate
1e-3; timesteps 10, 20, ..., 40960, 50000. Reads CIFAR-10 from Keras's cache
``~/.keras/datasets/cifar-10-batches-py`` or ``--config.data_dir`` (that folder
or its parent), else from TFDS (a network, or a prepared
``--config.data_dir``); meant for a GPU.

  bin/prequential --model=vgg --dataset=cifar10 --workdir=/tmp/tfmdl/cifar_vggb
"""

from tfmdl.experiments.prequential import default_config


def get_config(model: str = "vggb"):
  config = default_config("cifar10", model)
  if model == "mlp":
    config.model_options.hidden_sizes = (512, 512)
    config.model_options.dropout = 0.0
  return config
