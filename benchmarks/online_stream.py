"""The online code on a stream of TFRecord files: memory flat in n, speed.

  python benchmarks/online_stream.py --dir=/tmp/online_stream  # 20 min here
  python benchmarks/online_stream.py --sizes=20000,100000 --keep

Writes a synthetic image-shaped data set, 28x28x1 bytes (read as floats
/255) with 10 classes given by a fixed teacher (a random linear map of the
pixels: learnable), as TFRecord files of ``--sizes``' largest size into
``--dir`` (removed at the end unless ``--keep``), then codes it online with
an MLP, each measurement in a fresh process, reading ``VmHWM`` (peak
resident memory) from ``/proc/self/status`` at its end:

  stream   the first n examples of the files, for each size: a ``tf.data``
           stream read once, in order, replayed from a memory of
           ``--replay_memory`` samples (tfmdl.description_length, code
           "online");
  arrays   the first ``--sizes``' smallest size read into memory first,
           then coded from the arrays with the same settings (the same
           code, bit for bit: the same codelength is checked).

The smallest size is coded ``--repeats`` times each way, alternately, and
the throughputs compared by their medians: on a machine shared with other
jobs one run's speed swings with the load.

Targets (issue 26): peak memory within 1.2x between the smallest and the
largest size and below 2 GiB; the stream's throughput within 1.3x of the
arrays'. Throughput is examples over the code's own wall time (learner
built, every minibatch coded; the data's checking pass and the start of
the process are apart). Writes the table to --out.
"""

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

_DIR = flags.DEFINE_string("dir", None, "Folder for the TFRecord files "
                           "(a new temporary folder when None).")
_KEEP = flags.DEFINE_bool("keep", False, "Keep the files.")
_SIZES = flags.DEFINE_list("sizes", ["100000", "1000000"],
                           "Numbers of examples coded from the stream; the "
                           "smallest is also coded from arrays.")
_HIDDEN = flags.DEFINE_list("hidden", ["256"], "The MLP's hidden sizes.")
_BATCH = flags.DEFINE_integer("batch_size", 64, "Online minibatch size.")
_REPLAY = flags.DEFINE_integer("replay", 4, "Replay minibatches per step.")
_MEMORY = flags.DEFINE_integer("replay_memory", 65536,
                               "Samples kept for replay.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Runs of the smallest size, "
                                "each way.")
_OUT = flags.DEFINE_string(
    "out", os.path.join(REPO, "benchmarks", "results", "online_stream.md"),
    "Markdown file the table is written to (empty: print only).")
_CHILD = flags.DEFINE_string("child", None, "Internal: one measurement, "
                             "'stream:<n>' or 'arrays:<n>'.")

SHAPE, CLASSES, CHUNK = (28, 28, 1), 10, 10_000


def write_data(folder: str, n: int) -> float:
  """The synthetic data set's first n examples as TFRecord files; seconds."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from tfmdl.data import tfrecord  # pylint: disable=g-import-not-at-top
  began = time.perf_counter()
  teacher = np.random.default_rng(0).normal(size=(784, CLASSES))

  def chunks():
    for i, start in enumerate(range(0, n, CHUNK)):
      rng = np.random.default_rng([1, i])
      x = rng.integers(0, 256, (min(CHUNK, n - start), 784), np.uint8)
      y = ((x / 255.0 - 0.5) @ teacher).argmax(1)
      yield x.reshape((-1,) + SHAPE), y

  tfrecord.write(folder, "train", chunks(), input_shape=SHAPE, dtype="uint8",
                 num_classes=CLASSES, scale=255.0)
  return time.perf_counter() - began


def _peak_rss_bytes() -> int:
  with open("/proc/self/status") as f:
    for line in f:
      if line.startswith("VmHWM:"):
        return int(line.split()[1]) * 1024
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure(kind: str, n: int) -> dict:
  """One measurement, in this process (a fresh one)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tfmdl  # pylint: disable=g-import-not-at-top
  from tfmdl import models  # pylint: disable=g-import-not-at-top
  from tfmdl.data import labelled  # pylint: disable=g-import-not-at-top
  from tfmdl.data import tfrecord  # pylint: disable=g-import-not-at-top
  del tf
  began = time.perf_counter()
  stream = tfrecord.read(_DIR.value).take(n)
  if kind == "arrays":
    x, y = labelled.labelled(stream, num_classes=CLASSES).arrays()
    inputs = dict(x=x, y=y)
  else:
    inputs = dict(x=stream)
  hidden = tuple(int(h) for h in _HIDDEN.value)
  build = lambda seed: models.build("mlp", SHAPE, CLASSES, seed=seed,
                                    hidden_sizes=hidden)
  result = tfmdl.description_length(
      build, **inputs, code="online", batch_size=_BATCH.value,
      replay=_REPLAY.value, replay_memory=_MEMORY.value, schedule="cosine",
      learning_rate=2e-3, setting_bits=0.0)
  return {"kind": kind, "n": n, "codelength_bits": result.codelength_bits,
          "uniform_bits": result.uniform_bits,
          "code_wall_s": result.wall_s,
          "total_wall_s": time.perf_counter() - began,
          "examples_per_s": n / result.wall_s,
          "peak_rss_bytes": _peak_rss_bytes()}


