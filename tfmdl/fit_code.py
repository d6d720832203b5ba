"""The code of a ``model.fit``: the first epoch is an online code, for free.

A Keras user who trains with ``model.fit`` already computes a prequential
(online) codelength without knowing it. In the first epoch each minibatch's
predictions come from the forward pass that precedes the update that learns
from it, so ``sum -log2 p(y | x)`` over the first epoch's minibatches is a
codelength that Bob can decode, if he can replay the fit: he rebuilds the
initial model from the seed, decodes minibatch 0 with it, takes the same
optimizer step on the labels he has just decoded, decodes minibatch 1 with
the updated model, and so on. Minibatch 0 is coded with the untrained model
(no uniform block is needed: Bob rebuilds that model from the seed). Only
epoch 1 is a code: later epochs predict labels already sent.

Where the probabilities come from. Keras 3's ``TensorFlowTrainer.train_step``
(keras/src/backend/tensorflow/trainer.py) computes ``y_pred = self(x,
training=True)`` and the loss under a gradient tape, applies the gradients
with ``optimizer.apply_gradients``, then returns ``self.compute_metrics(x, y,
y_pred, sample_weight)``: the compiled metrics receive the very ``y_pred``
tensor of the forward pass that preceded the update. ``tf_keras``'s
``Model.train_step`` has the same order (forward pass, ``optimizer.minimize``,
``compute_metrics`` on that ``y_pred``). The logged loss is no substitute: it
is a mean, with the model's loss function, plus regularisation. So
:class:`FitCodelength` gives a metric to pass to ``compile`` that sums the
per-example ``-ln p(y | x)`` of the labels (float32 log-probabilities, as
the project's other codes, summed in float64), and a callback that
reads it batch by batch and reports at the end of the first epoch, converting
nats to bits once (:func:`tfmdl.bits.units.nats_to_bits`).

The distribution is the model's, read from its head
(:func:`tfmdl.models.heads.read_head`), whatever the loss's ``from_logits``
says: ``log_softmax`` of a linear head's logits; for a softmax (or one-unit
sigmoid) activation, the logits Keras attaches to its output
(``_keras_logits``, what Keras's own cross-entropy uses), else the
probabilities themselves (a ``Softmax`` layer), renormalised. Labels may be
integers or exact one-hot rows. With dropout (or noise layers) the training
forward pass samples a mask: the code uses that dropout-sampled distribution,
still a code because Bob replays the same draws from the seed. With batch
normalisation in training mode a label's probability depends on the inputs of
its minibatch, which Bob holds.

When the fit is not a code, the report says why instead of giving a number
(:attr:`FitCodeReport.problems`). The callback reads ``fit``'s own arguments
from its frame (the argument names are the same public API in both Kerases):

* no global seed (Keras 3's, set by ``keras.utils.set_random_seed``;
  TensorFlow's for ``tf_keras``, set by ``tf_keras.utils.set_random_seed``):
  Bob cannot rebuild the initial weights, the dropout draws, or the order of
  ``shuffle=True`` (on arrays, Keras shuffles with ``tf.random.shuffle`` under
  the global seed; with one set, Bob replays the permutation by running the
  same script). The seed must be set before the model and the data pipeline
  are built; the callback sees only that one is set, and records a hash of
  the initial weights for Bob to check his rebuild against;
* sample or class weights: they change the updates, and Bob does not have
  them (class weights computed from the labels are information about them);
* fewer examples coded than the fit's training examples (``steps_per_epoch``,
  a fit stopped during epoch 1), or ``steps_per_epoch`` on a ``tf.data``
  input (a repeated input may send an example twice);
* a ``tf.data`` input whose order is not fixed: ``deterministic=False`` in
  its options, or a first element that differs between two readings (a
  shuffle that reshuffles each iteration, a random map); other inputs
  (generators, ``PyDataset``) cannot be checked;
* a model whose optimizer had taken steps before this fit (weights trained
  or loaded otherwise cannot be seen: Bob checks his rebuild against the
  hash of the initial weights);
* a label given probability 0, or soft (not one-hot) labels.

A ``validation_split`` is fine: Keras holds out the last examples before any
shuffle; the report says which examples were coded. Without op determinism
(``tf.config.experimental.enable_op_determinism()``) the report notes that
Bob's replay must reproduce the floats on the same software and device.

Example::

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)),
                              keras.layers.Dense(10, activation="softmax")])
    code = FitCodelength(model)
    model.compile("adam", "sparse_categorical_crossentropy",
                  metrics=[code.metric])
    model.fit(x, y, batch_size=32, epochs=5, callbacks=[code.callback])
    print(code.report)  # bits of epoch 1, or why it is not a code
"""

