"""The paper's variational experiments on CIFAR-10 (section 3.3, appendix C).

Models: ``lenet`` (conv 6 5x5, pool, conv 16 5x5, pool, FC 120, FC 84) and
``mlp`` (two hidden layers of 256), every weight under a diagonal Gaussian
posterior; the prior grid, Adam with mini-batches of 128, 50 epochs without
early stopping. Reads CIFAR-10 from Keras's cache
``~/.keras/datasets/cifar-10-batches-py`` or ``--config.data_dir`` (that folder
or its parent), else from TFDS (a network, or a prepared
``--config.data_dir``); meant for a GPU.

  bin/variational --model=lenet --dataset=cifar10 --workdir=/tmp/tfmdl/vi_cifar
"""

from tfmdl.experiments.variational import appendix_c_config


def get_config(model: str = "lenet"):
  return appendix_c_config("cifar10", model)
