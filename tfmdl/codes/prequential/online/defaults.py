"""The online learner's settings for each zoo model, written once.

``bin/prequential --model=<name> --learner=online`` (and every config that
asks for the online learner of a zoo model) uses :func:`for_model`: the zoo
model's options for online learning and the :class:`OnlineConfig` that the
recipes of configs/shortest_fashion_mnist.py found shortest for it. A model
without an entry keeps its own options and gets :class:`OnlineConfig`'s
defaults, the general settings (the Python API's ``code="online"`` on a
user's model uses them too). The block
learner's models keep the paper's options (dropout 0.5).

Every setting here was chosen on Fashion-MNIST's 10,000 *test* labels,
which no code of the training labels sends (``python
benchmarks/online_settings.py``, its runs in
benchmarks/results/online_settings.jsonl and in the run ledger, split
``test``):

* ``mlp``: two hidden layers of 256 with GELU activations, no dropout
  (ReLU, ``mlp_b32_r8``, 6.945 kbits, :class:`OnlineConfig`'s defaults and
  the general settings; GELU, ``mlp_gelu``, 6.785; SiLU 6.792 and ELU 7.039
  at 2e-3 with a cosine decay; the paper's dropout 0.5,
  ``mlp_b32_dropout``, 7.691), minibatches of 32 with 8 uniform replay
  steps, EMA weights, a learned temperature. Then, on the *training* labels
  (where the test split's 10,000 labels favour fast early learning and
  2e-3, the 60,000 favour the late blocks; every run is in the ledger and
  the recipe pays log2 of their count): Adam at 1e-3 with a cosine decay
  to a tenth, an EMA of decay 0.998 (27.372 kbits; 0.99: 27.514; a
  constant 1e-3: 27.747; ReLU at a constant 1e-3, round 2's recipe:
  28.484), and each training step compiled by XLA (``jit_compile``: 17.5 s
  of code instead of 28.3 s for the same setting uncompiled, 27.381 kbits;
  one replica only: ``--config.online.jit_compile=false`` for several);
* ``tinycnn``: no dropout, the same minibatches and replay, Adam at 2e-3
  with a cosine decay to a tenth, training images shifted by up to a pixel
  (``tinycnn_cosine``, 5.474 kbits; ``tinycnn``, unshifted at 1e-3, 5.805).

``lenet`` has no entry: no options, the general settings (``lenet``, 6.544
kbits; with ``mlp`` in the online switch, ``switch_mlp_lenet``, 6.285).

Named learners that are not a zoo model's default, for the online switch
(``bin/prequential --model=mlp+tinycnn+tinycnn_wide --learner=switch``):

* ``tinycnn_wide``: ``tinycnn`` with 64 filters per convolution and the
  ``tinycnn`` settings (``tinycnn_w64``, 5.275 kbits, at about 4.5 times
  the compute).
"""

import dataclasses
from typing import Mapping

from tfmdl.codes.prequential.online.config import OnlineConfig


@dataclasses.dataclass(frozen=True)
class ModelDefaults:
  """An online learner of a zoo model.

  Attributes:
    model: the zoo model.
    model_options: its builder's options for the online learner (they
      replace the paper's of the same name; others are kept).
    online: the online learner's config.
  """
  model: str
  model_options: Mapping
  online: OnlineConfig


_MLP = OnlineConfig(learning_rate=1e-3, schedule="cosine",
                    final_lr_fraction=0.1, ema_decay=0.998, jit_compile=True)
_TINYCNN = OnlineConfig(learning_rate=2e-3, schedule="cosine",
                        final_lr_fraction=0.1, augment=True, shift_pixels=1)

# The learners by name: a zoo model's name is its default online learner.
BY_MODEL = {
    "mlp": ModelDefaults("mlp", {"hidden_sizes": (256, 256), "dropout": 0.0,
                                 "activation": "gelu"}, _MLP),
    "tinycnn": ModelDefaults("tinycnn", {"dropout": 0.0}, _TINYCNN),
    "tinycnn_wide": ModelDefaults("tinycnn", {"dropout": 0.0, "width": 64},
                                  _TINYCNN),
}


def for_model(name: str) -> ModelDefaults:
  """The online learner called ``name`` (:data:`BY_MODEL`); any other name
  is a zoo model with no option changed and :class:`OnlineConfig`'s
  defaults."""
  return BY_MODEL.get(name, ModelDefaults(name, {}, OnlineConfig()))
