"""Every code, by name: what it reads, how it runs, what it gives.

One table used by the Python API (``tfmdl.description_length(...,
code=name)``), the binaries (each gets the config sections of its codes and
no other), ``bin/report`` (a results.json's ``code`` names its row) and
``bin/tune`` (which codes can be searched). Names are those of the API and
of every results.json.

Example::

    from tfmdl.codes import registry
    code = registry.get("online")
    code.sections   # {"prequential": PrequentialConfig, "online": ...}
"""

import dataclasses
import importlib
from typing import Mapping, Optional


@dataclasses.dataclass(frozen=True)
class Code:
  """One code.

  Attributes:
    name: the code's name (API, results.json, reports).
    family: its package under ``tfmdl.codes``.
    title: how tables and figures call it.
    sections: config section name -> config dataclass, in the order a
      config shows them (:mod:`tfmdl.experiments.config`).
    runner: ``"module:function"`` of ``run(model_fn, data, configs, *,
      x_test, y_test, strategy)``: the code of a model on
      :class:`tfmdl.data.LabelledData`, ``configs`` holding one instance per
      section; None for codes of saved runs (switch).
    tunable: ``bin/tune`` can search its hyperparameters.
  """
  name: str
  family: str
  title: str
  sections: Mapping[str, str]
  runner: Optional[str] = None
  tunable: bool = False

  def section_classes(self) -> dict:
    """``sections`` with each ``"module:Class"`` imported."""
    return {name: _load(path) for name, path in self.sections.items()}

  def run(self, *args, **kwargs):
    """Call the code's runner (see :attr:`runner`)."""
    if self.runner is None:
      raise ValueError(f"the {self.name} code runs on saved runs, not on a "
                       "model and data")
    return _load(self.runner)(*args, **kwargs)


def _load(path: str):
  module, name = path.split(":")
  return getattr(importlib.import_module(module), name)


_TRAIN = "tfmdl.training:TrainConfig"
_PREQUENTIAL = "tfmdl.codes.prequential:PrequentialConfig"
_TWO_PART = "tfmdl.codes.two_part:TwoPartConfig"
_RUNNERS = "tfmdl.codes.runners"

CODES = {code.name: code for code in (
    Code("prequential", "prequential", "prequential",
         {"prequential": _PREQUENTIAL,
          "block": "tfmdl.codes.prequential:BlockConfig", "train": _TRAIN},
         f"{_RUNNERS}:block_prequential", tunable=True),
    Code("online", "prequential", "prequential, online",
         {"prequential": _PREQUENTIAL,
          "online": "tfmdl.codes.prequential:OnlineConfig"},
         f"{_RUNNERS}:online_prequential"),
    Code("online_switch", "prequential", "prequential, online switch",
         {"prequential": _PREQUENTIAL,
          "online": "tfmdl.codes.prequential:OnlineConfig",
          "switch": "tfmdl.codes.prequential:SwitchConfig"},
         f"{_RUNNERS}:online_switch"),
    Code("shortest", "shortest", "shortest of block, online, switch, uniform",
         {"prequential": _PREQUENTIAL,
          "block": "tfmdl.codes.prequential:BlockConfig", "train": _TRAIN,
          "online": "tfmdl.codes.prequential:OnlineConfig"},
         f"{_RUNNERS}:shortest"),
    Code("variational", "variational", "variational",
         {"variational": "tfmdl.codes.variational:VariationalConfig",
          "train": _TRAIN},
         f"{_RUNNERS}:variational", tunable=True),
    Code("two_part_float32", "two_part", "two-part, float32",
         {"two_part": _TWO_PART, "train": _TRAIN},
         f"{_RUNNERS}:two_part_float32"),
    Code("two_part_compressed", "two_part", "network compression",
         {"two_part": _TWO_PART,
          "compression": "tfmdl.codes.two_part:CompressionConfig",
          "train": _TRAIN},
         f"{_RUNNERS}:two_part_compressed"),
    Code("two_part_subspace", "two_part", "random subspace",
         {"two_part": _TWO_PART,
          "subspace": "tfmdl.codes.two_part:SubspaceConfig",
          "train": _TRAIN},
         f"{_RUNNERS}:two_part_subspace"),
    Code("switch", "switch", "switch",
         {"switch": "tfmdl.codes.switch:SwitchSettings"}),
    Code("self_switch", "switch", "self-switch",
         {"switch": "tfmdl.codes.switch:SwitchSettings"}),
)}

# The codes a model and data can be measured with (the API's choices).
MODEL_CODES = tuple(name for name, code in CODES.items() if code.runner)
# The codes bin/tune searches over.
TUNABLE = tuple(name for name, code in CODES.items() if code.tunable)


def get(name: str) -> Code:
  """The code called ``name``.

  Raises:
    ValueError: for an unknown name, listing the known ones.
  """
  if name not in CODES:
    raise ValueError(f"unknown code {name!r}; known: {', '.join(CODES)}")
  return CODES[name]


def codes_of(family: str) -> tuple:
  """The names of a family's codes, in registry order."""
  return tuple(name for name, code in CODES.items() if code.family == family)

