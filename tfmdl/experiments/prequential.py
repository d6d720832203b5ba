"""A prequential experiment: config -> blocks saved as they end -> results.json.

``config.learner`` picks the learner: ``"block"`` (a model per block,
retrained on the prefix; the paper) with its sections ``block`` and
``train``, ``"online"`` (one model trained as the labels arrive) with its
section ``online``, ``"switch"`` (the online switch: the online learners
named in ``config.model``, joined by ``+``, each with its settings of
:mod:`tfmdl.codes.prequential.online.defaults`, mixed as the section
``switch`` says), or ``"shortest"`` (the block and the online learner run
one after the other in ``<workdir>/block`` and ``<workdir>/online``, then
the shortest code of the set, :mod:`tfmdl.codes.shortest`, in
``<workdir>/results.json``); ``prequential`` holds the protocol's
constants. The learners write the same files
(:mod:`tfmdl.experiments.workdir`): each finished block at once
(``blocks/block_NNN.json`` and ``.npz``), the test accuracy
(``blocks/final.json``), ``results.json`` at the end and TensorBoard panels.

A crash of the block learner loses at most the running block: rerunning
into the same workdir resumes at the first unfinished one. The online
learner saves its whole state and the bits so far in ``online/state.npz``
every ``online.checkpoint_minibatches`` minibatches or
``online.checkpoint_seconds`` seconds (:mod:`tfmdl.codes.prequential.
checkpoint`); a rerun goes on from there, to the same bits. Blocks of the
block learner are independent given the data, so a run can be split into
shards, ``run(..., blocks="3:7")``, run by several processes at once into
the same workdir; :func:`merge` then assembles results.json, identical to
one run's. Under a multi-worker strategy only the chief writes. See
docs/cluster.md.
"""

import os
import time
from typing import Optional

from absl import logging
import ml_collections
import numpy as np

from tfmdl import ledger
from tfmdl import progress as progress_lib
from tfmdl import summaries
from tfmdl import training
from tfmdl.bits import units
from tfmdl.codes import prequential
from tfmdl.codes import registry
from tfmdl.codes import shortest
from tfmdl.codes.prequential import code as prequential_code
from tfmdl.codes.prequential.online import defaults as online_defaults
from tfmdl.codes.prequential.checkpoint import Checkpoint
from tfmdl.experiments import common
from tfmdl.experiments import config as config_lib
from tfmdl.experiments.workdir import FINAL
from tfmdl.experiments.workdir import ONLINE_CHECKPOINT
from tfmdl.experiments.workdir import Workdir
from tfmdl.training.strategy import is_chief

CODE = "prequential"
LEARNERS = ("block", "online", "switch", "shortest")
# The code of each learner, and the config sections of this experiment: all
# the learners' codes'.
CODES = {"block": "prequential", "online": "online", "switch": "online_switch",
         "shortest": "shortest"}
SECTIONS = {name: cls for code in CODES.values()
            for name, cls in registry.get(code).section_classes().items()}
# The members of an online switch in config.model.
MEMBER_SEPARATOR = "+"


def default_config(dataset: str, model: str,
                   learner: str = "block") -> ml_collections.ConfigDict:
  """The config of ``model`` (a :data:`~tfmdl.experiments.config.
  PAPER_MODELS` alias or a zoo name) on ``dataset`` with ``learner``: the
  paper's for the block learner, the model's online settings for the
  online learner (:func:`with_learner`)."""
  config = config_lib.paper_config(dataset, model, SECTIONS)
  config.learner = "block"
  return with_learner(config, learner)


def with_learner(config: ml_collections.ConfigDict,
                 learner: str) -> ml_collections.ConfigDict:
  """``config`` set to run ``learner``; returns it.

  Switching a config to the online learner (or the shortest code, whose
  online member it is) gives its zoo model the online settings written for
  it (:func:`tfmdl.codes.prequential.online.defaults.for_model`: its model
  options, e.g. no dropout, and the whole ``online`` section), so that
  ``bin/prequential --model=mlp --learner=online`` is the short code. A
  config already on ``learner`` is left as it is (a recipe keeps its
  settings); so is a switch to the block learner (the paper's settings are
  the config's own). The online switch (``"switch"``) takes its learners
  from ``config.model`` (:func:`switch_members`), each with its own
  settings.

  Raises:
    ValueError: for an unknown learner.
  """
  if learner not in LEARNERS:
    raise ValueError(f"unknown learner {learner!r}; known: "
                     f"{', '.join(LEARNERS)}")
  if learner in ("online", "shortest") and config.learner not in (
      "online", "shortest"):
    defaults = online_defaults.for_model(config.model)
    if learner == "online":
      config.model_options = _with_options(config.model_options,
                                           defaults.model_options)
    config.online = config_lib.section_of(defaults.online)
  config.learner = learner
  return config


