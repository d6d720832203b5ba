"""Two-part codes: the model's message, then the labels with it (paper 3.1-3.2).

Modules: :mod:`~.config` (what is agreed), :mod:`~.code` (float32, network
compression, random subspace), :mod:`~.subspace` (the subspace's projection
and training), :mod:`~.results`.
"""

from tfmdl.codes.two_part.code import agreed_model
from tfmdl.codes.two_part.code import check_dims_fit
from tfmdl.codes.two_part.code import compress_weights
from tfmdl.codes.two_part.code import compressed_code
from tfmdl.codes.two_part.code import decode_float32_payload
from tfmdl.codes.two_part.code import evaluate
from tfmdl.codes.two_part.code import float32_code
from tfmdl.codes.two_part.code import float32_payload
from tfmdl.codes.two_part.code import num_weights
from tfmdl.codes.two_part.code import subspace_code
from tfmdl.codes.two_part.code import train_model
from tfmdl.codes.two_part.config import CODES
from tfmdl.codes.two_part.config import CompressionConfig
from tfmdl.codes.two_part.config import QUANTIZERS
from tfmdl.codes.two_part.config import SubspaceConfig
from tfmdl.codes.two_part.config import TwoPartConfig
from tfmdl.codes.two_part.config import check_code
from tfmdl.codes.two_part.results import Candidate
from tfmdl.codes.two_part.results import TwoPartResult

__all__ = [
    "agreed_model",
    "Candidate",
    "check_code",
    "check_dims_fit",
    "CODES",
    "compress_weights",
    "compressed_code",
    "CompressionConfig",
    "decode_float32_payload",
    "evaluate",
    "float32_code",
    "float32_payload",
    "num_weights",
    "QUANTIZERS",
    "subspace_code",
    "SubspaceConfig",
    "train_model",
    "TwoPartConfig",
    "TwoPartResult",
]
