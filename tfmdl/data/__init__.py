"""Data: the registry (a name -> preprocessed arrays in a fixed, seeded
order) and :class:`LabelledData`, checked examples as every code reads them
(:func:`tfmdl.data.labelled.labelled` makes them from a user's arrays or
``tf.data`` stream)."""

from tfmdl.data.idx import read_idx
from tfmdl.data.labelled import LabelledData
from tfmdl.data.registry import Dataset
from tfmdl.data.registry import list_datasets
from tfmdl.data.registry import load
from tfmdl.data.validation import validate_labelled_arrays

__all__ = [
    "Dataset",
    "LabelledData",
    "list_datasets",
    "load",
    "read_idx",
    "validate_labelled_arrays",
]
