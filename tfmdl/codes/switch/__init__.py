"""Switch and self-switch codes over prequential runs (paper, appendix E)."""

from tfmdl.codes.switch.code import check_compatible
from tfmdl.codes.switch.code import check_epoch_bits
from tfmdl.codes.switch.code import MethodResult
from tfmdl.codes.switch.code import METHODS
from tfmdl.codes.switch.code import MIXED
from tfmdl.codes.switch.code import PREQUENTIAL
from tfmdl.codes.switch.code import PrequentialRun
from tfmdl.codes.switch.code import self_switch_matrix
from tfmdl.codes.switch.code import self_switch_names
from tfmdl.codes.switch.code import self_switch_run
from tfmdl.codes.switch.code import self_switch_strategies
from tfmdl.codes.switch.code import switch_code
from tfmdl.codes.switch.code import switch_matrix
from tfmdl.codes.switch.code import switch_runs
from tfmdl.codes.switch.code import SwitchResult
from tfmdl.codes.switch.code import SwitchSettings
from tfmdl.codes.switch.code import UNIFORM
from tfmdl.codes.switch.code import uniform_row

__all__ = [
    "METHODS", "MIXED", "MethodResult", "PREQUENTIAL", "PrequentialRun",
    "SwitchResult", "SwitchSettings", "UNIFORM", "check_compatible",
    "check_epoch_bits", "self_switch_matrix", "self_switch_names",
    "self_switch_run", "self_switch_strategies", "switch_code",
    "switch_matrix", "switch_runs", "uniform_row",
]
