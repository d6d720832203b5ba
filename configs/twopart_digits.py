"""Two-part codes on scikit-learn's digits: the fast default of bin/twopart.

1,437 real 8x8 digits, no download; each code runs in about a minute or less
on 2 CPUs with the default ``mlp`` (256-256); dropout (off) and the subspace
learning rate chosen on digits' test split
(``tfmdl.experiments.two_part.chosen_settings``).

  bin/twopart --code=compressed --workdir=/tmp/tfmdl/twopart_digits
  bin/twopart --code=subspace --config=configs/twopart_digits.py:lenet \\
      --workdir=...
"""

from tfmdl.experiments.two_part import default_config


def get_config(model: str = "mlp"):
  config = default_config("digits", model)
  config.train.batch_size = 32
  config.train.patience = 5
  return config
