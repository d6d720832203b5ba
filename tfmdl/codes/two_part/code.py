"""Two-part codes: send the model, then the labels with it (paper 3.1-3.2, B).

Every number here is a whole codelength that Bob can decode: the bits of an
actual message holding the model (its ``payload``), plus ``sum -log2 p(y|x)``
of all n training labels under exactly the model Bob rebuilds from that
message, plus ``log2`` of the number of options of any grid searched after
seeing the data. The paper's Table 1 quoted only the model part, a lower bound.

Three codes:

* ``float32``: every weight (trainable or not, e.g. BatchNorm statistics) as
  float32, ``32 * num_weights`` bits.
* ``compressed``: per-tensor k-means (or uniform) codebooks of ``2**b``
  levels, optional pruning, indices range-coded
  (:mod:`tfmdl.bits.parameter_coding`); model part ``8 * len(bitstream)``;
  every b of a grid fixed in advance is tried and the best pays
  ``log2 |grid|``.
* ``subspace``: ``theta = theta0 + P z`` (Li et al. 2018,
  :mod:`tfmdl.subspace`). theta0 is the model's seeded initialisation and P
  comes from an agreed seed: both cost 0 bits (agreed constants, like the
  architecture). z goes at ``p`` bits per number
  (:func:`tfmdl.bits.parameter_coding.encode_vector`: float32 min and max,
  then ``p`` bits per number; raw float32 when ``p = 32``), followed by the
  non-trainable weights as float32 (none in a model without BatchNorm). The
  best (d, p) over two grids fixed in advance pays
  ``log2 |d grid| + log2 |p grid|``.

Alice trains on the training set minus a held-out share (for early stopping)
and encodes all n labels; the weights are transmitted, so how she chose them
needs no replay by Bob.

Example::

    from tfmdl import data, models, two_part
    ds = data.load("digits")
    fn = lambda seed: models.build("mlp", ds.input_shape, ds.num_classes,
                                   seed=seed)
    result = two_part.compressed_code(fn, ds.x_train, ds.y_train,
                                      ds.num_classes)
    print(result.best.option, result.codelength_bits)
"""

import dataclasses
import math
import time
from typing import Callable, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfmdl.codes.two_part import subspace as subspace_lib
from tfmdl import training
from tfmdl.models import adapter
from tfmdl.bits import parameter_coding
from tfmdl.bits import units
from tfmdl.bits.uniform import ComparedToUniform
from tfmdl.data import validate_labelled_arrays
from tfmdl.progress import Progress

CODES = ("float32", "compressed", "subspace")
QUANTIZERS = ("kmeans", "uniform")
ModelFn = Callable[[int], object]


def check_code(code: str) -> str:
  if code not in CODES:
    raise ValueError(f"unknown two-part code {code!r}; known: "
                     f"{', '.join(CODES)}")
  return code


def _check_grid(values: Sequence, name: str, check) -> tuple:
  grid = tuple(values)
  if not grid:
    raise ValueError(f"{name} must not be empty")
  if len(set(grid)) != len(grid):
    raise ValueError(f"{name} must not repeat a value, got {list(grid)}")
  return tuple(check(v) for v in grid)


@dataclasses.dataclass(frozen=True)
class TwoPartConfig:
  """Training of the transmitted model (all agreed in advance).

  Attributes:
    val_fraction: share of the training set held out (the last samples) for
      early stopping; the labels of all n samples are encoded.
    seed: seeds the model's initialisation and training.
    train: training hyperparameters.
  """
  val_fraction: float = 0.1
  seed: int = 0
  train: training.TrainConfig = training.TrainConfig()

  def __post_init__(self):
    if not 0.0 <= self.val_fraction < 1.0:
      raise ValueError(
          f"val_fraction must be in [0, 1), got {self.val_fraction}")