import dataclasses
import hashlib
import inspect
import math
from typing import Optional

import numpy as np
import tensorflow as tf
# What a fit ran under has no public getters: Keras 3's seed is read where
# keras.utils.set_random_seed stores it, TensorFlow's from its eager context,
# op determinism from TensorFlow's config.
from keras.src.utils import rng_utils
from tensorflow.python.eager import context
from tensorflow.python.framework import config as tf_config

from tfmdl import keras_compat
from tfmdl.bits import units
from tfmdl.models import heads

__all__ = ["FitCodelength", "FitCodeReport"]

# Layers that draw random numbers in the training forward pass.
_NOISE_LAYERS = frozenset({
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
    "GaussianDropout", "GaussianNoise", "AlphaDropout",
})
_FIT_ARGUMENTS = ("x", "batch_size", "shuffle", "steps_per_epoch",
                  "validation_split", "validation_data", "sample_weight",
                  "class_weight")


def _log_probs(y_pred, kind: str):
  """Log-probabilities (nats, float32) of the model's distribution, from the
  output ``y_pred`` of a head of ``kind``."""
  logits = getattr(y_pred, "_keras_logits", None)
  if kind == "logits":
    return tf.nn.log_softmax(tf.cast(y_pred, tf.float32))
  if kind == "softmax":
    if logits is not None:
      return tf.nn.log_softmax(tf.cast(logits, tf.float32))
    p = tf.cast(y_pred, tf.float32)
    return tf.math.log(p) - tf.math.log(tf.reduce_sum(p, -1, keepdims=True))
  if logits is not None:  # one-unit sigmoid: the logits [0, z]
    z = tf.cast(logits, tf.float32)
    return tf.concat([tf.math.log_sigmoid(-z), tf.math.log_sigmoid(z)], -1)
  p = tf.cast(y_pred, tf.float32)
  return tf.math.log(tf.concat([1.0 - p, p], -1))


def _metric(keras, kind: str):
  """The metric of :class:`FitCodelength`, a ``Metric`` of ``keras``: sums
  ``-ln p(y | x)`` (float64) and counts labels and soft label rows."""

  class FirstEpochNll(keras.metrics.Metric):
    """Sum of ``-ln p(y | x)`` over the epoch's training forward passes
    (nats), from the same ``y_pred`` the loss was computed from."""

    def __init__(self, name="fit_code_nll_nats"):
      super().__init__(name=name)
      self.nats = self.add_weight(name="nats", shape=(), initializer="zeros",
                                  dtype="float64")
      self.count = self.add_weight(name="count", shape=(),
                                   initializer="zeros", dtype="float64")
      self.soft_rows = self.add_weight(name="soft_rows", shape=(),
                                       initializer="zeros", dtype="float64")

    def update_state(self, y_true, y_pred, sample_weight=None):
      del sample_weight  # the code is of the labels; weights: see fit's
      log_probs = _log_probs(y_pred, kind)
      y_true = tf.convert_to_tensor(y_true)
      if (y_true.shape.rank == y_pred.shape.rank and
          y_true.shape[-1] == y_pred.shape[-1] and y_pred.shape[-1] > 1):
        one_hot = tf.cast(y_true, tf.float32)
        self.soft_rows.assign_add(tf.reduce_sum(tf.cast(
            tf.reduce_any(tf.not_equal(one_hot * (1.0 - one_hot), 0.0), -1) |
            tf.not_equal(tf.reduce_sum(one_hot, -1), 1.0), tf.float64)))
        labels = tf.argmax(one_hot, -1, output_type=tf.int32)
      else:
        labels = tf.cast(tf.reshape(y_true, [-1]), tf.int32)
      nll = -tf.gather(log_probs, labels, axis=1, batch_dims=1)
      self.nats.assign_add(tf.reduce_sum(tf.cast(nll, tf.float64)))
      self.count.assign_add(tf.cast(tf.size(labels), tf.float64))

    def result(self):
      return self.nats

  return FirstEpochNll()


