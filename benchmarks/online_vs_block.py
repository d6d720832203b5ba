"""Online vs block prequential code on Fashion-MNIST: bits and wall time.

  python benchmarks/online_vs_block.py --model=mlp    # ~10 min on 2 idle CPUs
  python benchmarks/online_vs_block.py --model=lenet --parts=block,ablation \\
      --setting=128,8,0.001,0.99                      # ~5 min

Parts (each prints one JSON object per run and appends it to --out, default
benchmarks/results/online_vs_block_<model>.jsonl, see benchmark_output.py):
  block     the block code with the paper's config
            (configs/prequential_fashion_mnist.py:<model>, final model
            included), or read from --block_results (a finished run's
            results.json) instead of running it;
  grid      the online code for every setting of GRID, which
            was fixed before any online run on Fashion-MNIST. The reported
            code is the lowest codelength among the settings whose online
            wall time is at most a third of the block code's (blocks only,
            the final model not counted), plus log2(len(GRID)) bits to name
            the chosen setting (a code: the choice is paid for);
  ablation  one setting (--setting, else the grid's choice, else
            OnlineConfig's defaults) as is, without replay, without
            calibration and without both: these are the same setting's
            variants, reported for insight, not selected among.

Wall times are measured in this process, one run at a time, on whatever the
machine's load is: compare them within one invocation.

Its outputs are in benchmarks/results/online_vs_block_<model>.jsonl (the
README's speed table quotes them). The grid's choice on mlp, made on the
coded labels before the recipes of configs/shortest_fashion_mnist.py
existed, was B=128, R=8, lr=1e-3, EMA 0.99 (32.651 kbits with its log2 16
bits): the online learner's previous defaults.
"""

import itertools
import math
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
import benchmark_output  # noqa: E402

from tfmdl import results  # noqa: E402
from tfmdl import training  # noqa: E402
from tfmdl.codes import prequential  # noqa: E402
from tfmdl.experiments import prequential as experiment  # noqa: E402

# (batch_size, replay, learning_rate, ema_decay), calibration on: fixed in
# advance, before any online run on Fashion-MNIST.
GRID = tuple(itertools.product((32, 128), (2, 8), (1e-3, 3e-3), (0.0, 0.99)))

_MODEL = flags.DEFINE_string("model", "mlp", "A paper model name.")
_PARTS = flags.DEFINE_list("parts", ["block", "grid", "ablation"],
                           "Which parts to run.")
_BLOCK_RESULTS = flags.DEFINE_string(
    "block_results", None, "results.json of a finished block run of the same "
    "model on fashion_mnist, used instead of running the block part.")
_SETTING = flags.DEFINE_list(
    "setting", None, "batch_size,replay,learning_rate,ema_decay of the "
    "ablation part.")
_OUT = flags.DEFINE_string(
    "out", None, "JSON Lines file the measurements are appended to (default "
    "benchmarks/results/online_vs_block_<model>.jsonl; empty: print only).")


def _run(config):
  with tempfile.TemporaryDirectory() as workdir:
    return experiment.run(config, workdir)


def block_run(config) -> dict:
  """The block code with the paper's config; its bits and wall times."""
  result = _run(config)
  return {"part": "block", "model": config.model,
          "codelength_kbits": result.codelength_bits / 1000,
          "test_accuracy": result.test_accuracy,
          "wall_s": round(result.wall_s, 1),
          "final_model_wall_s": round(result.final_model_wall_s, 1)}


def block_from_results(path: str) -> dict:
  record = results.read_json(path)
  return {"part": "block", "model": record["model"], "from": path,
          "codelength_kbits": record["codelength_kbits"],
          "test_accuracy": record["test_accuracy"],
          "wall_s": round(record["prequential_wall_s"], 1),
          "final_model_wall_s": round(record["final_model_wall_s"], 1)}


def online_run(config, part: str, setting: tuple, **options) -> dict:
  """One online code with ``setting = (B, R, learning_rate, ema_decay)``."""
  batch_size, replay, learning_rate, ema_decay = setting
  config = config.copy_and_resolve_references()
  config.learner = "online"
  config.online.update(dict(
      batch_size=batch_size, replay=replay, learning_rate=learning_rate,
      ema_decay=ema_decay, **options))
  result = _run(config)
  return {"part": part, "model": config.model, "batch_size": batch_size,
          "replay": replay, "learning_rate": learning_rate,
          "ema_decay": ema_decay, "calibrate": config.online.calibrate,
          "codelength_kbits": result.codelength_bits / 1000,
          "test_accuracy": result.test_accuracy,
          "wall_s": round(result.wall_s + result.final_model_wall_s, 1)}


def grid(config, block_wall_s: float,
         output: benchmark_output.Output) -> tuple:
  """Every GRID setting; the chosen one's record (with the choice paid)."""
  # The grid's choice is paid once below, not by each run.
  runs = [online_run(config, "grid", s) for s in GRID]
  for run in runs:
    output.write(run)
  fast = [r for r in runs if r["wall_s"] <= block_wall_s / 3]
  if not fast:
    output.write({"part": "grid_choice", "model": config.model,
                  "note": "no setting ran in a third of the block code's "
                  "time"})
    return None
  best = min(fast, key=lambda r: r["codelength_kbits"])
  choice_bits = math.log2(len(GRID))
  output.write(dict(
      best, part="grid_choice", grid_size=len(GRID), choice_bits=choice_bits,
      codelength_kbits=best["codelength_kbits"] + choice_bits / 1000,
      block_wall_s=block_wall_s))
  return (best["batch_size"], best["replay"], best["learning_rate"],
          best["ema_decay"])


def ablation(config, setting: tuple,
             output: benchmark_output.Output) -> None:
  """``setting`` with and without replay, with and without calibration."""
  batch_size, replay, learning_rate, ema_decay = setting
  for r, calibrate in ((replay, True), (0, True), (replay, False),
                       (0, False)):
    output.write(online_run(config, "ablation",
                            (batch_size, r, learning_rate, ema_decay),
                            calibrate=calibrate))


def main(argv):
  del argv
  training.make_deterministic()
  output = benchmark_output.Output(
      os.path.join(benchmark_output.RESULTS_DIR,
                   f"online_vs_block_{_MODEL.value}.jsonl")
      if _OUT.value is None else _OUT.value)
  config = experiment.default_config("fashion_mnist", _MODEL.value)
  config.train.verbose = 0
  config.block.final_model = True
  block = None
  if _BLOCK_RESULTS.value:
    block = block_from_results(_BLOCK_RESULTS.value)
  elif "block" in _PARTS.value:
    block = block_run(config)
  if block is not None:
    output.write(block)
  chosen = None
  if "grid" in _PARTS.value:
    if block is None:
      raise app.UsageError("the grid part needs the block part or "
                           "--block_results")
    chosen = grid(config, block["wall_s"], output)
  if "ablation" in _PARTS.value:
    if _SETTING.value:
      b, r, lr, ema = _SETTING.value
      chosen = (int(b), int(r), float(lr), float(ema))
    elif chosen is None:
      d = prequential.OnlineConfig()
      chosen = (d.batch_size, d.replay, d.learning_rate, d.ema_decay)
    ablation(config, chosen, output)


if __name__ == "__main__":
  app.run(main)
