"""The prequential (online) code: paper section 3.4, Algorithm 2, Definition 3.

Alice and Bob agree on timesteps ``t_1 < t_2 < ... < t_S = n``, a model-building
function, a training procedure and a seed. The first ``t_1`` labels are sent
with the uniform code. For every next block ``[t_k, t_{k+1})`` both train a
fresh model, seeded with the block's seed, on the prefix ``[0, t_k)`` only --
early-stopped on a validation split carved out of that prefix -- and Alice
encodes the block's labels with that model: ``sum -log2 p(y | x)`` bits. Bob
decodes them with the same model, since everything it depends on (prefix,
seeds, hyperparameters) he already has. No weight is ever transmitted.

The block being encoded never influences its own model: it is not trained on,
not validated on, and the per-epoch log-probabilities recorded on it (for the
self-switch code) are read after each epoch without feeding back.

Blocks are independent given the data: each reseeds every generator from its
own seed. :func:`encode_blocks` computes any of them, in any process, and
:func:`assemble` puts a complete set together, which is how a run resumes
after a crash or is split into shards over a cluster.

Example::

    from tfmdl import data, models, prequential
    ds = data.load("digits")
    result = prequential.prequential_code(
        lambda seed: models.build("mlp", ds.input_shape, ds.num_classes,
                                  seed=seed),
        ds.x_train, ds.y_train, ds.num_classes)
    print(result.codelength_bits, result.compression_ratio)
"""

import dataclasses
import math
import time
from typing import Callable, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfmdl import training
from tfmdl.models import adapter
from tfmdl.bits import mixtures
from tfmdl.bits import units
from tfmdl.bits.uniform import ComparedToUniform
from tfmdl.data import validate_labelled_arrays
from tfmdl.progress import Progress

ModelFn = Callable[[int], object]


def default_timesteps(n: int, first: int = 10) -> tuple:
  """The paper's schedule: ``first, 2*first, 4*first, ...`` below n, then n.

  >>> default_timesteps(100)
  (10, 20, 40, 80, 100)
  """
  if n < 1:
    raise ValueError(f"need at least one sample, got n={n}")
  if first < 1:
    raise ValueError(f"the first block needs at least one sample, got {first}")
  steps = []
  t = first
  while t < n:
    steps.append(t)
    t *= 2
  steps.append(n)
  return tuple(steps)


def fraction_timesteps(fractions: Sequence[float], n: int) -> tuple:
  """Timesteps given as fractions of n: ``max(1, round(f * n))`` each.

  Voita & Titov (2020) give the blocks of their online code as shares of the
  data (0.1%, 0.2%, 0.4%, ..., 50%, 100%), so one schedule serves data sets
  of every size. Fractions that round to the same count are merged (a small
  n has fewer blocks); Bob, knowing n, computes the same timesteps.

  >>> fraction_timesteps((0.001, 0.002, 0.004, 0.5, 1.0), 1000)
  (1, 2, 4, 500, 1000)

  Raises:
    ValueError: unless the fractions are strictly increasing in (0, 1] and
      end with 1.
  """
  fractions = tuple(float(f) for f in fractions)
  if not fractions or fractions[-1] != 1.0:
    raise ValueError(f"fractions of n must end with 1.0 (all labels sent), "
                     f"got {list(fractions)}")
  if fractions[0] <= 0 or any(b <= a for a, b in zip(fractions,
                                                      fractions[1:])):
    raise ValueError(f"fractions of n must be strictly increasing in (0, 1], "
                     f"got {list(fractions)}")
  return tuple(sorted({max(1, round(f * n)) for f in fractions}))


def _are_fractions(timesteps: Sequence) -> bool:
  """Whether a schedule is given as fractions of n: floats in [0, 1]."""
  return (bool(timesteps) and
          all(isinstance(t, (float, np.floating)) and 0 <= t <= 1
              for t in timesteps))


