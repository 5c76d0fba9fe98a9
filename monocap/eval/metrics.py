"""3D pose-error metrics: MPJPE and its aligned variants, PCK/AUC, and
temporal metrics (velocity, acceleration, bone-length stability).

Conventions shared by every function here:

- Poses are arrays of shape ``(..., J, 3)`` in millimetres, ordered by a
  `monocap.skeleton.JointSet`; any leading dimensions (batch, time, ...) are
  carried through. ``pred`` and ``gt`` must have the same shape.
- Each metric returns one value per pose (shape ``(...)``), so callers can
  weight or group before averaging. ``reduce=True`` instead returns the plain
  mean over everything as a Python float.
- ``root``: when an int, both poses are first made relative to that joint
  (0 is the H36M17 pelvis). That joint's error is then 0 and it still counts
  in the per-joint means, as in the usual Protocol 1 evaluation code; select
  joints before calling to exclude it.
- NaN is never skipped: a pose (or frame, for the temporal metrics) with a
  NaN coordinate scores NaN, and so does ``reduce=True`` over it, so missing
  data shows up instead of silently improving the score. Use ``np.nanmean``
  on the per-pose output when dropping such poses is intended. Infinite
  coordinates give inf or NaN.
"""
from __future__ import annotations

import numpy as np

from monocap.skeleton import H36M17

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


def mpjpe(pred, gt, root: int | None = None, reduce: bool = False):
    """Mean per-joint position error (Protocol 1 when ``root=0``).

    pred, gt: (..., J, 3) mm. Returns (...) mm, the mean over joints of the
    Euclidean distance, or a float mean if ``reduce``.
    """
    pred, gt = _check_poses(pred, gt)
    if root is not None:
        pred, gt = _root_relative(pred, root), _root_relative(gt, root)
    return _reduce(_joint_errors(pred, gt).mean(axis=-1), reduce)


def procrustes_align(pred, gt):
    """Similarity transform of each ``pred`` pose that best fits ``gt``.

    Finds rotation R (det +1), isotropic scale s and translation t minimising
    sum_j ||s * pred_j @ R + t - gt_j||^2 (Umeyama / orthogonal Procrustes).
    pred, gt: (..., J, 3) mm. Returns the aligned pred, (..., J, 3) mm.
    Poses with a non-finite coordinate come back all NaN.
    """
    pred, gt = _check_poses(pred, gt)
    # SVD does not converge on NaN/inf, so solve on zeros and blank those poses after.
    finite = (np.isfinite(pred) & np.isfinite(gt)).all(axis=(-2, -1))[..., None, None]
    pred, gt = np.where(finite, pred, 0.0), np.where(finite, gt, 0.0)

    pred_mean, gt_mean = pred.mean(axis=-2, keepdims=True), gt.mean(axis=-2, keepdims=True)
    x, y = pred - pred_mean, gt - gt_mean
    u, sing, vt = np.linalg.svd(np.swapaxes(x, -1, -2) @ y)
    # U V^T may be a reflection; flipping the weakest singular direction gives the
    # best proper rotation, otherwise a mirrored prediction would score 0.
    sign = np.sign(np.linalg.det(u @ vt))
    u[..., :, -1] *= sign[..., None]
    sing[..., -1] *= sign
    rot = u @ vt

    norm_sq = (x**2).sum(axis=(-2, -1))
    # A collapsed prediction (all joints equal) has no shape to fit: scale 0 puts
    # every joint at gt's centroid, which is the least-squares optimum there.
    scale = np.divide(sing.sum(axis=-1), norm_sq, out=np.zeros_like(norm_sq), where=norm_sq > 0)
    aligned = scale[..., None, None] * (x @ rot) + gt_mean
    return np.where(finite, aligned, np.nan)


def pa_mpjpe(pred, gt, reduce: bool = False):
    """MPJPE after per-pose Procrustes alignment of pred to gt (Protocol 2).

    pred, gt: (..., J, 3) mm. Returns (...) mm, or a float mean if ``reduce``.
    See `procrustes_align`.
    """
    return mpjpe(procrustes_align(pred, gt), gt, reduce=reduce)


def n_mpjpe(pred, gt, root: int | None = 0, reduce: bool = False):
    """MPJPE after the least-squares scale of pred onto gt (Rhodin et al. 2018).

    Both are made relative to ``root`` first (``None`` scales about the origin,
    for poses already root-relative); then pred is multiplied by
    s = <pred, gt> / <pred, pred> per pose. pred, gt: (..., J, 3) mm.
    Returns (...) mm, or a float mean if ``reduce``.
    """
    pred, gt = _check_poses(pred, gt)
    if root is not None:
        pred, gt = _root_relative(pred, root), _root_relative(gt, root)
    dot = (pred * gt).sum(axis=(-2, -1))
    norm_sq = (pred**2).sum(axis=(-2, -1))
    # Same collapsed-prediction case as in procrustes_align. A NaN pose still scores
    # NaN: its scale is NaN (NaN in gt) or 0, and 0 * NaN (NaN in pred) is NaN.
    scale = np.divide(dot, norm_sq, out=np.zeros_like(norm_sq), where=norm_sq > 0)
    return _reduce(_joint_errors(scale[..., None, None] * pred, gt).mean(axis=-1), reduce)


def pck3d(pred, gt, threshold: float = 150.0, root: int | None = 0, reduce: bool = False):
    """3D percentage of correct keypoints: fraction of joints with error <= threshold.

    pred, gt: (..., J, 3) mm; threshold in mm. Returns (...) in [0, 1],
    or a float mean if ``reduce``.
    """
    pred, gt = _check_poses(pred, gt)
    if root is not None:
        pred, gt = _root_relative(pred, root), _root_relative(gt, root)
    return _reduce(_fraction_within(_joint_errors(pred, gt), np.asarray(threshold)), reduce)


