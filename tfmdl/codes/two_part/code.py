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
  :mod:`tfmdl.codes.two_part.subspace`). theta0 is the model's seeded initialisation and P
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
from tfmdl.data import validate_labelled_arrays
from tfmdl import ledger
from tfmdl import progress as progress_lib
from tfmdl.codes.two_part.config import CompressionConfig
from tfmdl.codes.two_part.config import SubspaceConfig
from tfmdl.codes.two_part.config import TwoPartConfig
from tfmdl.codes.two_part.results import Candidate
from tfmdl.codes.two_part.results import TwoPartResult

ModelFn = Callable[[int], object]
# What the run ledger says ran a code called from Python.
SOURCE = "tfmdl.codes.two_part"


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


def _report_epochs(progress, max_epochs: int):
  """An epoch callback that advances ``progress`` by one per epoch."""

  def report(epoch: int) -> None:
    progress.status(epoch=f"epoch {epoch}/{max_epochs}")
    progress.advance(1 if epoch > 0 else 0)

  return report


def train_model(model_fn: ModelFn, x, y, config: TwoPartConfig,
                strategy: Optional[tf.distribute.Strategy] = None,
                progress=None):
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


def _result(code, x, y, num_classes, num_params, candidates, payloads,
            train_info, began, model_fn, configs, source,
            split) -> TwoPartResult:
  """The code's result, its setting's bits paid from the run ledger."""
  best = int(np.argmin([c.codelength_bits for c in candidates]))
  result = TwoPartResult(
      code=code, n=len(x), num_classes=num_classes, num_params=num_params,
      candidates=tuple(candidates), best_index=best, payload=payloads[best],
      training_info=train_info, wall_s=time.perf_counter() - began)
  return ledger.settle(result, labels=ledger.labels_fingerprint(y),
                       code=f"two_part_{code}", model=model_fn.name,
                       settings=ledger.setting_of(model_fn, configs),
                       source=source, split=split)


def float32_code(model_fn: ModelFn, x: np.ndarray, y: np.ndarray,
                 num_classes: int, *, config: TwoPartConfig = TwoPartConfig(),
                 x_test=None, y_test=None, strategy=None,
                 progress=None, source: str = SOURCE,
                 split: str = "") -> TwoPartResult:
  """Two-part code with every weight sent as float32.

  Args:
    model_fn: ``model_fn(seed)`` returns a fresh model, or a built model to
      clone (:mod:`tfmdl.models.adapter`); a softmax or sigmoid head is
      measured through its logits.
    x, y: training inputs and integer labels (all n labels are encoded).
    num_classes: K.
    config: training of the sent model.
    x_test, y_test: optional test data for the test accuracy.
    strategy: a ``tf.distribute`` strategy for training; default when None.
    progress: advanced by one per epoch of ``max_epochs`` and one per
      candidate, with a line per candidate; None: a new report on stderr.
    source, split: what ran the code and which labels ``y`` are, for the
      run ledger (:func:`tfmdl.ledger.settle`: the result pays for its
      setting among those run on ``y``).
  """
  began = time.perf_counter()
  validate_labelled_arrays(x, y, num_classes)
  model_fn = adapter.as_model_fn(model_fn, num_classes, example=x[:8])
  progress = progress_lib.reporting(progress, "two-part (float32)",
                                   config.train.max_epochs + 1)
  model, info = train_model(model_fn, x, y, config, strategy, progress)
  payload = float32_payload(model.get_weights())
  batch, forward = config.train.eval_batch_size, training.make_forward(model)
  bits, acc = evaluate(model, x, y, batch, forward=forward)
  candidate = Candidate(
      option={}, model_bits=8.0 * len(payload), data_bits=bits,
      selection_bits=0.0, train_accuracy=acc,
      test_accuracy=_accuracy(model, x_test, y_test, batch, forward))
  progress.note(_candidate_line("float32", candidate))
  progress.advance(1)
  return _result("float32", x, y, num_classes, num_weights(model),
                 [candidate], [payload], info, began, model_fn,
                 {"two_part": config}, source, split)


