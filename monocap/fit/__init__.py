"""Fitting lifted poses to the image and to time: root placement and temporal filters."""
from .filters import OneEuroFilter, filter_sequence
from .root import ROOT_FILTER, fit_root_positions, place_roots, smooth_roots

__all__ = ["OneEuroFilter", "ROOT_FILTER", "filter_sequence", "fit_root_positions", "place_roots",
           "smooth_roots"]
