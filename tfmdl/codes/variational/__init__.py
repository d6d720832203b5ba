"""The variational (bits-back) code, with TFP's Flipout layers (paper 3.3).

Modules: :mod:`~.config` (what is agreed), :mod:`~.bits_back` (the
codelength's parts read off a Flipout model), :mod:`~.code` (the grid of
prior scales, trained and priced), :mod:`~.results`.
"""

from tfmdl.codes.variational.bits_back import check_model
from tfmdl.codes.variational.bits_back import check_model_fn
from tfmdl.codes.variational.bits_back import deterministic_bits
from tfmdl.codes.variational.bits_back import kl_nats
from tfmdl.codes.variational.bits_back import monte_carlo_nll
from tfmdl.codes.variational.bits_back import num_posterior_scalars
from tfmdl.codes.variational.bits_back import posterior_mean_accuracy
from tfmdl.codes.variational.bits_back import posterior_means
from tfmdl.codes.variational.bits_back import posterior_variables
from tfmdl.codes.variational.bits_back import standard_error
from tfmdl.codes.variational.bits_back import transmitted_weights
from tfmdl.codes.variational.code import encode_point
from tfmdl.codes.variational.code import variational_code
from tfmdl.codes.variational.config import VariationalConfig
from tfmdl.codes.variational.results import EpochPoint
from tfmdl.codes.variational.results import PointResult
from tfmdl.codes.variational.results import VariationalResult

__all__ = [
    "check_model",
    "check_model_fn",
    "deterministic_bits",
    "encode_point",
    "EpochPoint",
    "kl_nats",
    "monte_carlo_nll",
    "num_posterior_scalars",
    "PointResult",
    "posterior_mean_accuracy",
    "posterior_means",
    "posterior_variables",
    "standard_error",
    "transmitted_weights",
    "variational_code",
    "VariationalConfig",
    "VariationalResult",
]
