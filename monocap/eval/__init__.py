"""Evaluation metrics for 3D poses; see `monocap.eval.metrics`."""
from monocap.eval.metrics import (
    accel_error,
    auc3d,
    bone_length_std,
    mpjpe,
    mpjve,
    n_mpjpe,
    pa_mpjpe,
    pck3d,
    procrustes_align,
)

__all__ = [
    "mpjpe",
    "pa_mpjpe",
    "procrustes_align",
    "n_mpjpe",
    "pck3d",
    "auc3d",
    "mpjve",
    "accel_error",
    "bone_length_std",
]
