"""The prequential code of labelled data: a learner run through the protocol.

:func:`prequential_code` is Alice's codelength with any learner: the
block learner (:class:`BlockConfig`, the paper), the online learner
(:class:`OnlineConfig`) or the online switch (:class:`OnlineSwitch`: online
learners of several models, each label coded with a switching mixture over
them; ``model_fn`` is then a sequence, one per member). All run
:func:`~tfmdl.codes.prequential.protocol.run` with a :class:`~tfmdl.codes.prequential.coders.BitCounter`, so their
bits are summed and mixed with the uniform code in the same blocks, and
their results are alike. The label file (:mod:`~tfmdl.codes.prequential.
label_file`) runs the same protocol with a range coder.

Example::

    from tfmdl import data, models
    from tfmdl.codes import prequential
    ds = data.load("digits")
    result = prequential.prequential_code(
        lambda seed: models.build("mlp", ds.input_shape, ds.num_classes,
                                  seed=seed),
        ds.x_train, ds.y_train, ds.num_classes)
    print(result.codelength_bits, result.compression_ratio)
"""

import contextlib
import time
from typing import Callable, Optional, Sequence, Union

import numpy as np
import tensorflow as tf

from tfmdl import ledger
from tfmdl import progress as progress_lib
from tfmdl.bits import mixtures
from tfmdl.bits import units
from tfmdl.codes.prequential import protocol
from tfmdl.codes.prequential.block import BlockLearner
from tfmdl.codes.prequential.checkpoint import Checkpoint
from tfmdl.codes.prequential.coders import BitCounter
from tfmdl.codes.prequential.coders import no_training
from tfmdl.codes.prequential.config import BlockConfig
from tfmdl.codes.prequential.config import PrequentialConfig
from tfmdl.codes.prequential.online.config import OnlineConfig
from tfmdl.codes.prequential.online.config import OnlineSwitch
from tfmdl.codes.prequential.online.ensemble import member_seeds
from tfmdl.codes.prequential.online.ensemble import OnlineEnsemble
from tfmdl.codes.prequential.online.learner import OnlineLearner
from tfmdl.codes.prequential.results import BlockResult
from tfmdl.codes.prequential.results import PrequentialResult
from tfmdl.codes.prequential import schedule
from tfmdl.data import labelled
from tfmdl.models import adapter

LearnerConfig = Union[BlockConfig, OnlineConfig, OnlineSwitch]


def learner_name(learner: LearnerConfig) -> str:
  """``"block"``, ``"online"`` or ``"switch"``."""
  if isinstance(learner, OnlineSwitch):
    return "switch"
  return "online" if isinstance(learner, OnlineConfig) else "block"


def code_name(learner: LearnerConfig) -> str:
  """The registry's name of the code with this learner: ``"prequential"``,
  ``"online"`` or ``"online_switch"``."""
  return {"block": "prequential", "online": "online",
          "switch": "online_switch"}[learner_name(learner)]


def model_fns(model_fn, learner: LearnerConfig, num_classes: Optional[int],
              example) -> object:
  """``model_fn`` as :func:`tfmdl.models.adapter.as_model_fn` makes it;
  for the online switch a tuple of them, one per member.

  Raises:
    ValueError: a model that cannot be measured, or not one model per
      member of an online switch.
  """
  if not isinstance(learner, OnlineSwitch):
    return adapter.as_model_fn(model_fn, num_classes, example=example)
  if (not isinstance(model_fn, (list, tuple)) or
      len(model_fn) != len(learner.members)):
    given = len(model_fn) if isinstance(model_fn, (list, tuple)) else 1
    raise ValueError(f"the online switch takes one model per member: "
                     f"{len(learner.members)} members, {given} model(s)")
  return tuple(adapter.as_model_fn(m, num_classes, example=example)
               for m in model_fn)


def strategy_names(fns: Sequence[adapter.ModelFn]) -> tuple:
  """The online switch's strategies by their models' names, numbered where
  two share one."""
  names = [fn.name for fn in fns]
  return tuple(name if names.count(name) == 1 else f"{name}_{i}"
               for i, name in enumerate(names))


def _ledger_model(fns) -> tuple:
  """``(name, description)`` of the model(s), for the run ledger."""
  if isinstance(fns, tuple):
    return "+".join(strategy_names(fns)), [fn.description for fn in fns]
  return fns.name, fns.description


