"""A user's Keras model, as the ``model_fn(seed)`` that every code calls.

The codes rebuild a fresh model for every block (prequential), grid point
(variational) or transmitted model (two-part) from an agreed seed; Bob rebuilds
the same one. A user may hand in:

* a built Keras 3 or ``tf_keras`` model (Sequential or functional): each call
  clones it with ``keras.models.clone_model`` after seeding every global
  generator from the call's seed
  (:func:`tfmdl.training.seed_everything`), which re-initialises its
  weights reproducibly (initializers with their own fixed seed give the same
  weights for every seed: still a code, one that ignores the seed). The
  model's own weights, optimizer and compiled loss are not used: the codes
  train with their own loop, on the cross-entropy of the logits;
* a ``model_fn(seed)`` returning a fresh model (the codes seed the globals
  before calling it). It may be a subclassed model: built on the example
  inputs and taken to output logits, as its author writes the function.

A subclassed model handed in built is refused: its head (logits or
probabilities) cannot be read from its Python ``call``, and it cannot be
rebuilt from a seed (Keras 3.15's automatic ``get_config`` of a subclassed
``keras.Model`` records its ``__init__`` defaults, not the arguments it was
given); the one-line refusal gives the ``model_fn`` to write instead.

Either way the model's head is read (:mod:`tfmdl.models.heads`): a softmax or
a one-unit sigmoid is turned into the logits it is computed from, so the
model's distribution is measured exactly; other heads are refused in one
line; so is an output of another size than the number of classes K (when K
is not given, it is the model's). Before any training the model is built once
and, given a few inputs, called on them: an output made of probabilities that
the head did not reveal (a ``Lambda`` softmax) is refused.

A model taking a dict of inputs gets them packed into one matrix by the data
side (:class:`tfmdl.data.labelled.InputLayout`); :meth:`ModelFn.with_layout`
puts the unpacking in front of the model.

One class, :class:`ModelFn`, does this for every code, with a *transform*
between the fresh model and its logits: none for the deterministic codes;
for the variational code, which calls ``model_fn(seed, prior_stddev)``,
:class:`~tfmdl.models.flipout.Flipout` turns a ``tf_keras`` model's
``Dense``/``Conv2D`` layers into Flipout twins under that prior (a Keras 3
model is first translated to ``tf_keras``, :mod:`tfmdl.models.translate`),
and
:data:`~tfmdl.models.flipout.BUILT` takes a source that builds its own
Flipout model from ``(seed, prior_stddev)`` (the zoo's variational
builders).

Example::

    import keras
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model_fn = as_model_fn(model, 10)
    logits_model = model_fn(seed=3)  # fresh weights from seed 3, logits out
"""

import hashlib
import weakref
from typing import Mapping, Optional

import numpy as np

from tfmdl import keras_compat
from tfmdl import training
from tfmdl.data.labelled import InputLayout
from tfmdl.models import heads


def _is_keras_model(obj) -> bool:
  return isinstance(obj, (keras_compat.keras3.Model,
                          keras_compat.tf_keras.Model))


def _is_subclassed(model) -> bool:
  """Whether ``model``'s layers and output are known only to its ``call``."""
  return not getattr(model, "outputs", None) and not isinstance(
      model, (keras_compat.keras3.Sequential, keras_compat.tf_keras.Sequential))


def _refuse_subclassed(model, variational: bool):
  """The one-line refusal of a built subclassed model, with what to pass."""
  name = type(model).__name__
  if variational:
    instead = ("the variational code needs its layers: pass it as a "
               "Sequential or functional model")
  else:
    instead = ("if its call returns logits, pass a function building a fresh"
               f" one: tfmdl.description_length(lambda seed: {name}(...), x, "
               "y)")
  raise ValueError(
      f"model {model.name!r} ({name}) is subclassed: tfmdl can neither read "
      f"its head (logits or probabilities) nor rebuild it from a seed; "
      f"{instead}")


def _built(model, example, *, variational: bool = False):
  """``model``, built from ``example``'s shape if it was not yet (a
  Sequential without an Input); refused when it cannot be."""
  if getattr(model, "outputs", None):
    return model
  if _is_subclassed(model):
    _refuse_subclassed(model, variational)
  if isinstance(example, np.ndarray):
    model.build((None,) + example.shape[1:])
    return model
  return heads.output_layer(model)  # raises: unbuilt


def _clone(model):
  """``keras.models.clone_model(model)``; one line if Keras cannot."""
  try:
    return keras_compat.keras_of(model).models.clone_model(model)
  except (TypeError, ValueError) as e:
    first = str(e).splitlines()[0] if str(e) else type(e).__name__
    raise ValueError(
        f"model {model.name!r} cannot be cloned by keras.models.clone_model "
        f"({first}): pass a model_fn(seed) that builds it") from e


