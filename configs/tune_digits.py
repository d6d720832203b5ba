"""Hyperparameter search on scikit-learn's digits: the fast default of bin/tune.

An MLP searched over learning rate, batch size, width, depth and dropout
(prequential) or learning rate, batch size, width, depth and prior scale
(variational): 3 x 2 x 3 x 2 x 3 = 108 configurations, 6.75 bits each when
sent explicitly (Bayesian; Hyperband adds its budget). The argument is the
code.

  bin/tune --workdir=/tmp/tfmdl/tune_digits                  # random, T=5
  bin/tune --code=variational --search=bayesian --max_trials=8 \\
      --workdir=/tmp/tfmdl/tune_digits_vi
"""

from tfmdl.experiments import tune
from tfmdl.experiments.prequential import default_config


def get_config(code: str = "prequential"):
  config = default_config("digits", "mlp")
  config.train.batch_size = 32
  config.train.patience = 5
  config.train.max_epochs = 30
  config = tune.add_defaults(config, code)
  space = config.tune.space
  space.learning_rate = (1e-3, 3e-3, 1e-2)
  space.batch_size = (32, 64)
  space.width = (64, 128, 256)
  space.depth = (1, 2)
  if code == "variational":
    space.dropout = (0.0,)
    space.prior_stddev = (0.05, 0.1, 0.5)
  else:
    space.dropout = (0.0, 0.25, 0.5)
  return config
