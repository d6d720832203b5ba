"""Online-learner settings compared on labels that no code sends.

  python benchmarks/online_settings.py                  # every setting, ~1 h
  python benchmarks/online_settings.py --settings=mlp_b32_r8,mlp_cosine

Each setting runs the online code (:mod:`tfmdl.codes.prequential.online`)
on Fashion-MNIST's 10,000 *test* images and labels. The code of the 60,000 training labels
(configs/shortest_fashion_mnist.py) never sends these labels, so a choice
made here costs it nothing; a choice made on the training labels is paid
through the run ledger (tfmdl/ledger.py). SETTINGS lists the settings that
were compared while the recipes were built, in the order they were tried,
dead ends included. The JSON lines of round 1 in
benchmarks/results/online_settings.jsonl are a rerun of that list, not a
log of the exploration as it happened (it predates the ledger); from round
2 on (issue 27) each line was written as its run ended, with its time. Each
run appends a line to the run ledger (``TFMDL_LEDGER``, split "test"), with
its time and code version, and one JSON line (setting, kbits, setting bits,
seconds, time) to --out; with --bits_dir its per-sample bits are saved
there too (``<setting>.npy``), for switches mixed afterwards. Seconds are
the online code's wall time on this machine at its current load.
"""

import datetime
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402
import numpy as np  # noqa: E402

from tfmdl import data  # noqa: E402
from tfmdl import models  # noqa: E402
from tfmdl.codes import prequential  # noqa: E402
from tfmdl.codes.prequential.online import defaults  # noqa: E402
from tfmdl.models import adapter  # noqa: E402
from tfmdl import training  # noqa: E402

_MLP = dict(hidden_sizes=(256, 256), dropout=0.0)
_GELU = dict(_MLP, activation="gelu")
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
    # Round 2 (issue 27): stronger late blocks, and the members of a switch
    # across learners (their per-sample bits saved with --bits_dir, mixed
    # afterwards: the members of a switch do not interact).
    "tinycnn_w64": ("tinycnn", dict(_CNN, width=64), dict(_B32, **_FAST,
                                                           **_SHIFT)),
    "vgg_mnist": ("vgg_mnist", _CNN, dict(_B32, **_FAST, **_SHIFT)),
    "tinycnn_tta": ("tinycnn", _CNN, dict(_B32, tta_shifts=1, **_FAST,
                                          **_SHIFT)),
    "tinycnn_ensemble_tta": ("tinycnn", _CNN, dict(
        _B32, replay=12, ensemble=2, tta_shifts=1, **_FAST, **_SHIFT)),
    "tinycnn_ensemble3_r12_tta": ("tinycnn", _CNN, dict(
        _B32, replay=12, ensemble=3, tta_shifts=1, **_FAST, **_SHIFT)),
    # The online switch over named learners (model "switch": the names,
    # then SwitchConfig's fields).
    "switch_mlp_lenet": ("switch", ("mlp", "lenet"), {}),
    "mlp_tta": ("mlp", _MLP, dict(_B32, tta_shifts=1)),
    # Round 3 (issue 27): the MLP toward 27.5 kbits within 40 s on the
    # training labels (about 9 s here): replay, minibatch and schedule
    # together.
    "mlp_r12_cosine": ("mlp", _MLP, dict(_B32, replay=12, **_FAST)),
    "mlp_r16_cosine": ("mlp", _MLP, dict(_B32, replay=16, **_FAST)),
    "mlp_b16_cosine": ("mlp", _MLP, dict(_B32, batch_size=16, **_FAST)),
    "mlp_b16_r4_cosine": ("mlp", _MLP, dict(batch_size=16, replay=4,
                                            **_FAST)),
    "mlp_r12_cosine_ema_0.995": ("mlp", _MLP, dict(_B32, replay=12,
                                                   ema_decay=0.995, **_FAST)),
    "mlp_dropout_0.1_cosine": ("mlp", dict(_MLP, dropout=0.1),
                               dict(_B32, **_FAST)),
    "mlp_dropout_0.2_cosine": ("mlp", dict(_MLP, dropout=0.2),
                               dict(_B32, **_FAST)),
    "mlp_cosine_lr_3e-3": ("mlp", _MLP, dict(_B32, **dict(
        _FAST, learning_rate=3e-3))),
    "mlp_cosine_final_0": ("mlp", _MLP, dict(_B32, final_lr_fraction=0.0,
                                             **_FAST)),
    "mlp_cosine_lr_1.5e-3": ("mlp", _MLP, dict(_B32, **dict(
        _FAST, learning_rate=1.5e-3))),
    "mlp_cosine_ema_0.995": ("mlp", _MLP, dict(_B32, ema_decay=0.995,
                                               **_FAST)),
    "mlp_ensemble_r4": ("mlp", _MLP, dict(_B32, replay=4, ensemble=2,
                                          **_FAST)),
    # The hidden layers' activation (the paper's ReLU above).
    "mlp_gelu": ("mlp", _GELU, _B32),
    "mlp_gelu_cosine": ("mlp", _GELU, dict(_B32, **_FAST)),
    "mlp_swish_cosine": ("mlp", dict(_MLP, activation="swish"),
                         dict(_B32, **_FAST)),
    "mlp_elu_cosine": ("mlp", dict(_MLP, activation="elu"),
                       dict(_B32, **_FAST)),
    "mlp_gelu_cosine_lr_1.5e-3": ("mlp", _GELU, dict(_B32, **dict(
        _FAST, learning_rate=1.5e-3))),
    "mlp_gelu_fast": ("mlp", _GELU, dict(batch_size=64, replay=4, **_FAST)),
    "mlp_gelu_ensemble": ("mlp", _GELU, dict(_B32, ensemble=2, **_FAST)),
}