def check_timesteps(timesteps: Sequence, n: int) -> tuple:
  """Validate a custom schedule: strictly increasing integers in [1, n].

  The last timestep must be ``n`` (every label is sent); a schedule ending
  early is refused rather than silently extended. A schedule of floats in
  [0, 1] gives fractions of n instead (:func:`fraction_timesteps`).
  """
  if _are_fractions(timesteps):
    return fraction_timesteps(timesteps, n)
  steps = tuple(int(t) for t in timesteps)
  if any(t != s for t, s in zip(timesteps, steps)):
    raise ValueError(f"timesteps must be integers, got {list(timesteps)}")
  if not steps:
    raise ValueError("timesteps must not be empty")
  if steps[0] < 1:
    raise ValueError(f"the first timestep must be >= 1, got {steps[0]}")
  if any(b <= a for a, b in zip(steps, steps[1:])):
    raise ValueError(f"timesteps must be strictly increasing, got {steps}")
  if steps[-1] != n:
    raise ValueError(
        f"the last timestep must be n={n} (all labels sent), got {steps[-1]}")
  return steps


@dataclasses.dataclass(frozen=True)
class PrequentialConfig:
  """What Alice and Bob agree on besides the model.

  Attributes:
    timesteps: block boundaries; None for :func:`default_timesteps`.
    first_block: size of the uniform-coded first block of the default schedule.
    val_fraction: share of each prefix held out for early stopping (the last
      samples of the prefix; at least one when the prefix has two or more).
    seed: base seed; block k trains with seed ``block_seed(seed, k)``.
    train: training hyperparameters.
    record_epoch_bits: record the block's per-sample bits after every epoch
      (needed by the self-switch code; costs one forward pass per epoch).
    final_model: also train a model on all n samples (for test accuracy).
    uniform_fallback: code each block with the Bayes mixture of its model
      and the uniform code, prior ``2**-k`` on uniform in block k
      (:func:`tfmdl.bits.mixtures.block_uniform_fallback_bits`): an early
      block never costs more than k bits above uniform.
  """
  timesteps: Optional[tuple] = None
  first_block: int = 10
  val_fraction: float = 0.1
  seed: int = 0
  train: training.TrainConfig = training.TrainConfig()
  record_epoch_bits: bool = True
  final_model: bool = True
  uniform_fallback: bool = True

  def __post_init__(self):
    if not 0.0 <= self.val_fraction < 1.0:
      raise ValueError(
          f"val_fraction must be in [0, 1), got {self.val_fraction}")


@dataclasses.dataclass(frozen=True)
class BlockResult:
  """One block ``[start, end)`` of the prequential code.

  ``per_sample_bits`` are the bits of each label of the block under the model
  that encoded it; ``epoch_bits[e]`` the same under the model after e epochs
  (row 0: untrained), shape (epochs_trained + 1, end - start), or None.
  """
  index: int
  start: int
  end: int
  bits: float
  accuracy: float
  epochs_trained: int
  best_epoch: int
  train_size: int
  val_size: int
  seed: int
  wall_s: float
  per_sample_bits: np.ndarray
  epoch_bits: Optional[np.ndarray] = None

  @property
  def size(self) -> int:
    return self.end - self.start

  @property
  def bits_per_sample(self) -> float:
    return self.bits / self.size

  def summary(self) -> dict:
    """The JSON-friendly part (arrays are stored separately)."""
    return {
        "index": self.index, "start": self.start, "end": self.end,
        "bits": self.bits, "bits_per_sample": self.bits_per_sample,
        "accuracy": self.accuracy, "epochs_trained": self.epochs_trained,
        "best_epoch": self.best_epoch, "train_size": self.train_size,
        "val_size": self.val_size, "seed": self.seed, "wall_s": self.wall_s,
    }


