"""A prequential experiment: config -> blocks saved as they end -> results.json.

Each finished block is written at once (``blocks/block_NNN.json`` with its
summary, ``blocks/block_NNN.npz`` with its per-sample and per-epoch bits), so a
crash loses at most the running block; rerunning into the same workdir resumes
at the first unfinished block.

``config.learner = "online"`` runs the online learner of :mod:`tfmdl.online`
instead (hyperparameters in ``config.online``): one pass, same block files,
TensorBoard panels and results.json, so the switch code can mix it with
block runs. An interrupted online run restarts from the first sample.

Blocks are independent given the data (each reseeds everything from its own
seed), so a block-learner run can be split into shards, ``run(...,
blocks="3:7")``, run by several processes at once into the same workdir;
:func:`merge` then assembles results.json, identical to one run's. The test
accuracy of the model trained on all n is its own shard, ``"final"``
(``blocks/final.json``). Under a multi-worker strategy only the chief writes.
See docs/cluster.md.
"""

import glob
import os
import time
from typing import Optional

from absl import logging
import ml_collections
import numpy as np

from tfmdl.codes.prequential import online
from tfmdl.codes import prequential
from tfmdl import progress as progress_lib
from tfmdl import results
from tfmdl import summaries
from tfmdl import training
from tfmdl.bits import units
from tfmdl.bits.uniform import uniform_bits
from tfmdl.experiments import common
from tfmdl.training.strategy import is_chief

CODE = "prequential"
FINAL = "final"
LEARNERS = ("block", "online")


def prequential_config(config: ml_collections.ConfigDict
                       ) -> prequential.PrequentialConfig:
  p = config.prequential
  return prequential.PrequentialConfig(
      timesteps=tuple(p.timesteps) if p.timesteps is not None else None,
      first_block=p.first_block, val_fraction=p.val_fraction, seed=config.seed,
      train=common.train_config(config), record_epoch_bits=p.record_epoch_bits,
      final_model=p.final_model, uniform_fallback=p.uniform_fallback)


def online_config(config: ml_collections.ConfigDict) -> online.OnlineConfig:
  """The online learner's config: ``config.online`` plus the schedule."""
  p = config.prequential
  return online.OnlineConfig(
      timesteps=tuple(p.timesteps) if p.timesteps is not None else None,
      first_block=p.first_block, seed=config.seed,
      eval_batch_size=config.train.eval_batch_size, **config.online.to_dict())


def save_block(workdir: common.Workdir, block: prequential.BlockResult) -> None:
  """Write one block's summary and arrays (arrays first: json marks done)."""
  stem = workdir.file("blocks", f"block_{block.index:03d}")
  arrays = {"per_sample_bits": block.per_sample_bits}
  if block.epoch_bits is not None:
    arrays["epoch_bits"] = block.epoch_bits
  results.write_npz(stem + ".npz", **arrays)
  results.write_json(stem + ".json", block.summary())


def load_blocks(workdir: common.Workdir) -> list:
  """Blocks that an earlier run into this workdir finished."""
  blocks = []
  for path in sorted(glob.glob(workdir.file("blocks", "block_*.json"))):
    summary = results.read_json(path)
    arrays = np.load(path[:-len(".json")] + ".npz")
    blocks.append(prequential.BlockResult(
        index=summary["index"], start=summary["start"], end=summary["end"],
        bits=summary["bits"], accuracy=summary["accuracy"],
        epochs_trained=summary["epochs_trained"],
        best_epoch=summary["best_epoch"], train_size=summary["train_size"],
        val_size=summary["val_size"], seed=summary["seed"],
        wall_s=summary["wall_s"], per_sample_bits=arrays["per_sample_bits"],
        epoch_bits=arrays["epoch_bits"] if "epoch_bits" in arrays else None))
  return blocks


def load_epoch_bits(workdir_path: str, index: int):
  """Per-epoch per-sample bits of block ``index`` of a finished run."""
  path = os.path.join(workdir_path, "blocks", f"block_{index:03d}.npz")
  arrays = np.load(path)
  return arrays["epoch_bits"] if "epoch_bits" in arrays else None


def _final_path(workdir: common.Workdir) -> str:
  return workdir.file("blocks", f"{FINAL}.json")


