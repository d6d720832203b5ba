"""Measure a loss-data curve: held-out loss against training-set size.

For each agreed size ``n`` a fresh model, seeded, is trained on the first
``n`` examples only, early-stopped on a validation split carved out of those
``n`` (its last ``val_fraction``), and evaluated on a held-out test set: its
mean cross-entropy in bits per example and its accuracy. The curve and the
measures read from it (surplus description length, eps-sample complexity,
an online codelength estimate) are in :mod:`tfmdl.bits.loss_data`.

The model at the k-th size (k = 1, 2, ...) is trained exactly as block k of
the prequential code (:func:`tfmdl.codes.prequential.train_on_prefix`: same
seed ``block_seed(seed, k)``, split and training loop). With the sizes set
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
from typing import Optional, Sequence

import numpy as np
import tensorflow as tf

from tfmdl import summaries
from tfmdl import training
from tfmdl.bits import units
from tfmdl.bits.loss_data import LossDataCurve
from tfmdl.codes import prequential
from tfmdl.data import user as user_data
from tfmdl.models import adapter
from tfmdl.progress import Progress

TAG_LOSS = "loss_data/test_loss_bits_per_sample"
TAG_ACCURACY = "loss_data/test_accuracy"
_TRAIN_FIELDS = frozenset(f.name for f in dataclasses.fields(
    training.TrainConfig))
_OWN_FIELDS = frozenset(("seed", "val_fraction"))


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


def _config(options: dict) -> prequential.PrequentialConfig:
  """The prequential config whose blocks the curve's models are trained as:
  ``seed``, ``val_fraction`` and :class:`tfmdl.training.TrainConfig` fields.

  Raises:
    ValueError: for any other option.
  """
  unknown = set(options) - _OWN_FIELDS - _TRAIN_FIELDS
  if unknown:
    raise ValueError(f"unknown option(s) {sorted(unknown)}; known: "
                     f"{', '.join(sorted(_OWN_FIELDS | _TRAIN_FIELDS))}")
  train = {k: v for k, v in options.items() if k in _TRAIN_FIELDS}
  return prequential.PrequentialConfig(
      train=training.TrainConfig(**train),
      **{k: v for k, v in options.items() if k in _OWN_FIELDS})


def loss_data_curve(model, x, y, x_test, y_test, *,
                    sizes: Optional[Sequence] = None,
                    num_classes: Optional[int] = None,
                    logdir: Optional[str] = None,
                    strategy: Optional[tf.distribute.Strategy] = None,
                    progress: Optional[Progress] = None,
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
      :data:`TAG_ACCURACY`, with the training-set size as the step.
    strategy: a ``tf.distribute`` strategy; the default one when None.
    progress: advanced by each size (a new report on stderr when None).
    **options: ``seed`` and ``val_fraction`` (as in
      :class:`tfmdl.codes.prequential.PrequentialConfig`, with the same
      defaults) and :class:`tfmdl.training.TrainConfig` fields.

  Returns:
    The :class:`tfmdl.bits.loss_data.LossDataCurve`, with test accuracy.

  Raises:
    ValueError: in one line, before any training, for bad sizes, options,
      model or data.
  """
  config = _config(options)
  model_fn = adapter.as_model_fn(model, num_classes,
                                 example=user_data.peek(x))
  data = user_data.labelled(x, y, model_fn.num_classes)
  model_fn = model_fn.with_layout(data.layout)
  test = user_data.labelled(x_test, y_test, model_fn.num_classes,
                            layout=data.layout)
  sizes = training_sizes(sizes, data.n)
  x, y = data.arrays()
  x_test, y_test = test.arrays()
  strategy = strategy or tf.distribute.get_strategy()
  writer = summaries.SummaryWriter(logdir)
  progress = Progress.started(progress, "loss-data curve",
                              total_weight=sum(sizes), units=len(sizes))
  losses, accuracies = [], []
  for k, n in enumerate(sizes, start=1):
    progress.update(size=f"size {k}/{len(sizes)}: n={n}", epoch="")
    prefix = prequential.train_on_prefix(
        model_fn, x[:n], y[:n], k, config, strategy,
        epoch_callback=lambda epoch, _: progress.update(
            epoch=f"epoch {epoch}"))
    log_probs = training.predict_log_probs(
        prefix.model, x_test, config.train.eval_batch_size,
        forward=prefix.forward)
    bits = units.nats_to_bits(training.per_sample_nll_nats(log_probs, y_test))
    losses.append(float(bits.mean()))
    accuracies.append(float(np.mean(log_probs.argmax(1) == y_test)))
    writer.scalars({TAG_LOSS: losses[-1], TAG_ACCURACY: accuracies[-1]},
                   step=n)
    progress.advance(n, note=(
        f"n={n}: test loss {losses[-1]:.4f} bits/sample (log2 K = "
        f"{math.log2(model_fn.num_classes):.4f}), accuracy "
        f"{accuracies[-1]:.4f}, {prefix.train_result.epochs_trained} "
        "epochs"))
  writer.flush()
  return LossDataCurve(sizes=sizes, loss_bits=tuple(losses),
                       num_classes=model_fn.num_classes,
                       accuracy=tuple(accuracies))
