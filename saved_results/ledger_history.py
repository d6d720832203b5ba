"""The runs made on saved_results' labels before the run ledger existed.

  python saved_results/ledger_history.py [--ledger=saved_results/ledger.jsonl]

The ledger counts the settings tried on a set of labels, so that a result
pays for the choice of its own (tfmdl/ledger.py). Runs were made on these
labels before it existed; this script appends what the repository records of
them, once (nothing if the ledger holds reconstructed lines already), each
line's ``source`` saying where it comes from:

* every results.json committed under saved_results/ (git history), its
  config turned into today's layout: a field the code of that day did not
  have takes the value that reproduces its behaviour (no uniform fallback
  before it existed);
* benchmarks/online_vs_block.py's grid of 16 online settings, run on
  Fashion-MNIST's 60,000 training labels before the recipes, whose results
  were not saved (codelength unknown: null), and its recorded ablation
  (benchmarks/results/online_vs_block_mlp.jsonl);
* the settings listed in benchmarks/results/settings_on_coded_labels.md and
  the ablation of benchmarks/shortest_code.py, run on the same labels while
  the recipes were made.

What the repository does not record is not here: the exploratory tinycnn
runs that settings_on_coded_labels.md mentions without listing them.
"""

import importlib.util
import itertools
import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tfmdl import data  # noqa: E402
from tfmdl import ledger  # noqa: E402
from tfmdl.codes import registry  # noqa: E402
from tfmdl.experiments import config as config_lib  # noqa: E402
from tfmdl.experiments import prequential as prequential_experiment  # noqa: E402

_LEDGER = flags.DEFINE_string(
    "ledger", os.path.join(REPO, "saved_results", "ledger.jsonl"),
    "The ledger appended to.")
RECONSTRUCTED = "reconstructed: "
# The codes of saved results, by their names of the day.
CODES = {"prequential": "prequential", "variational": "variational",
         "twopart_float32": "two_part_float32",
         "twopart_compressed": "two_part_compressed",
         "twopart_subspace": "two_part_subspace"}
# Fields that moved to another section: (today's section, field) -> the
# section that held it.
MOVED = {("block", "val_fraction"): "prequential",
         ("block", "record_epoch_bits"): "prequential",
         ("block", "final_model"): "prequential",
         ("prequential", "uniform_fallback"): "online"}


def _git(*args) -> str:
  return subprocess.run(["git", "-C", REPO, *args], check=True,
                        capture_output=True, text=True).stdout


