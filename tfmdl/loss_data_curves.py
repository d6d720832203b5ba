"""Measure a loss-data curve: held-out loss against training-set size.

For each agreed size ``n`` a fresh model, seeded, is trained on the first
``n`` examples only, early-stopped on a validation split carved out of those
``n`` (its last ``val_fraction``), and evaluated on a held-out test set: its
mean cross-entropy in bits per example and its accuracy. The curve and the
measures read from it (surplus description length, eps-sample complexity,
an online codelength estimate) are in :mod:`tfmdl.bits.loss_data`.

The model at the k-th size (k = 1, 2, ...) is trained exactly as block k of
the prequential code (:meth:`~tfmdl.codes.prequential.block.BlockLearner.
train_model`: same seed ``block_seed(seed, k)``, split and training loop). With the sizes set
to the code's timesteps, the curve's models are the code's models; only the
labels they are evaluated on differ (held-out here, the next block there).

The training order is the order of ``x``: shuffle once with a recorded seed
(:func:`tfmdl.data.load` does) so that every prefix is a fair sample.

Example::

    import tfmdl
    from tfmdl.bits import loss_data
    curve = tfmdl.loss_data_curve(model, x, y, x_test, y_test,
                                  sizes=(50, 200, 800), max_epochs=30)
    print(loss_data.measures(curve, epsilons=(1.0, 0.5)))
"""

import dataclasses
import math
import os
from typing import Optional, Sequence

import numpy as np
import tensorflow as tf

from tfmdl import results
from tfmdl import summaries
from tfmdl import training
from tfmdl.bits import units
from tfmdl.bits.loss_data import LossDataCurve
from tfmdl import api
from tfmdl import progress as progress_lib
from tfmdl.codes import prequential
from tfmdl.codes.prequential.block import BlockLearner
from tfmdl.data import labelled
from tfmdl.models import adapter

TAG_LOSS = "loss_data/test_loss_bits_per_sample"
TAG_ACCURACY = "loss_data/test_accuracy"

# The options: the seed, the validation split and the training's fields, as
# for the prequential code's blocks.
_OPTIONS = frozenset(("seed", "val_fraction") + tuple(
    f.name for f in dataclasses.fields(training.TrainConfig)))


def training_sizes(sizes: Optional[Sequence], n: int) -> tuple:
  """The agreed training-set sizes for ``n`` examples.

  Args:
    sizes: strictly increasing integers in ``[1, n]``; or floats in (0, 1],
      fractions of n (``max(1, round(f * n))``); None for the prequential
      code's default timesteps ``10, 20, 40, ..., n``.
    n: the number of training examples.

  Raises:
    ValueError: for an empty list, sizes out of ``[1, n]``, or sizes (or
      fractions once rounded) that do not strictly increase.
  """
  if sizes is None:
    return prequential.default_timesteps(n)
  sizes = tuple(sizes)
  if not sizes:
    raise ValueError("sizes must not be empty")
  if all(isinstance(s, (float, np.floating)) and 0 < s <= 1 for s in sizes):
    sizes = tuple(max(1, round(f * n)) for f in sizes)
  elif any(isinstance(s, (float, np.floating)) for s in sizes):
    raise ValueError(f"sizes are integers, or fractions of n in (0, 1] "
                     f"only, got {list(sizes)}")
  if any(b <= a for a, b in zip(sizes, sizes[1:])):
    raise ValueError(f"sizes must be strictly increasing, got {list(sizes)} "
                     f"(of n={n})")
  if sizes[0] < 1 or sizes[-1] > n:
    raise ValueError(f"sizes must lie in [1, n={n}], got {list(sizes)}")
  return tuple(int(s) for s in sizes)


