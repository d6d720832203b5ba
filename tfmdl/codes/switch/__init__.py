"""Switch codes."""
from tfmdl.codes.switch.code import *  # noqa: F401,F403
