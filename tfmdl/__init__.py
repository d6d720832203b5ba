"""tfmdl: the description length of deep learning models, in bits.

Codes (Blier & Ollivier, "The Description Length of Deep Learning Models"):
uniform, two-part, variational, prequential (block and online learners),
switch and self-switch, one package each under :mod:`tfmdl.codes`, listed
in :mod:`tfmdl.codes.registry`; the number primitives (units, mixtures,
entropy coders) in :mod:`tfmdl.bits`.

What a Keras user calls:

* ``tfmdl.description_length(model, x, y, code=...)``: a model's codelength
  on data (:mod:`tfmdl.api`);
* ``tfmdl.probe(encoder, layer_name, x, y)`` and ``tfmdl.probe_curve``: MDL
  probing of a layer's features (:mod:`tfmdl.probing`);
* ``tfmdl.loss_data_curve(model, x, y, x_test, y_test)``: a loss-data curve
  and the measures read from it (:mod:`tfmdl.loss_data_curves`);
* ``tfmdl.FitCodelength(model)``: the online code of a ``model.fit``
  (:mod:`tfmdl.fit_code`).

They are imported on first use, so that ``import tfmdl.bits`` stays free of
TensorFlow.
"""

import importlib

__version__ = "0.1.0"

_LAZY = {
    "description_length": "tfmdl.api",
    "probe": "tfmdl.probing",
    "probe_curve": "tfmdl.probing",
    "loss_data_curve": "tfmdl.loss_data_curves",
    "FitCodelength": "tfmdl.fit_code",
}

__all__ = ["FitCodelength", "description_length", "loss_data_curve",
           "probe", "probe_curve"]


def __getattr__(name):
  if name in _LAZY:
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # imported once; found directly from now on
    return value
  raise AttributeError(f"module 'tfmdl' has no attribute {name!r}")
