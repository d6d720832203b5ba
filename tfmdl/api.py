"""One entry point: the description length of a user's model on a user's data.

``tfmdl.description_length(model, x, y, code=...)`` takes what a Keras user
has -- a built Keras 3 or ``tf_keras`` model (or a ``model_fn(seed)``), arrays,
a dict of arrays or a ``tf.data.Dataset`` -- normalises it
(:mod:`tfmdl.models.adapter`, :mod:`tfmdl.data.labelled`) and runs one code
of the registry (:mod:`tfmdl.codes.registry`) on it, returning that code's
result (``codelength_bits``, ``uniform_bits``, ``compression_ratio``, the
per-block or per-part breakdown) with the data's fingerprint recorded in it.

Codes and their config sections (each a dataclass, its fields the options):

* ``prequential``: ``prequential``
  (:class:`~tfmdl.codes.prequential.PrequentialConfig`: ``timesteps``, also
  as fractions of n, ``uniform_fallback``, ``seed``...), ``block``
  (:class:`~tfmdl.codes.prequential.BlockConfig`: ``val_fraction``,
  ``final_model``...) and ``train`` (:class:`tfmdl.training.TrainConfig`:
  ``max_epochs``, ``learning_rate``, ``batch_size``...); a stream is read
  block by block, ``shuffle_buffer`` bounding memory;
* ``online``: ``prequential`` and ``online``
  (:class:`~tfmdl.codes.prequential.OnlineConfig`, whose defaults are the
  online recipe's); a stream is read once, in order, replayed from a memory
  of ``replay_memory`` samples (which a stream needs: ``replay_memory=65536``,
  say);
* ``online_switch``: ``model`` a list of models, each an online learner
  with the ``online`` section's config, run side by side, every label coded
  with the switching mixture of ``switch``
  (:class:`~tfmdl.codes.prequential.SwitchConfig`);
* ``shortest``: the Bayes mixture of the block code, the online code, their
  switch and the uniform code (:mod:`tfmdl.codes.shortest`), at most 2 bits
  above the shortest of the four; sections ``prequential``, ``block``,
  ``train`` and ``online``;
* ``variational``: ``variational`` and ``train`` (a model's Dense/Conv2D
  layers become Flipout layers; a Keras 3 model is translated to
  ``tf_keras`` first);
* ``two_part_float32``, ``two_part_compressed``, ``two_part_subspace``:
  ``two_part``, ``train``, and ``compression`` or ``subspace``.

An option is a field name (``max_epochs=5``) when exactly one of the code's
sections has it, or a whole section (``train=TrainConfig(...)`` or
``train={"learning_rate": 3e-3}``) when a name is in several
(``learning_rate`` is in ``train`` and ``subspace``). An unknown or
ambiguous option is refused in one line listing the known ones. Every code
but the prequential and online ones reads a stream into memory.

Example::

    import keras, tfmdl
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    result = tfmdl.description_length(model, x, y)
    print(result.codelength_bits, result.uniform_bits)
"""

import dataclasses
from typing import Mapping, Optional

from absl import logging
import tensorflow as tf

from tfmdl.codes import registry
from tfmdl.data import labelled
from tfmdl.models import adapter
from tfmdl.models import flipout

CODES = registry.MODEL_CODES


def _nested(cls) -> dict:
  """Fields of ``cls`` that are config dataclasses: name -> class."""
  return {f.name: f.type for f in dataclasses.fields(cls)
          if dataclasses.is_dataclass(f.type) and isinstance(f.type, type)}


