"""Data set registry: name -> preprocessed arrays in a fixed, seeded order."""

from tfmdl.data.idx import read_idx
from tfmdl.data.registry import Dataset
from tfmdl.data.registry import list_datasets
from tfmdl.data.registry import load
from tfmdl.data.validation import validate_labelled_arrays

__all__ = [
    "Dataset",
    "list_datasets",
    "load",
    "read_idx",
    "validate_labelled_arrays",
]