def load_final(workdir: common.Workdir) -> Optional[dict]:
  """The saved final model (``test_accuracy``, ``wall_s``, ``seed``) or None."""
  path = _final_path(workdir)
  return results.read_json(path) if os.path.exists(path) else None


def parse_blocks(spec: str, num_blocks: int, final_model: bool = True
                 ) -> tuple:
  """The shard that ``--blocks=spec`` names: ``(block indices, final)``.

  ``start:stop[:step]`` is Python's slice of ``range(num_blocks)``: ``3:7``
  is blocks 3, 4, 5, 6; ``:4`` blocks 0..3; ``10:`` block 10 to the last;
  ``-1:`` the last block. A single integer ``k`` is block ``k`` alone.
  ``final`` is the model trained on all n for the test accuracy (only when
  ``final_model``). Block 0 is the uniform block (no training).

  Raises:
    ValueError: for a malformed spec or one that selects no block.
  """
  spec = spec.strip()
  if spec == FINAL:
    if not final_model:
      raise ValueError(f"--blocks={FINAL}, but the config has no final model "
                       "(prequential.final_model=False)")
    return (), True
  try:
    parts = [int(p) if p.strip() else None for p in spec.split(":")]
  except ValueError:
    parts = []
  usage = (f"--blocks={spec!r}: expected start:stop[:step] (a Python slice "
           f"of blocks 0..{num_blocks - 1}), an index or {FINAL!r}")
  if not 1 <= len(parts) <= 3 or (len(parts) == 3 and parts[2] == 0):
    raise ValueError(usage)
  if len(parts) == 1:
    if parts[0] is None or not -num_blocks <= parts[0] < num_blocks:
      raise ValueError(usage)
    return (range(num_blocks)[parts[0]],), False
  indices = tuple(range(num_blocks)[slice(*parts)])
  if not indices:
    raise ValueError(f"--blocks={spec} selects none of blocks "
                     f"0..{num_blocks - 1}")
  return indices, False


def _final_model(workdir: common.Workdir, write: bool, model_fn, dataset,
                 pconfig: prequential.PrequentialConfig, strategy,
                 index: int, progress: progress_lib.Progress) -> dict:
  """The final model's test accuracy: saved in ``workdir``, or trained now
  (and saved when ``write``)."""
  saved = load_final(workdir)
  if saved is not None:
    return saved
  began = time.perf_counter()
  accuracy = prequential.final_model_accuracy(
      model_fn, dataset.x_train, dataset.y_train, dataset.x_test,
      dataset.y_test, pconfig, strategy, index, progress)
  record = {"test_accuracy": accuracy, "wall_s": time.perf_counter() - began,
            "seed": prequential.block_seed(pconfig.seed, index)}
  if write:
    results.write_json(_final_path(workdir), record)
  return record


def _assemble(blocks, final: Optional[dict], dataset, timesteps: tuple
              ) -> prequential.PrequentialResult:
  """The result of a complete set of blocks, however they were computed.

  Its ``wall_s`` is the sum of the blocks' own wall times, so that one run,
  a resumed run and a merged sharded run report the same compute time.
  """
  return prequential.assemble(
      blocks, len(dataset.y_train), dataset.num_classes, timesteps,
      test_accuracy=None if final is None else final["test_accuracy"],
      wall_s=float(sum(b.wall_s for b in blocks)),
      final_model_wall_s=0.0 if final is None else final["wall_s"])


class _BlockSummaries:
  """TensorBoard panels of the paper's Figure 2, step = samples transmitted.

  Blocks may arrive in any order (a resumed run after shards); each is
  written once all blocks before it are, so cumulative panels add up in
  transmission order.
  """

  def __init__(self, writer: summaries.SummaryWriter, num_classes: int):
    self._writer = writer
    self._log2k = np.log2(num_classes)
    self._cumulative = 0.0
    self._pending = {}
    self._next = 0

  def __call__(self, block: prequential.BlockResult) -> None:
    self._pending[block.index] = block
    while self._next in self._pending:
      self._write(self._pending.pop(self._next))
      self._next += 1

  def _write(self, block: prequential.BlockResult) -> None:
    self._cumulative += block.bits
    uniform = block.end * self._log2k
    self._writer.scalars({
        f"{CODE}/block_bits_per_sample": block.bits_per_sample,
        f"{CODE}/cumulative_kbits": units.bits_to_kbits(self._cumulative),
        f"{CODE}/compression_ratio": self._cumulative / uniform,
        f"{CODE}/block_accuracy": block.accuracy,
        f"{CODE}/gap_to_uniform_kbits":
            units.bits_to_kbits(self._cumulative - uniform),
    }, step=block.end)
    if block.epoch_bits is not None:
      for epoch, bits in enumerate(block.epoch_bits):
        self._writer.scalars(
            {f"{CODE}_training/block_{block.index:03d}_bits_per_sample":
                 float(np.mean(bits))}, step=epoch)
    self._writer.flush()