def auc3d(pred, gt, max_threshold: float = 150.0, steps: int = 31,
          root: int | None = 0, reduce: bool = False):
    """Area under the 3D PCK curve, as in MPI-INF-3DHP.

    The mean of `pck3d` at ``np.linspace(0, max_threshold, steps)`` mm
    (0, 5, ..., 150 by default). pred, gt: (..., J, 3) mm.
    Returns (...) in [0, 1], or a float mean if ``reduce``.
    """
    pred, gt = _check_poses(pred, gt)
    if root is not None:
        pred, gt = _root_relative(pred, root), _root_relative(gt, root)
    thresholds = np.linspace(0.0, max_threshold, steps)
    # (..., J, 1) against (steps,) gives (..., steps) fractions, one per threshold.
    pck = _fraction_within(_joint_errors(pred, gt)[..., None, :], thresholds[:, None])
    return _reduce(pck.mean(axis=-1), reduce)


def mpjve(pred, gt, root: int | None = 0, fps: float | None = None, reduce: bool = False):
    """Mean per-joint velocity error of sequences.

    pred, gt: (..., T, J, 3) mm with time on axis -3, T >= 2. Velocities are
    first differences between consecutive frames, so the result is
    (..., T-1) in mm/frame, or mm/s when ``fps`` is given; a float mean if
    ``reduce``.
    """
    return _temporal_error(pred, gt, order=1, root=root, fps=fps, reduce=reduce)


def accel_error(pred, gt, root: int | None = 0, fps: float | None = None, reduce: bool = False):
    """Mean per-joint acceleration error of sequences.

    pred, gt: (..., T, J, 3) mm with time on axis -3, T >= 3. Accelerations
    are second differences x[t+1] - 2 x[t] + x[t-1], so the result is
    (..., T-2) in mm/frame^2, or mm/s^2 when ``fps`` is given; a float mean
    if ``reduce``.
    """
    return _temporal_error(pred, gt, order=2, root=root, fps=fps, reduce=reduce)


def bone_length_std(poses, bones=None, reduce: bool = False):
    """How much each bone's length varies over a sequence.

    poses: (..., T, J, 3) mm, time on axis -3. bones: (parent, child) index
    pairs, default ``H36M17.bones`` (which then requires J == 17).
    Returns the population standard deviation (ddof=0) over time of each
    bone's length, (..., n_bones) mm, or the float mean over bones (and
    leading dims) if ``reduce``. A rigid skeleton scores 0.
    """
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim < 3 or poses.shape[-1] != 3:
        raise ValueError(f"poses must have shape (..., T, J, 3), got {poses.shape}")
    if bones is None:
        if poses.shape[-2] != len(H36M17):
            raise ValueError(f"default bones are H36M17's, which needs J == {len(H36M17)}, "
                             f"got J == {poses.shape[-2]}; pass bones explicitly")
        bones = H36M17.bones
    bones = np.asarray(bones, dtype=int).reshape(-1, 2)
    if bones.size and (bones.min() < 0 or bones.max() >= poses.shape[-2]):
        raise ValueError(f"bone indices must lie in [0, {poses.shape[-2]}), got {bones.tolist()}")
    lengths = np.linalg.norm(poses[..., bones[:, 1], :] - poses[..., bones[:, 0], :], axis=-1)
    return _reduce(lengths.std(axis=-2), reduce)


def _temporal_error(pred, gt, order: int, root, fps, reduce):
    """Per-frame mean joint error of the ``order``-th time difference, see mpjve."""
    pred, gt = _check_poses(pred, gt)
    if pred.ndim < 3 or pred.shape[-3] <= order:
        raise ValueError(f"need sequences of shape (..., T, J, 3) with T > {order}, got {pred.shape}")
    if root is not None:
        pred, gt = _root_relative(pred, root), _root_relative(gt, root)
    err = _joint_errors(np.diff(pred, n=order, axis=-3), np.diff(gt, n=order, axis=-3)).mean(axis=-1)
    if fps is not None:
        err = err * float(fps) ** order
    return _reduce(err, reduce)


def _check_poses(pred, gt):
    """Both as float64 arrays of one (..., J, 3) shape, else ValueError."""
    pred, gt = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f"pred and gt shapes differ: {pred.shape} vs {gt.shape}")
    if pred.ndim < 2 or pred.shape[-1] != 3 or pred.shape[-2] == 0:
        raise ValueError(f"poses must have shape (..., J, 3) with J >= 1, got {pred.shape}")
    return pred, gt


def _root_relative(poses, root: int):
    """poses (..., J, 3) minus their joint ``root``, same shape."""
    n_joints = poses.shape[-2]
    if not -n_joints <= root < n_joints:
        raise ValueError(f"root joint {root} out of range for {n_joints} joints")
    root %= n_joints
    return poses - poses[..., root : root + 1, :]


def _joint_errors(pred, gt):
    """Euclidean distance per joint, (..., J, 3) -> (..., J)."""
    return np.linalg.norm(pred - gt, axis=-1)


def _fraction_within(errors, thresholds):
    """Fraction of the last axis of ``errors`` that is <= thresholds, NaN if any error is NaN."""
    within = (errors <= thresholds).mean(axis=-1)
    # A NaN comparison is False, which would count missing joints as misses.
    return np.where(np.isnan(errors).any(axis=-1), np.nan, within)


def _reduce(values, reduce: bool):
    return float(np.mean(values)) if reduce else values
