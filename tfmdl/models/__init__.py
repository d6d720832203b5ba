"""Model registry: ``build(name, input_shape, num_classes)`` -> tf_keras model.

Models output logits; ``variational=True`` swaps every weight layer for its
TFP Flipout twin. See :mod:`tfmdl.models.registry` for the names and options.
"""

from tfmdl.models.layers import deterministic_weights
from tfmdl.models.layers import variational_layers
from tfmdl.models.registry import build
from tfmdl.models.registry import list_models

__all__ = ["build", "list_models", "variational_layers",
           "deterministic_weights"]
