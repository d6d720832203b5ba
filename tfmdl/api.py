"""One entry point: the description length of a user's model on a user's data.

``tfmdl.description_length(model, x, y, code=...)`` takes what a Keras user
has -- a built Keras 3 or ``tf_keras`` model (or a ``model_fn(seed)``), arrays,
a dict of arrays or a ``tf.data.Dataset`` -- normalises it
(:mod:`tfmdl.user_models`, :mod:`tfmdl.data.user`) and runs one code on it,
returning that code's result object (``codelength_bits``, ``uniform_bits``,
``compression_ratio``, the per-block or per-part breakdown) with the data's
fingerprint (:func:`tfmdl.data.user.fingerprint`) recorded in it.

Codes (:data:`CODES`) and where their options go:

* ``prequential``: :class:`tfmdl.prequential.PrequentialConfig` fields
  (``timesteps``, also as fractions of n, ``val_fraction``, ``seed``...);
  a stream is read block by block, with ``shuffle_buffer`` bounding memory;
* ``online``: :class:`tfmdl.online.OnlineConfig` fields;
* ``variational``: :class:`tfmdl.variational.VariationalConfig` fields (a
  ``tf_keras`` model's Dense/Conv2D layers become Flipout layers; a Keras 3
  model is translated to ``tf_keras`` first);
* ``two_part_float32``, ``two_part_compressed``, ``two_part_subspace``:
  :class:`tfmdl.two_part.TwoPartConfig`, ``CompressionConfig`` and
  ``SubspaceConfig`` fields.

A :class:`tfmdl.training.TrainConfig` field (``max_epochs``,
``learning_rate``, ``batch_size``...) goes to the code's training config; a
whole config can be passed as ``config=`` (and ``compression=``,
``subspace=``). An unknown option is refused in one line listing the known
ones. Every code but the prequential one reads a stream into memory.

Example::

    import keras, tfmdl
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    result = tfmdl.description_length(model, x, y)
    print(result.codelength_bits, result.uniform_bits)
"""

import dataclasses
from typing import Optional

from absl import logging
import tensorflow as tf

from tfmdl.codes.prequential import online
from tfmdl.codes import prequential
from tfmdl.codes.prequential import stream as prequential_stream
from tfmdl import training
from tfmdl.codes import two_part
from tfmdl.models import adapter
from tfmdl.codes import variational
from tfmdl.data import user as user_data

CODES = ("prequential", "online", "variational", "two_part_float32",
         "two_part_compressed", "two_part_subspace")
_TRAIN_FIELDS = frozenset(f.name for f in dataclasses.fields(
    training.TrainConfig))


def _take(options: dict, cls, base):
  """An instance of dataclass ``cls``: ``base`` (or the defaults) with the
  options named like its fields, and TrainConfig fields put in its
  ``train`` field if it has one; the options used are removed."""
  names = {f.name for f in dataclasses.fields(cls)}
  mine = {k: options.pop(k) for k in list(options) if k in names}
  config = dataclasses.replace(base or cls(), **mine)
  if "train" in names:
    train = {k: options.pop(k) for k in list(options) if k in _TRAIN_FIELDS}
    if train:
      config = dataclasses.replace(
          config, train=dataclasses.replace(config.train, **train))
  return config


def _configs(code: str, options: dict) -> dict:
  """The keyword arguments of ``code``'s function built from ``options``.

  Raises:
    ValueError: for an option no config of the code has.
  """
  options = dict(options)
  base = options.pop("config", None)
  if code == "prequential":
    found = {"config": _take(options, prequential.PrequentialConfig, base)}
  elif code == "online":
    found = {"config": _take(options, online.OnlineConfig, base)}
  elif code == "variational":
    found = {"config": _take(options, variational.VariationalConfig, base)}
  elif code == "two_part_float32":
    found = {"config": _take(options, two_part.TwoPartConfig, base)}
  elif code == "two_part_compressed":
    compression = _take(options, two_part.CompressionConfig,
                        options.pop("compression", None))
    found = {"config": _take(options, two_part.TwoPartConfig, base),
             "compression": compression}
  else:
    # The subspace code trains z with its own TrainConfig.
    subspace = _take(options, two_part.SubspaceConfig,
                     options.pop("subspace", None))
    found = {"subspace": subspace,
             "config": _take(options, two_part.TwoPartConfig, base)}
  if options:
    known = set(found) | _TRAIN_FIELDS | {
        f.name for c in found.values() for f in dataclasses.fields(c)}
    raise ValueError(f"unknown option(s) {sorted(options)} for code "
                     f"{code!r}; known: {', '.join(sorted(known))}")
  return found


