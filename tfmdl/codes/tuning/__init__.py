"""Searches over a code's hyperparameters whose result is still a codelength."""

from tfmdl.codes.tuning.search import ADAPTIVE_SEARCHES
from tfmdl.codes.tuning.search import BUDGET
from tfmdl.codes.tuning.search import CODES
from tfmdl.codes.tuning.search import KNOBS
from tfmdl.codes.tuning.search import MODEL_KNOBS
from tfmdl.codes.tuning.search import SEARCHES
from tfmdl.codes.tuning.search import Search
from tfmdl.codes.tuning.search import SearchResult
from tfmdl.codes.tuning.search import SearchSpace
from tfmdl.codes.tuning.search import TrialOutcome
from tfmdl.codes.tuning.search import TrialRecord
from tfmdl.codes.tuning.search import budget_levels
from tfmdl.codes.tuning.search import mixture_bits
from tfmdl.codes.tuning.search import run_search

__all__ = [
    "ADAPTIVE_SEARCHES",
    "BUDGET",
    "budget_levels",
    "CODES",
    "KNOBS",
    "mixture_bits",
    "MODEL_KNOBS",
    "run_search",
    "Search",
    "SEARCHES",
    "SearchResult",
    "SearchSpace",
    "TrialOutcome",
    "TrialRecord",
]