@dataclasses.dataclass(frozen=True)
class PrequentialResult(ComparedToUniform):
  """The prequential codelength and its per-block breakdown."""
  n: int
  num_classes: int
  timesteps: tuple
  blocks: tuple  # of BlockResult, the uniform first block included
  test_accuracy: Optional[float]
  wall_s: float
  final_model_wall_s: float
  data_fingerprint: Optional[str] = None  # set by tfmdl.description_length

  @property
  def codelength_bits(self) -> float:
    return float(sum(b.bits for b in self.blocks))

  def per_sample_bits(self) -> np.ndarray:
    """Bits of every label in transmission order (sums to the codelength)."""
    return np.concatenate([b.per_sample_bits for b in self.blocks])


def schedule(n: int, config: PrequentialConfig) -> tuple:
  """The agreed timesteps for ``n`` samples: ``config.timesteps``, checked,
  or :func:`default_timesteps` with ``config.first_block``."""
  return (default_timesteps(n, config.first_block)
          if config.timesteps is None else check_timesteps(config.timesteps, n))


def block_bounds(timesteps: Sequence[int]) -> tuple:
  """``((0, t_1), (t_1, t_2), ...)``: block ``k`` covers ``[start, end)``."""
  timesteps = tuple(timesteps)
  return tuple(zip((0,) + timesteps[:-1], timesteps))


def block_seed(seed: int, index: int) -> int:
  """The agreed seed of block ``index`` (a fixed function of the base seed)."""
  return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def split_prefix(prefix_size: int, val_fraction: float) -> int:
  """Number of prefix samples used for training; the rest validate."""
  if prefix_size < 2 or val_fraction == 0.0:
    return prefix_size
  val = max(1, int(round(val_fraction * prefix_size)))
  return prefix_size - val


def uniform_block(index: int, start: int, end: int,
                  num_classes: int) -> BlockResult:
  """A block sent with the uniform code: log2 K bits per label."""
  per_sample = np.full(end - start, math.log2(num_classes))
  return BlockResult(index=index, start=start, end=end,
                     bits=float(per_sample.sum()), accuracy=1.0 / num_classes,
                     epochs_trained=0, best_epoch=0, train_size=0, val_size=0,
                     seed=0, wall_s=0.0, per_sample_bits=per_sample)


@dataclasses.dataclass(frozen=True)
class PrefixModel:
  """A block's model, trained on the prefix only: what Bob can rebuild."""
  model: object
  forward: object  # traced inputs -> log-probabilities (nats)
  train_result: training.TrainResult
  train_size: int
  seed: int


def train_on_prefix(model_fn: ModelFn, x_prefix, y_prefix, index: int,
                    config: PrequentialConfig,
                    strategy: tf.distribute.Strategy,
                    epoch_callback=None) -> PrefixModel:
  """Train block ``index``'s model on the transmitted prefix only.

  The prefix's last ``val_fraction`` validates (early stopping); the rest
  trains. Only prefix labels go in, so nothing of the block being encoded can
  leak into its model: Bob, holding the same prefix, gets the same weights.
  ``epoch_callback(epoch, forward)`` gets the model's traced forward function
  (inputs -> log-probabilities) after each epoch, epoch 0 first.
  """
  seed = block_seed(config.seed, index)
  start = len(y_prefix)
  n_train = split_prefix(start, config.val_fraction)
  training.seed_everything(seed)
  with strategy.scope():
    model = model_fn(seed)
  forward = training.make_forward(model)
  result = training.train(
      model, x_prefix[:n_train], y_prefix[:n_train],
      val_x=x_prefix[n_train:start], val_y=y_prefix[n_train:start],
      config=config.train, seed=seed, strategy=strategy,
      epoch_callback=(None if epoch_callback is None else
                      lambda epoch, _: epoch_callback(epoch, forward)))
  return PrefixModel(model, forward, result, n_train, seed)


