"""Searches over a code's hyperparameters whose result is still a codelength.

:mod:`~.search`: the search space, the oracle's settings and what the
result pays; :mod:`~.tuner`: keras-tuner's engine running the trials, in
one process or distributed; :mod:`~.oracles`: an oracle made resumable.
"""

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
from tfmdl.codes.tuning.tuner import CodelengthTuner
from tfmdl.codes.tuning.tuner import run_search
from tfmdl.codes.tuning.tuner import TrialStore
from tfmdl.codes.tuning.tuner import tuner_role

__all__ = [
    "ADAPTIVE_SEARCHES",
    "BUDGET",
    "budget_levels",
    "CODES",
    "CodelengthTuner",
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
    "TrialStore",
    "tuner_role",
]