def _callback(keras, code: "FitCodelength"):
  """The callback of :class:`FitCodelength`, a ``Callback`` of ``keras``."""

  # pylint: disable=protected-access
  class FirstEpochCode(keras.callbacks.Callback):
    """Reads the metric after each batch of the first epoch; reports at its
    end (:attr:`FitCodelength.report`)."""

    def on_train_begin(self, logs=None):
      code._train_begin(self.model)

    def on_train_batch_end(self, batch, logs=None):
      code._batch_end()

    def on_epoch_end(self, epoch, logs=None):
      code._epoch_end(self.params.get("epochs"))

  return FirstEpochCode()


@dataclasses.dataclass(frozen=True)
class FitCodeReport:
  """The first epoch of a fit as a code, or why it is not one.

  Attributes:
    problems: why the fit is not a code (one sentence each); empty if it is.
    notes: facts about the code that do not make it invalid.
    num_classes: K.
    n: labels coded (sent) in epoch 1.
    first_epoch_nll_bits: ``sum -log2 p(y | x)`` over epoch 1, measured
      whether or not it is a code; read :attr:`codelength_bits` instead.
    batch_bits: the bits of each minibatch (each call of the train function)
      in order; ``batch_sizes`` its labels.
    uniform_bits: ``n log2 K``, the uniform code of the same labels.
    coded: which examples were coded, in which order.
    replay: what Bob needs, beyond the script that built, compiled and fit
      the model: seed, batch size, order, optimizer, versions, and the
      SHA-256 of the initial weights to check his rebuild against.
  """
  problems: tuple
  notes: tuple
  num_classes: int
  n: int
  first_epoch_nll_bits: float
  batch_bits: tuple
  batch_sizes: tuple
  uniform_bits: float
  coded: str
  replay: dict

  @property
  def valid(self) -> bool:
    return not self.problems

  @property
  def codelength_bits(self) -> Optional[float]:
    """The codelength in bits; None when the fit is not a code."""
    return self.first_epoch_nll_bits if self.valid else None

  @property
  def bits_per_example(self) -> Optional[float]:
    return None if not self.valid else self.first_epoch_nll_bits / self.n

  def __str__(self) -> str:
    uniform = (f"uniform n*log2(K) = {self.uniform_bits:,.1f} bits for "
               f"n={self.n:,}, K={self.num_classes}")
    if not self.valid:
      return "not a code: " + " ".join(self.problems) + f" ({uniform})"
    lines = [f"fit code (epoch 1): {self.codelength_bits:,.1f} bits, "
             f"{self.bits_per_example:.4f} bits/example ({uniform}; ratio "
             f"{self.codelength_bits / self.uniform_bits:.3f})",
             f"coded: {self.coded}",
             "Bob replays: " + ", ".join(f"{k}={v}" for k, v in
                                         self.replay.items())]
    return "\n".join(lines + [f"note: {note}" for note in self.notes])


def _fit_arguments(model) -> Optional[dict]:
  """The arguments of the ``model.fit`` running now, read from its frame
  (validation examples already split off ``x``); None outside a fit."""
  frame = inspect.currentframe()
  try:
    while frame is not None:
      if (frame.f_code.co_name == "fit" and
          frame.f_locals.get("self") is model):
        return {name: frame.f_locals.get(name) for name in _FIT_ARGUMENTS}
      frame = frame.f_back
    return None
  finally:
    del frame  # no reference cycle through this frame


def _global_seed(keras) -> Optional[int]:
  """The seed Bob replays from: Keras 3's (set with TensorFlow's by
  ``keras.utils.set_random_seed``), or TensorFlow's for ``tf_keras``."""
  if keras is keras_compat.keras3:
    return rng_utils.get_random_seed()
  return context.global_seed()


def _layers(model):
  for layer in model.layers:
    yield layer
    if hasattr(layer, "layers"):
      yield from _layers(layer)


def _weights_sha256(model) -> str:
  digest = hashlib.sha256()
  for weight in model.get_weights():
    digest.update(np.ascontiguousarray(weight).tobytes())
  return digest.hexdigest()


def _is_arrays(x) -> bool:
  leaves = tf.nest.flatten(x)
  return bool(leaves) and all(
      isinstance(leaf, (np.ndarray, tf.Tensor)) for leaf in leaves)


def _reads_alike(ds: tf.data.Dataset) -> bool:
  """Whether two readings of ``ds`` start with the same element."""
  first, again = next(iter(ds)), next(iter(ds))
  return all(np.array_equal(a, b) for a, b in
             zip(tf.nest.flatten(first), tf.nest.flatten(again)))


