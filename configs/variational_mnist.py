"""The paper's variational experiments on MNIST (section 3.3, appendix C).

Models: ``lenet`` (conv 6 5x5, pool, conv 16 5x5, pool, FC 120, FC 84; the
paper's best variational code) and ``mlp`` (two hidden layers of 256). Every
weight under a diagonal Gaussian posterior (Flipout), prior N(0, s0^2) with s0
picked from a grid fixed in advance and paid log2(4) = 2 bits; mini-batches of
128, Adam, 50 epochs without early stopping. Needs MNIST: TFDS downloads it
where there is a network, or pass ``--config.data_dir`` with the IDX files.

  bin/variational --model=lenet --dataset=mnist --workdir=/tmp/tfmdl/vi_mnist
"""

from tfmdl.experiments.variational import appendix_c_config


def get_config(model: str = "lenet"):
  return appendix_c_config("mnist", model)