def _run(code: str, model_fn, data: user_data.UserData, configs: dict,
         shuffle_buffer, test, strategy):
  """The code's result on normalised model and data."""
  x_test, y_test = (None, None) if test is None else test.arrays()
  if code == "prequential" and data.is_stream:
    return prequential_stream.prequential_code(
        model_fn, data, shuffle_buffer=shuffle_buffer, x_test=x_test,
        y_test=y_test, strategy=strategy, **configs)
  x, y = data.arrays()
  functions = {
      "prequential": prequential.prequential_code,
      "online": online.online_code,
      "variational": variational.variational_code,
      "two_part_float32": two_part.float32_code,
      "two_part_compressed": two_part.compressed_code,
  }
  if code == "two_part_subspace":
    return two_part.subspace_code(model_fn, x, y, data.num_classes,
                                  x_test=x_test, y_test=y_test, **configs)
  return functions[code](model_fn, x, y, data.num_classes, x_test=x_test,
                         y_test=y_test, strategy=strategy, **configs)


def description_length(model, x, y=None, *, code: str = "prequential",
                       num_classes: Optional[int] = None, x_test=None,
                       y_test=None,
                       strategy: Optional[tf.distribute.Strategy] = None,
                       **options):
  """The codelength, in bits, of labels ``y`` given inputs ``x`` with ``model``.

  Args:
    model: a built Keras 3 or ``tf_keras`` model (cloned and re-initialised
      from each agreed seed; its weights and compiled state are not used), or
      a ``model_fn(seed)`` returning a fresh one. A softmax head, or a sigmoid
      on one unit for two classes, is measured through its logits. The
      variational code translates a Keras 3 model to ``tf_keras``
      (:mod:`tfmdl.models.translate`). A subclassed model is refused: pass a
      ``model_fn(seed)`` building it (taken to return logits).
    x: inputs: an array (images, features, integer token ids), a dict of
      arrays for a model with named inputs, or a ``tf.data.Dataset`` of
      ``(x, y)`` pairs or batches in a fixed order (then ``y`` is None).
    y: integer labels (any integer dtype), for arrays.
    code: one of :data:`CODES`.
    num_classes: K; None for the model's number of outputs.
    x_test, y_test: optional test data (same form as ``x`` and ``y``) for
      the code's test accuracy.
    strategy: a ``tf.distribute`` strategy (not for ``two_part_subspace``).
    **options: the code's config fields (module docstring), and
      ``shuffle_buffer`` for the prequential code on a stream.

  Returns:
    The code's result (:class:`tfmdl.prequential.PrequentialResult`,
    :class:`tfmdl.two_part.TwoPartResult` or
    :class:`tfmdl.variational.VariationalResult`), its ``data_fingerprint``
    set.

  Raises:
    ValueError: in one line, before any training, for an unknown code or
      option, a model that cannot be measured, or bad data.
  """
  if code not in CODES:
    raise ValueError(f"unknown code {code!r}; known: {', '.join(CODES)}")
  options = dict(options)
  shuffle_buffer = options.pop("shuffle_buffer", None)
  if shuffle_buffer is not None and not (
      code == "prequential" and isinstance(x, tf.data.Dataset)):
    raise ValueError("shuffle_buffer is an option of the prequential code on "
                     "a tf.data input")
  configs = _configs(code, options)
  example = user_data.peek(x)
  adapt = (adapter.as_variational_model_fn if code == "variational"
           else adapter.as_model_fn)
  model_fn = adapt(model, num_classes, example=example)
  data = user_data.labelled(x, y, model_fn.num_classes)
  model_fn = model_fn.with_layout(data.layout)
  test = (None if x_test is None else user_data.labelled(
      x_test, y_test, model_fn.num_classes, layout=data.layout))
  logging.info("%s code of %d labels (K=%d, %s head of layer %r), data "
               "fingerprint %s", code, data.n, data.num_classes,
               model_fn.head.kind, model_fn.head.layer, data.fingerprint)
  result = _run(code, model_fn, data, configs, shuffle_buffer, test,
                strategy)
  return dataclasses.replace(result, data_fingerprint=data.fingerprint)

