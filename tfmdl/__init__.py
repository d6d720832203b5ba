"""tfmdl: the description length of deep learning models, in bits.

Codes (Blier & Ollivier, "The Description Length of Deep Learning Models"):
uniform, two-part, variational, prequential, switch and self-switch.

``tfmdl.description_length(model, x, y)`` measures a user's own Keras model
(:mod:`tfmdl.api`); ``tfmdl.probe(encoder, layer_name, x, y)`` the MDL of a
probe on a layer's features (:mod:`tfmdl.probing`). Both are imported on
first use, so that ``import tfmdl.bits`` stays free of TensorFlow.
"""

import importlib

__version__ = "0.1.0"

_LAZY = {"description_length": "tfmdl.api", "probe": "tfmdl.probing",
         "loss_data_curve": "tfmdl.loss_data_curves"}


def __getattr__(name):
  if name in _LAZY:
    return getattr(importlib.import_module(_LAZY[name]), name)
  raise AttributeError(f"module 'tfmdl' has no attribute {name!r}")
