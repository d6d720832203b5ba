"""Speed and memory of the prequential code on Fashion-MNIST (issue 3 figures).

  python benchmarks/prequential_speed.py            # full, loop_vs_fit: ~3 min
  python benchmarks/prequential_speed.py --parts=xla  # ~2 min

Parts:
  full         a full prequential run of mlp (256-256) on all 60,000 samples:
               wall time, last block's time, their ratio, peak memory (RSS);
  loop_vs_fit  seconds per epoch of tfmdl's custom loop against Keras's
               model.fit on the same model, data and batch size;
  xla          seconds per epoch of lenet with and without jit_compile.
Prints one JSON object per part and appends it to --out (default
benchmarks/results/prequential_speed.jsonl, see benchmark_output.py).
"""

import os
import resource
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
import benchmark_output  # noqa: E402

from tfmdl import data  # noqa: E402
from tfmdl import models  # noqa: E402
from tfmdl.codes import prequential  # noqa: E402
from tfmdl import training  # noqa: E402
from tfmdl.keras_compat import tf_keras  # noqa: E402

_PARTS = flags.DEFINE_list("parts", ["full", "loop_vs_fit"],
                           "Which measurements to run.")
_EPOCHS = flags.DEFINE_integer("epochs", 3, "Epochs timed per measurement.")
_OUT = benchmark_output.define_out_flag("prequential_speed")


def _mlp_fn(ds):
  return lambda seed: models.build("mlp", ds.input_shape, ds.num_classes,
                                   seed=seed, hidden_sizes=(256, 256),
                                   dropout=0.5)


def full(ds):
  result = prequential.prequential_code(
      _mlp_fn(ds), ds.x_train, ds.y_train, ds.num_classes,
      learner=prequential.BlockConfig(train=training.TrainConfig(verbose=0)))
  last = result.blocks[-1].wall_s
  return {"part": "full", "model": "mlp", "n": result.n,
          "codelength_kbits": result.codelength_bits / 1000,
          "prequential_wall_s": round(result.wall_s, 1),
          "last_block_wall_s": round(last, 1),
          "total_over_last_block": round(result.wall_s / last, 2),
          "peak_rss_gib": round(resource.getrusage(
              resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}


def _per_epoch_loop(ds, build, epochs, **train_options):
  model = build(0)
  config = training.TrainConfig(max_epochs=epochs, patience=epochs,
                                verbose=0, **train_options)
  result = training.train(model, ds.x_train, ds.y_train, val_x=ds.x_test,
                          val_y=ds.y_test, config=config)
  # Epoch 1 includes tracing; the steady state is the later epochs.
  return min(h.wall_s for h in result.history[2:])


def loop_vs_fit(ds, epochs):
  build = _mlp_fn(ds)
  loop = _per_epoch_loop(ds, build, epochs)
  training.seed_everything(0)
  model = build(0)
  model.compile(tf_keras.optimizers.Adam(1e-3),
                tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  times = []
  for _ in range(epochs):
    began = time.perf_counter()
    model.fit(ds.x_train, ds.y_train, batch_size=128, epochs=1, verbose=0)
    times.append(time.perf_counter() - began)
  fit = min(times[1:])
  return {"part": "loop_vs_fit", "model": "mlp", "loop_s_per_epoch":
          round(loop, 2), "fit_s_per_epoch": round(fit, 2),
          "loop_over_fit": round(loop / fit, 2)}


def xla(ds, epochs):
  build = lambda seed: models.build("lenet", ds.input_shape, ds.num_classes,
                                    seed=seed)
  # XLA has no deterministic MaxPool gradient, and op determinism cannot be
  # turned off once on: main() leaves it off for this part, for both timings,
  # so they compare like with like.
  plain = _per_epoch_loop(ds, build, epochs)
  jit = _per_epoch_loop(ds, build, epochs, jit_compile=True)
  return {"part": "xla", "model": "lenet", "s_per_epoch": round(plain, 2),
          "jit_s_per_epoch": round(jit, 2), "jit_over_plain":
          round(jit / plain, 2)}


def main(argv):
  del argv
  if "xla" in _PARTS.value and len(_PARTS.value) > 1:
    raise app.UsageError("run --parts=xla on its own: it needs op determinism "
                         "off, the other parts on")
  training.make_deterministic(enabled=_PARTS.value != ["xla"])
  ds = data.load("fashion_mnist")
  output = benchmark_output.Output(_OUT.value)
  for part in _PARTS.value:
    if part == "full":
      out = full(ds)
    elif part == "loop_vs_fit":
      out = loop_vs_fit(ds, _EPOCHS.value)
    elif part == "xla":
      out = xla(ds, _EPOCHS.value)
    else:
      raise app.UsageError(f"unknown part {part!r}")
    output.write(out)


if __name__ == "__main__":
  app.run(main)