def encode_block(model_fn: ModelFn, x, y, index: int, start: int, end: int,
                 config: PrequentialConfig,
                 strategy: tf.distribute.Strategy,
                 progress: Optional[Progress] = None) -> BlockResult:
  """Train on ``[0, start)`` and encode ``[start, end)``: one step of Alg. 2.

  ``progress``, if given, is shown the epoch after each epoch.
  """
  began = time.perf_counter()
  block_x, block_y = x[start:end], y[start:end]
  eval_batch = config.train.eval_batch_size

  def bits_on_block(forward):
    log_probs = training.predict_log_probs(None, block_x, eval_batch,
                                           forward=forward)
    return units.nats_to_bits(training.per_sample_nll_nats(log_probs, block_y))

  epoch_bits = []

  def on_epoch(epoch, forward):
    if config.record_epoch_bits:
      epoch_bits.append(bits_on_block(forward))
    if progress is not None:
      progress.update(epoch=f"epoch {epoch}")

  prefix = train_on_prefix(model_fn, x[:start], y[:start], index, config,
                           strategy, epoch_callback=on_epoch)
  log_probs = training.predict_log_probs(prefix.model, block_x, eval_batch,
                                         forward=prefix.forward)
  return block_result(index, start, end, log_probs, block_y, config=config,
                      train_result=prefix.train_result,
                      train_size=prefix.train_size, seed=prefix.seed,
                      wall_s=time.perf_counter() - began,
                      epoch_bits=epoch_bits)


def block_result(index: int, start: int, end: int, log_probs: np.ndarray,
                 labels: np.ndarray, *, config: PrequentialConfig,
                 train_result: training.TrainResult, train_size: int,
                 seed: int, wall_s: float, epoch_bits: list) -> BlockResult:
  """Block ``[start, end)`` coded with its model's log-probabilities (nats):
  the per-sample bits, mixed with the uniform code when
  ``config.uniform_fallback``, and what the training did. Every way of
  reading the data (arrays here, streams in
  :mod:`tfmdl.prequential_stream`) ends a block here."""
  per_sample = units.nats_to_bits(
      training.per_sample_nll_nats(log_probs, labels))
  if config.uniform_fallback:
    per_sample = mixtures.block_uniform_fallback_bits(
        per_sample, index, log_probs.shape[1])
  return BlockResult(
      index=index, start=start, end=end, bits=float(per_sample.sum()),
      accuracy=float(np.mean(log_probs.argmax(1) == labels)),
      epochs_trained=train_result.epochs_trained,
      best_epoch=train_result.best_epoch, train_size=train_size,
      val_size=start - train_size, seed=seed, wall_s=wall_s,
      per_sample_bits=per_sample,
      epoch_bits=np.stack(epoch_bits) if epoch_bits else None)


def progress_total(timesteps: Sequence[int], indices: Sequence[int],
                   final_model: bool = False) -> dict:
  """What computing blocks ``indices`` (and the final model) weighs, as the
  arguments of :meth:`tfmdl.progress.Progress.start`.

  A block weighs its prefix size, as a training epoch costs about that much
  (the uniform block 0 weighs nothing); the final model weighs n.
  """
  bounds = block_bounds(timesteps)
  weights = [bounds[i][0] for i in indices] + (
      [timesteps[-1]] if final_model else [])
  return {"total_weight": sum(weights),
          "units": sum(1 for w in weights if w > 0)}


