"""What a two-part code gives: every candidate of its grid, and the best."""

import dataclasses
from typing import Optional

from tfmdl.bits.uniform import ComparedToUniform


@dataclasses.dataclass(frozen=True)
class Candidate:
  """One option of a code's grid and its codelength, in bits.

  Attributes:
    option: what was chosen, e.g. ``{"bits": 4}`` or
      ``{"dim": 100, "precision": 8}``; empty for float32.
    model_bits: ``8 * len(payload)``, the model's message.
    data_bits: ``sum -log2 p(y|x)`` over all n labels under the decoded model.
    selection_bits: ``log2`` of the grid sizes searched.
    train_accuracy: accuracy of the decoded model on the n training samples.
    test_accuracy: on the test set, when given (and computed).
    details: code-specific numbers (bytes, levels, epochs, ...).
  """
  option: dict
  model_bits: float
  data_bits: float
  selection_bits: float
  train_accuracy: float
  test_accuracy: Optional[float] = None
  details: dict = dataclasses.field(default_factory=dict)

  @property
  def codelength_bits(self) -> float:
    return self.model_bits + self.data_bits + self.selection_bits

  def summary(self) -> dict:
    return {**self.option, "model_bits": self.model_bits,
            "data_bits": self.data_bits, "selection_bits": self.selection_bits,
            "codelength_bits": self.codelength_bits,
            "train_accuracy": self.train_accuracy,
            "test_accuracy": self.test_accuracy, **self.details}


@dataclasses.dataclass(frozen=True)
class TwoPartResult(ComparedToUniform):
  """A two-part code: every candidate and the best one.

  ``num_params`` counts the model's weights for ``float32`` and
  ``compressed`` (non-trainable ones included) and its trainable parameters D
  for ``subspace``.

  ``payload`` is the best candidate's model message, the bytes Bob decodes
  (``8 * len(payload) == best.model_bits``). ``training_info``: train and
  validation sizes, epochs (float32, compressed) or the best candidate of
  each d (subspace). ``setting_bits``: what the code paid for its setting,
  among those run on the same labels (:mod:`tfmdl.ledger`).
  """
  code: str
  n: int
  num_classes: int
  num_params: int
  candidates: tuple
  best_index: int
  payload: bytes = dataclasses.field(repr=False)
  training_info: dict = dataclasses.field(default_factory=dict)
  wall_s: float = 0.0
  setting_bits: float = 0.0
  data_fingerprint: Optional[str] = None  # set by tfmdl.description_length

  @property
  def best(self) -> Candidate:
    return self.candidates[self.best_index]

  @property
  def codelength_bits(self) -> float:
    return self.best.codelength_bits + self.setting_bits

  @property
  def test_accuracy(self) -> Optional[float]:
    return self.best.test_accuracy

  def to_json(self) -> dict:
    """The JSON-friendly record of the result (results.json's fields; the
    payload is stored apart, ``payload.npz``)."""
    best = self.best
    return {
        "codelength_bits": self.codelength_bits,
        "num_params": self.num_params,
        "test_accuracy": self.test_accuracy,
        "train_accuracy": best.train_accuracy,
        "choice": best.option,
        "parts": {"model_bits": best.model_bits, "data_bits": best.data_bits,
                  "selection_bits": best.selection_bits,
                  "setting_bits": self.setting_bits},
        "setting_bits": self.setting_bits,
        "payload_bytes": len(self.payload),
        "candidates": [c.summary() for c in self.candidates],
        "training": self.training_info,
        "code_wall_s": self.wall_s,
    }
