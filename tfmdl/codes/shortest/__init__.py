"""The shortest of an agreed set of codes (block, online, their switch,
uniform), paid for by their Bayes mixture."""

from tfmdl.codes.shortest.code import combine
from tfmdl.codes.shortest.code import MEMBERS
from tfmdl.codes.shortest.code import mixture_bits
from tfmdl.codes.shortest.code import shortest_code
from tfmdl.codes.shortest.code import ShortestResult

__all__ = ["MEMBERS", "ShortestResult", "combine", "mixture_bits",
           "shortest_code"]
