"""Each code of the registry as one call: ``run(model_fn, data, configs)``.

The registry's runners (:mod:`tfmdl.codes.registry`): ``data`` is a
:class:`tfmdl.data.LabelledData`, ``configs`` maps each of the code's config
sections to its dataclass instance, and the keyword arguments are the test
data, the ``tf.distribute`` strategy and what the code's library function
takes besides (resumed parts, callbacks, progress).
"""

from tfmdl.codes import prequential
from tfmdl.codes import shortest as shortest_lib
from tfmdl.codes import two_part
from tfmdl.codes import variational as variational_lib


def block_prequential(model_fn, data, configs, **options):
  return prequential.prequential_code(
      model_fn, data, config=configs["prequential"],
      learner=configs["block"], **options)


def online_prequential(model_fn, data, configs, **options):
  return prequential.prequential_code(
      model_fn, data, config=configs["prequential"],
      learner=configs["online"], **options)


def online_switch(model_fns, data, configs, **options):
  """``model_fns``: one per member, each an online learner with the
  ``online`` section's config."""
  members = (configs["online"],) * len(model_fns)
  return prequential.prequential_code(
      tuple(model_fns), data, config=configs["prequential"],
      learner=prequential.OnlineSwitch(members, configs["switch"]),
      **options)


def shortest(model_fn, data, configs, **options):
  return shortest_lib.shortest_code(
      model_fn, data, config=configs["prequential"], block=configs["block"],
      online=configs["online"], **options)


def variational(model_fn, data, configs, **options):
  x, y = data.arrays()
  return variational_lib.variational_code(
      model_fn, x, y, data.num_classes, config=configs["variational"],
      **options)


def two_part_float32(model_fn, data, configs, **options):
  x, y = data.arrays()
  return two_part.float32_code(model_fn, x, y, data.num_classes,
                               config=configs["two_part"], **options)


def two_part_compressed(model_fn, data, configs, **options):
  x, y = data.arrays()
  return two_part.compressed_code(
      model_fn, x, y, data.num_classes, config=configs["two_part"],
      compression=configs["compression"], **options)


def two_part_subspace(model_fn, data, configs, **options):
  x, y = data.arrays()
  strategy = options.pop("strategy", None)
  if strategy is not None and strategy.num_replicas_in_sync > 1:
    raise ValueError("the subspace code trains on one device: no strategy of "
                     f"{strategy.num_replicas_in_sync} replicas")
  return two_part.subspace_code(
      model_fn, x, y, data.num_classes, config=configs["two_part"],
      subspace=configs["subspace"], **options)
