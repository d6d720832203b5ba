"""The prequential code (paper section 3.4): block and online learners."""

from tfmdl.codes.prequential import online
from tfmdl.codes.prequential.block import *  # noqa: F401,F403
from tfmdl.codes.prequential.block import ModelFn  # noqa: F401