def _declared_logits(model, example):
  """A model_fn's subclassed ``model`` as a functional model on
  ``example``'s inputs, and its head: logits, as the model_fn's author
  declares (probabilities are refused on data by the caller)."""
  if example is None:
    raise ValueError(
        f"model_fn returned a subclassed model ({type(model).__name__}): "
        "pass it through tfmdl.description_length, which builds it on the "
        "data")
  keras = keras_compat.keras_of(model)
  if isinstance(example, Mapping):
    inputs = {k: keras.Input(np.shape(v)[1:], dtype=np.asarray(v).dtype,
                             name=k) for k, v in example.items()}
  else:
    inputs = keras.Input(example.shape[1:], dtype=example.dtype)
  functional = keras.Model(inputs, model(inputs), name=model.name)
  size = int(functional.output_shape[-1])
  if size < 2:
    raise ValueError(f"model {model.name!r} outputs {size} value: a code "
                     "needs one logit per class")
  return functional, heads.Head("logits", model.name, size)


def _looks_like_probabilities(outputs: np.ndarray) -> bool:
  """Every row in [0, 1] and summing to 1: a distribution, not logits."""
  return bool(np.all(outputs >= 0) and np.all(outputs <= 1) and
              np.allclose(outputs.sum(-1), 1.0, atol=1e-3))


def _packed(model, layout: InputLayout):
  """``model`` behind a layer that unpacks ``layout``'s matrix into its
  dict of inputs."""
  keras = keras_compat.keras_of(model)
  packed = keras.Input((layout.width,), dtype=layout.dtype, name="packed")
  parts = keras.layers.Lambda(layout.unpack, name="unpack")(packed)
  return keras.Model(packed, model(parts), name=f"{model.name}_packed")


def _check_inputs_match(model, keys: Optional[tuple]) -> None:
  """Refuses a model whose named inputs are not ``keys`` (None: one array)."""
  structure = heads.symbolic_inputs(model)
  names = tuple(sorted(structure)) if isinstance(structure, dict) else None
  if names != keys:
    raise ValueError(
        f"model {model.name!r} takes inputs {names or 'as one tensor'}, the "
        f"data give {keys or 'one array'}")