@dataclasses.dataclass(frozen=True)
class CompressionConfig:
  """The network-compression code's options.

  Attributes:
    bits_grid: bits per weight index to try (each in 1..16), fixed in advance.
    quantizer: ``"kmeans"`` or ``"uniform"`` codebooks, one per tensor.
    prune_fraction: share of each tensor's smallest weights set to exactly 0
      (k-means only), 0 for none.
  """
  bits_grid: tuple = (1, 2, 3, 4, 5, 6, 8)
  quantizer: str = "kmeans"
  prune_fraction: float = 0.0

  def __post_init__(self):
    _check_grid(self.bits_grid, "bits_grid", parameter_coding.check_bits)
    if self.quantizer not in QUANTIZERS:
      raise ValueError(f"unknown quantizer {self.quantizer!r}; known: "
                       f"{', '.join(QUANTIZERS)}")
    if not 0.0 <= self.prune_fraction < 1.0:
      raise ValueError(
          f"prune_fraction must be in [0, 1), got {self.prune_fraction}")
    if self.prune_fraction and self.quantizer != "kmeans":
      raise ValueError("pruning needs quantizer='kmeans'")


def _check_dim(dim) -> int:
  if int(dim) != dim or dim < 1:
    raise ValueError(f"subspace dimension must be an integer >= 1, got {dim}")
  return int(dim)


@dataclasses.dataclass(frozen=True)
class SubspaceConfig:
  """The random-subspace code's options.

  Attributes:
    dims: subspace dimensions d to try, each in 1..D, fixed in advance.
    precisions: bits per number of z to try (1..32; 32 = raw float32).
    projection: ``"dense"``, ``"sparse"`` or ``"auto"`` (dense while
      ``D * d <= dense_max_entries``).
    nonzeros_per_row: entries per row of the sparse projection.
    dense_max_entries: the largest dense projection ``auto`` makes.
    projection_seed: the agreed seed of P.
    train: training hyperparameters of z.
  """
  dims: tuple = (10, 30, 100, 300, 1000)
  precisions: tuple = (4, 6, 8, 10, 12, 16, 32)
  projection: str = "auto"
  nonzeros_per_row: int = 4
  dense_max_entries: int = 2**24
  projection_seed: int = 0
  train: training.TrainConfig = training.TrainConfig(learning_rate=0.05)

  def __post_init__(self):
    _check_grid(self.dims, "dims", _check_dim)
    _check_grid(self.precisions, "precisions",
                parameter_coding.check_precision)
    if self.projection not in subspace_lib.PROJECTIONS:
      raise ValueError(f"unknown projection {self.projection!r}; known: "
                       f"{', '.join(subspace_lib.PROJECTIONS)}")
    if self.nonzeros_per_row < 1:
      raise ValueError(
          f"nonzeros_per_row must be >= 1, got {self.nonzeros_per_row}")


@dataclasses.dataclass(frozen=True)
class Candidate:
  """One option of a code's grid and its codelength, in bits.

  Attributes:
    option: what was chosen, e.g. ``{"bits": 4}`` or
      ``{"dim": 100, "precision": 8}``; empty for float32.
    model_bits: ``8 * len(payload)``, the model's message.
    data_bits: ``sum -log2 p(y|x)`` over all n labels under the decoded model.
    selection_bits: ``log2`` of the grid sizes searched.
    train_accuracy: accuracy of the decoded model on the n training samples.
    test_accuracy: on the test set, when given (and computed).
    details: code-specific numbers (bytes, levels, epochs, ...).
  """
  option: dict
  model_bits: float
  data_bits: float
  selection_bits: float
  train_accuracy: float
  test_accuracy: Optional[float] = None
  details: dict = dataclasses.field(default_factory=dict)

  @property
  def codelength_bits(self) -> float:
    return self.model_bits + self.data_bits + self.selection_bits

  def summary(self) -> dict:
    return {**self.option, "model_bits": self.model_bits,
            "data_bits": self.data_bits, "selection_bits": self.selection_bits,
            "codelength_bits": self.codelength_bits,
            "train_accuracy": self.train_accuracy,
            "test_accuracy": self.test_accuracy, **self.details}


