"""A switch or self-switch experiment: saved prequential runs -> results.json.

Takes finished prequential runs (``bin/prequential`` workdirs read by
:func:`load_runs`), computes the codes of :mod:`tfmdl.codes.switch` and
writes to the workdir ``results.json``, TensorBoard
scalars and ``figure3_cumulative.png`` (the cumulative-codelength panel of
the paper's Figure 3: cumulative codelength minus the best prequential
run's against samples transmitted). No model is trained. ``results.json``
keeps the figure's curves at the log-spaced steps of :func:`curve_steps`
(``curves``; the headline's label is ``headline_curve``); the figure is
drawn from them by :func:`tfmdl.report.figures.switch_figure`, as
``bin/report`` draws Figure 3. Its ``wall_s`` is what the code cost: its own
time (``own_wall_s``) plus the prequential runs it mixes (``runs_wall_s``).

TensorBoard tags (``<code>`` is ``switch`` or ``self_switch``):
``<code>/codelength_kbits``, ``<code>/compression_ratio``,
``<code>/<method>_kbits`` and ``<code>/<method>_overhead_bits`` at step n;
``<code>/cumulative_kbits`` and ``<code>/gap_to_uniform_kbits`` (the headline
code) and ``<code>_strategies/<strategy>_cumulative_kbits`` with step =
samples transmitted, on a log-spaced grid plus the block ends.
"""

import math
import os
import re
import time
from typing import Sequence

from absl import logging
import ml_collections
import numpy as np

from tfmdl import ledger
from tfmdl import results
from tfmdl import summaries
from tfmdl.bits import units
from tfmdl.codes import registry
from tfmdl.codes import switch
from tfmdl.codes.prequential import block_bounds
from tfmdl.experiments import workdir as workdir_lib
from tfmdl.report import figures

FIGURE = workdir_lib.SWITCH_FIGURE
HINDSIGHT_NOTE = ("not a codelength: the best strategy of each block chosen "
                  "after seeing the block, unpaid (what the paper's Table 2 "
                  "reports as switch)")
# Points of the TensorBoard curves (log-spaced), besides the block ends.
_CURVE_POINTS = 200
# Relative tolerance between a run's saved codelength and its block files.
_SUM_RTOL = 1e-6


def load_run(path: str) -> switch.PrequentialRun:
  """Read the prequential run saved in workdir ``path``.

  Raises:
    ValueError: no ``results.json`` or block files, not a prequential run, or
      block files that disagree with ``results.json``.
  """
  record = workdir_lib.read_results(path)
  if record is None:
    raise ValueError(f"no results.json in {path}: not a finished prequential "
                     "run (run bin/prequential into it first)")
  if record.get("code") not in registry.codes_of("prequential"):
    raise ValueError(f"{path} holds a {record.get('code')!r} run, not a "
                     "prequential one")
  if "labels_fingerprint" not in record:
    raise ValueError(f"{path} was written by an older tfmdl (no "
                     "labels_fingerprint for the run ledger): rerun it")
  timesteps = tuple(record["timesteps"])
  per_sample, epoch_bits = [], []
  for index, (start, end) in enumerate(block_bounds(timesteps)):
    try:
      block = workdir_lib.read_block(path, index)
    except OSError as e:
      raise ValueError(f"{path}: block {index}'s files are missing or "
                       f"unreadable ({e.strerror or e})") from e
    if block.per_sample_bits.shape != (end - start,):
      raise ValueError(f"{path}: block {index} has "
                       f"{block.per_sample_bits.shape} per-sample bits, "
                       f"[{start}, {end}) needs {end - start}")
    epochs = block.epoch_bits
    if index == 0:
      epochs = block.per_sample_bits[None, :]  # uniform: one "epoch"
    elif epochs is not None and (epochs.ndim != 2 or
                                 epochs.shape[1] != end - start):
      raise ValueError(f"{path}: block {index} has epoch_bits of shape "
                       f"{epochs.shape}, [{start}, {end}) needs (epochs + 1, "
                       f"{end - start})")
    per_sample.append(block.per_sample_bits)
    epoch_bits.append(epochs)
  per_sample = np.concatenate(per_sample)
  config = record.get("config", {})
  setting_bits = float(record.get("setting_bits", 0.0))
  if not math.isclose(per_sample.sum() + setting_bits,
                      record["codelength_bits"], rel_tol=_SUM_RTOL):
    raise ValueError(f"{path}: block files sum to {per_sample.sum():.3f} "
                     f"bits (+ {setting_bits:.3f} setting bits), results.json "
                     f"says {record['codelength_bits']:.3f}")
  return switch.PrequentialRun(
      path=path, dataset=record["dataset"], model=record["model"],
      random_labels=bool(record.get("random_labels", False)),
      n=int(record["n"]), num_classes=int(record["num_classes"]),
      timesteps=timesteps, data_fingerprint=record["data_fingerprint"],
      codelength_bits=float(record["codelength_bits"]),
      test_accuracy=record.get("test_accuracy"), per_sample_bits=per_sample,
      epoch_bits=(None if any(e is None for e in epoch_bits)
                  else tuple(epoch_bits)),
      max_epochs=config.get("train", {}).get("max_epochs"),
      wall_s=float(record["wall_s"]),
      model_options=config.get("model_options"), setting_bits=setting_bits,
      labels_fingerprint=record["labels_fingerprint"])