def compressed_code(model_fn: ModelFn, x: np.ndarray, y: np.ndarray,
                    num_classes: int, *,
                    config: TwoPartConfig = TwoPartConfig(),
                    compression: CompressionConfig = CompressionConfig(),
                    x_test=None, y_test=None, strategy=None,
                    progress=None, source: str = SOURCE,
                    split: str = "") -> TwoPartResult:
  """Two-part code with quantised, entropy-coded weights (one per b).

  For every b of ``compression.bits_grid``, the trained weights are
  quantised and encoded; the labels' bits are those of a fresh model holding
  the weights decoded from the bytes alone (what Bob has). Arguments as in
  :func:`float32_code`.
  """
  began = time.perf_counter()
  validate_labelled_arrays(x, y, num_classes)
  model_fn = adapter.as_model_fn(model_fn, num_classes, example=x[:8])
  progress = progress_lib.reporting(
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
    progress.note(_candidate_line(f"compressed b={b}", candidates[-1]))
    progress.advance(1)
  return _result("compressed", x, y, num_classes, num_weights(model),
                 candidates, payloads, info, began, model_fn,
                 {"two_part": config, "compression": compression}, source,
                 split)


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
                  progress=None, source: str = SOURCE,
                  split: str = "") -> TwoPartResult:
  """Two-part code with the model in a random affine subspace of dimension d.

  For every d, z is trained (from 0) with ``config.train`` at the subspace's
  learning rate and epochs (:meth:`SubspaceConfig.train_config`), then for
  every
  precision p the labels' bits are computed with z as Bob decodes it at p
  bits. Test accuracy is computed for the best p of each d. Arguments as in
  :func:`float32_code`; training runs under the default strategy. Progress:
  one per epoch of ``subspace.max_epochs`` and one per precision, for
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
  train = subspace.train_config(config.train)
  max_epochs = train.max_epochs
  progress = progress_lib.reporting(
      progress, "two-part (subspace)",
      len(subspace.dims) * (max_epochs + len(subspace.precisions)))
  candidates, payloads, per_dim = [], [], []
  for i, d in enumerate(subspace.dims):
    progress.status(dim=f"d={d} ({i + 1}/{len(subspace.dims)})")
    model = agreed_model(model_fn, config.seed)
    space = subspace_lib.AffineSubspace(model, subspace_lib.make_projection(
        num_params, d, seed=subspace.projection_seed,
        kind=subspace.projection, nonzeros_per_row=subspace.nonzeros_per_row,
        dense_max_entries=subspace.dense_max_entries))
    trained = subspace_lib.train_subspace(
        model, space, x[:n_train], y[:n_train], val_x=x[n_train:],
        val_y=y[n_train:], config=train, seed=config.seed,
        epoch_callback=_report_epochs(progress, max_epochs))
    progress.advance(max_epochs - trained.epochs_trained)
    found, messages, best = _subspace_candidates(
        model, space, trained.z, x, y, precisions=subspace.precisions,
        selection_bits=selection, batch_size=train.eval_batch_size,
        x_test=x_test, y_test=y_test, details={
            "projection": space.projection.kind,
            "epochs_trained": trained.epochs_trained,
            "best_epoch": trained.best_epoch, "train_wall_s": trained.wall_s})
    candidates += found
    payloads += messages
    per_dim.append(found[best])
    progress.note(_candidate_line(
        f"subspace d={d} ({space.projection.kind}), best "
        f"p={found[best].option['precision']}", found[best]))
    progress.advance(len(subspace.precisions))
  info = {"train_size": n_train, "val_size": len(x) - n_train,
          "best_per_dim": [c.summary() for c in per_dim]}
  return _result("subspace", x, y, num_classes, num_params, candidates,
                 payloads, info, began, model_fn,
                 {"two_part": config, "subspace": subspace}, source, split)
