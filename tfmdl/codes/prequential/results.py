"""What a prequential code gives: its blocks and their sum.

Every learner (block retraining, online) and every way of reading the data
ends in the same :class:`PrequentialResult`, so runs can be compared,
switched between and resumed alike. ``to_json``/``from_json`` give the
JSON-friendly part (``results.json``, block files); per-sample arrays are
stored beside it (``blocks/block_NNN.npz``).
"""

import dataclasses
import math
from typing import Optional

import numpy as np

from tfmdl.bits.uniform import ComparedToUniform

# The fields of a block's JSON record (the arrays are stored apart).
_BLOCK_FIELDS = ("index", "start", "end", "bits", "accuracy",
                 "epochs_trained", "best_epoch", "train_size", "val_size",
                 "seed", "wall_s")


@dataclasses.dataclass(frozen=True)
class BlockResult:
  """One block ``[start, end)`` of the prequential code.

  ``per_sample_bits`` are the bits of each label of the block as coded
  (mixed with the uniform code when the config says so); ``epoch_bits[e]``
  the model's bits after e epochs (row 0: untrained), shape
  ``(epochs_trained + 1, end - start)``, or None (online learner, or not
  recorded).
  """
  index: int
  start: int
  end: int
  bits: float
  accuracy: float
  epochs_trained: int
  best_epoch: int
  train_size: int
  val_size: int
  seed: int
  wall_s: float
  per_sample_bits: np.ndarray = dataclasses.field(repr=False)
  epoch_bits: Optional[np.ndarray] = dataclasses.field(default=None,
                                                       repr=False)

  @property
  def size(self) -> int:
    return self.end - self.start

  @property
  def bits_per_sample(self) -> float:
    return self.bits / self.size

  def to_json(self) -> dict:
    """The JSON-friendly part (arrays are stored separately)."""
    record = {name: getattr(self, name) for name in _BLOCK_FIELDS}
    record["bits_per_sample"] = self.bits_per_sample
    return record

  @classmethod
  def from_json(cls, record: dict, per_sample_bits: np.ndarray,
                epoch_bits: Optional[np.ndarray] = None) -> "BlockResult":
    """A block from its :meth:`to_json` record and its arrays."""
    return cls(**{name: record[name] for name in _BLOCK_FIELDS},
               per_sample_bits=per_sample_bits, epoch_bits=epoch_bits)


def uniform_block(index: int, start: int, end: int,
                  num_classes: int) -> BlockResult:
  """A block sent with the uniform code: log2 K bits per label."""
  per_sample = np.full(end - start, math.log2(num_classes))
  return BlockResult(index=index, start=start, end=end,
                     bits=float(per_sample.sum()), accuracy=1.0 / num_classes,
                     epochs_trained=0, best_epoch=0, train_size=0, val_size=0,
                     seed=0, wall_s=0.0, per_sample_bits=per_sample)


@dataclasses.dataclass(frozen=True)
class PrequentialResult(ComparedToUniform):
  """The prequential codelength and its per-block breakdown.

  Attributes:
    n, num_classes: the labels coded.
    timesteps: the block ends.
    blocks: every block, the first one included, in transmission order.
    learner: ``"block"``, ``"online"`` or ``"switch"``.
    setting_bits: bits paid to name the learner's setting among those run
      on these labels (:mod:`tfmdl.ledger`), part of the codelength.
    test_accuracy: of the learner's final model (see its config), or None.
    test_accuracy_model: which model that is, in words.
    wall_s: the blocks' compute time; ``final_model_wall_s`` the test
      accuracy's.
    data_fingerprint: the coded examples' fingerprint, when known.
    strategies: the online switch's learners: each one's code alone and
      its share of each block (JSON-friendly,
      :func:`tfmdl.codes.prequential.code.strategies_summary`); None for
      the other learners.
  """
  n: int
  num_classes: int
  timesteps: tuple
  blocks: tuple
  learner: str = "block"
  setting_bits: float = 0.0
  test_accuracy: Optional[float] = None
  test_accuracy_model: Optional[str] = None
  wall_s: float = 0.0
  final_model_wall_s: float = 0.0
  data_fingerprint: Optional[str] = None
  strategies: Optional[dict] = None

  @property
  def codelength_bits(self) -> float:
    return float(sum(b.bits for b in self.blocks)) + self.setting_bits

  def per_sample_bits(self) -> np.ndarray:
    """Bits of every label in transmission order (they sum to the
    codelength less the setting bits, which come before the first label)."""
    return np.concatenate([b.per_sample_bits for b in self.blocks])

  @property
  def parts(self) -> dict:
    """The codelength's parts: the first block (uniform), the labels coded
    by the learner's predictions, and the setting's bits."""
    first = self.blocks[0].bits
    return {"first_block_uniform_bits": first,
            "model_coded_bits": self.codelength_bits - first -
                                self.setting_bits,
            "setting_bits": self.setting_bits}

  def to_json(self) -> dict:
    """The JSON-friendly part of the result (blocks without arrays)."""
    return {
        "n": self.n, "num_classes": self.num_classes,
        "timesteps": list(self.timesteps), "learner": self.learner,
        "codelength_bits": self.codelength_bits,
        "setting_bits": self.setting_bits,
        "test_accuracy": self.test_accuracy,
        "test_accuracy_model": self.test_accuracy_model,
        "blocks": [b.to_json() for b in self.blocks],
        "parts": self.parts,
        "prequential_wall_s": self.wall_s,
        "final_model_wall_s": self.final_model_wall_s,
        "data_fingerprint": self.data_fingerprint,
        "strategies": self.strategies,
    }

  @classmethod
  def from_json(cls, record: dict, blocks: tuple) -> "PrequentialResult":
    """A result from its :meth:`to_json` record and its blocks (with their
    arrays, read from the block files)."""
    return cls(n=record["n"], num_classes=record["num_classes"],
               timesteps=tuple(record["timesteps"]), blocks=tuple(blocks),
               learner=record.get("learner", "block"),
               setting_bits=record.get("setting_bits", 0.0),
               test_accuracy=record.get("test_accuracy"),
               test_accuracy_model=record.get("test_accuracy_model"),
               wall_s=record.get("prequential_wall_s", 0.0),
               final_model_wall_s=record.get("final_model_wall_s", 0.0),
               data_fingerprint=record.get("data_fingerprint"),
               strategies=record.get("strategies"))
