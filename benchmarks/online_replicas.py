"""The online code on one replica, two replicas and two workers.

  python benchmarks/online_replicas.py                      # ~10 min here
  python benchmarks/online_replicas.py --recipes=mlp_fast --workers=false

Each recipe of configs/shortest_fashion_mnist.py codes Fashion-MNIST's
10,000 *test* labels (labels that no saved code sends) online three ways:
on one replica (the default strategy); on two replicas of a
``MirroredStrategy`` over two logical CPU devices of this process; and on
two local workers of a ``MultiWorkerMirroredStrategy`` (this script started
twice more, ``TF_CONFIG`` over loopback). The codes differ only by the
round-off of summing the replicas' gradients (docs/cluster.md): the table
gives the relative difference of each to one replica's codelength, which
the tests bound by 1e-4 on short runs, and, for scale, that of one replica
with the learner's next seed (another code of the same setting). Every run
pays no setting bits (``setting_bits=0``), so the codelengths compare as
they are, and runs uncompiled (``jit_compile=False``, which the ``mlp``
recipes set: XLA runs on one replica).

Wall times are the code's own, on this machine at its load: CPU replicas
share the same cores, so they measure overhead, not speed-up.

Writes the Markdown table to --out (and prints it).
"""

import dataclasses
import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, "configs", "shortest_fashion_mnist.py")
SOURCE = "benchmarks/online_replicas.py"

_RECIPES = flags.DEFINE_list("recipes", ["mlp_fast", "mlp", "tinycnn"],
                             "Recipes of configs/shortest_fashion_mnist.py.")
_WORKERS = flags.DEFINE_bool("workers", True,
                             "Also run two local workers per recipe.")
_OUT = flags.DEFINE_string(
    "out", os.path.join(REPO, "benchmarks", "results", "online_replicas.md"),
    "Markdown file the table is written to.")
# Internal: one worker of the two-worker run.
_WORKER_OF = flags.DEFINE_string("worker_of", None,
                                 "(internal) run this recipe as a worker.")
_RESULT = flags.DEFINE_string("result", None,
                              "(internal) the worker's JSON result file.")


def _recipe_config(recipe: str):
  spec = importlib.util.spec_from_file_location("shortest", CONFIGS)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(recipe)


def code(recipe: str, strategy, seed_offset: int = 0) -> dict:
  """The online code of ``recipe`` on the test labels under ``strategy``,
  its learner seeded ``seed_offset`` after the recipe's seed."""
  from tfmdl import data  # pylint: disable=g-import-not-at-top
  from tfmdl import models  # pylint: disable=g-import-not-at-top
  from tfmdl import progress  # pylint: disable=g-import-not-at-top
  from tfmdl import training  # pylint: disable=g-import-not-at-top
  from tfmdl.codes import prequential  # pylint: disable=g-import-not-at-top
  from tfmdl.experiments import config as config_lib  # pylint: disable=g-import-not-at-top
  config = _recipe_config(recipe)
  training.make_deterministic(config.seed, config.deterministic)
  dataset = data.load("fashion_mnist")
  # XLA runs on one replica: every run here is uncompiled, so that the
  # three compare the same setting.
  learner = dataclasses.replace(
      config_lib.instance(prequential.OnlineConfig, config, "online"),
      jit_compile=False)
  options = config.model_options.to_dict()
  began = time.perf_counter()
  result = prequential.prequential_code(
      lambda seed: models.build(config.model, dataset.input_shape,
                                dataset.num_classes, seed=seed, **options),
      dataset.x_test, dataset.y_test, dataset.num_classes,
      config=dataclasses.replace(
          config_lib.instance(prequential.PrequentialConfig, config,
                              "prequential"),
          setting_bits=0.0, seed=config.seed + seed_offset),
      learner=learner, strategy=strategy, progress=progress.NoProgress(),
      source=SOURCE, split="test")
  return {"recipe": recipe, "n": result.n,
          "replicas": strategy.num_replicas_in_sync,
          "bits": result.codelength_bits,
          "wall_s": time.perf_counter() - began}