def _load(path: str):
  spec = importlib.util.spec_from_file_location(os.path.basename(path), path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


_LABELS = {}


def labels(config) -> str:
  """The fingerprint of the labels a config's run coded."""
  key = (config.dataset, config.data_seed, config.num_train,
         config.random_labels, config.random_labels_seed)
  if key not in _LABELS:
    ds = data.load(config.dataset, seed=config.data_seed,
                   num_train=config.num_train,
                   random_labels=config.random_labels,
                   random_labels_seed=config.random_labels_seed)
    _LABELS[key] = ledger.labels_fingerprint(ds.y_train)
  return _LABELS[key]


def today(old: dict, code: str):
  """An old results.json's config in today's layout, for ``code``."""
  config = config_lib.add_sections(
      config_lib.base_config(old["dataset"], old["model"],
                             **old["model_options"]),
      registry.get(code).section_classes())
  for key in ("data_seed", "num_train", "random_labels",
              "random_labels_seed", "seed", "strategy", "deterministic"):
    config[key] = old[key]
  for section in config:
    if not hasattr(config[section], "keys"):
      continue
    for field in config[section]:
      source = MOVED.get((section, field), section)
      if field in old.get(source, {}) and section != "model_options":
        config[section][field] = (tuple(old[source][field])
                                  if isinstance(old[source][field], list)
                                  else old[source][field])
      elif (section, field) == ("prequential", "uniform_fallback"):
        config[section][field] = old.get("prequential", {}).get(
            "uniform_fallback", False)  # before it existed: off
  return config


def entry(config, code: str, bits, source: str, time: str = "",
          version: str = "") -> ledger.Entry:
  return ledger.Entry(
      labels=labels(config), code=code, model=config.model,
      settings=config_lib.ledger_setting(config, code),
      codelength_bits=bits, split="train", source=RECONSTRUCTED + source,
      code_version=version, time=time)


def saved_runs() -> list:
  """Every results.json committed under saved_results/, in commit order."""
  found = []
  commits = _git("log", "--reverse", "--format=%H %cI", "--",
                 "saved_results").split("\n")
  for line in filter(None, commits):
    commit, time = line.split()
    for path in _git("ls-tree", "-r", "--name-only", commit,
                     "saved_results").split("\n"):
      if not path.endswith("results.json"):
        continue
      record = json.loads(_git("show", f"{commit}:{path}"))
      code = CODES.get(record.get("code"))
      if code is None:
        continue  # switch codes and searches: no setting of their own
      if code == "prequential" and record.get("learner") == "online":
        code = "online"
      config = today(record["config"], code)
      found.append(entry(config, code, record["codelength_bits"],
                         f"{path}@{commit[:10]}", time,
                         (record.get("code_version") or {}).get(
                             "source_sha256", f"git:{commit[:10]}")))
  return found


def online_variant(config, online=None, prequential=None, options=None):
  config = config.copy_and_resolve_references()
  config.learner = "online"
  config.online.update(online or {})
  config.prequential.update(prequential or {})
  config.model_options.update(options or {})
  return config


def benchmark_runs() -> list:
  """The online settings the benchmarks ran on Fashion-MNIST's training
  labels (module docstring)."""
  found = []
  paper = prequential_experiment.default_config("fashion_mnist", "mlp")
  grid = itertools.product((32, 128), (2, 8), (1e-3, 3e-3), (0.0, 0.99))
  for b, r, lr, ema in grid:
    config = online_variant(paper, dict(
        batch_size=b, replay=r, learning_rate=lr, ema_decay=ema),
                            dict(uniform_fallback=False))
    found.append(entry(config, "online", None,
                       "benchmarks/online_vs_block.py GRID (round 1)"))
  with open(os.path.join(REPO, "benchmarks", "results",
                         "online_vs_block_mlp.jsonl")) as f:
    for line in f:
      run = json.loads(line)
      if run["part"] != "ablation":
        continue
      config = online_variant(paper, dict(
          batch_size=run["batch_size"], replay=run["replay"],
          learning_rate=run["learning_rate"], ema_decay=run["ema_decay"],
          calibrate=run["calibrate"]), dict(uniform_fallback=False))
      found.append(entry(config, "online", 1000 * run["codelength_kbits"],
                         "benchmarks/results/online_vs_block_mlp.jsonl"))
  recipes = _load(os.path.join(REPO, "configs", "shortest_fashion_mnist.py"))
  coded = "benchmarks/results/settings_on_coded_labels.md"
  listed = [
      ("mlp", {}, {"uniform_fallback": False}, 28478.0, "#1"),
      ("mlp_fast", {}, {}, 29674.0, "#2"),
      ("mlp", {"learning_rate": 2e-3, "schedule": "cosine"}, {}, 28949.0,
       "#3"),
      ("tinycnn", {}, {}, 20303.0, "#4"),
      ("tinycnn_ensemble", {}, {}, 18487.0, "#5")]
  for recipe, online, prequential, bits, number in listed:
    config = online_variant(recipes.get_config(recipe), online, prequential)
    found.append(entry(config, "online", bits, f"{coded} {number}"))
  ablation = _load(os.path.join(REPO, "benchmarks", "shortest_code.py"))
  for name, (recipe, overrides) in ablation.ABLATION.items():
    config = recipes.get_config(recipe)
    for field, value in overrides.items():
      section, key = field.split(".")
      config[section][key] = value
    found.append(entry(config, "online", None,
                       f"benchmarks/shortest_code.py ablation: {name}"))
  return found


def main(argv):
  del argv
  book = ledger.Ledger(_LEDGER.value)
  if any(e.source.startswith(RECONSTRUCTED) for e in book.entries()):
    print(f"{book.path} holds the reconstructed runs already")
    return
  lines = saved_runs() + benchmark_runs()
  for line in lines:  # a setting recorded twice still counts once
    book.record(line, pays=0.0)
  print(f"appended {len(lines)} reconstructed runs to {book.path}")


if __name__ == "__main__":
  app.run(main)
