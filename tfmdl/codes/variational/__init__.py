"""The variational (bits-back) code."""
from tfmdl.codes.variational.code import *  # noqa: F401,F403
