"""Variational code on scikit-learn's digits: bin/variational's fast default.

1,437 real 8x8 digits, no download. A Flipout MLP with one hidden layer of 64,
30 epochs for each of the four prior scales of the grid: about 20 s on 2 CPUs.
Any zoo model works (``mlp``, ``lenet``, ...).

  bin/variational --workdir=/tmp/tfmdl/variational_digits
  bin/variational --config=configs/variational_digits.py:lenet --workdir=...
"""

from tfmdl.experiments.config import base_config
from tfmdl.experiments.variational import add_defaults


def get_config(model: str = "mlp"):
  options = dict(hidden_sizes=(64,), dropout=0.0) if model == "mlp" else {}
  config = add_defaults(base_config("digits", model, **options))
  config.train.batch_size = 32
  config.train.learning_rate = 1e-2
  config.train.max_epochs = 30
  return config
