"""Evaluation metrics for 3D poses; see `monocap.eval.metrics`."""
from monocap.eval.metrics import (  # noqa: F401  (the public names, listed once in metrics.__all__)
    __all__,
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