def settle(result: PrequentialResult, labels: np.ndarray,
           config: PrequentialConfig, learner: LearnerConfig,
           model_fn: adapter.ModelFn, *, source: str,
           split: str = "") -> PrequentialResult:
  """``result`` with the bits it pays for its setting, recorded in the run
  ledger (:mod:`tfmdl.ledger`): ``config.setting_bits``, or when None log2
  of the distinct settings run on ``labels`` with this code and model."""
  name, description = _ledger_model(model_fn)
  if isinstance(learner, OnlineSwitch):
    learner_setting = {
        "members": [ledger.changing_fields(m) for m in learner.members],
        "switch": ledger.changing_fields(learner.switch)}
  else:
    learner_setting = ledger.changing_fields(learner)
  return ledger.settle(
      result, labels=ledger.labels_fingerprint(labels),
      code=code_name(learner), model=name,
      settings={"model": description,
                "prequential": ledger.changing_fields(config),
                learner_name(learner): learner_setting},
      source=source, split=split, pays=config.setting_bits)


def make_learner(model_fn, data: labelled.LabelledData,
                 config: PrequentialConfig, learner: LearnerConfig, *,
                 strategy: Optional[tf.distribute.Strategy] = None,
                 shuffle_buffer: Optional[int] = None,
                 progress=None) -> protocol.Learner:
  """The protocol's learner of ``learner``'s kind on ``data``.

  ``model_fn`` is a ``model_fn(seed)`` or a built model
  (:func:`tfmdl.models.adapter.as_model_fn`: its head is read and checked
  here, on a few of the inputs); a sequence of them, one per member, for
  the online switch.

  Raises:
    ValueError: a model that cannot be measured, a ``shuffle_buffer`` for
      arrays or for the online learner, or an online learner that cannot
      read a stream as configured.
  """
  fns = model_fns(model_fn, learner, data.num_classes,
                  data.inputs(0, min(data.n, 8)))
  if shuffle_buffer is not None and not (
      data.is_stream and isinstance(learner, BlockConfig)):
    raise ValueError("shuffle_buffer bounds the memory of the block learner "
                     "on a tf.data stream only")
  if isinstance(learner, OnlineSwitch):
    fns = tuple(fn.with_layout(data.layout) for fn in fns)
    members = learner.members
  elif isinstance(learner, OnlineConfig):
    fns, members = (fns.with_layout(data.layout),), (learner,)
  else:
    return BlockLearner(fns.with_layout(data.layout), data, config, learner,
                        strategy, shuffle_buffer=shuffle_buffer,
                        progress=progress)
  strategies = [[OnlineLearner(fn, data, data.num_classes, member, strategy,
                               seed=s)
                 for s in member_seeds(config.seed, member.ensemble)]
                for fn, member in zip(fns, members)]
  return OnlineEnsemble(
      strategies, mixture=(learner.switch.code()
                           if isinstance(learner, OnlineSwitch) else None),
      names=strategy_names(fns),
      average=isinstance(learner, OnlineSwitch) and learner.switch.average,
      steps_per_call=members[0].steps_per_call,
      eval_batch_size=members[0].eval_batch_size)


def work(learner: LearnerConfig, timesteps: Sequence[int],
         blocks: Sequence[int], n: int) -> float:
  """The weight of computing ``blocks`` (a progress report's total): the
  block learner trains block k on its prefix (about what an epoch costs),
  the online learner steps through every example once."""
  if isinstance(learner, (OnlineConfig, OnlineSwitch)):
    return float(n)
  bounds = schedule.block_bounds(timesteps)
  return float(sum(bounds[i][0] for i in blocks))


def weight_copies(learner: LearnerConfig) -> int:
  """Copies of the model's weights that ``learner`` holds at once (what a
  run needs at least, :func:`tfmdl.models.memory.weights_within`): the
  model, its gradients and Adam's two moments, and the block learner's best
  epoch or each online member's EMA twin, times the ensemble's members."""
  if isinstance(learner, OnlineConfig):
    return (4 + (learner.ema_decay > 0)) * learner.ensemble
  return 5