@dataclasses.dataclass(frozen=True)
class TwoPartResult(ComparedToUniform):
  """A two-part code: every candidate and the best one.

  ``num_params`` counts the model's weights for ``float32`` and
  ``compressed`` (non-trainable ones included) and its trainable parameters D
  for ``subspace``.

  ``payload`` is the best candidate's model message, the bytes Bob decodes
  (``8 * len(payload) == best.model_bits``). ``training_info``: train and
  validation sizes, epochs (float32, compressed) or the best candidate of
  each d (subspace).
  """
  code: str
  n: int
  num_classes: int
  num_params: int
  candidates: tuple
  best_index: int
  payload: bytes = dataclasses.field(repr=False)
  training_info: dict = dataclasses.field(default_factory=dict)
  wall_s: float = 0.0
  data_fingerprint: Optional[str] = None  # set by tfmdl.description_length

  @property
  def best(self) -> Candidate:
    return self.candidates[self.best_index]

  @property
  def codelength_bits(self) -> float:
    return self.best.codelength_bits

  @property
  def test_accuracy(self) -> Optional[float]:
    return self.best.test_accuracy


def agreed_model(model_fn: ModelFn, seed: int):
  """``model_fn(seed)`` with every global generator seeded first.

  The subspace code's theta0 is an agreed constant only if Bob's build gives
  Alice's initial weights, also for a user model with unseeded initializers.
  """
  training.seed_everything(seed)
  return model_fn(seed)


def num_weights(model) -> int:
  """Number of scalars in all of ``model``'s weights (what Bob needs)."""
  return int(sum(math.prod(w.shape) for w in model.weights))


def float32_payload(weights: Sequence[np.ndarray]) -> bytes:
  """All weights as little-endian float32, in the model's weight order."""
  return b"".join(np.asarray(w, "<f4").tobytes() for w in weights)


def decode_float32_payload(data: bytes, shapes: Sequence[tuple]) -> list:
  """The weights of :func:`float32_payload`, given the agreed shapes."""
  sizes = [math.prod(s) for s in shapes]
  if len(data) != 4 * sum(sizes):
    raise ValueError(f"float32 payload of {len(data)} bytes for "
                     f"{sum(sizes)} weights")
  flat = np.frombuffer(data, "<f4").astype(np.float32)
  offsets = np.cumsum([0] + sizes)
  return [flat[a:b].reshape(s) for a, b, s in zip(offsets, offsets[1:],
                                                   shapes)]


def compress_weights(weights: Sequence[np.ndarray], bits: int, *,
                     quantizer: str = "kmeans",
                     prune_fraction: float = 0.0) -> bytes:
  """The network-compression bitstream of ``weights`` at ``bits`` per index.

  Decode with :func:`tfmdl.bits.parameter_coding.decode_tensors`.
  """
  return parameter_coding.encode_tensors([
      parameter_coding.quantize_tensor(w, bits, method=quantizer,
                                       prune_fraction=prune_fraction)
      for w in weights])


def evaluate(model, x: np.ndarray, y: np.ndarray, batch_size: int = 1024,
             *, forward=None) -> tuple:
  """``(sum -log2 p(y|x) in bits, accuracy)`` of ``model`` on ``(x, y)``.

  ``forward``: a :func:`tfmdl.training.make_forward` of ``model`` to reuse.
  """
  log_probs = training.predict_log_probs(model, x, batch_size,
                                         forward=forward)
  bits = units.nats_to_bits(training.per_sample_nll_nats(log_probs, y)).sum()
  return float(bits), float(np.mean(log_probs.argmax(1) == y))


def _accuracy(model, x, y, batch_size, forward) -> Optional[float]:
  if x is None or y is None:
    return None
  return evaluate(model, x, np.asarray(y), batch_size, forward=forward)[1]