def encode_blocks(
    model_fn: ModelFn,
    x: np.ndarray,
    y: np.ndarray,
    num_classes: int,
    indices: Sequence[int],
    *,
    config: PrequentialConfig = PrequentialConfig(),
    strategy: Optional[tf.distribute.Strategy] = None,
    block_callback: Optional[Callable[[BlockResult], None]] = None,
    progress: Optional[Progress] = None,
) -> tuple:
  """Blocks ``indices`` of the schedule, each computed on its own.

  A block depends only on the data, the config and its own seed (every global
  generator is reseeded from it), not on which blocks ran before it in the
  process: any selection, in any process, gives the blocks of one full run
  bit for bit on the same machine and libraries. This is what lets a run
  resume after a crash and be split over several processes.

  Args:
    model_fn, x, y, num_classes, config, strategy: as in
      :func:`prequential_code`.
    indices: block indices, ``0 <= index < len(timesteps)``; block 0 is the
      uniform block.
    block_callback: called with each block as soon as it is finished.
    progress: advanced by each block's prefix size (:func:`progress_total`),
      with a line per block; None: a new report of these blocks on stderr.

  Returns:
    The :class:`BlockResult` of each index, in the order given.

  Raises:
    ValueError: on bad data, a bad schedule or an index out of range, before
      any training.
  """
  validate_labelled_arrays(x, y, num_classes)
  model_fn = adapter.as_model_fn(model_fn, num_classes, example=x[:8])
  timesteps = schedule(len(x), config)
  bounds = block_bounds(timesteps)
  bad = [i for i in indices if not 0 <= i < len(bounds)]
  if bad:
    raise ValueError(f"block indices {bad} out of range: the schedule has "
                     f"{len(bounds)} blocks, 0..{len(bounds) - 1}")
  strategy = strategy or tf.distribute.get_strategy()
  progress = Progress.started(progress, "prequential",
                              **progress_total(timesteps, indices))
  blocks = []
  for index in indices:
    start, end = bounds[index]
    progress.update(block=f"block {index}/{len(bounds) - 1} [{start}, {end})",
                    epoch="")
    block = (uniform_block(index, start, end, num_classes) if index == 0
             else encode_block(model_fn, x, y, index, start, end, config,
                               strategy, progress))
    if block_callback is not None:
      block_callback(block)
    blocks.append(block)
    progress.advance(
        start, note=(
            f"block {index}/{len(bounds) - 1} [{start}, {end}): "
            f"{block.bits:.1f} bits, {block.bits_per_sample:.3f} bits/sample, "
            f"accuracy {block.accuracy:.3f}, {block.epochs_trained} epochs, "
            f"{block.wall_s:.1f}s"),
        bits=f"{units.bits_to_kbits(sum(b.bits for b in blocks)):.3f} kbits "
             "so far")
  return tuple(blocks)


def missing_blocks(blocks: Sequence[BlockResult], timesteps: Sequence[int]
                   ) -> list:
  """Indices of the schedule's blocks absent from ``blocks``.

  Raises:
    ValueError: if a block covers other samples than the schedule says
      (blocks of another schedule).
  """
  bounds = block_bounds(timesteps)
  for block in blocks:
    if (block.index >= len(bounds) or
        (block.start, block.end) != bounds[block.index]):
      expected = (f"[{bounds[block.index][0]}, {bounds[block.index][1]})"
                  if block.index < len(bounds) else "no such block")
      raise ValueError(f"saved block {block.index} covers [{block.start}, "
                       f"{block.end}), the schedule says {expected}")
  present = {b.index for b in blocks}
  return [i for i in range(len(bounds)) if i not in present]


def assemble(blocks: Sequence[BlockResult], n: int, num_classes: int,
             timesteps: Sequence[int], *,
             test_accuracy: Optional[float] = None, wall_s: float = 0.0,
             final_model_wall_s: float = 0.0) -> PrequentialResult:
  """The :class:`PrequentialResult` of a complete set of blocks.

  The blocks may come from several processes (see :func:`encode_blocks`);
  the codelength is their sum in transmission order, as in one run.

  Raises:
    ValueError: if a block is missing (all missing indices are listed) or
      does not fit the schedule.
  """
  timesteps = tuple(timesteps)
  missing = missing_blocks(blocks, timesteps)
  if missing:
    raise ValueError(f"cannot assemble the code: block(s) {missing} of "
                     f"0..{len(timesteps) - 1} are missing")
  by_index = {b.index: b for b in blocks}
  return PrequentialResult(
      n=n, num_classes=num_classes, timesteps=timesteps,
      blocks=tuple(by_index[i] for i in range(len(timesteps))),
      test_accuracy=test_accuracy, wall_s=wall_s,
      final_model_wall_s=final_model_wall_s)