class ModelFn:
  """A fresh model outputting logits, from a user's model, for every seed.

  ``model_fn(seed)``, or ``model_fn(seed, prior_stddev)`` with a Flipout
  transform (module docstring).

  Attributes:
    head: the :class:`tfmdl.models.heads.Head` of the user's model.
    num_classes: K, the number of logits.
    layout: the packing of a dict of inputs, or None.
    transform: None, or how the variational code's models are made
      (:class:`tfmdl.models.flipout.Flipout` or
      :data:`tfmdl.models.flipout.BUILT`).
    name: the model's name in the run ledger (:mod:`tfmdl.ledger`).
    description: what tells two models of that name apart there: the
      options of a zoo model, a digest of a Keras model's architecture, a
      function's qualified name.
  """

  def __init__(self, model_or_fn, num_classes: Optional[int] = None, *,
               example=None, layout: Optional[InputLayout] = None,
               transform=None, name: Optional[str] = None,
               description: Optional[dict] = None):
    """Checks the model by building it once (seed 0, prior scale 1).

    A built model's clone is made after seeding the global generators with
    0: the codes reseed them before every model they train.

    Args:
      model_or_fn: a built Keras model or a ``model_fn(seed)`` (with the
        :data:`~tfmdl.models.flipout.BUILT` transform, a
        ``model_fn(seed, prior_stddev)``).
      num_classes: K; None to take the model's.
      example: a few inputs (an array or a dict of arrays, unpacked) to build
        a Sequential without an Input and to probe the outputs; optional.
      layout: the packing of a dict of inputs (then the built models take
        the packed matrix).
      transform: see the class docstring.
      name, description: see the class docstring; None to read them off
        the model or the function.

    Raises:
      TypeError: if ``model_or_fn`` is neither a Keras model nor callable.
      ValueError: in one line, for a model that cannot be measured: see the
        module docstring.
    """
    if _is_keras_model(model_or_fn):
      self._model = _built(model_or_fn, example,
                           variational=transform is not None)
      self._fn = None
    elif callable(model_or_fn):
      self._model, self._fn = None, model_or_fn
    else:
      raise TypeError("expected a Keras model or a model_fn(seed), got "
                      f"{type(model_or_fn).__name__}")
    if transform is not None and self._model is not None:
      transform.check(self._model)
    self.transform = transform
    self.name, self.description = (
        (name, description) if name is not None else _identity(model_or_fn))
    self._example = example
    self._seen = weakref.WeakSet()
    self.layout = layout
    model, self.head = self._logits_model(0, (1.0,) if transform else ())
    self.num_classes = self.head.num_classes
    if num_classes is not None and num_classes != self.num_classes:
      raise ValueError(
          f"the model outputs {self.num_classes} classes (layer "
          f"{self.head.layer!r}, {self.head.kind}), the data have "
          f"{num_classes}")
    if example is not None:
      self._probe(model, example)

  def _source(self, seed: int, args: tuple):
    """The user's model for ``seed``, before the transform's conversion."""
    if self._fn is None:
      training.seed_everything(seed)
      return _clone(self._model)
    model = self._fn(seed, *args)
    if not _is_keras_model(model):
      raise TypeError(f"model_fn must return a Keras model, got "
                      f"{type(model).__name__}")
    if model in self._seen:
      raise ValueError(
          "model_fn returned the same model object twice: it must build a "
          "fresh model at every call (or pass the built model itself, which"
          " is cloned)")
    self._seen.add(model)
    return model

  def _logits_model(self, seed: int, args: tuple):
    """A fresh model from ``seed`` (and the transform's ``args``) with
    logits out, and its head."""
    if self.transform is None:
      model = self._source(seed, ())
    else:
      model = self.transform(lambda *a: self._source(seed, a), seed, *args)
    if self._fn is not None and _is_subclassed(model):
      model, head = _declared_logits(model, self._example)
    else:
      model, head = heads.to_logits(model)
    if self.layout is None:
      return model, head
    _check_inputs_match(model, self.layout.keys)
    return _packed(model, self.layout), head

  def _probe(self, model, example) -> None:
    """Refuses ``model`` if it does not take ``example``'s inputs or turns
    them into probabilities."""
    if self.layout is None:
      _check_inputs_match(model, tuple(sorted(example))
                          if isinstance(example, Mapping) else None)
    else:
      example = self.layout.pack(example)
    outputs = np.asarray(model(example, training=False), np.float64)
    if self.head.kind == "logits" and _looks_like_probabilities(outputs):
      raise ValueError(
          f"model {model.name!r} outputs probabilities (rows in [0, 1] "
          f"summing to 1) after layer {self.head.layer!r}, not logits: end it "
          "with a linear layer or a softmax activation")

  def with_layout(self, layout: Optional[InputLayout]) -> "ModelFn":
    """The same model behind the unpacking of ``layout`` (self if None or
    already so)."""
    if layout is None or layout == self.layout:
      return self
    return ModelFn(self._fn if self._model is None else self._model,
                   self.num_classes, example=self._example, layout=layout,
                   transform=self.transform, name=self.name,
                   description=self.description)

  def __call__(self, seed: int, *args):
    """A fresh model from ``seed`` that outputs ``num_classes`` logits;
    with a transform, ``args`` is its prior scale."""
    model, head = self._logits_model(seed, args)
    if (head.kind, head.num_classes) != (self.head.kind,
                                         self.head.num_classes):
      raise ValueError(
          f"model_fn{(seed,) + args} gives another head ({head.kind}, "
          f"{head.num_classes} classes) than the first build "
          f"({self.head.kind}, {self.head.num_classes} classes)")
    return model


def _identity(model_or_fn) -> tuple:
  """``(name, description)`` of a user's model for the run ledger: a Keras
  model's name and a digest of its architecture, or a function's name."""
  if _is_keras_model(model_or_fn):
    architecture = hashlib.sha256(model_or_fn.to_json().encode()).hexdigest()
    return model_or_fn.name, {"architecture": architecture}
  name = getattr(model_or_fn, "__qualname__", type(model_or_fn).__name__)
  return name, {"function": f"{getattr(model_or_fn, '__module__', '')}."
                            f"{name}"}


def as_model_fn(model_or_fn, num_classes: Optional[int] = None, *,
                example=None, transform=None, name: Optional[str] = None,
                description: Optional[dict] = None) -> ModelFn:
  """``model_or_fn`` as a :class:`ModelFn` (returned as is if it is one
  already, with the same transform). Arguments as in :class:`ModelFn`.

  Raises:
    ValueError: a :class:`ModelFn` of another size or transform.
  """
  if isinstance(model_or_fn, ModelFn):
    if num_classes is not None and num_classes != model_or_fn.num_classes:
      raise ValueError(f"the model outputs {model_or_fn.num_classes} "
                       f"classes, the data have {num_classes}")
    if (transform is None) != (model_or_fn.transform is None):
      raise ValueError("the model_fn was adapted for another code (with "
                       "or without a Flipout transform)")
    return model_or_fn
  return ModelFn(model_or_fn, num_classes, example=example,
                 transform=transform, name=name, description=description)