def split_train(n: int, val_fraction: float) -> int:
  """Samples used for training; the last ``n - returned`` validate."""
  if n < 2 or val_fraction == 0.0:
    return n
  return n - max(1, int(round(val_fraction * n)))


def _report_epochs(progress: Progress, max_epochs: int):
  """An epoch callback that advances ``progress`` by one per epoch."""
  return lambda epoch: progress.advance(
      1 if epoch > 0 else 0, epoch=f"epoch {epoch}/{max_epochs}")


def train_model(model_fn: ModelFn, x, y, config: TwoPartConfig,
                strategy: Optional[tf.distribute.Strategy] = None,
                progress: Optional[Progress] = None):
  """Alice's model: trained on the first samples, early-stopped on the rest.

  ``progress``, if given, is advanced by ``config.train.max_epochs``: one per
  epoch, the epochs that early stopping saved at the end.

  Returns:
    ``(model, training summary dict)``.
  """
  strategy = strategy or tf.distribute.get_strategy()
  n_train = split_train(len(x), config.val_fraction)
  with strategy.scope():
    model = agreed_model(model_fn, config.seed)
  report = (None if progress is None
            else _report_epochs(progress, config.train.max_epochs))
  result = training.train(model, x[:n_train], y[:n_train],
                          val_x=x[n_train:], val_y=y[n_train:],
                          config=config.train, seed=config.seed,
                          strategy=strategy,
                          epoch_callback=(None if report is None else
                                          lambda epoch, _: report(epoch)))
  if progress is not None:
    progress.advance(config.train.max_epochs - result.epochs_trained)
  return model, {"train_size": n_train, "val_size": len(x) - n_train,
                 "epochs_trained": result.epochs_trained,
                 "best_epoch": result.best_epoch, "wall_s": result.wall_s}


def _candidate_line(name: str, candidate: Candidate) -> str:
  return (f"{name}: model {candidate.model_bits:.0f} + data "
          f"{candidate.data_bits:.0f} + {candidate.selection_bits:.2f} bits = "
          f"{candidate.codelength_bits:.0f} bits, train accuracy "
          f"{candidate.train_accuracy:.4f}")


def _result(code, x, num_classes, num_params, candidates, payloads,
            train_info, began) -> TwoPartResult:
  best = int(np.argmin([c.codelength_bits for c in candidates]))
  return TwoPartResult(
      code=code, n=len(x), num_classes=num_classes, num_params=num_params,
      candidates=tuple(candidates), best_index=best, payload=payloads[best],
      training_info=train_info, wall_s=time.perf_counter() - began)


def float32_code(model_fn: ModelFn, x: np.ndarray, y: np.ndarray,
                 num_classes: int, *, config: TwoPartConfig = TwoPartConfig(),
                 x_test=None, y_test=None, strategy=None,
                 progress: Optional[Progress] = None) -> TwoPartResult:
  """Two-part code with every weight sent as float32.

  Args:
    model_fn: ``model_fn(seed)`` returns a fresh model, or a built model to
      clone (:mod:`tfmdl.user_models`); a softmax or sigmoid head is
      measured through its logits.
    x, y: training inputs and integer labels (all n labels are encoded).
    num_classes: K.
    config: training of the sent model.
    x_test, y_test: optional test data for the test accuracy.
    strategy: a ``tf.distribute`` strategy for training; default when None.
    progress: advanced by one per epoch of ``max_epochs`` and one per
      candidate, with a line per candidate; None: a new report on stderr.
  """
  began = time.perf_counter()
  validate_labelled_arrays(x, y, num_classes)
  model_fn = adapter.as_model_fn(model_fn, num_classes, example=x[:8])
  progress = Progress.started(progress, "two-part (float32)",
                              config.train.max_epochs + 1)
  model, info = train_model(model_fn, x, y, config, strategy, progress)
  payload = float32_payload(model.get_weights())
  batch, forward = config.train.eval_batch_size, training.make_forward(model)
  bits, acc = evaluate(model, x, y, batch, forward=forward)
  candidate = Candidate(
      option={}, model_bits=8.0 * len(payload), data_bits=bits,
      selection_bits=0.0, train_accuracy=acc,
      test_accuracy=_accuracy(model, x_test, y_test, batch, forward))
  progress.advance(1, note=_candidate_line("float32", candidate))
  return _result("float32", x, num_classes, num_weights(model), [candidate],
                 [payload], info, began)


