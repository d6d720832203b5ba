"""ConfigDicts from the codes' config dataclasses: every default written once.

An experiment's config (``configs/*.py``, ``--config.<field>`` overrides) is
an ``ml_collections.ConfigDict`` whose top level says what is measured (data
set and order, model, seed, strategy) and whose *sections* are the code's
config dataclasses, one section per dataclass, named as in the code registry
(:mod:`tfmdl.codes.registry`): ``train`` is
:class:`tfmdl.training.TrainConfig`, ``prequential``
:class:`tfmdl.codes.prequential.PrequentialConfig`, ``online``
:class:`~tfmdl.codes.prequential.OnlineConfig` ... :func:`section` makes a
section from a class's defaults, :func:`instance` the class back from a
section. Two rules connect them:

* a field whose type is a config dataclass (``BlockConfig.train``) is not
  in its class's section: it is the section of that name;
* a field named like a top-level field (``seed``) is taken from the top
  level.

Example::

    config = base_config("digits", "mlp")
    add_sections(config, {"train": TrainConfig, "prequential":
                          PrequentialConfig})
    prequential = instance(PrequentialConfig, config, "prequential")
"""

import dataclasses
import typing
from typing import Mapping

import ml_collections
from ml_collections import config_dict

# Top-level fields that a dataclass field of the same name takes.
SHARED_FIELDS = ("seed",)


def base_config(dataset: str, model: str, **model_options
                ) -> ml_collections.ConfigDict:
  """What every experiment's config has, before the sections of its code.

  Fields (all agreed in advance between Alice and Bob, so all part of the
  code): ``dataset``, ``data_dir``, ``data_seed`` (the training set's
  order), ``num_train``/``num_test`` (the first examples of that order),
  ``random_labels`` and ``random_labels_seed``; ``model`` (a zoo name) and
  ``model_options`` (its builder's options); ``seed`` (every code's base
  seed), ``strategy`` (``tfmdl.training.STRATEGY_NAMES``) and
  ``deterministic`` (op determinism: Bob replays Alice's training bit for
  bit; XLA, ``train.jit_compile``, needs it off).
  """
  config = ml_collections.ConfigDict()
  config.dataset = dataset
  config.data_dir = config_dict.placeholder(str)
  config.data_seed = 0
  config.num_train = config_dict.placeholder(int)
  config.num_test = config_dict.placeholder(int)
  config.random_labels = False
  config.random_labels_seed = config_dict.placeholder(int)
  config.model = model
  config.model_options = ml_collections.ConfigDict(model_options)
  config.seed = 0
  config.strategy = "auto"
  config.deterministic = True
  return config


def _is_config_class(annotation) -> bool:
  return dataclasses.is_dataclass(annotation) and isinstance(annotation, type)


def _section_fields(cls) -> list:
  """``(name, type, default)`` of the fields in ``cls``'s own section."""
  hints = typing.get_type_hints(cls)
  return [(f.name, hints[f.name], f.default) for f in dataclasses.fields(cls)
          if f.name not in SHARED_FIELDS and not _is_config_class(
              hints[f.name])]


def _placeholder_type(annotation):
  """``X`` of ``Optional[X]``, for a placeholder of a None default."""
  args = [a for a in typing.get_args(annotation) if a is not type(None)]
  return typing.get_origin(args[0]) or args[0] if args else object


def section(cls) -> ml_collections.ConfigDict:
  """A ConfigDict of ``cls``'s own fields (module docstring) and defaults;
  a None default becomes a typed placeholder, so it can be set from the
  command line."""
  values = ml_collections.ConfigDict()
  for name, annotation, default in _section_fields(cls):
    values[name] = (config_dict.placeholder(_placeholder_type(annotation))
                    if default is None else default)
  return values


def section_of(instance_) -> ml_collections.ConfigDict:
  """A :func:`section` holding the values of the dataclass ``instance_``
  (its own fields, as :func:`section` lists them)."""
  values = section(type(instance_))
  for name, _, _ in _section_fields(type(instance_)):
    values[name] = getattr(instance_, name)
  return values


