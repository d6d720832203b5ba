"""The shortest of an agreed set of codes, paid for: their Bayes mixture.

Which code is shortest for a model and a number of labels is only known
after seeing the labels: on 900 digits the block learner's code is shorter
than the online learner's, on 60,000 Fashion-MNIST labels the other way
round. Choosing the shorter one afterwards is a choice to pay for. The Bayes
mixture of the codes, under a prior fixed before any label, is itself a
code: Bob runs every member (each is sequential, decoded from the labels
before) and codes each label with their predictions weighted by their
posteriors. It costs

  -log2 sum_i w_i 2**-L_i  <=  min_i L_i - log2 w_i,

at most ``log2 |set|`` bits above the shortest member with the uniform
prior. The agreed set (:data:`MEMBERS`), for one model:

* ``block``: the prequential code with the block learner (the paper);
* ``online``: the online learner's code;
* ``switch``: every label coded by the switch code of :mod:`tfmdl.codes.
  switch` over the two learners' per-label bits and the uniform code (the
  mixture of its four switching codes, priors fixed in advance): Bob runs
  both learners, and the switch follows the shorter one where it is;
* ``uniform``: ``n log2 K``.

Each member's codelength holds the bits it pays for its setting (the run
ledger's count of settings run on these labels with its code and model;
the switch pays both learners', as it may follow either). The result pays
its own setting bits too: the ledger's count of the ``shortest`` settings
run on the same labels.

Example::

    from tfmdl.codes import prequential, shortest
    result = shortest.shortest_code(
        model_fn, data, config=prequential.PrequentialConfig(),
        block=prequential.BlockConfig(), online=prequential.OnlineConfig())
    result.codelength_bits, result.members, result.shortest_member
"""

import dataclasses
from typing import Mapping

import numpy as np

from tfmdl import ledger
from tfmdl.bits import mixtures
from tfmdl.bits.uniform import ComparedToUniform
from tfmdl.bits.uniform import uniform_bits
from tfmdl.codes import prequential
from tfmdl.codes import switch
from tfmdl.models import adapter

# The agreed set, in the order of the prior's weights (uniform).
MEMBERS = ("block", "online", "switch", "uniform")


def mixture_bits(member_bits: Mapping[str, float]) -> float:
  """``-log2 sum_i 2**-L_i / |set|``: the Bayes mixture, uniform prior, of
  codes of lengths ``L_i`` (bits) of the same labels."""
  lengths = np.array([float(b) for b in member_bits.values()])[:, None]
  return float(mixtures.mixture_cumulative_bits(lengths)[-1])


@dataclasses.dataclass(frozen=True)
class ShortestResult(ComparedToUniform):
  """The Bayes mixture of :data:`MEMBERS` on ``n`` labels.

  Attributes:
    n, num_classes, timesteps: the labels and the blocks.
    members: each member's codelength in bits, its setting bits included.
    mixture_bits: the mixture's bits (:func:`mixture_bits` of ``members``).
    switch_names: the switch's strategies.
    switch_blocks: the switch's Viterbi strategy of each block (which code
      the switch follows where; the two-part code of that sequence is a
      bound on the switch, :class:`tfmdl.codes.switch.SwitchResult`).
    block, online: the learners' results, as JSON (``to_json()``).
    setting_bits: paid for this setting of the shortest code among those
      run on the same labels (:mod:`tfmdl.ledger`).
    test_accuracy: of the member the mixture weighs most after the last
      label, when it has one.
    wall_s: the members' compute time.
  """
  n: int
  num_classes: int
  timesteps: tuple
  members: dict
  mixture_bits: float
  switch_names: tuple
  switch_blocks: tuple
  block: dict = dataclasses.field(repr=False)
  online: dict = dataclasses.field(repr=False)
  setting_bits: float = 0.0
  test_accuracy: float = None
  wall_s: float = 0.0
  data_fingerprint: str = None

  @property
  def codelength_bits(self) -> float:
    return self.mixture_bits + self.setting_bits

  @property
  def shortest_member(self) -> str:
    return min(self.members, key=self.members.get)

  @property
  def choice_bits(self) -> float:
    """What the mixture costs above its shortest member (at most
    ``log2 |set|``)."""
    return self.mixture_bits - self.members[self.shortest_member]

  def to_json(self) -> dict:
    return {"n": self.n, "num_classes": self.num_classes,
            "timesteps": list(self.timesteps),
            "codelength_bits": self.codelength_bits,
            "mixture_bits": self.mixture_bits,
            "setting_bits": self.setting_bits,
            "members": dict(self.members),
            "shortest_member": self.shortest_member,
            "choice_bits": self.choice_bits,
            "switch_names": list(self.switch_names),
            "switch_blocks": list(self.switch_blocks),
            "test_accuracy": self.test_accuracy,
            "block": self.block, "online": self.online,
            "prequential_wall_s": self.wall_s,
            "data_fingerprint": self.data_fingerprint}