def compressed_code(model_fn: ModelFn, x: np.ndarray, y: np.ndarray,
                    num_classes: int, *,
                    config: TwoPartConfig = TwoPartConfig(),
                    compression: CompressionConfig = CompressionConfig(),
                    x_test=None, y_test=None, strategy=None,
                    progress: Optional[Progress] = None) -> TwoPartResult:
  """Two-part code with quantised, entropy-coded weights (one per b).

  For every b of ``compression.bits_grid``, the trained weights are
  quantised and encoded; the labels' bits are those of a fresh model holding
  the weights decoded from the bytes alone (what Bob has). Arguments as in
  :func:`float32_code`.
  """
  began = time.perf_counter()
  validate_labelled_arrays(x, y, num_classes)
  model_fn = adapter.as_model_fn(model_fn, num_classes, example=x[:8])
  progress = Progress.started(
      progress, "two-part (compressed)",
      config.train.max_epochs + len(compression.bits_grid))
  model, info = train_model(model_fn, x, y, config, strategy, progress)
  bob = model_fn(config.seed)
  weights = model.get_weights()
  batch, forward = config.train.eval_batch_size, training.make_forward(bob)
  selection = math.log2(len(compression.bits_grid))
  candidates, payloads = [], []
  for b in compression.bits_grid:
    payload = compress_weights(weights, b, quantizer=compression.quantizer,
                               prune_fraction=compression.prune_fraction)
    bob.set_weights(parameter_coding.decode_tensors(payload))
    bits, acc = evaluate(bob, x, y, batch, forward=forward)
    levels = [len(np.unique(w)) for w in bob.get_weights()]
    candidates.append(Candidate(
        option={"bits": b}, model_bits=8.0 * len(payload), data_bits=bits,
        selection_bits=selection, train_accuracy=acc,
        test_accuracy=_accuracy(bob, x_test, y_test, batch, forward),
        details={"bitstream_bytes": len(payload), "max_levels": max(levels),
                 "zero_fraction": float(np.mean(np.concatenate(
                     [np.ravel(w) == 0 for w in bob.get_weights()])))}))
    payloads.append(payload)
    progress.advance(1, note=_candidate_line(f"compressed b={b}",
                                             candidates[-1]))
  return _result("compressed", x, num_classes, num_weights(model), candidates,
                 payloads, info, began)


def check_dims_fit(model, dims: Sequence[int]) -> int:
  """The number D of ``model``'s trainable parameters; ValueError if a
  subspace dimension of ``dims`` exceeds it."""
  num_params = sum(math.prod(v.shape) for v in model.trainable_variables)
  for d in dims:
    if d > num_params:
      raise ValueError(f"subspace dimension {d} exceeds the model's "
                       f"{num_params} trainable parameters")
  return num_params


