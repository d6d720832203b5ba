"""Two-part codes on MNIST (the paper's Table 1 setting, with whole codes).

Needs MNIST: TFDS downloads it where there is a network, or pass
``--config.data_dir`` with the four IDX files. Grids as in
``twopart_fashion_mnist.py``.

  bin/twopart --code=subspace --config=configs/twopart_mnist.py:lenet \\
      --workdir=/tmp/tfmdl/twopart_mnist_lenet_subspace
"""

from tfmdl.experiments.two_part import default_config


def get_config(model: str = "lenet"):
  config = default_config("mnist", model)
  config.subspace.dims = (10, 30, 100, 300, 1000, 3000)
  return config
