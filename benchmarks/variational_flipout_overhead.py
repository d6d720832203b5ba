#!/usr/bin/env python3
"""How much slower is a Flipout epoch than a deterministic one?

Trains each model twice on the same data, once as the zoo's deterministic
network and once as its Flipout twin (the variational code's model, KL / n in
the loss), and prints the median seconds per epoch (the first epoch, which
traces the step, is left out) and their ratio, one JSON object per model,
also appended to --out (default
benchmarks/results/variational_flipout_overhead.jsonl, see
benchmark_output.py).

  python benchmarks/variational_flipout_overhead.py                  # fashion
  python benchmarks/variational_flipout_overhead.py --dataset=digits --epochs=4
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
import benchmark_output  # noqa: E402
import numpy as np  # noqa: E402

from tfmdl import data  # noqa: E402
from tfmdl import models  # noqa: E402
from tfmdl import training  # noqa: E402

_DATASET = flags.DEFINE_string("dataset", "fashion_mnist", "A data set name.")
_NUM_TRAIN = flags.DEFINE_integer("num_train", 10_000,
                                  "Training examples (0: all).")
_EPOCHS = flags.DEFINE_integer("epochs", 4, "Epochs per model (>= 2).")
_MODELS = flags.DEFINE_list("models", ["mlp", "lenet"], "Zoo models.")
_BATCH = flags.DEFINE_integer("batch_size", 128, "Batch size.")
_OUT = benchmark_output.define_out_flag("variational_flipout_overhead")

_OPTIONS = {"mlp": dict(hidden_sizes=(256, 256), dropout=0.0)}


def seconds_per_epoch(ds, name: str, variational: bool) -> float:
  """Median wall seconds of epochs 2.. of one training run."""
  model = models.build(name, ds.input_shape, ds.num_classes,
                       variational=variational, **_OPTIONS.get(name, {}))
  n = len(ds.x_train)
  config = training.TrainConfig(batch_size=_BATCH.value,
                                max_epochs=_EPOCHS.value,
                                regularization_scale=1.0 / n, verbose=0)
  result = training.train(model, ds.x_train, ds.y_train,
                          val_x=ds.x_train[:0], val_y=ds.y_train[:0],
                          config=config)
  return float(np.median([log.wall_s for log in result.history[2:]]))


def main(argv):
  del argv
  if _EPOCHS.value < 2:
    raise app.UsageError("--epochs must be >= 2 (the first one traces)")
  training.make_deterministic()
  ds = data.load(_DATASET.value, num_train=_NUM_TRAIN.value or None)
  output = benchmark_output.Output(_OUT.value)
  for name in _MODELS.value:
    plain = seconds_per_epoch(ds, name, variational=False)
    flipout = seconds_per_epoch(ds, name, variational=True)
    output.write({
        "model": name, "dataset": _DATASET.value, "n": len(ds.x_train),
        "batch_size": _BATCH.value, "epochs_timed": f"2..{_EPOCHS.value}",
        "deterministic_s_per_epoch": round(plain, 2),
        "flipout_s_per_epoch": round(flipout, 2),
        "flipout_over_deterministic": round(flipout / plain, 2)})


if __name__ == "__main__":
  app.run(main)