def _subspace_candidates(model, space, z: np.ndarray, x, y, *,
                         precisions: Sequence[int], selection_bits: float,
                         details: dict, batch_size: int, x_test, y_test):
  """Candidates and payloads of one trained z, one per precision.

  Bob's model for precision p is ``theta0 + P z_p``, z_p decoded from the
  payload's first bytes; the rest of the payload is the non-trainable
  weights as float32. The best precision also gets its test accuracy.
  """
  forward = training.make_forward(model)
  side = float32_payload([w.numpy() for w in model.non_trainable_weights])
  candidates, payloads, decoded = [], [], []
  for p in precisions:
    message = parameter_coding.encode_vector(z, p)
    decoded.append(parameter_coding.decode_vector(message, space.dim, p))
    space.assign(decoded[-1])
    bits, acc = evaluate(model, x, y, batch_size, forward=forward)
    candidates.append(Candidate(
        option={"dim": space.dim, "precision": p},
        model_bits=8.0 * (len(message) + len(side)), data_bits=bits,
        selection_bits=selection_bits, train_accuracy=acc, details=details))
    payloads.append(message + side)
  best = int(np.argmin([c.codelength_bits for c in candidates]))
  space.assign(decoded[best])
  candidates[best] = dataclasses.replace(
      candidates[best],
      test_accuracy=_accuracy(model, x_test, y_test, batch_size, forward))
  return candidates, payloads, best


def subspace_code(model_fn: ModelFn, x: np.ndarray, y: np.ndarray,
                  num_classes: int, *,
                  config: TwoPartConfig = TwoPartConfig(),
                  subspace: SubspaceConfig = SubspaceConfig(),
                  x_test=None, y_test=None,
                  progress: Optional[Progress] = None) -> TwoPartResult:
  """Two-part code with the model in a random affine subspace of dimension d.

  For every d, z is trained (from 0) with ``subspace.train``, then for every
  precision p the labels' bits are computed with z as Bob decodes it at p
  bits. Test accuracy is computed for the best p of each d. Arguments as in
  :func:`float32_code`; training runs under the default strategy. Progress:
  one per epoch of ``subspace.train.max_epochs`` and one per precision, for
  every d.
  """
  began = time.perf_counter()
  validate_labelled_arrays(x, y, num_classes)
  model_fn = adapter.as_model_fn(model_fn, num_classes, example=x[:8])
  num_params = check_dims_fit(agreed_model(model_fn, config.seed),
                              subspace.dims)
  n_train = split_train(len(x), config.val_fraction)
  selection = (math.log2(len(subspace.dims)) +
               math.log2(len(subspace.precisions)))
  max_epochs = subspace.train.max_epochs
  progress = Progress.started(
      progress, "two-part (subspace)",
      len(subspace.dims) * (max_epochs + len(subspace.precisions)))
  candidates, payloads, per_dim = [], [], []
  for i, d in enumerate(subspace.dims):
    progress.update(dim=f"d={d} ({i + 1}/{len(subspace.dims)})")
    model = agreed_model(model_fn, config.seed)
    space = subspace_lib.AffineSubspace(model, subspace_lib.make_projection(
        num_params, d, seed=subspace.projection_seed,
        kind=subspace.projection, nonzeros_per_row=subspace.nonzeros_per_row,
        dense_max_entries=subspace.dense_max_entries))
    trained = subspace_lib.train_subspace(
        model, space, x[:n_train], y[:n_train], val_x=x[n_train:],
        val_y=y[n_train:], config=subspace.train, seed=config.seed,
        epoch_callback=_report_epochs(progress, max_epochs))
    progress.advance(max_epochs - trained.epochs_trained)
    found, messages, best = _subspace_candidates(
        model, space, trained.z, x, y, precisions=subspace.precisions,
        selection_bits=selection, batch_size=subspace.train.eval_batch_size,
        x_test=x_test, y_test=y_test, details={
            "projection": space.projection.kind,
            "epochs_trained": trained.epochs_trained,
            "best_epoch": trained.best_epoch, "train_wall_s": trained.wall_s})
    candidates += found
    payloads += messages
    per_dim.append(found[best])
    progress.advance(len(subspace.precisions), note=_candidate_line(
        f"subspace d={d} ({space.projection.kind}), best "
        f"p={found[best].option['precision']}", found[best]))
  info = {"train_size": n_train, "val_size": len(x) - n_train,
          "best_per_dim": [c.summary() for c in per_dim]}
  return _result("subspace", x, num_classes, num_params, candidates, payloads,
                 info, began)
