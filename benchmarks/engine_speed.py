"""Speed of the prequential engine, side by side with its yardsticks.

  python benchmarks/engine_speed.py                 # both parts, ~6 min
  python benchmarks/engine_speed.py --parts=stream --repeats=2

Parts (2 CPU cores: run nothing else meanwhile):

  main     the main command, ``bin/prequential --dataset=fashion_mnist
           --model=mlp`` (test accuracy included), against the independent
           plain-TensorFlow loop of the same block code
           (``benchmarks/hand_loop.py``): wall time of each whole process,
           start-up included, and their codelengths, alternating.
  stream   the block code of the first 20,000 Fashion-MNIST labels (MLP
           256-256) through ``tfmdl.description_length`` on arrays and on
           the same examples as a ``tf.data`` stream: wall time and bits
           (which must be equal).

Writes a Markdown table to --out (and prints it).
"""

import os
import re
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PARTS = flags.DEFINE_list("parts", ["main", "stream"], "main and/or stream.")
_REPEATS = flags.DEFINE_integer("repeats", 1, "Runs of each side.")
_OUT = flags.DEFINE_string(
    "out", os.path.join(REPO, "benchmarks", "results", "engine_speed.md"),
    "Markdown file the tables are written to.")


def _timed(argv) -> tuple:
  """``(wall seconds, stdout)`` of a process."""
  began = time.perf_counter()
  proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True,
                        check=True, env=dict(os.environ, PYTHONPATH=REPO))
  return time.perf_counter() - began, proc.stdout


def _kbits(stdout: str) -> float:
  return float(re.search(r"([\d.]+) kbits", stdout).group(1))


def main_command_table(repeats: int) -> str:
  rows = ["| run | bits (kbits) | wall (s) |", "| --- | ---: | ---: |"]
  walls = {"tfmdl": [], "hand loop": []}
  for r in range(repeats):
    with tempfile.TemporaryDirectory() as workdir:
      wall, out = _timed([sys.executable, "bin/prequential",
                          "--dataset=fashion_mnist", "--model=mlp",
                          f"--workdir={workdir}"])
    walls["tfmdl"].append(wall)
    rows.append(f"| bin/prequential --dataset=fashion_mnist --model=mlp "
                f"({r + 1}) | {_kbits(out):.3f} | {wall:.1f} |")
    wall, out = _timed([sys.executable, "benchmarks/hand_loop.py"])
    walls["hand loop"].append(wall)
    rows.append(f"| hand loop ({r + 1}) | {_kbits(out):.3f} | {wall:.1f} |")
  ratio = min(walls["tfmdl"]) / min(walls["hand loop"])
  return "\n".join(rows) + (
      f"\n\nbest tfmdl / best hand loop: {ratio:.2f}x\n")


def stream_table(repeats: int) -> str:
  import keras  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tfmdl  # pylint: disable=g-import-not-at-top
  from tfmdl import data  # pylint: disable=g-import-not-at-top
  ds = data.load("fashion_mnist", num_train=20_000)

  def model_fn(seed):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input(ds.input_shape), keras.layers.Flatten(),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dense(10)])

  def run(kind):
    x = (tf.data.Dataset.from_tensor_slices((ds.x_train, ds.y_train))
         if kind == "stream" else ds.x_train)
    y = None if kind == "stream" else ds.y_train
    began = time.perf_counter()
    result = tfmdl.description_length(model_fn, x, y)
    return time.perf_counter() - began, result

  rows = ["| input | bits | wall (s) |", "| --- | ---: | ---: |"]
  walls, bits = {}, {}
  for r in range(repeats):
    for kind in ("arrays", "stream"):
      wall, result = run(kind)
      walls.setdefault(kind, []).append(wall)
      bits[kind] = result.codelength_bits
      rows.append(f"| {kind} ({r + 1}) | {result.codelength_bits:.3f} | "
                  f"{wall:.1f} |")
  assert np.isclose(bits["arrays"], bits["stream"], rtol=0, atol=1e-9), bits
  ratio = min(walls["stream"]) / min(walls["arrays"])
  return "\n".join(rows) + f"\n\nbest stream / best arrays: {ratio:.2f}x\n"


def main(argv):
  del argv
  parts = [f"# Engine speed\n\nMade by `python benchmarks/engine_speed.py "
           f"--parts={','.join(_PARTS.value)} --repeats={_REPEATS.value}` "
           "on 2 CPU cores.\n"]
  if "main" in _PARTS.value:
    parts += ["## The main command against a hand-written loop\n",
              main_command_table(_REPEATS.value)]
  if "stream" in _PARTS.value:
    parts += ["## The same examples as arrays and as a tf.data stream "
              "(20,000 Fashion-MNIST labels, MLP 256-256)\n",
              stream_table(_REPEATS.value)]
  text = "\n".join(parts)
  print(text)
  os.makedirs(os.path.dirname(_OUT.value), exist_ok=True)
  with open(_OUT.value, "w", encoding="utf-8") as f:
    f.write(text)


if __name__ == "__main__":
  app.run(main)