def load_runs(paths: Sequence[str], *,
              self_switch: bool = False) -> list:
  """Read and check the runs of a switch (or self-switch) code.

  Refuses, with a ValueError, everything :func:`switch.switch_runs` or
  :func:`switch.self_switch_run` would: no runs, an unreadable or
  incompatible run, a self-switch over several runs or over a run without
  ``epoch_bits``.
  """
  if not paths:
    raise ValueError("no runs given (--runs=DIR1,DIR2,...)")
  if self_switch and len(paths) != 1:
    raise ValueError(f"the self-switch code takes one run, got {len(paths)}")
  runs = [load_run(p) for p in paths]
  switch.check_compatible(runs)
  if self_switch:
    switch.check_epoch_bits(runs[0])
  return runs


def curve_steps(n: int, timesteps: Sequence[int],
                points: int = _CURVE_POINTS) -> np.ndarray:
  """Sample counts 1..n, log-spaced, with every block end: the curves' x."""
  grid = np.rint(np.geomspace(1, n, points)).astype(np.int64)
  return np.unique(np.concatenate([grid, np.asarray(timesteps, np.int64)]))


def _tag(name: str) -> str:
  return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def write_summaries(writer: summaries.SummaryWriter,
                    result: switch.SwitchResult) -> None:
  """The results' scalars and cumulative curves (see the module docstring)."""
  code, kbits = result.code, units.bits_to_kbits
  values = {f"{code}/codelength_kbits": kbits(result.codelength_bits),
            f"{code}/compression_ratio": result.compression_ratio}
  for name, method in result.methods.items():
    values[f"{code}/{name}_kbits"] = kbits(method.bits)
    values[f"{code}/{name}_overhead_bits"] = method.overhead_bits
  writer.scalars(values, step=result.n)
  log2k = np.log2(result.num_classes)
  strategies = np.cumsum(result.strategy_bits, axis=1)
  names = [_tag(s) for s in result.strategy_names]
  for t in curve_steps(result.n, result.timesteps):
    headline = result.cumulative_bits[t - 1]
    values = {f"{code}/cumulative_kbits": kbits(headline),
              f"{code}/gap_to_uniform_kbits": kbits(headline - t * log2k)}
    for name, row in zip(names, strategies):
      values[f"{code}_strategies/{name}_cumulative_kbits"] = kbits(row[t - 1])
    writer.scalars(values, step=t)
  writer.flush()


def curve_label(code: str) -> str:
  """The label of the headline code's curve: ``switch`` or ``self-switch``."""
  return code.replace("_", "-")


def _curves(result: switch.SwitchResult,
            runs: Sequence[switch.PrequentialRun]) -> dict:
  """Figure 3's curves at every sample: each run's prequential code and the
  switch code (labelled :func:`curve_label`)."""
  names = result.strategy_names[:len(runs)]
  if result.code == "self_switch":
    names = (runs[0].model,)
  curves = {f"prequential ({name})": np.cumsum(run.per_sample_bits)
            for name, run in zip(names, runs)}
  curves[curve_label(result.code)] = result.cumulative_bits
  return curves


def curve_record(curves: dict, steps: np.ndarray) -> dict:
  """Figure 3's curves for results.json, at ``steps`` only (files stay small).

  Returns:
    ``{"steps": [t, ...], label: [cumulative bits of labels 1..t, ...], ...}``
    with the labels of :func:`_curves`.
  """
  record = {"steps": steps.tolist()}
  for label, cumulative in curves.items():
    record[label] = cumulative[steps - 1].tolist()
  return record


def _identity(code: str, runs: Sequence[switch.PrequentialRun],
              settings: switch.SwitchSettings) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict({
      "code": code, "runs": [os.path.abspath(r.path) for r in runs],
      "settings": {"stop_prob": settings.stop_prob,
                   "fixed_share_alphas": list(settings.fixed_share_alphas),
                   "block_switch_rate": settings.block_switch_rate}})