def _with_options(options: ml_collections.ConfigDict,
                  changes) -> ml_collections.ConfigDict:
  """``options`` with ``changes`` replacing or adding options (a config's
  options are locked to the paper's names; an online learner may add one,
  e.g. the MLP's ``activation``)."""
  return ml_collections.ConfigDict({**options.to_dict(), **dict(changes)})


def shortest_members(config: ml_collections.ConfigDict) -> tuple:
  """The configs of the shortest code's two learner runs: the block
  learner's (the config's own settings) and the online learner's (the
  ``online`` section, the model's online options)."""
  block = config.copy_and_resolve_references()
  block.learner = "block"
  online = config.copy_and_resolve_references()
  online.model_options = _with_options(
      online.model_options,
      online_defaults.for_model(config.model).model_options)
  online.learner = "online"
  return block, online


def switch_members(config: ml_collections.ConfigDict) -> tuple:
  """The online switch's learners: ``(name, ModelDefaults)`` for each name
  in ``config.model`` (``mlp+tinycnn``)."""
  return tuple((name, online_defaults.for_model(name))
               for name in config.model.split(MEMBER_SEPARATOR))


def model_fns(config: ml_collections.ConfigDict, dataset):
  """The learner's model: ``common.model_fn``; for the online switch a
  tuple, one per member, named as in ``config.model``.

  Raises:
    ValueError: an unknown model or option.
  """
  if config.learner != "switch":
    return common.model_fn(
        config, dataset,
        copies=prequential_code.weight_copies(learner_config(config)))
  return tuple(common.zoo_model_fn(
      member.model, member.model_options, dataset, name=name,
      copies=prequential_code.weight_copies(member.online))
               for name, member in switch_members(config))


def learner_config(config: ml_collections.ConfigDict):
  """The learner's config: :class:`~tfmdl.codes.prequential.BlockConfig`
  or :class:`~tfmdl.codes.prequential.OnlineConfig`.

  Raises:
    ValueError: for an unknown ``config.learner``.
  """
  if config.learner not in LEARNERS:
    raise ValueError(f"unknown learner {config.learner!r}; known: "
                     f"{', '.join(LEARNERS)}")
  if config.learner == "shortest":
    raise ValueError("the shortest code runs two learners: "
                     "shortest_members(config)")
  if config.learner == "switch":
    return prequential.OnlineSwitch(
        tuple(member.online for _, member in switch_members(config)),
        config_lib.instance(SECTIONS["switch"], config, "switch"))
  return config_lib.instance(SECTIONS[config.learner], config,
                             config.learner)


def parse_blocks(spec: str, num_blocks: int) -> tuple:
  """The shard that ``--blocks=spec`` names: ``(block indices, final)``.

  ``start:stop[:step]`` is Python's slice of ``range(num_blocks)``: ``3:7``
  is blocks 3, 4, 5, 6; ``:4`` blocks 0..3; ``10:`` block 10 to the last;
  ``-1:`` the last block. A single integer ``k`` is block ``k`` alone.
  ``final`` is the test accuracy's model. Block 0 is the uniform block (no
  training).

  Raises:
    ValueError: for a malformed spec or one that selects no block.
  """
  spec = spec.strip()
  if spec == FINAL:
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


def _open_writer(workdir: Optional[Workdir],
                 config: ml_collections.ConfigDict) -> summaries.SummaryWriter:
  """The workdir's TensorBoard writer, the settings the learner uses
  recorded; a no-op writer when ``workdir`` is None (shards, non-chief
  workers)."""
  writer = summaries.SummaryWriter(
      None if workdir is None else workdir.tensorboard_dir)
  sections = {"block": ("prequential", "block", "train"),
              "online": ("prequential", "online"),
              "switch": ("prequential", "switch")}[config.learner]
  writer.hparams(common.hparams(config, sections,
                                code=CODES[config.learner],
                                learner=config.learner))
  return writer


def _write_shares(writer: summaries.SummaryWriter, strategies: dict,
                  timesteps: tuple) -> None:
  """The online switch's share of each block per learner, step = the
  block's end: which learner the mixture follows where."""
  for index, end in enumerate(timesteps):
    writer.scalars({f"online_switch/share_{name}": shares[index]
                    for name, shares in strategies["block_shares"].items()},
                   step=end)