def _run_child(kind: str, n: int, folder: str) -> dict:
  env = dict(os.environ)
  # Synthetic labels: their runs go to a ledger of their own.
  env.setdefault("TFMDL_LEDGER", os.path.join(folder, "ledger.jsonl"))
  argv = [sys.executable, os.path.abspath(__file__), f"--child={kind}:{n}",
          f"--dir={folder}", f"--hidden={','.join(_HIDDEN.value)}",
          f"--batch_size={_BATCH.value}", f"--replay={_REPLAY.value}",
          f"--replay_memory={_MEMORY.value}"]
  done = subprocess.run(argv, capture_output=True, text=True, env=env,
                        check=False)
  if done.returncode != 0:
    raise RuntimeError(f"{kind}:{n} failed:\n{done.stderr[-3000:]}")
  return json.loads(done.stdout.strip().splitlines()[-1])


def _table(rows: list, write_s: float, n_max: int, began: str,
           load: tuple) -> str:
  from tfmdl import results  # pylint: disable=g-import-not-at-top
  gib = 2.0**30
  version = results.code_version()
  commit = (f"commit `{(version['git_commit'] or '?')[:10]}`" +
            (" with changes" if version["git_dirty"] else ""))
  lines = [
      "# The online code on a stream of TFRecord files",
      "",
      f"`python benchmarks/online_stream.py {' '.join(sys.argv[1:])}`, "
      f"started {began}, tfmdl {commit} (source sha256 "
      f"`{version['source_sha256'][:12]}`), on a machine of {os.cpu_count()} "
      f"CPU cores shared with other jobs (load average "
      f"{load[0]:.1f} at the start, {load[1]:.1f} at the end): wall times "
      "and throughputs depend on that load; rerun on a quiet machine to "
      "compare.",
      "",
      f"Data: {n_max:,} synthetic 28x28x1 images stored as bytes "
      f"(TFRecord, read as float32 /255), 10 classes from a fixed linear "
      f"teacher; written in {write_s:.0f} s. Code: online, MLP "
      f"{'-'.join(_HIDDEN.value)}, minibatches of {_BATCH.value}, "
      f"{_REPLAY.value} replay steps from a memory of "
      f"{_MEMORY.value:,} samples, Adam 2e-3 with a cosine decay.",
      "",
      "| data | n | peak RSS (GiB) | code wall (s) | examples/s | "
      "codelength (kbits) | uniform (kbits) |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
  for r in rows:
    lines.append(
        f"| {r['kind']} | {r['n']:,} | {r['peak_rss_bytes'] / gib:.2f} | "
        f"{r['code_wall_s']:.0f} | {r['examples_per_s']:.0f} | "
        f"{r['codelength_bits'] / 1000:.3f} | "
        f"{r['uniform_bits'] / 1000:.3f} |")
  smallest = min(r["n"] for r in rows)
  median = lambda kind, key: statistics.median(
      r[key] for r in rows if r["kind"] == kind and r["n"] == smallest)
  lines.append("")
  largest = max(rows, key=lambda r: r["n"])
  if largest["n"] > smallest:
    ratio = largest["peak_rss_bytes"] / median("stream", "peak_rss_bytes")
    top = max(r["peak_rss_bytes"] for r in rows if r["kind"] == "stream")
    lines.append(
        f"- Peak RSS of the stream, {largest['n']:,} against {smallest:,} "
        f"examples (median of its runs): {ratio:.3f}x (target at most "
        f"1.2x); at most {top / gib:.2f} GiB (target below 2 GiB).")
  stream, arrays = (median(kind, "examples_per_s")
                    for kind in ("stream", "arrays"))
  same = len({r["codelength_bits"] for r in rows if r["n"] == smallest}) == 1
  lines.append(
      f"- Throughput on {smallest:,}, medians: stream {stream:.0f} "
      f"examples/s, arrays {arrays:.0f}; the arrays' over the stream's: "
      f"{arrays / stream:.3f} (target at most 1.3). Every run of "
      f"{smallest:,} gave the same codelength: {same}.")
  return "\n".join(lines) + "\n"


def main(argv):
  del argv
  if _CHILD.value:
    kind, n = _CHILD.value.split(":")
    print(json.dumps(measure(kind, int(n))))
    return
  import datetime  # pylint: disable=g-import-not-at-top
  began = datetime.datetime.now(datetime.timezone.utc).isoformat(
      timespec="seconds")
  load = [os.getloadavg()[0]]
  sizes = sorted(int(s) for s in _SIZES.value)
  folder = _DIR.value or tempfile.mkdtemp(prefix="online_stream-")
  try:
    free = shutil.disk_usage(os.path.dirname(os.path.abspath(folder)) if
                             not os.path.exists(folder) else folder).free
    needed = sizes[-1] * 800
    if free < 2 * needed:
      raise app.UsageError(f"{folder}: {free / 1e9:.1f} GB free, the files "
                           f"take {needed / 1e9:.1f} GB")
    write_s = write_data(folder, sizes[-1])
    print(f"wrote {sizes[-1]:,} examples in {write_s:.0f} s", flush=True)
    runs = ([("stream", sizes[0]), ("arrays", sizes[0])] * _REPEATS.value +
            [("stream", n) for n in sizes[1:]])
    rows = []
    for kind, n in runs:
      rows.append(_run_child(kind, n, folder))
      print(json.dumps(rows[-1]), flush=True)
  finally:
    if not _KEEP.value:
      shutil.rmtree(folder, ignore_errors=True)
  load.append(os.getloadavg()[0])
  text = _table(rows, write_s, sizes[-1], began, tuple(load))
  print(text)
  if _OUT.value:
    with open(_OUT.value, "w") as f:
      f.write(text)


if __name__ == "__main__":
  app.run(main)
