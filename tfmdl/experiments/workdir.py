"""A run's folder: its layout, written down once, and a check that it holds
one run.

Every experiment writes into a workdir::

    config.json          the full config and the data's fingerprint
    results.json         the result, at the end
    tb/                  TensorBoard events
    blocks/block_NNN.json, .npz   a prequential block: summary, arrays
    blocks/final.json    the prequential code's test accuracy
    online/              the online learner's checkpoint
    grid/point_NNN.json  a variational grid point
    payload.npz          a two-part code's model message
    trials/trial_NNN.json, trials/trial_NNN/   a search's trials
    figure3_cumulative.png   a switch code's curves

Parts are written as they finish (atomically, :mod:`tfmdl.results`), so a
crash loses at most the running part, and rerunning into the same workdir
resumes; a run whose config or data differ from the workdir's is refused.
"""

import glob
import os
from typing import Optional

import ml_collections
import numpy as np

from tfmdl import results
from tfmdl.codes.prequential import BlockResult

CONFIG = "config.json"
RESULTS = "results.json"
TENSORBOARD = "tb"
BLOCKS = "blocks"
FINAL = "final"
ONLINE_CHECKPOINT = "online"
GRID = "grid"
PAYLOAD = "payload.npz"
TRIALS = "trials"
SWITCH_FIGURE = "figure3_cumulative.png"


def _without_verbosity(identity: dict) -> dict:
  """A workdir's identity without ``train.verbose``, which changes the log,
  not the run: a rerun with ``--verbose`` resumes."""
  train = identity["config"].get("train")
  if not isinstance(train, dict) or "verbose" not in train:
    return identity
  train = {k: v for k, v in train.items() if k != "verbose"}
  return dict(identity, config=dict(identity["config"], train=train))


def block_stem(path: str, index: int) -> str:
  """``<path>/blocks/block_NNN``: a block's files, less their suffix."""
  return os.path.join(path, BLOCKS, f"block_{index:03d}")


def read_block(path: str, index: int) -> BlockResult:
  """Block ``index`` of the prequential run saved in workdir ``path``."""
  stem = block_stem(path, index)
  with np.load(stem + ".npz") as arrays:
    return BlockResult.from_json(
        results.read_json(stem + ".json"),
        per_sample_bits=np.asarray(arrays["per_sample_bits"], np.float64),
        epoch_bits=(np.asarray(arrays["epoch_bits"], np.float64)
                    if "epoch_bits" in arrays else None))


def read_results(path: str) -> Optional[dict]:
  """The results.json of workdir ``path``, or None if it has none."""
  file = os.path.join(path, RESULTS)
  return results.read_json(file) if os.path.isfile(file) else None


class Workdir:
  """A run's folder: checks that it is writable and that it holds this run.

  ``config.json`` (the config and the data's fingerprint) is created once,
  race-free: several processes may start on the same workdir at the same
  time (shards of one run, see ``--blocks``); the first creates it and all
  others compare theirs with it (all but ``train.verbose``). A process with
  ``writable=False`` (a non-chief worker of a multi-worker run) compares but
  creates nothing.
  """

  def __init__(self, path: str, config: ml_collections.ConfigDict,
               fingerprint: str, *, writable: bool = True):
    self.path = path
    self.writable = writable
    self._identity = {"config": config.to_dict(),
                      "data_fingerprint": fingerprint}
    if writable:
      try:
        os.makedirs(path, exist_ok=True)
      except OSError as e:
        raise ValueError(f"cannot create workdir {path}: {e.strerror}") from e
      if not os.access(path, os.W_OK):
        raise ValueError(f"workdir {path} is not writable")
      try:
        if results.write_json_if_absent(self.file(CONFIG), self._identity):
          return
      except OSError as e:
        raise ValueError(f"cannot write to workdir {path}: {e.strerror}"
                         ) from e
    if os.path.exists(self.file(CONFIG)):
      self._check_same_run()

  def _check_same_run(self) -> None:
    saved = _without_verbosity(results.read_json(self.file(CONFIG)))
    mine = _without_verbosity(results.json_round_trip(self._identity))
    if saved != mine:
      diff = sorted(k for k in set(saved["config"]) | set(mine["config"])
                    if saved["config"].get(k) != mine["config"].get(k))
      what = (f"config fields {diff}" if diff else "data order/fingerprint")
      raise ValueError(f"workdir {self.path} holds another run (different "
                       f"{what}); use a new --workdir")

  @staticmethod
  def read_identity(path: str) -> Optional[dict]:
    """The config and data fingerprint saved in workdir ``path``, or None
    if it holds no run."""
    file = os.path.join(path, CONFIG)
    return results.read_json(file) if os.path.isfile(file) else None

  def file(self, *parts: str) -> str:
    return os.path.join(self.path, *parts)

  @property
  def tensorboard_dir(self) -> str:
    return self.file(TENSORBOARD)

  def write_results(self, record: dict) -> None:
    results.write_json(self.file(RESULTS), record)

  # -- prequential blocks ---------------------------------------------------

  def save_block(self, block: BlockResult) -> None:
    """Write one block's arrays, then its summary (the json marks done)."""
    stem = block_stem(self.path, block.index)
    arrays = {"per_sample_bits": block.per_sample_bits}
    if block.epoch_bits is not None:
      arrays["epoch_bits"] = block.epoch_bits
    results.write_npz(stem + ".npz", **arrays)
    results.write_json(stem + ".json", block.to_json())

  def load_blocks(self) -> list:
    """The blocks that an earlier run into this workdir finished."""
    paths = sorted(glob.glob(self.file(BLOCKS, "block_*.json")))
    return [read_block(self.path, int(os.path.basename(p)[6:9]))
            for p in paths]

  def save_final(self, record: dict) -> None:
    """The prequential code's test accuracy (``test_accuracy``, which
    model, ``wall_s``)."""
    results.write_json(self.file(BLOCKS, f"{FINAL}.json"), record)

  def load_final(self) -> Optional[dict]:
    path = self.file(BLOCKS, f"{FINAL}.json")
    return results.read_json(path) if os.path.exists(path) else None

  # -- variational grid points ----------------------------------------------

  def save_point(self, index: int, record: dict) -> None:
    results.write_json(self.file(GRID, f"point_{index:03d}.json"), record)

  def load_points(self) -> list:
    """The JSON records of the grid points finished earlier, by index."""
    return [results.read_json(p)
            for p in sorted(glob.glob(self.file(GRID, "point_*.json")))]

  # -- search trials --------------------------------------------------------

  @staticmethod
  def trial_name(index: int) -> str:
    return f"trial_{index:03d}"

  def trial_workdir(self, index: int) -> str:
    """The relative path of trial ``index``'s own workdir."""
    return os.path.join(TRIALS, self.trial_name(index))

  @property
  def trials_dir(self) -> str:
    """Where a search's finished trials are saved, ``trial_NNN.json``
    (:class:`tfmdl.codes.tuning.TrialStore`)."""
    return self.file(TRIALS)