def loss_data_curve(model, x, y, x_test, y_test, *,
                    sizes: Optional[Sequence] = None,
                    num_classes: Optional[int] = None,
                    logdir: Optional[str] = None,
                    strategy: Optional[tf.distribute.Strategy] = None,
                    progress=None,
                    **options) -> LossDataCurve:
  """Test loss, in bits per example, of a model trained on growing prefixes.

  Args:
    model: a built Keras 3 or ``tf_keras`` model (cloned and re-initialised
      from each size's seed), or a ``model_fn(seed)``; a softmax head is
      measured through its logits (:mod:`tfmdl.models.adapter`).
    x, y: training inputs (an array, a dict of arrays) and integer labels,
      in the agreed order; or a ``tf.data.Dataset`` of ``(x, y)`` pairs and
      ``y=None`` (read into memory).
    x_test, y_test: the held-out data every model is evaluated on, in the
      same form.
    sizes: training-set sizes (:func:`training_sizes`).
    num_classes: K; None for the model's number of outputs.
    logdir: if given, TensorBoard scalars :data:`TAG_LOSS` and
      :data:`TAG_ACCURACY`, with the training-set size as the step, and the
      curve as :data:`tfmdl.results.LOSS_DATA_CURVE`, which ``bin/report
      --results=<a folder above logdir>`` draws.
    strategy: a ``tf.distribute`` strategy; the default one when None.
    progress: advanced by each size (a new report on stderr when None).
    **options: ``seed`` (:class:`tfmdl.codes.prequential.PrequentialConfig`),
      ``val_fraction`` (:class:`tfmdl.codes.prequential.BlockConfig`) and
      :class:`tfmdl.training.TrainConfig` fields, with their defaults.

  Returns:
    The :class:`tfmdl.bits.loss_data.LossDataCurve`, with test accuracy.

  Raises:
    ValueError: in one line, before any training, for bad sizes, options,
      model or data.
  """
  unknown = set(options) - _OPTIONS
  if unknown:
    raise ValueError(f"unknown option(s) {sorted(unknown)}; known: "
                     f"{', '.join(sorted(_OPTIONS))}")
  configs = api.code_configs("prequential", options)
  model_fn = adapter.as_model_fn(model, num_classes,
                                 example=labelled.peek(x))
  data = labelled.labelled(x, y, model_fn.num_classes)
  model_fn = model_fn.with_layout(data.layout)
  test = labelled.labelled(x_test, y_test, model_fn.num_classes,
                           layout=data.layout)
  sizes = training_sizes(sizes, data.n)
  x_test, y_test = test.arrays()
  writer = summaries.SummaryWriter(logdir)
  progress = progress_lib.reporting(progress, "loss-data curve", sum(sizes))
  learner = BlockLearner(model_fn, data, configs["prequential"],
                         configs["block"], strategy)
  losses, accuracies = [], []
  for k, n in enumerate(sizes, start=1):
    progress.status(size=f"size {k}/{len(sizes)}: n={n}", epoch="")
    model, forward, result, _, _ = learner.train_model(
        k, data.y, n, on_epoch=lambda epoch, _: progress.status(
            epoch=f"epoch {epoch}"))
    log_probs = training.predict_log_probs(
        model, x_test, configs["block"].train.eval_batch_size,
        forward=forward)
    bits = units.nats_to_bits(training.per_sample_nll_nats(log_probs, y_test))
    losses.append(float(bits.mean()))
    accuracies.append(float(np.mean(log_probs.argmax(1) == y_test)))
    writer.scalars({TAG_LOSS: losses[-1], TAG_ACCURACY: accuracies[-1]},
                   step=n)
    progress.note(
        f"n={n}: test loss {losses[-1]:.4f} bits/sample (log2 K = "
        f"{math.log2(model_fn.num_classes):.4f}), accuracy "
        f"{accuracies[-1]:.4f}, {result.epochs_trained} epochs")
    progress.advance(n)
  writer.flush()
  curve = LossDataCurve(sizes=sizes, loss_bits=tuple(losses),
                        num_classes=model_fn.num_classes,
                        accuracy=tuple(accuracies))
  if logdir:
    results.write_json(os.path.join(logdir, results.LOSS_DATA_CURVE),
                       dataclasses.asdict(curve))
  return curve