def encode_blocks(learner: protocol.Learner, data: labelled.LabelledData,
                  config: PrequentialConfig, *,
                  indices: Optional[Sequence[int]] = None,
                  on_block: Optional[Callable[[BlockResult], None]] = None,
                  progress=None,
                  checkpoint: Optional[Checkpoint] = None) -> tuple:
  """Alice's blocks of the schedule from ``learner``'s predictions.

  Args:
    learner: from :func:`make_learner`.
    data: the labelled data (its labels are coded).
    config: the protocol's constants.
    indices: the block learner's blocks to compute (each is independent of
      the others: shards, resumed runs); None for every unit.
    on_block: called with each block as soon as it is finished (also with
      the blocks a checkpoint restored finished).
    progress: a :class:`tfmdl.progress.Progress` advanced by each unit's
      work, with a note per block; None for none.
    checkpoint: the online learner's: restored first (the run goes on from
      its unit), saved as it falls due.

  Returns:
    The finished :class:`BlockResult` s, by index.
  """
  timesteps = schedule.timesteps_for(data.n, config.timesteps,
                                     config.first_block)
  progress = progress or progress_lib.NoProgress()
  last = len(timesteps) - 1
  coded = []

  def finished(block: BlockResult) -> None:
    coded.append(block.bits)
    progress.note(
        f"block {block.index}/{last} [{block.start}, {block.end}): "
        f"{block.bits:.1f} bits, {block.bits_per_sample:.3f} bits/sample, "
        f"accuracy {block.accuracy:.3f}" +
        (f", {block.epochs_trained} epochs" if block.epochs_trained else "") +
        f", {block.wall_s:.1f}s")
    progress.status(bits=f"{units.bits_to_kbits(sum(coded)):.3f} kbits")
    if on_block is not None:
      on_block(block)

  counter = BitCounter(
      timesteps, data.num_classes, uniform_fallback=config.uniform_fallback,
      block_info=getattr(learner, "block_info", no_training),
      on_block=finished)
  if checkpoint is not None:
    first = checkpoint.restore(learner, counter)
    if first:
      progress.note(f"resumed from {checkpoint.path} at unit {first} of "
                    f"{len(learner.units)}")
      progress.advance(float(learner.units[first - 1][1]))
    for block in counter.blocks():
      finished(block)
    indices = range(first, len(learner.units))

  def on_unit(prediction):
    progress.advance(prediction.weight)
    if checkpoint is not None:
      checkpoint.after_unit(learner, counter, prediction)

  protocol.run(learner, [counter], data.y, units=indices, on_unit=on_unit)
  return counter.blocks()


def assemble(blocks: Sequence[BlockResult], n: int, num_classes: int,
             timesteps: Sequence[int], **fields) -> PrequentialResult:
  """The :class:`PrequentialResult` of a complete set of blocks (from one
  process or several); ``fields`` are the result's other fields.

  Raises:
    ValueError: if a block is missing (all missing ones are listed) or does
      not fit the schedule.
  """
  timesteps = tuple(timesteps)
  missing = missing_blocks(blocks, timesteps)
  if missing:
    raise ValueError(f"cannot assemble the code: block(s) {missing} of "
                     f"0..{len(timesteps) - 1} are missing")
  by_index = {b.index: b for b in blocks}
  return PrequentialResult(
      n=n, num_classes=num_classes, timesteps=timesteps,
      blocks=tuple(by_index[i] for i in range(len(timesteps))), **fields)


def missing_blocks(blocks: Sequence[BlockResult], timesteps: Sequence[int]
                   ) -> list:
  """Indices of the schedule's blocks absent from ``blocks``.

  Raises:
    ValueError: if a block covers other samples than the schedule says
      (blocks of another schedule).
  """
  bounds = schedule.block_bounds(timesteps)
  for block in blocks:
    if (block.index >= len(bounds) or
        (block.start, block.end) != bounds[block.index]):
      expected = (f"[{bounds[block.index][0]}, {bounds[block.index][1]})"
                  if block.index < len(bounds) else "no such block")
      raise ValueError(f"saved block {block.index} covers [{block.start}, "
                       f"{block.end}), the schedule says {expected}")
  present = {b.index for b in blocks}
  return [i for i in range(len(bounds)) if i not in present]


def strategies_summary(names: Sequence[str], record: dict,
                       timesteps: Sequence[int], num_classes: int,
                       uniform_fallback: bool) -> dict:
  """What the online switch's result says about its strategies.

  Args:
    names: the strategies' names.
    record: :meth:`OnlineEnsemble.strategy_record`: each label's bits under
      each strategy and the mixture's weights when it was coded.
    timesteps, num_classes, uniform_fallback: the protocol's.

  Returns:
    ``{"names": [...], "codelength_bits": {name: the strategy's code alone,
    mixed with the uniform code in each block as the switch is},
    "block_shares": {name: [mean weight of the strategy over each block's
    labels]}}``: the share of the stream the mixture gave each learner.
  """
  bounds = schedule.block_bounds(timesteps)
  own = {}
  for name, bits in zip(names, record["bits"]):
    own[name] = float(sum(
        (mixtures.block_uniform_fallback_bits(bits[start:end], k,
                                              num_classes)
         if uniform_fallback else bits[start:end]).sum()
        for k, (start, end) in enumerate(bounds)))
  return {"names": list(names), "codelength_bits": own,
          "block_shares": {name: [float(w[start:end].mean())
                                  for start, end in bounds]
                           for name, w in zip(names, record["weights"])}}


