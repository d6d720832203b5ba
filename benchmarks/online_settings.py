"""Online-learner settings compared on labels that no code sends.

  python benchmarks/online_settings.py                  # every setting, ~1 h
  python benchmarks/online_settings.py --settings=mlp_b32_r8,mlp_cosine

Each setting runs the online code (:mod:`tfmdl.codes.prequential.online`)
on Fashion-MNIST's 10,000 *test* images and labels. The code of the 60,000 training labels
(configs/shortest_fashion_mnist.py) never sends these labels, so a choice
made here costs it nothing; a choice made on the training labels is paid
through the run ledger (tfmdl/ledger.py). SETTINGS lists the settings that
were compared while the recipes were built, in the order they were tried,
dead ends included; the JSON lines in benchmarks/results/online_settings.jsonl
are a rerun of that list, not a log of the exploration as it happened (it
predates the ledger). Each run now also appends a line to the run ledger
(``TFMDL_LEDGER``, split "test"), with its time and code version, and one
JSON line (setting, kbits, seconds) to --out. Seconds are the online code's
wall time on this machine at its current load.
"""

import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

from tfmdl import data  # noqa: E402
from tfmdl import models  # noqa: E402
from tfmdl.codes import prequential  # noqa: E402
from tfmdl import training  # noqa: E402

_MLP = dict(hidden_sizes=(256, 256), dropout=0.0)
_MLP_DROPOUT = dict(hidden_sizes=(256, 256), dropout=0.5)
_CNN = dict(dropout=0.0)
_B32 = dict(batch_size=32, replay=8)
_SHIFT = dict(augment=True, shift_pixels=1)
_FAST = dict(learning_rate=2e-3, schedule="cosine")

# name -> (model, model options, OnlineConfig fields).
SETTINGS = {
    # The MLP: the previous defaults (minibatches of 128, the paper's
    # dropout), then minibatches, replay, dropout, EMA.
    "mlp_b128_dropout": ("mlp", _MLP_DROPOUT, dict(_B32, batch_size=128)),
    "mlp_b32_dropout": ("mlp", _MLP_DROPOUT, _B32),
    "mlp_streams_dropout": ("mlp", _MLP_DROPOUT,
                            dict(_B32, replay_kind="streams")),
    "mlp_streams": ("mlp", _MLP, dict(_B32, replay_kind="streams")),
    "mlp_b32_r8": ("mlp", _MLP, _B32),
    "mlp_no_ema": ("mlp", _MLP, dict(_B32, ema_decay=0.0)),
    "mlp_ema_0.995": ("mlp", _MLP, dict(_B32, ema_decay=0.995)),
    "mlp_r4": ("mlp", _MLP, dict(_B32, replay=4)),
    "mlp_r16": ("mlp", _MLP, dict(_B32, replay=16)),
    "mlp_b16": ("mlp", _MLP, dict(_B32, batch_size=16)),
    "mlp_b64": ("mlp", _MLP, dict(_B32, batch_size=64)),
    "mlp_lr_5e-4": ("mlp", _MLP, dict(_B32, learning_rate=5e-4)),
    "mlp_no_restarts": ("mlp", _MLP, dict(_B32, replay_kind="streams",
                                          stream_restarts=False)),
    "mlp_shift": ("mlp", _MLP, dict(_B32, **_SHIFT)),
    "mlp_warmup": ("mlp", _MLP, dict(_B32, warmup=50)),
    "mlp_cosine": ("mlp", _MLP, dict(_B32, **_FAST)),
    "mlp_ensemble": ("mlp", _MLP, dict(_B32, ensemble=2, **_FAST)),
    "mlp_fast": ("mlp", _MLP, dict(batch_size=64, replay=4, **_FAST)),
    "mlp_b32_r4_cosine": ("mlp", _MLP, dict(batch_size=32, replay=4,
                                            **_FAST)),
    "mlp_b64_r8_cosine": ("mlp", _MLP, dict(batch_size=64, replay=8,
                                            **_FAST)),
    # Convnets: tinycnn against lenet and the residual network, then
    # augmentation, learning rate, replay and ensembles.
    "lenet": ("lenet", {}, _B32),
    "tinycnn": ("tinycnn", _CNN, _B32),
    "resnet": ("resnet", {}, _B32),
    "resnet_batchnorm": ("resnet", dict(normalization="batch"), _B32),
    "resnet_dense_head": ("resnet", dict(head_sizes=(256,)),
                          dict(_B32, **_SHIFT)),
    "tinycnn_shift": ("tinycnn", _CNN, dict(_B32, **_SHIFT)),
    "tinycnn_shift2_flip": ("tinycnn", _CNN, dict(_B32, augment=True,
                                                  shift_pixels=2, flip=True)),
    "tinycnn_dropout": ("tinycnn", dict(dropout=0.25), _B32),
    "tinycnn_shift_streams": ("tinycnn", _CNN, dict(
        _B32, replay_kind="streams", **_SHIFT)),
    "tinycnn_shift_lr_2e-3": ("tinycnn", _CNN, dict(
        _B32, learning_rate=2e-3, **_SHIFT)),
    "tinycnn_shift_r12": ("tinycnn", _CNN, dict(
        _B32, replay=12, learning_rate=2e-3, **_SHIFT)),
    "tinycnn_cosine": ("tinycnn", _CNN, dict(_B32, **_FAST, **_SHIFT)),
    "tinycnn_r16": ("tinycnn", _CNN, dict(_B32, replay=16, **_FAST,
                                          **_SHIFT)),
    "tinycnn_r12_cosine": ("tinycnn", _CNN, dict(_B32, replay=12, **_FAST,
                                                 **_SHIFT)),
    "tinycnn_ensemble": ("tinycnn", _CNN, dict(_B32, replay=12, ensemble=2,
                                               **_FAST, **_SHIFT)),
    "tinycnn_ensemble3_r8": ("tinycnn", _CNN, dict(_B32, ensemble=3, **_FAST,
                                                   **_SHIFT)),
}

_SETTINGS = flags.DEFINE_list("settings", list(SETTINGS),
                              "Names of the settings to run.")
_OUT = flags.DEFINE_string(
    "out", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "results", "online_settings.jsonl"),
    "JSON-lines file the runs are appended to.")


def run_setting(name: str, dataset) -> dict:
  """The online code of setting ``name`` on the test split."""
  model, options, fields = SETTINGS[name]
  began = time.perf_counter()
  result = prequential.prequential_code(
      lambda seed: models.build(model, dataset.input_shape,
                                dataset.num_classes, seed=seed, **options),
      dataset.x_test, dataset.y_test, dataset.num_classes,
      learner=prequential.OnlineConfig(**fields),
      source="benchmarks/online_settings.py", split="test")
  return {"setting": name, "model": model, "model_options": options,
          "online": fields, "n": len(dataset.y_test),
          "codelength_kbits": round(result.codelength_bits / 1000, 3),
          "wall_s": round(time.perf_counter() - began, 1)}


def main(argv):
  del argv
  unknown = sorted(set(_SETTINGS.value) - set(SETTINGS))
  if unknown:
    raise app.UsageError(f"unknown settings {unknown}")
  logging.set_verbosity(logging.WARNING)
  training.make_deterministic()
  dataset = data.load("fashion_mnist")
  os.makedirs(os.path.dirname(_OUT.value), exist_ok=True)
  for name in _SETTINGS.value:
    record = run_setting(name, dataset)
    print(json.dumps(record), flush=True)
    with open(_OUT.value, "a", encoding="utf-8") as f:
      f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
  app.run(main)