def code_configs(code: str, options: Mapping) -> dict:
  """The code's config instances (section name -> dataclass) built from
  ``options`` (module docstring): defaults elsewhere.

  Raises:
    ValueError: for an unknown or ambiguous option, or a bad value.
  """
  sections = registry.get(code).section_classes()
  options = dict(options)
  given = {name: options.pop(name) for name in list(options)
           if name in sections}
  owners = {}
  for name, cls in sections.items():
    for field in dataclasses.fields(cls):
      if field.name not in _nested(cls):
        owners.setdefault(field.name, []).append(name)
  values = {name: {} for name in sections}
  for option, value in options.items():
    found = owners.get(option, [])
    if not found:
      known = sorted(set(owners) | set(sections))
      raise ValueError(f"unknown option {option!r} for code {code!r}; "
                       f"known: {', '.join(known)}")
    if len(found) > 1:
      raise ValueError(
          f"option {option!r} is a field of sections {found} of code "
          f"{code!r}: pass it in one of them, e.g. {found[0]}="
          f"{{{option!r}: ...}}")
    values[found[0]][option] = value
  # Nested sections first (``train`` before ``block``), then their owners.
  built = {}
  for name in sorted(sections, key=lambda n: bool(_nested(sections[n]))):
    cls, base = sections[name], given.get(name)
    if isinstance(base, Mapping):
      values[name] = {**base, **values[name]}
      base = None
    if base is not None and not isinstance(base, cls):
      raise ValueError(f"{name}= takes a {cls.__name__} or a dict of its "
                       f"fields, got {type(base).__name__}")
    fields = {**{f: built[f] for f in _nested(cls) if f in built},
              **values[name]}
    try:
      built[name] = dataclasses.replace(base or cls(), **fields)
    except TypeError as e:
      raise ValueError(f"section {name!r} of code {code!r}: {e}") from e
  return built


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
    code: one of :data:`CODES`; ``"shortest"`` when the user does not know
      which code is shortest for their model and number of labels.
    num_classes: K; None for the model's number of outputs.
    x_test, y_test: optional test data (same form as ``x`` and ``y``) for
      the code's test accuracy.
    strategy: a ``tf.distribute`` strategy (not for ``two_part_subspace``).
    **options: the code's config fields or sections (module docstring), and
      ``shuffle_buffer`` for the prequential code on a stream.

  Returns:
    The code's result (:class:`tfmdl.codes.prequential.PrequentialResult`,
    :class:`tfmdl.codes.shortest.ShortestResult`,
    :class:`tfmdl.codes.two_part.TwoPartResult` or
    :class:`tfmdl.codes.variational.VariationalResult`), its
    ``data_fingerprint`` set.

  Raises:
    ValueError: in one line, before any training, for an unknown code or
      option, a model that cannot be measured, or bad data.
  """
  if code not in CODES:
    raise ValueError(f"unknown code {code!r}; known: {', '.join(CODES)}")
  options = dict(options)
  extra = {}
  if "shuffle_buffer" in options:
    if not (code == "prequential" and isinstance(x, tf.data.Dataset)):
      raise ValueError("shuffle_buffer is an option of the prequential code "
                       "on a tf.data input")
    extra["shuffle_buffer"] = options.pop("shuffle_buffer")
  configs = code_configs(code, options)
  transform = (flipout.Flipout(configs["variational"].posterior_scale_init)
               if code == "variational" else None)
  several = isinstance(model, (list, tuple))
  if several != (code == "online_switch") or (several and not model):
    raise ValueError("code='online_switch' takes a list of models (one "
                     "online learner each); every other code one model")
  fns = [adapter.as_model_fn(m, num_classes, example=labelled.peek(x),
                             transform=transform)
         for m in (model if several else [model])]
  model_fn = fns[0]
  data = labelled.labelled(x, y, model_fn.num_classes)
  fns = tuple(fn.with_layout(data.layout) for fn in fns)
  model_fn = fns if several else fns[0]
  test = (None if x_test is None else labelled.labelled(
      x_test, y_test, model_fn.num_classes, layout=data.layout))
  x_test, y_test = (None, None) if test is None else test.arrays()
  logging.info("%s code of %d labels (K=%d, %s head of layer %r), data "
               "fingerprint %s", code, data.n, data.num_classes,
               fns[0].head.kind, fns[0].head.layer, data.fingerprint)
  result = registry.get(code).run(model_fn, data, configs, x_test=x_test,
                                  y_test=y_test, strategy=strategy,
                                  source="tfmdl.description_length", **extra)
  return dataclasses.replace(result, data_fingerprint=data.fingerprint)
