"""The base ConfigDict that every file in ``configs/`` starts from.

Fields (all agreed in advance between Alice and Bob, so all part of the code):

* data: ``dataset``, ``data_dir``, ``data_seed`` (training-set order),
  ``num_train``/``num_test`` (first samples of that order), ``random_labels``
  and ``random_labels_seed``;
* model: ``model`` (a zoo name) and ``model_options`` (its builder options);
* ``seed`` (training), ``strategy`` (``tfmdl.training.STRATEGY_NAMES``),
  ``deterministic`` (op determinism; off is needed for ``train.jit_compile``);
* ``train``: the fields of :class:`tfmdl.training.TrainConfig`;
* ``prequential``: schedule and validation split of the prequential code;
* ``learner``: ``"block"`` (retrain per block, the paper) or ``"online"``
  (one model trained as the labels arrive, :mod:`tfmdl.online`), whose
  hyperparameters are ``online`` (the fields of
  :class:`tfmdl.online.OnlineConfig` besides schedule and seed).
"""

import ml_collections
from ml_collections import config_dict


# The paper's architecture options (appendices C-D); ``vgga``/``vggb`` are the
# 13-conv VGG without / with batch norm and data augmentation.
PAPER_MODELS = {
    "mlp": ("mlp", dict(hidden_sizes=(256, 256), dropout=0.5), False),
    "shallow": ("shallow", dict(width=5000), False),
    "tinycnn": ("tinycnn", dict(dropout=0.5), False),
    "lenet": ("lenet", {}, False),
    "vgg_mnist": ("vgg_mnist", dict(dropout=0.5), False),
    "vgga": ("vgg", dict(batch_norm=False, dropout=0.5), False),
    "vggb": ("vgg", dict(batch_norm=True, dropout=0.5), True),
    "vgg": ("vgg", dict(batch_norm=True, dropout=0.5), True),
}


def paper_config(dataset: str, model: str) -> ml_collections.ConfigDict:
  """:func:`base_config` for a model name of :data:`PAPER_MODELS`.

  A zoo model not listed there gets its builder's defaults.
  """
  name, options, augment = PAPER_MODELS.get(model, (model, {}, False))
  config = base_config(dataset, name, **options)
  config.train.augment = augment
  return config


def base_config(dataset: str, model: str, **model_options
                ) -> ml_collections.ConfigDict:
  """A complete config for ``model`` on ``dataset`` with the paper's defaults."""
  config = ml_collections.ConfigDict()
  config.dataset = dataset
  config.data_dir = config_dict.placeholder(str)
  config.data_seed = 0
  config.num_train = config_dict.placeholder(int)
  config.num_test = config_dict.placeholder(int)
  config.random_labels = False
  config.random_labels_seed = config_dict.placeholder(int)

  config.model = model
  config.model_options = ml_collections.ConfigDict(model_options)
  config.seed = 0
  config.strategy = "auto"
  # Op determinism: Bob replays Alice's training bit for bit. XLA
  # (train.jit_compile) needs it off.
  config.deterministic = True

  config.train = ml_collections.ConfigDict(dict(
      batch_size=128, learning_rate=1e-3, max_epochs=50, patience=3,
      min_epochs=1, augment=False, shift_pixels=4, regularization_scale=1.0,
      jit_compile=False, steps_per_call=16, eval_batch_size=1024, verbose=0))

  config.prequential = ml_collections.ConfigDict(dict(
      timesteps=config_dict.placeholder(tuple), first_block=10,
      val_fraction=0.1, record_epoch_bits=True, final_model=True,
      uniform_fallback=True))
  config.learner = "block"
  config.online = ml_collections.ConfigDict(dict(
      batch_size=32, replay=8, replay_kind="uniform", stream_restarts=True,
      learning_rate=1e-3, schedule="constant", warmup=0,
      final_lr_fraction=0.1, augment=False, shift_pixels=2, flip=False,
      ema_decay=0.99, calibrate=True, calibration_lr=1e-2,
      uniform_fallback=True, ensemble=1,
      steps_per_call=64, jit_compile=False, setting_bits=3.0))
  return config
