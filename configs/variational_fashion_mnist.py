"""Appendix C's variational experiments on Fashion-MNIST (local IDX files).

Models: ``lenet`` and ``mlp`` (two hidden layers of 256), as for MNIST; the
prior grid, Adam and 50 epochs without early stopping. Fashion-MNIST is read
from ``/usr/share/datasets/fashion-mnist/``, Keras's cache,
``--config.data_dir`` or TFDS.

  bin/variational --model=mlp --dataset=fashion_mnist \\
      --workdir=/tmp/tfmdl/vi_fashion_mlp
"""

from tfmdl.experiments.variational import appendix_c_config


def get_config(model: str = "lenet"):
  return appendix_c_config("fashion_mnist", model)