def add_sections(config: ml_collections.ConfigDict,
                 sections: Mapping[str, type]) -> ml_collections.ConfigDict:
  """``config`` with a :func:`section` for every ``name: class`` not there
  yet; returns ``config``."""
  for name, cls in sections.items():
    if name not in config:
      config[name] = section(cls)
  return config


def _value(value):
  """A ConfigDict value as a dataclass wants it: lists become tuples."""
  return tuple(value) if isinstance(value, list) else value


def instance(cls, config: ml_collections.ConfigDict, name: str):
  """``cls`` from section ``name`` of ``config`` (module docstring rules).

  Raises:
    ValueError: for a field the class does not have, or a bad value.
  """
  own = {n for n, _, _ in _section_fields(cls)}
  values = config[name].to_dict()
  unknown = sorted(set(values) - own)
  if unknown:
    raise ValueError(f"unknown field(s) {unknown} in config section "
                     f"{name!r}; known: {', '.join(sorted(own))}")
  hints = typing.get_type_hints(cls)
  kwargs = {k: _value(v) for k, v in values.items()}
  for field in dataclasses.fields(cls):
    if field.name in SHARED_FIELDS and field.name in config:
      kwargs[field.name] = config[field.name]
    elif _is_config_class(hints[field.name]) and field.name in config:
      kwargs[field.name] = instance(hints[field.name], config, field.name)
  try:
    return cls(**kwargs)
  except TypeError as e:
    raise ValueError(f"config section {name!r}: {e}") from e


# The paper's architectures (appendices C-D) by the names its experiments use:
# alias -> (zoo model, builder options, augmented training). ``vgga``/``vggb``
# are the 13-conv VGG without / with batch norm and data augmentation.
PAPER_MODELS = {
    "mlp": ("mlp", dict(hidden_sizes=(256, 256), dropout=0.5,
                        activation="relu"), False),
    "shallow": ("shallow", dict(width=5000), False),
    "tinycnn": ("tinycnn", dict(dropout=0.5), False),
    "lenet": ("lenet", {}, False),
    "vgg_mnist": ("vgg_mnist", dict(dropout=0.5), False),
    "vgga": ("vgg", dict(batch_norm=False, dropout=0.5), False),
    "vggb": ("vgg", dict(batch_norm=True, dropout=0.5), True),
    "vgg": ("vgg", dict(batch_norm=True, dropout=0.5), True),
}


def paper_config(dataset: str, model: str, sections: Mapping[str, type]
                 ) -> ml_collections.ConfigDict:
  """:func:`base_config` for ``model``, an alias of :data:`PAPER_MODELS`
  (resolved here, once) or any zoo name (its builder's defaults), with
  ``sections`` added and the alias's augmentation in ``train``."""
  name, options, augment = PAPER_MODELS.get(model, (model, {}, False))
  config = add_sections(base_config(dataset, name, **options), sections)
  if "train" in config:
    config.train.augment = augment
  return config


def ledger_setting(config: ml_collections.ConfigDict, code: str) -> dict:
  """The setting a run of ``code`` with ``config`` is counted under in the
  run ledger (:func:`tfmdl.ledger.setting_of`): the zoo model's options and
  the code's config sections, each with the sections nested in it
  (``train`` in ``block``), less what changes no probability."""
  from tfmdl import ledger  # pylint: disable=g-import-not-at-top
  from tfmdl.codes import registry  # pylint: disable=g-import-not-at-top
  classes = registry.get(code).section_classes()
  nested = {name for cls in classes.values() for name in _nested(cls)}
  return {"model": ledger.model_setting(config.model_options.to_dict()),
          **{name: ledger.changing_fields(instance(cls, config, name))
             for name, cls in classes.items() if name not in nested}}


def _nested(cls) -> set:
  """The names of ``cls``'s fields that are config dataclasses."""
  hints = typing.get_type_hints(cls)
  return {f.name for f in dataclasses.fields(cls)
          if _is_config_class(hints[f.name])}
