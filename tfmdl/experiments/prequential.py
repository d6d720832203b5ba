"""A prequential experiment: config -> blocks saved as they end -> results.json.

Each finished block is written at once (``blocks/block_NNN.json`` with its
summary, ``blocks/block_NNN.npz`` with its per-sample and per-epoch bits), so a
crash loses at most the running block; rerunning into the same workdir resumes
at the first unfinished block.
"""

import glob
import os
import time

from absl import logging
import ml_collections
import numpy as np

from tfmdl import prequential
from tfmdl import results
from tfmdl import summaries
from tfmdl import training
from tfmdl.codes import units
from tfmdl.experiments import common

CODE = "prequential"


def prequential_config(config: ml_collections.ConfigDict
                       ) -> prequential.PrequentialConfig:
  p = config.prequential
  return prequential.PrequentialConfig(
      timesteps=tuple(p.timesteps) if p.timesteps is not None else None,
      first_block=p.first_block, val_fraction=p.val_fraction, seed=config.seed,
      train=common.train_config(config), record_epoch_bits=p.record_epoch_bits,
      final_model=p.final_model)


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


class _BlockSummaries:
  """TensorBoard panels of the paper's Figure 2, step = samples transmitted."""

  def __init__(self, writer: summaries.SummaryWriter, num_classes: int):
    self._writer = writer
    self._log2k = np.log2(num_classes)
    self._cumulative = 0.0

  def __call__(self, block: prequential.BlockResult) -> None:
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


def run(config: ml_collections.ConfigDict, workdir: str):
  """Run (or resume) the prequential experiment of ``config`` in ``workdir``.

  Returns:
    The :class:`tfmdl.prequential.PrequentialResult`; ``results.json`` holds
    its numbers.
  """
  began = time.perf_counter()
  common.make_deterministic(config.seed, config.deterministic)
  dataset = common.load_dataset(config)
  pconfig = prequential_config(config)
  model_fn = common.model_fn(config, dataset)
  wd = common.Workdir(workdir, config, dataset.fingerprint())
  done = load_blocks(wd)
  if done:
    logging.info("resuming: %d block(s) already in %s", len(done), workdir)
  writer = summaries.SummaryWriter(wd.tensorboard_dir)
  writer.hparams({"code": CODE, "dataset": config.dataset,
                  "model": config.model, "seed": config.seed,
                  **{f"train.{k}": v for k, v in config.train.items()}})
  on_block = _BlockSummaries(writer, dataset.num_classes)
  for block in done:
    on_block(block)

  def block_callback(block):
    save_block(wd, block)
    on_block(block)

  result = prequential.prequential_code(
      model_fn, dataset.x_train, dataset.y_train, dataset.num_classes,
      config=pconfig, x_test=dataset.x_test, y_test=dataset.y_test,
      strategy=training.get_strategy(config.strategy), done_blocks=done,
      block_callback=block_callback)
  results.write_json(wd.file("results.json"), result_record(
      result, config, dataset, time.perf_counter() - began))
  writer.flush()
  return result


def result_record(result: prequential.PrequentialResult,
                  config: ml_collections.ConfigDict, dataset,
                  wall_s: float) -> dict:
  """The results.json of a prequential run."""
  return {
      "format_version": results.FORMAT_VERSION,
      "code": CODE,
      "dataset": config.dataset,
      "model": config.model,
      "random_labels": dataset.random_labels,
      "n": result.n,
      "num_classes": result.num_classes,
      "codelength_bits": result.codelength_bits,
      "codelength_kbits": units.bits_to_kbits(result.codelength_bits),
      "uniform_bits": result.uniform_bits,
      "compression_ratio": result.compression_ratio,
      "test_accuracy": result.test_accuracy,
      "timesteps": result.timesteps,
      "blocks": [b.summary() for b in result.blocks],
      "parts": {"first_block_uniform_bits": result.blocks[0].bits,
                "model_coded_bits": result.codelength_bits -
                                    result.blocks[0].bits},
      "seed": config.seed,
      "data_seed": config.data_seed,
      "data_fingerprint": dataset.fingerprint(),
      "data_source": dataset.source,
      "config": config.to_dict(),
      "versions": results.library_versions(),
      "prequential_wall_s": result.wall_s,
      "final_model_wall_s": result.final_model_wall_s,
      "wall_s": wall_s,
  }