def prequential_code(
    model_fn: ModelFn,
    x: np.ndarray,
    y: np.ndarray,
    num_classes: int,
    *,
    config: PrequentialConfig = PrequentialConfig(),
    x_test: Optional[np.ndarray] = None,
    y_test: Optional[np.ndarray] = None,
    strategy: Optional[tf.distribute.Strategy] = None,
    done_blocks: Sequence[BlockResult] = (),
    block_callback: Optional[Callable[[BlockResult], None]] = None,
    progress: Optional[Progress] = None,
) -> PrequentialResult:
  """Prequential codelength of labels ``y`` given inputs ``x``, in bits.

  Args:
    model_fn: ``model_fn(seed)`` returns a fresh ``tf_keras`` or Keras 3 model;
      called once per block, under the strategy's scope. Or a built model,
      cloned per block (:mod:`tfmdl.user_models`); a softmax or sigmoid head
      is measured through its logits.
    x, y: inputs and integer labels, in the agreed transmission order.
    num_classes: K.
    config: schedule, validation split, seed and training hyperparameters.
    x_test, y_test: optional test data for the final model's accuracy.
    strategy: a ``tf.distribute`` strategy; the default one when None.
    done_blocks: blocks already computed by an earlier, interrupted run with
      the same config and data; they are kept and not recomputed.
    block_callback: called with each newly finished block (to save it).
    progress: advanced by the blocks and the final model
      (:func:`progress_total`); None: a new report on stderr.

  Returns:
    A :class:`PrequentialResult`.
  """
  began = time.perf_counter()
  if isinstance(x, tf.data.Dataset):
    raise ValueError("a tf.data input goes through tfmdl.description_length "
                     "(or tfmdl.prequential_stream), which reads it in order")
  validate_labelled_arrays(x, y, num_classes)
  model_fn = adapter.as_model_fn(model_fn, num_classes, example=x[:8])
  n = len(x)
  timesteps = schedule(n, config)
  strategy = strategy or tf.distribute.get_strategy()
  todo = missing_blocks(done_blocks, timesteps)
  final = config.final_model and x_test is not None and y_test is not None
  progress = Progress.started(progress, "prequential",
                              **progress_total(timesteps, todo, final))
  blocks = tuple(done_blocks) + encode_blocks(
      model_fn, x, y, num_classes, todo, config=config, strategy=strategy,
      block_callback=block_callback, progress=progress)
  wall_s = time.perf_counter() - began

  test_accuracy, final_wall_s = None, 0.0
  if final:
    final_began = time.perf_counter()
    test_accuracy = final_model_accuracy(model_fn, x, y, x_test, y_test,
                                         config, strategy, len(timesteps),
                                         progress)
    final_wall_s = time.perf_counter() - final_began
  return assemble(blocks, n, num_classes, timesteps,
                  test_accuracy=test_accuracy, wall_s=wall_s,
                  final_model_wall_s=final_wall_s)


def final_model_accuracy(model_fn, x, y, x_test, y_test,
                         config: PrequentialConfig, strategy,
                         index: int, progress: Optional[Progress] = None
                         ) -> float:
  """Test accuracy of a model trained, like a block's, on all n samples.

  ``progress``, if given, shows the epochs and is advanced by n at the end.
  """
  began = time.perf_counter()
  if progress is not None:
    progress.update(block="final model, trained on all n", epoch="")
  prefix = train_on_prefix(
      model_fn, x, y, index, config, strategy,
      epoch_callback=(None if progress is None else
                      lambda epoch, _: progress.update(epoch=f"epoch {epoch}")))
  log_probs = training.predict_log_probs(
      prefix.model, x_test, config.train.eval_batch_size,
      forward=prefix.forward)
  accuracy = float(np.mean(log_probs.argmax(1) == np.asarray(y_test)))
  if progress is not None:
    progress.advance(len(y), note=f"final model: test accuracy "
                     f"{accuracy:.4f}, {time.perf_counter() - began:.1f}s")
  return accuracy
