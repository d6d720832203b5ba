"""The prequential code (paper section 3.4), with two learners.

Alice and Bob agree on the data order, a learner and its seeds; each label
is coded with a distribution that depends on the labels before it only, so
Bob decodes by running the same learner on what he has decoded. The block
learner retrains a fresh model per block (the paper); the online learner
trains one model as the labels arrive (Bornschein, Li & Hutter, 2022). Both
run one protocol (:mod:`~tfmdl.codes.prequential.protocol`) and give a
:class:`PrequentialResult` summed in the same blocks.

Modules: :mod:`~.schedule` (blocks and seeds), :mod:`~.config` (what is
agreed), :mod:`~.protocol` (predict, code, learn), :mod:`~.coders` (bits and
the range coder), :mod:`~.block` and :mod:`~.online` (the learners),
:mod:`~.code` (:func:`prequential_code`), :mod:`~.label_file` (the code as a
file), :mod:`~.results`.
"""

from tfmdl.codes.prequential.code import assemble
from tfmdl.codes.prequential.code import encode_blocks
from tfmdl.codes.prequential.code import make_learner
from tfmdl.codes.prequential.code import missing_blocks
from tfmdl.codes.prequential.code import prequential_code
from tfmdl.codes.prequential.code import settle
from tfmdl.codes.prequential.config import BlockConfig
from tfmdl.codes.prequential.config import PrequentialConfig
from tfmdl.codes.prequential.online.config import OnlineConfig
from tfmdl.codes.prequential.online.config import OnlineSwitch
from tfmdl.codes.prequential.online.config import SwitchConfig
from tfmdl.codes.prequential.results import BlockResult
from tfmdl.codes.prequential.results import PrequentialResult
from tfmdl.codes.prequential.schedule import block_bounds
from tfmdl.codes.prequential.schedule import block_seed
from tfmdl.codes.prequential.schedule import default_timesteps
from tfmdl.codes.prequential.schedule import timesteps_for

__all__ = [
    "BlockConfig",
    "BlockResult",
    "OnlineConfig",
    "OnlineSwitch",
    "PrequentialConfig",
    "PrequentialResult",
    "SwitchConfig",
    "assemble",
    "block_bounds",
    "block_seed",
    "default_timesteps",
    "encode_blocks",
    "make_learner",
    "missing_blocks",
    "prequential_code",
    "settle",
    "timesteps_for",
]