_SETTINGS = flags.DEFINE_list("settings", list(SETTINGS),
                              "Names of the settings to run.")
_BITS_DIR = flags.DEFINE_string(
    "bits_dir", None, "Folder to save each run's per-sample bits in.")
_OUT = flags.DEFINE_string(
    "out", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "results", "online_settings.jsonl"),
    "JSON-lines file the runs are appended to.")


def _build(model: str, options: dict, dataset, name=None):
  """The model function of ``model`` with ``options``, named ``name``."""
  return adapter.as_model_fn(
      lambda seed: models.build(model, dataset.input_shape,
                                dataset.num_classes, seed=seed, **options),
      dataset.num_classes, example=dataset.x_test[:8], name=name or model,
      description=dict(options))


def run_setting(name: str, dataset, bits_dir=None) -> dict:
  """The online code of setting ``name`` on the test split; its per-sample
  bits saved in ``bits_dir`` when given. A setting of model ``"switch"``
  is the online switch over the named learners of
  tfmdl/codes/prequential/online/defaults.py (its options), its fields
  those of :class:`SwitchConfig`."""
  model, options, fields = SETTINGS[name]
  began = time.perf_counter()
  extra = {}
  if model == "switch":
    members = [defaults.for_model(member) for member in options]
    model_fn = [_build(m.model, m.model_options, dataset, name)
                for name, m in zip(options, members)]
    learner = prequential.OnlineSwitch(tuple(m.online for m in members),
                                       prequential.SwitchConfig(**fields))
  else:
    model_fn = _build(model, options, dataset)
    learner = prequential.OnlineConfig(**fields)
  result = prequential.prequential_code(
      model_fn, dataset.x_test, dataset.y_test, dataset.num_classes,
      learner=learner, source="benchmarks/online_settings.py", split="test")
  if result.strategies is not None:
    extra["strategies_kbits"] = {
        member: round(bits / 1000, 3)
        for member, bits in result.strategies["codelength_bits"].items()}
  if bits_dir:
    os.makedirs(bits_dir, exist_ok=True)
    np.save(os.path.join(bits_dir, f"{name}.npy"), result.per_sample_bits())
  return {"setting": name, "model": model, "model_options": options,
          "online": fields, "n": len(dataset.y_test), **extra,
          "codelength_kbits": round(result.codelength_bits / 1000, 3),
          "setting_bits": round(result.setting_bits, 3),
          "wall_s": round(time.perf_counter() - began, 1),
          "time": datetime.datetime.now(datetime.timezone.utc).isoformat(
              timespec="seconds")}


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
    record = run_setting(name, dataset, _BITS_DIR.value)
    print(json.dumps(record), flush=True)
    with open(_OUT.value, "a", encoding="utf-8") as f:
      f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
  app.run(main)
