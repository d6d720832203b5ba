"""The paper's Figure 1: fake labels cannot be compressed.

An MLP with 3 hidden layers of 200 ReLU units, trained variationally on true
labels and, with ``--random_labels``, on uniformly random ones. TensorBoard
shows the variational codelength and its KL part per epoch, one run per prior
scale; the uniform codelength is n log2(10) = 199.3 kbits for n = 60,000. The
argument is the data set (``mnist`` or ``fashion_mnist``).

  bin/variational --config=configs/variational_fig1.py:fashion_mnist \\
      --workdir=/tmp/tfmdl/fig1_true
  bin/variational --config=configs/variational_fig1.py:fashion_mnist \\
      --random_labels --workdir=/tmp/tfmdl/fig1_random
"""

from tfmdl.experiments.config import base_config
from tfmdl.experiments.variational import add_defaults


def get_config(dataset: str = "mnist"):
  config = add_defaults(base_config(dataset, "mlp",
                                    hidden_sizes=(200, 200, 200),
                                    dropout=0.0))
  config.train.batch_size = 128
  config.train.learning_rate = 1e-3
  config.train.max_epochs = 50
  return config
