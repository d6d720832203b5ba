"""Tuned codes."""
from tfmdl.codes.tuning.search import *  # noqa: F401,F403
