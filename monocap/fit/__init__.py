"""Fitting lifted poses to the image and to time: root placement and temporal filters."""
from .filters import OneEuroFilter, filter_sequence
from .root import fit_root_positions

__all__ = ["OneEuroFilter", "filter_sequence", "fit_root_positions"]
