"""Prequential code on scikit-learn's digits: the fast default of bin/prequential.

1,437 real 8x8 digits, no download; an MLP runs in about a minute on 2 CPUs.
Any zoo model works (``mlp``, ``lenet``, ``tinycnn``, ...).

  bin/prequential --workdir=/tmp/tfmdl/digits
  bin/prequential --config=configs/prequential_digits.py:lenet --workdir=...
"""

from tfmdl.experiments.prequential import default_config


def get_config(model: str = "mlp"):
  config = default_config("digits", model)
  config.train.batch_size = 32
  config.train.patience = 5
  return config