def _result(blocks, final: Optional[dict], dataset, timesteps: tuple,
            config: ml_collections.ConfigDict, model_fn,
            strategies: Optional[dict] = None
            ) -> prequential.PrequentialResult:
  """The result of a complete set of blocks, however they were computed,
  with its setting's bits paid and recorded in the run ledger (and the
  online switch's ``strategies``).

  Its ``wall_s`` is the sum of the blocks' own wall times, so that one run,
  a resumed run and a merged sharded run report the same compute time.
  """
  pconfig = config_lib.instance(prequential.PrequentialConfig, config,
                                "prequential")
  final = final or {}
  result = prequential.assemble(
      blocks, len(dataset.y_train), dataset.num_classes, timesteps,
      learner=config.learner, test_accuracy=final.get("test_accuracy"),
      test_accuracy_model=final.get("model"),
      wall_s=float(sum(b.wall_s for b in blocks)),
      final_model_wall_s=final.get("wall_s", 0.0),
      data_fingerprint=dataset.fingerprint(), strategies=strategies)
  return prequential.settle(result, dataset.y_train, pconfig,
                            learner_config(config), model_fn,
                            source="bin/prequential", split="train")


def run(config: ml_collections.ConfigDict, workdir: str,
        blocks: Optional[str] = None):
  """Run (or resume) the prequential experiment of ``config`` in ``workdir``.

  Args:
    config: the experiment (:func:`default_config`'s fields).
    workdir: its folder; rerunning into it resumes.
    blocks: None for the whole code. Or a shard of a block-learner run
      (:func:`parse_blocks`): only those blocks (or the test accuracy) are
      computed and saved; no results.json and no TensorBoard events are
      written, :func:`merge` does that once every shard is done.

  Returns:
    The :class:`tfmdl.codes.prequential.PrequentialResult`
    (``results.json`` holds its numbers), or None for a shard; the
    :class:`tfmdl.codes.shortest.ShortestResult` for ``"shortest"``.
  """
  if config.learner == "shortest":
    if blocks is not None:
      raise ValueError("--blocks shards the block learner only, not the "
                       "shortest code")
    return run_shortest(config, workdir)
  began = time.perf_counter()
  learner = learner_config(config)
  pconfig = config_lib.instance(prequential.PrequentialConfig, config,
                                "prequential")
  if blocks is not None and config.learner != "block":
    raise ValueError(f"--blocks shards the block learner only, not the "
                     f"{config.learner} learner")
  # First: a multi-worker strategy must exist before TensorFlow runs anything.
  strategy = training.get_strategy(config.strategy)
  chief = is_chief(strategy)
  training.make_deterministic(config.seed, config.deterministic)
  dataset = common.load_dataset(config)
  data = dataset.train
  # A bad schedule, shard or model is refused before the workdir is touched.
  timesteps = prequential.timesteps_for(data.n, pconfig.timesteps,
                                        pconfig.first_block)
  indices, final = (
      (tuple(range(len(timesteps))), True) if blocks is None
      else parse_blocks(blocks, len(timesteps)))
  model_fn = model_fns(config, dataset)
  wd = Workdir(workdir, config, data.fingerprint, writable=chief)
  done = wd.load_blocks() if config.learner == "block" else []
  if done:
    logging.info("resuming: %d block(s) already in %s", len(done), workdir)
  done_indices = {b.index for b in done}
  todo = [i for i in indices if i not in done_indices]
  last = len(timesteps) - 1
  final = final or (not learner_needs_final_shard(learner) and last in todo)
  final = final and wd.load_final() is None and dataset.x_test is not None
  writer = _open_writer(wd if chief and blocks is None else None, config)
  on_block = _BlockSummaries(writer, dataset.num_classes)
  for block in done:
    on_block(block)

  def block_finished(block):
    if chief:
      wd.save_block(block)
    on_block(block)

  total = prequential_code.work(learner, timesteps, todo, data.n)
  with progress_lib.Progress(f"{CODE} ({config.learner})",
                             total=total) as progress:
    model = prequential.make_learner(model_fn, data, pconfig, learner,
                                     strategy=strategy, progress=progress)
    # The online switch's mixture is not saved: only the online learner
    # resumes mid-run.
    checkpoint = (None if config.learner != "online" else Checkpoint(
        wd.file(ONLINE_CHECKPOINT),
        every_units=learner.checkpoint_minibatches,
        every_seconds=learner.checkpoint_seconds, writable=chief))
    new = prequential.encode_blocks(
        model, data, pconfig,
        indices=todo if config.learner == "block" else None,
        on_block=block_finished, progress=progress, checkpoint=checkpoint)
    if final:
      accuracy, which, wall_s = model.test_accuracy(
          dataset.x_test, dataset.y_test, data.y)
      progress.note(f"test accuracy {accuracy:.4f} of {which}, "
                    f"{wall_s:.1f}s")
      if chief:
        wd.save_final({"test_accuracy": accuracy, "model": which,
                       "wall_s": wall_s})
    strategies = (None if config.learner != "switch" else
                  prequential_code.strategies_summary(
                      model.names, model.strategy_record(data.y), timesteps,
                      dataset.num_classes, pconfig.uniform_fallback))
  if blocks is not None:
    missing = _missing(wd.load_blocks(), wd.load_final(), timesteps)
    logging.info("shard %s done; %s", blocks,
                 f"still missing: {', '.join(missing)}" if missing else
                 "all blocks present: merge them with --merge")
    return None
  result = _result(done + list(new), wd.load_final(), dataset, timesteps,
                   config, model_fn, strategies)
  if strategies is not None:
    _write_shares(writer, strategies, timesteps)
  if chief:
    wd.write_results(result_record(result, config, dataset,
                                   time.perf_counter() - began))
  writer.flush()
  return result