def _open_writer(workdir: Optional[common.Workdir],
                 config: ml_collections.ConfigDict) -> summaries.SummaryWriter:
  """The workdir's TensorBoard writer, hyperparameters recorded (those the
  learner uses: ``online.*``, or ``train.*`` and ``prequential.*``); a no-op
  writer when ``workdir`` is None (shards, non-chief workers)."""
  writer = summaries.SummaryWriter(
      None if workdir is None else workdir.tensorboard_dir)
  sections = (("online",) if config.learner == "online"
              else ("train", "prequential"))
  writer.hparams(common.hparams(config, sections, code=CODE,
                                learner=config.learner))
  return writer


def run(config: ml_collections.ConfigDict, workdir: str,
        blocks: Optional[str] = None):
  """Run (or resume) the prequential experiment of ``config`` in ``workdir``.

  Args:
    config: the experiment (fields in :mod:`tfmdl.experiments.defaults`).
    workdir: its folder; rerunning into it resumes.
    blocks: None for the whole code. Or a shard of a block-learner run
      (:func:`parse_blocks`): only those blocks (or the final model) are
      computed and saved; no results.json and no TensorBoard events are
      written, :func:`merge` does that once every shard is done.

  Returns:
    The :class:`tfmdl.prequential.PrequentialResult` (``results.json`` holds
    its numbers), or None for a shard.
  """
  began = time.perf_counter()
  if config.learner not in LEARNERS:
    raise ValueError(f"unknown learner {config.learner!r}; known: "
                     f"{', '.join(LEARNERS)}")
  if blocks is not None and config.learner != "block":
    raise ValueError(f"--blocks shards the block learner only, not the "
                     f"{config.learner} learner")
  # First: a multi-worker strategy must exist before TensorFlow runs anything.
  strategy = training.get_strategy(config.strategy)
  chief = is_chief(strategy)
  training.make_deterministic(config.seed, config.deterministic)
  dataset = common.load_dataset(config)
  pconfig = prequential_config(config)
  oconfig = online_config(config) if config.learner == "online" else None
  # A bad schedule, shard or online config is refused before the workdir is
  # touched.
  timesteps = prequential.schedule(len(dataset.y_train), pconfig)
  indices, final = (
      (range(len(timesteps)), pconfig.final_model) if blocks is None
      else parse_blocks(blocks, len(timesteps), pconfig.final_model))
  model_fn = common.model_fn(config, dataset)
  wd = common.Workdir(workdir, config, dataset.fingerprint(), writable=chief)
  done = load_blocks(wd) if config.learner == "block" else []
  if done:
    logging.info("resuming: %d block(s) already in %s", len(done), workdir)
  writer = _open_writer(wd if chief and blocks is None else None, config)
  on_block = _BlockSummaries(writer, dataset.num_classes)
  for block in done:
    on_block(block)

  def block_callback(block):
    if chief:
      save_block(wd, block)
    on_block(block)

  if config.learner == "online":
    result = online.online_code(
        model_fn, dataset.x_train, dataset.y_train, dataset.num_classes,
        config=oconfig, x_test=dataset.x_test,
        y_test=dataset.y_test, strategy=strategy,
        block_callback=block_callback)
  else:
    done_indices = {b.index for b in done}
    todo = [i for i in indices if i not in done_indices]
    progress = progress_lib.Progress(CODE)
    progress.start(**prequential.progress_total(
        timesteps, todo, final and load_final(wd) is None))
    new = prequential.encode_blocks(
        model_fn, dataset.x_train, dataset.y_train, dataset.num_classes,
        todo, config=pconfig, strategy=strategy,
        block_callback=block_callback, progress=progress)
    final_record = (_final_model(wd, chief, model_fn, dataset, pconfig,
                                 strategy, len(timesteps), progress)
                    if final else None)
    if blocks is not None:
      missing = _missing(load_blocks(wd), load_final(wd), pconfig, timesteps)
      logging.info("shard %s done; %s", blocks,
                   f"still missing: {', '.join(missing)}" if missing else
                   "all blocks present: merge them with --merge")
      return None
    result = _assemble(done + list(new), final_record, dataset, timesteps)
  if chief:
    results.write_json(wd.file("results.json"), result_record(
        result, config, dataset, time.perf_counter() - began))
  writer.flush()
  return result