def prequential_code(
    model_fn,
    x,
    y: Optional[np.ndarray] = None,
    num_classes: Optional[int] = None,
    *,
    config: PrequentialConfig = PrequentialConfig(),
    learner: LearnerConfig = BlockConfig(),
    x_test: Optional[np.ndarray] = None,
    y_test: Optional[np.ndarray] = None,
    strategy: Optional[tf.distribute.Strategy] = None,
    shuffle_buffer: Optional[int] = None,
    on_block: Optional[Callable[[BlockResult], None]] = None,
    progress=None,
    source: str = "tfmdl.codes.prequential",
    split: str = "",
) -> PrequentialResult:
  """Prequential codelength of labels ``y`` given inputs ``x``, in bits.

  Args:
    model_fn: ``model_fn(seed)`` returning a fresh ``tf_keras`` or Keras 3
      model (called under the strategy's scope: once per block, once per
      ensemble member, twice with an EMA); or a built model, cloned
      (:mod:`tfmdl.models.adapter`); a softmax or sigmoid head is measured
      through its logits. A sequence of them, one per member, for the
      online switch.
    x, y, num_classes: inputs and integer labels in the agreed transmission
      order, and K; or ``x`` a :class:`tfmdl.data.LabelledData` (arrays or a
      ``tf.data`` stream) and ``y``, ``num_classes`` None.
    config: the protocol's constants (blocks, uniform fallback, seed).
    learner: :class:`BlockConfig` (a model per block),
      :class:`OnlineConfig` (one model trained as the labels arrive) or
      :class:`OnlineSwitch` (online learners of several models, mixed).
    x_test, y_test: test data for the final model's accuracy (optional).
    strategy: a ``tf.distribute`` strategy; the default one when None.
    shuffle_buffer: the block learner on a stream: examples held in memory
      to shuffle a prefix; None for all of them.
    on_block: called with each block as soon as it is finished.
    progress: a :class:`tfmdl.progress.Progress` (None: a bar on stderr).
    source, split: what ran the code and which labels ``y`` are, for the
      run ledger (:func:`settle`).

  Returns:
    A :class:`PrequentialResult`, its setting's bits paid (:func:`settle`);
    for the online switch its ``strategies`` say what each member alone
    would have cost and where the mixture followed it
    (:func:`strategies_summary`).

  Raises:
    ValueError: on bad data, model or config, before any training.
  """
  began = time.perf_counter()
  data = (x if isinstance(x, labelled.LabelledData)
          else labelled.labelled(x, y, num_classes))
  model_fn = model_fns(model_fn, learner, data.num_classes,
                       data.inputs(0, min(data.n, 8)))
  timesteps = schedule.timesteps_for(data.n, config.timesteps,
                                     config.first_block)
  final = x_test is not None and y_test is not None
  own_progress = progress is None
  if own_progress:
    progress = progress_lib.Progress(
        f"prequential ({learner_name(learner)})",
        total=work(learner, timesteps, range(len(timesteps)), data.n))
  learner_ = make_learner(model_fn, data, config, learner, strategy=strategy,
                          shuffle_buffer=shuffle_buffer, progress=progress)
  with progress if own_progress else contextlib.nullcontext():
    blocks = encode_blocks(learner_, data, config, on_block=on_block,
                           progress=progress)
    wall_s = time.perf_counter() - began
    accuracy, which, test_wall_s = ((None, None, 0.0) if not final else
                                    learner_.test_accuracy(x_test, y_test,
                                                           data.y))
  record = (learner_.strategy_record(data.y)
            if isinstance(learner, OnlineSwitch) else None)
  result = assemble(blocks, data.n, data.num_classes, timesteps,
                    strategies=None if record is None else strategies_summary(
                        learner_.names, record, timesteps, data.num_classes,
                        config.uniform_fallback),
                    learner=learner_name(learner), test_accuracy=accuracy,
                    test_accuracy_model=which, wall_s=wall_s,
                    final_model_wall_s=test_wall_s,
                    data_fingerprint=data.fingerprint)
  return settle(result, data.y, config, learner, model_fn, source=source,
                split=split)