def run_shortest(config: ml_collections.ConfigDict,
                 workdir: str) -> shortest.ShortestResult:
  """The shortest code of ``config``'s model: its two learners' runs
  (:func:`shortest_members`, each resumable, each in the run ledger) in
  ``<workdir>/block`` and ``<workdir>/online``, then their combination
  (:func:`tfmdl.codes.shortest.combine`), its setting paid from the
  ledger, in ``<workdir>/results.json``."""
  began = time.perf_counter()
  block, online = shortest_members(config)
  runs = [run(member, os.path.join(workdir, member.learner))
          for member in (block, online)]
  dataset = common.load_dataset(config)
  wd = Workdir(workdir, config, dataset.train.fingerprint)
  result = shortest.combine(*runs)
  result = ledger.settle(
      result, labels=ledger.labels_fingerprint(dataset.y_train),
      code="shortest", model=config.model,
      settings={"block": config_lib.ledger_setting(block, "prequential"),
                "online": config_lib.ledger_setting(online, "online")},
      source="bin/prequential", split="train",
      pays=config.prequential.setting_bits)
  wd.write_results(common.result_record(
      "shortest", config, dataset, result.to_json(),
      wall_s=time.perf_counter() - began))
  return result


def learner_needs_final_shard(learner) -> bool:
  """Whether the test accuracy needs a training of its own (the block
  learner's model on all n); else the shard of the last block gives it."""
  return isinstance(learner, prequential.BlockConfig) and learner.final_model


def _missing(blocks, final: Optional[dict], timesteps) -> list:
  """Names of the shards still to run: block indices, and ``final``."""
  missing = [str(i) for i in prequential.missing_blocks(blocks, timesteps)]
  if final is None:
    missing.append(FINAL)
  return missing


def merge(workdir: str) -> prequential.PrequentialResult:
  """Assemble ``results.json`` from the block files of a sharded run.

  Everything comes from ``workdir``: the config from ``config.json``, the
  blocks and the test accuracy from ``blocks/``. The data are loaded again,
  to check their fingerprint and record their source. Nothing is trained;
  the TensorBoard panels are written from the blocks, in transmission order.

  Returns:
    The :class:`tfmdl.codes.prequential.PrequentialResult`, the same as one
    run's.

  Raises:
    ValueError: if ``workdir`` holds no run, or a block or the test accuracy
      is missing (all missing ones are listed).
  """
  began = time.perf_counter()
  identity = Workdir.read_identity(workdir)
  if identity is None:
    raise ValueError(f"nothing to merge: {workdir} holds no config.json")
  config = ml_collections.ConfigDict(identity["config"])
  if config.learner != "block":
    raise ValueError(f"nothing to merge: {workdir} holds a run of the "
                     f"{config.learner} learner, which is not sharded")
  dataset = common.load_dataset(config)
  wd = Workdir(workdir, config, dataset.fingerprint())
  pconfig = config_lib.instance(prequential.PrequentialConfig, config,
                                "prequential")
  timesteps = prequential.timesteps_for(len(dataset.y_train),
                                        pconfig.timesteps, pconfig.first_block)
  blocks, final = wd.load_blocks(), wd.load_final()
  missing = _missing(blocks, final, timesteps)
  if missing:
    raise ValueError(
        f"cannot merge {workdir}: missing {', '.join(missing)} (of blocks "
        f"0..{len(timesteps) - 1} and final); run them with --blocks")
  result = _result(blocks, final, dataset, timesteps, config,
                   common.model_fn(config, dataset))
  writer = _open_writer(wd, config)
  on_block = _BlockSummaries(writer, dataset.num_classes)
  for block in result.blocks:
    on_block(block)
  wd.write_results(result_record(result, config, dataset,
                                 time.perf_counter() - began))
  writer.flush()
  return result


def result_record(result: prequential.PrequentialResult,
                  config: ml_collections.ConfigDict, dataset,
                  wall_s: float) -> dict:
  """The results.json of a prequential run."""
  return common.result_record(CODES[config.learner], config, dataset,
                              result.to_json(), wall_s=wall_s)