def run(runs: Sequence[switch.PrequentialRun], workdir: str, *,
        self_switch: bool = False,
        settings: switch.SwitchSettings = switch.SwitchSettings()
        ) -> switch.SwitchResult:
  """The switch (or, with ``self_switch``, self-switch) code of saved runs.

  Args:
    runs: prequential runs from :func:`load_runs`; exactly one
      for the self-switch code.
    workdir: where results.json, the figure and ``tb/`` go; not a run's own
      workdir.
    self_switch: switch between one run's stopping times instead of runs.
    settings: the priors, fixed in advance.

  Returns:
    The :class:`tfmdl.codes.switch.SwitchResult`; ``results.json`` holds its
    numbers.

  Raises:
    ValueError: incompatible runs, a self-switch over several runs or without
      epoch_bits, or a run's workdir as ``workdir``.
  """
  began = time.perf_counter()
  if self_switch and len(runs) != 1:
    raise ValueError(f"the self-switch code takes one run, got {len(runs)}")
  out = os.path.realpath(workdir)
  for r in runs:
    if os.path.realpath(r.path) == out:
      raise ValueError(f"workdir {workdir} is the run {r.path}; use a new "
                       "--workdir")
  result = (switch.self_switch_run(runs[0], settings) if self_switch
            else switch.switch_runs(runs, settings))
  config = _identity(result.code, runs, settings)
  result = ledger.settle(
      result, labels=runs[0].labels_fingerprint, code=result.code,
      model="+".join(r.model for r in runs),
      settings={"runs": [r.path for r in runs],
                "settings": config.settings.to_dict()},
      source="bin/switch", split="train")
  wd = workdir_lib.Workdir(workdir, config, runs[0].data_fingerprint)
  logging.info("%s code of %s over %d strategies: %.1f bits", result.code,
               runs[0].dataset, len(result.strategy_names),
               result.codelength_bits)
  writer = summaries.SummaryWriter(wd.tensorboard_dir)
  writer.hparams({"code": result.code, "dataset": runs[0].dataset,
                  "model": "+".join(r.model for r in runs)})
  write_summaries(writer, result)
  record = result_record(result, runs, config, time.perf_counter() - began)
  figure = figures.switch_figure([record], runs[0].dataset)
  results.write_bytes(wd.file(FIGURE), figures.png_bytes(figure))
  wd.write_results(record)
  return result


def result_record(result: switch.SwitchResult,
                  runs: Sequence[switch.PrequentialRun],
                  config: ml_collections.ConfigDict, wall_s: float) -> dict:
  """The results.json of a switch or self-switch experiment.

  ``wall_s`` is this code's own time; the record's ``wall_s`` adds the
  runs' (a switch code costs the prequential runs it mixes).
  """
  kbits = units.bits_to_kbits
  parts = {}
  for name, method in result.methods.items():
    parts[f"{name}_bits"] = method.bits
    parts[f"{name}_overhead_bits"] = method.overhead_bits
  parts["block_switch_viterbi_bits"] = result.block_sequence_bits
  totals = result.strategy_totals
  parts["best_single_strategy_bits"] = totals[result.best_strategy]
  with_accuracy = [r for r in runs if r.test_accuracy is not None]
  best_run = max(with_accuracy, key=lambda r: r.test_accuracy, default=None)
  best_prequential = min(r.codelength_bits for r in runs)
  runs_wall_s = sum(r.wall_s for r in runs)
  curves = _curves(result, runs)
  return {
      "format_version": results.FORMAT_VERSION,
      "code": result.code,
      "dataset": runs[0].dataset,
      "model": "+".join(r.model for r in runs),
      "models": [r.model for r in runs],
      "random_labels": runs[0].random_labels,
      "n": result.n,
      "num_classes": result.num_classes,
      "codelength_bits": result.codelength_bits,
      "codelength_kbits": kbits(result.codelength_bits),
      "uniform_bits": result.uniform_bits,
      "compression_ratio": result.compression_ratio,
      "test_accuracy": None if best_run is None else best_run.test_accuracy,
      "test_accuracy_source": (
          None if best_run is None else
          f"best test accuracy of the runs: {best_run.path} "
          f"({best_run.model})"),
      "parts": parts,
      "headline_method": "mixture",
      "mixed_methods": list(switch.MIXED),
      "mixture_prior": (f"uniform: weight 1/{len(switch.MIXED)} on each of "
                        "mixed_methods, fixed in advance"),
      "overhead_note": ("each <method>_overhead_bits is the stated worst case "
                        "over the best single strategy: <method>_bits <= "
                        "best_single_strategy_bits + overhead"),
      "strategies": totals,
      "best_strategy": result.best_strategy,
      "block_switch_sequence": list(result.block_sequence),
      "best_prequential_bits": best_prequential,
      "saved_vs_best_prequential_bits":
          best_prequential - result.codelength_bits,
      "hindsight_bound_bits": result.hindsight_bound_bits,
      "hindsight_bound_note": HINDSIGHT_NOTE,
      "settings": config.settings.to_dict(),
      "runs_setting_bits": result.runs_setting_bits,
      "setting_bits": result.setting_bits,
      "runs": [r.summary() for r in runs],
      "timesteps": result.timesteps,
      "curves": curve_record(curves, curve_steps(result.n, result.timesteps)),
      "headline_curve": curve_label(result.code),
      "data_fingerprint": runs[0].data_fingerprint,
      "config": config.to_dict(),
      "versions": results.library_versions(),
      "code_version": results.code_version(),
      "wall_s": wall_s + runs_wall_s,
      "own_wall_s": wall_s,
      "runs_wall_s": runs_wall_s,
      "wall_s_note": ("wall_s includes the prequential runs mixed "
                      "(runs_wall_s, their results.json's wall_s) besides "
                      "this code's own_wall_s"),
  }