class FitCodelength:
  """The first epoch of ``model.fit`` as an online code (module docstring).

  Pass :attr:`metric` to ``compile(metrics=[...])`` and :attr:`callback` to
  ``fit(callbacks=[...])``; after the first epoch, :attr:`report` holds the
  codelength or why the fit is not a code. Later epochs, and later fits of
  the same model, do not change it.

  Attributes:
    metric: a ``Metric`` of the model's Keras; its value is the epoch's
      ``sum -ln p(y | x)`` in nats.
    callback: a ``Callback`` of the model's Keras.
  """

  def __init__(self, model):
    """Reads the model's head.

    Args:
      model: a built Keras 3 or ``tf_keras`` Sequential or functional model
        ending in logits, a softmax, or a sigmoid on one unit.

    Raises:
      ValueError: for a model whose output is not a distribution over
        classes (:func:`tfmdl.models.heads.read_head`).
    """
    self._model = model
    self._keras = keras_compat.keras_of(model)
    self._head = heads.read_head(model)
    self.metric = _metric(self._keras, self._head.kind)
    self.callback = _callback(self._keras, self)
    self._report = None
    self._started = None
    self._seen = (0.0, 0.0, 0.0)  # the metric's nats, count, soft rows
    self._batches = []  # (nats, count) of each batch of epoch 1

  @property
  def report(self) -> FitCodeReport:
    """The report, once the fit's first epoch has ended.

    Raises:
      RuntimeError: before the end of the first epoch.
    """
    if self._report is None:
      raise RuntimeError("no fit has ended an epoch with this callback yet: "
                         "pass code.metric to compile and code.callback to "
                         "fit")
    return self._report

  def _train_begin(self, model) -> None:
    if model is not self._model:
      raise ValueError(f"code.callback was made for model "
                       f"{self._model.name!r}, not {model.name!r}")
    if self._report is not None:
      return
    optimizer = model.optimizer
    self._started = {
        "fit": _fit_arguments(model),
        "seed": _global_seed(self._keras),
        "steps_before": int(optimizer.iterations.numpy()),
        "weights_sha256": _weights_sha256(model),
    }
    x = (self._started["fit"] or {}).get("x")
    if isinstance(x, tf.data.Dataset):
      self._started["reads_alike"] = (x.options().deterministic is not False
                                      and _reads_alike(x))
    self._seen = (0.0, 0.0, 0.0)
    self._batches = []

  def _batch_end(self) -> None:
    if self._report is not None:
      return
    seen = tuple(float(v.numpy()) for v in (
        self.metric.nats, self.metric.count, self.metric.soft_rows))
    if seen[1] == 0:
      raise ValueError("code.metric was not updated by the training step: "
                       "pass it to model.compile(metrics=[code.metric])")
    self._batches.append((seen[0] - self._seen[0], seen[1] - self._seen[1]))
    self._seen = seen

  def _epoch_end(self, epochs: Optional[int]) -> None:
    if self._report is not None:
      return
    started, fit = self._started, self._started["fit"]
    model = self._model
    n = int(self._seen[1])
    k = self._head.num_classes
    problems, notes = self._problems(started, fit, n), []
    noisy = sorted({type(layer).__name__ for layer in _layers(model)
                    if type(layer).__name__ in _NOISE_LAYERS})
    if noisy:
      notes.append(
          f"the training forward pass samples {', '.join(noisy)}: the code "
          "uses the sampled distribution; Bob replays the same draws from "
          "the seed")
    if any("BatchNormalization" in type(layer).__name__
           for layer in _layers(model)):
      notes.append("batch normalisation uses each minibatch's statistics: a"
                   " label's probability depends on its minibatch's inputs, "
                   "which Bob holds")
    if not tf_config.is_op_determinism_enabled():
      notes.append(
          "op determinism is off: Bob's replay must reproduce the floats "
          "(same TensorFlow, Keras and device); tf.config.experimental."
          "enable_op_determinism() makes kernels deterministic")
    if epochs is not None and epochs > 1:
      notes.append(f"only epoch 1 of {epochs} is coded: later epochs "
                   "predict labels already sent")
    nats = np.array([nats for nats, _ in self._batches])
    self._report = FitCodeReport(
        problems=tuple(problems), notes=tuple(notes), num_classes=k, n=n,
        first_epoch_nll_bits=float(units.nats_to_bits(nats.sum())),
        batch_bits=tuple(float(b) for b in units.nats_to_bits(nats)),
        batch_sizes=tuple(int(c) for _, c in self._batches),
        uniform_bits=n * math.log2(k), coded=self._coded(fit, n),
        replay=self._replay(started, fit, model))

  def _problems(self, started: dict, fit: Optional[dict], n: int) -> list:
    """Why the first epoch is not a code (empty if it is)."""
    problems = []
    if fit is None:
      return ["the callback did not run inside model.fit: the order, the "
              "weights and the examples sent cannot be checked."]
    shuffled = _is_arrays(fit["x"]) and bool(fit["shuffle"])
    if started["seed"] is None:
      problems.append(
          "no global seed was set (keras.utils.set_random_seed before "
          "building the model): Bob cannot rebuild the initial weights"
          + (" or the order of shuffle=True" if shuffled else "") + ".")
    if started["steps_before"]:
      problems.append(f"the model had taken {started['steps_before']} "
                      "optimizer steps before this fit: Bob would need that "
                      "training too.")
    if fit["sample_weight"] is not None or fit["class_weight"] is not None:
      problems.append("the fit weights examples (sample_weight or "
                      "class_weight): the updates depend on weights Bob does "
                      "not have.")
    x = fit["x"]
    if isinstance(x, tf.data.Dataset):
      spec = x.element_spec
      if isinstance(spec, tuple) and len(spec) == 3:
        problems.append("the tf.data input carries sample weights: the "
                        "updates depend on weights Bob does not have.")
      if not started["reads_alike"]:
        problems.append(
            "the tf.data input's order is not fixed (deterministic=False, "
            "or a reshuffle or random map: two readings differ): shuffle "
            "once with a seed and reshuffle_each_iteration=False.")
      if fit["steps_per_epoch"] is not None:
        problems.append("steps_per_epoch on a tf.data input: which examples "
                        "were sent (a repeated input sends some twice) "
                        "cannot be checked.")
    elif _is_arrays(x):
      total = tf.nest.flatten(x)[0].shape[0]
      if n != total:
        problems.append(f"only {n} of the fit's {total} training examples "
                        "were sent in epoch 1 (steps_per_epoch, or the fit "
                        "stopped): the rest are not coded.")
    else:
      problems.append(f"the order of a {type(x).__name__} input cannot be "
                      "checked: pass arrays or a tf.data.Dataset.")
    if self._seen[2]:
      problems.append("some labels are not one-hot rows: there is no single"
                      " label to code.")
    if not math.isfinite(self._seen[0]):
      problems.append("a label got probability 0 (or the loss diverged): "
                      "its codelength is infinite.")
    return problems

  @staticmethod
  def _coded(fit: Optional[dict], n: int) -> str:
    """Which examples were coded, in which order."""
    if fit is None:
      return f"{n} examples in an unknown order"
    x = fit["x"]
    if isinstance(x, tf.data.Dataset):
      return f"the {n} examples of the tf.data input, in its order"
    what = f"the {n} examples of the arrays"
    if fit["validation_split"]:
      held = tf.nest.flatten(fit["validation_data"])[0].shape[0]
      what = (f"the first {n} examples of the arrays (validation_split="
              f"{fit['validation_split']} held out the last {held} before "
              "any shuffle; they are not coded)")
    if fit["shuffle"]:
      return (what + f", in the order of fit's shuffle={fit['shuffle']!r} "
              "(tf.random.shuffle under the global seed)")
    return what + ", in their order"

  def _replay(self, started: dict, fit: Optional[dict], model) -> dict:
    """What Bob needs besides the script that built, compiled and fit the
    model: facts to replay it by, and to check his replay against."""
    fit = fit or {}
    optimizer = model.optimizer
    rate = optimizer.get_config()["learning_rate"]
    return {
        "seed": started["seed"],
        "batch_size": fit.get("batch_size") or int(self._batches[0][1]),
        "shuffle": fit.get("shuffle"),
        "optimizer": f"{type(optimizer).__name__}(learning_rate="
                     f"{f'{rate:g}' if np.isscalar(rate) else rate})",
        "jit_compile": bool(getattr(model, "jit_compile", False)),
        "op_determinism": tf_config.is_op_determinism_enabled(),
        "initial_weights_sha256": started["weights_sha256"],
        "tensorflow": tf.__version__,
        "keras": self._keras.__version__,
    }