def combine(block, online) -> ShortestResult:
  """The shortest code of the set from the two learners' results.

  Args:
    block, online: :class:`tfmdl.codes.prequential.PrequentialResult` of
      the block and the online learner on the same labels, in the same
      order and blocks.

  Returns:
    A :class:`ShortestResult`, its own setting bits not yet paid (0).

  Raises:
    ValueError: results of other labels, blocks or learners.
  """
  if (block.learner, online.learner) != ("block", "online"):
    raise ValueError(f"need a block and an online result, got "
                     f"{block.learner!r} and {online.learner!r}")
  for field in ("n", "num_classes", "timesteps", "data_fingerprint"):
    if getattr(block, field) != getattr(online, field):
      raise ValueError(f"the block and online results differ in {field}: "
                       f"{getattr(block, field)} and "
                       f"{getattr(online, field)}")
  names = ("block", "online", switch.UNIFORM)
  bits = np.stack([block.per_sample_bits(), online.per_sample_bits(),
                   switch.uniform_row(block.n, block.num_classes)])
  switched = switch.switch_code(
      names, bits, block.timesteps, block.num_classes,
      runs_setting_bits=block.setting_bits + online.setting_bits)
  members = {"block": block.codelength_bits,
             "online": online.codelength_bits,
             "switch": switched.codelength_bits,
             "uniform": uniform_bits(block.n, block.num_classes)}
  mixed = mixture_bits(members)
  # After the last label the mixture weighs each member by 2**-L_i.
  learners = {"block": block, "online": online}
  best = min(learners, key=lambda name: members[name])
  return ShortestResult(
      n=block.n, num_classes=block.num_classes, timesteps=block.timesteps,
      members=members, mixture_bits=mixed, switch_names=names,
      switch_blocks=switched.block_sequence, block=block.to_json(),
      online=online.to_json(), test_accuracy=learners[best].test_accuracy,
      wall_s=block.wall_s + online.wall_s,
      data_fingerprint=block.data_fingerprint)


def shortest_code(model_fn, data, *, config, block, online, x_test=None,
                  y_test=None, strategy=None, source: str = "tfmdl.codes.shortest",
                  split: str = "") -> ShortestResult:
  """Run the learners of the set on ``data`` and :func:`combine` them.

  Args:
    model_fn: the model (:func:`tfmdl.models.adapter.as_model_fn`).
    data: a :class:`tfmdl.data.LabelledData`.
    config: the protocol's :class:`~tfmdl.codes.prequential.
      PrequentialConfig`, shared by both learners.
    block, online: the learners' configs.
    x_test, y_test, strategy: as for :func:`tfmdl.codes.prequential.
      prequential_code`.
    source, split: for the run ledger; each learner's run is recorded too.

  Returns:
    The :class:`ShortestResult`, its setting bits paid.
  """
  runs = [prequential.prequential_code(
      model_fn, data, config=config, learner=learner, x_test=x_test,
      y_test=y_test, strategy=strategy, source=source, split=split)
          for learner in (block, online)]
  result = combine(*runs)
  fn = adapter.as_model_fn(model_fn, data.num_classes,
                           example=data.inputs(0, min(data.n, 8)))
  return ledger.settle(
      result, labels=ledger.labels_fingerprint(data.y), code="shortest",
      model=fn.name, settings=ledger.setting_of(
          fn, {"prequential": config, "block": block, "online": online}),
      source=source, split=split, pays=config.setting_bits)