def _free_ports(count: int) -> list:
  sockets = [socket.socket() for _ in range(count)]
  for s in sockets:
    s.bind(("localhost", 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def two_workers(recipe: str) -> dict:
  """``recipe``'s code on two local workers (this script, twice)."""
  ports = _free_ports(2)
  cluster = {"worker": [f"localhost:{p}" for p in ports]}
  with tempfile.TemporaryDirectory() as folder:
    out = os.path.join(folder, "worker0.json")
    procs = [subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), f"--worker_of={recipe}",
         f"--result={out if index == 0 else ''}"],
        env=dict(os.environ, TF_CONFIG=json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}})))
             for index in range(2)]
    for proc in procs:
      if proc.wait() != 0:
        raise RuntimeError(f"a worker of {recipe} failed ({proc.returncode})")
    with open(out, encoding="utf-8") as f:
      return json.load(f)


def _row(recipe: str, runs: dict) -> str:
  one = runs["one"]["bits"]
  cells = [recipe, f"{runs['one']['n']:,}", f"{one:.3f}"]
  for name in ("mirrored", "workers", "next_seed"):
    if name in runs:
      bits = runs[name]["bits"]
      cells += [f"{bits:.3f}", f"{abs(bits - one) / one:.1e}"]
    else:
      cells += ["—", "—"]
  cells.append(" / ".join(f"{runs[k]['wall_s']:.1f}"
                          for k in ("one", "mirrored", "workers") if k in runs))
  return "| " + " | ".join(cells) + " |"


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  if _WORKER_OF.value:
    # A worker: its strategy first, before TensorFlow runs anything.
    from tfmdl import training  # pylint: disable=g-import-not-at-top
    strategy = training.get_strategy("multi_worker")
    record = code(_WORKER_OF.value, strategy)
    if _RESULT.value:
      with open(_RESULT.value, "w", encoding="utf-8") as f:
        json.dump(record, f)
    return
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  cpu = tf.config.list_physical_devices("CPU")[0]
  tf.config.set_logical_device_configuration(
      cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
  from tfmdl import training  # pylint: disable=g-import-not-at-top
  rows = ["| recipe | n | 1 replica (bits) | 2 replicas, mirrored (bits) | "
          "rel. diff. | 2 workers (bits) | rel. diff. | 1 replica, next seed "
          "(bits) | rel. diff. | wall s: 1 / 2 / 2 workers |",
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
          "---: |"]
  for recipe in _RECIPES.value:
    runs = {"one": code(recipe, tf.distribute.get_strategy()),
            "mirrored": code(recipe, training.get_strategy("mirrored"))}
    if _WORKERS.value:
      runs["workers"] = two_workers(recipe)
    runs["next_seed"] = code(recipe, tf.distribute.get_strategy(), 1)
    print(json.dumps(runs), flush=True)
    rows.append(_row(recipe, runs))
  command = "python benchmarks/online_replicas.py" + (
      f" --recipes={','.join(_RECIPES.value)}" if _RECIPES.value != [
          "mlp_fast", "mlp", "tinycnn"] else "") + (
              "" if _WORKERS.value else " --workers=false")
  text = "\n".join([
      "# The online code on one replica, two replicas and two workers\n",
      f"Made by `{command}` (TensorFlow {tf.__version__}, 2 shared CPU "
      "cores, busy with other jobs: wall times are indicative only). "
      "Fashion-MNIST's 10,000 test labels, each recipe of "
      "configs/shortest_fashion_mnist.py, no setting bits. Two replicas: a "
      "MirroredStrategy over two logical CPU devices of one process; two "
      "workers: a MultiWorkerMirroredStrategy of two local processes over "
      "loopback. Next seed: one replica, the learner seeded one after the "
      "recipe (another code of the same setting, for scale). Relative "
      "differences to one replica's codelength.\n",
      *rows, ""])
  print(text)
  os.makedirs(os.path.dirname(_OUT.value), exist_ok=True)
  with open(_OUT.value, "w", encoding="utf-8") as f:
    f.write(text)


if __name__ == "__main__":
  app.run(main)
