"""Hyperparameter search on Fashion-MNIST (read from local IDX files).

An MLP or LeNet, searched over learning rate, batch size, and the MLP's width,
depth and dropout (prequential; prior scale instead of dropout for the
variational code). Explicit cost of a prequential configuration: 1 bit for
the model, then log2(3 * 3) for LeNet or log2(3 * 3 * 3 * 2 * 3) for the MLP.
The argument is the code. A random search of 5 trials on the first 20,000
training images took 5.7 minutes on 2 CPUs (best: LeNet, 12.247 kbits; with
the log2 5 selection bits and as a mixture: 12.249 kbits):

  bin/tune --dataset=fashion_mnist --max_trials=5 \\
      --config.num_train=20000 --workdir=/tmp/tfmdl/tune_fashion
"""

from tfmdl.experiments import tune
from tfmdl.experiments.prequential import default_config


def get_config(code: str = "prequential"):
  config = default_config("fashion_mnist", "mlp")
  config.train.max_epochs = 20
  config = tune.add_defaults(config, code)
  space = config.tune.space
  space.model = ("mlp", "lenet")
  space.learning_rate = (3e-4, 1e-3, 3e-3)
  space.batch_size = (64, 128, 256)
  space.width = (256, 512, 1024)
  space.depth = (1, 2)
  if code == "variational":
    space.dropout = (0.0,)
    space.prior_stddev = (0.05, 0.1, 0.5)
  else:
    space.dropout = (0.0, 0.25, 0.5)
  return config