def _missing(blocks, final: Optional[dict],
             pconfig: prequential.PrequentialConfig, timesteps) -> list:
  """Names of the shards still to run: block indices, and ``final``."""
  missing = [str(i) for i in prequential.missing_blocks(blocks, timesteps)]
  if pconfig.final_model and final is None:
    missing.append(FINAL)
  return missing


def merge(workdir: str) -> prequential.PrequentialResult:
  """Assemble ``results.json`` from the block files of a sharded run.

  Everything comes from ``workdir``: the config from ``config.json``, the
  blocks and the final model from ``blocks/``. The data are loaded again, to
  check their fingerprint and record their source. Nothing is trained; the
  TensorBoard panels are written from the blocks, in transmission order.

  Returns:
    The :class:`tfmdl.prequential.PrequentialResult`, the same as one run's.

  Raises:
    ValueError: if ``workdir`` holds no run, or a block or the final model
      is missing (all missing ones are listed).
  """
  began = time.perf_counter()
  path = os.path.join(workdir, "config.json")
  if not os.path.isfile(path):
    raise ValueError(f"nothing to merge: {workdir} holds no config.json")
  config = ml_collections.ConfigDict(results.read_json(path)["config"])
  if config.learner != "block":
    raise ValueError(f"nothing to merge: {workdir} holds a run of the "
                     f"{config.learner} learner, which is not sharded")
  dataset = common.load_dataset(config)
  wd = common.Workdir(workdir, config, dataset.fingerprint())
  pconfig = prequential_config(config)
  timesteps = prequential.schedule(len(dataset.y_train), pconfig)
  blocks, final = load_blocks(wd), load_final(wd)
  missing = _missing(blocks, final, pconfig, timesteps)
  if missing:
    raise ValueError(
        f"cannot merge {workdir}: missing {', '.join(missing)} (of blocks "
        f"0..{len(timesteps) - 1}{' and final' if pconfig.final_model else ''}"
        "); run them with --blocks")
  result = _assemble(blocks, final if pconfig.final_model else None, dataset,
                     timesteps)
  writer = _open_writer(wd, config)
  on_block = _BlockSummaries(writer, dataset.num_classes)
  for block in result.blocks:
    on_block(block)
  results.write_json(wd.file("results.json"), result_record(
      result, config, dataset, time.perf_counter() - began))
  writer.flush()
  return result


def _parts(result: prequential.PrequentialResult,
           config: ml_collections.ConfigDict) -> dict:
  """Bits sent uniformly (block 0, or the online first minibatch), the online
  setting's price, and the rest."""
  if config.learner == "online":
    uniform = uniform_bits(min(config.online.batch_size, result.n),
                           result.num_classes)
    setting = config.online.setting_bits
    return {"first_minibatch_uniform_bits": uniform, "setting_bits": setting,
            "model_coded_bits": result.codelength_bits - uniform - setting}
  uniform = result.blocks[0].bits
  return {"first_block_uniform_bits": uniform,
          "model_coded_bits": result.codelength_bits - uniform}


def result_record(result: prequential.PrequentialResult,
                  config: ml_collections.ConfigDict, dataset,
                  wall_s: float) -> dict:
  """The results.json of a prequential run."""
  return common.result_record(
      CODE, config, dataset, result.codelength_bits, wall_s=wall_s,
      test_accuracy=result.test_accuracy,
      timesteps=result.timesteps,
      blocks=[b.summary() for b in result.blocks],
      learner=config.learner,
      parts=_parts(result, config),
      prequential_wall_s=result.wall_s,
      final_model_wall_s=result.final_model_wall_s)
