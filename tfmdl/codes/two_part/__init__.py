"""Two-part codes."""
from tfmdl.codes.two_part.code import *  # noqa: F401,F403
