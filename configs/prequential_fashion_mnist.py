"""The paper's MNIST experiments on Fashion-MNIST (read from local IDX files).

Models: ``mlp`` (256-256, dropout 0.5), ``lenet``, ``tinycnn``, ``vgg_mnist``.
Fashion-MNIST is read from ``/usr/share/datasets/fashion-mnist/`` (Debian's
``dataset-fashion-mnist``), Keras's cache, ``--config.data_dir`` or TFDS.
Timesteps 10, 20, ..., 40960, 60000.

  bin/prequential --config=configs/prequential_fashion_mnist.py:mlp \\
      --workdir=/tmp/tfmdl/fashion_mlp
"""

from tfmdl.experiments.prequential import default_config


def get_config(model: str = "mlp"):
  return default_config("fashion_mnist", model)
