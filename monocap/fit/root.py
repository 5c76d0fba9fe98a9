"""Metric root position per frame: place a lifted pose in the camera so that it reprojects onto the 2D keypoints.

A lifter predicts the pose relative to the pelvis; where the person stands
comes from the image. With the root-relative pose P_j (mm, camera frame) and
the keypoints' normalised image coordinates u_j, the root t solves

    min_t  sum_j  w_j  rho( || pi(P_j + t) - u_j || ),    pi(X) = (X_x / X_z, X_y / X_z)

w_j the keypoint confidences and rho the Huber loss, so that a few wrong
keypoints (a swapped limb, a joint snapped to the other person) cannot drag
the root away. `monocap.lift.canonical.estimate_root` solves the linearised
equations in closed form; it starts a few Gauss-Newton steps on the true
reprojection error, run for all frames at once.

Scale and depth are one unknown to a single camera: a pose s times too big
reprojects exactly like the true pose at s times the distance, since
pi(s P_j + s t) = pi(P_j + t). The root therefore comes out as s times the
true root, its depth off by the same fraction as the predicted body size
(10 % too tall → 10 % too far), while its direction from the camera stays right.

Linear or refined: the linear equations measure the error in space, so noise
in the 3D pose leaves their solution unbiased; the reprojection error is
measured in the image, so noise in the 3D pose inflates the pose's apparent
spread and the fit places it slightly too far (regression dilution: by about
the ratio of the pose's in-plane noise variance to its 2D spread, measured
1.7 % of the depth for 40 mm of noise per coordinate). Robustness to wrong
keypoints is worth far more: with three keypoints per frame 60-150 px off,
the linear root misses by about 1 m, the refined one by about 4 cm
(S1 "Walking" at 4.6-7.3 m, tests/test_filters.py).
"""
from __future__ import annotations

import numpy as np

from ..camera import Intrinsics
from ..lift.canonical import estimate_root
from ..skeleton import to_h36m17
from .filters import OneEuroFilter, filter_sequence

# Huber threshold in normalised image units (about 5 px at a 1000 px focal
# length): a few times a good detector's noise, far below a wrong joint's error.
HUBER_DELTA = 0.005
# One-Euro settings for root positions in mm: 1 Hz cutoff at rest, +1 Hz per 200 mm/s of motion, so that
# depth jitter is smoothed while a walking person (about 1500 mm/s) is followed at about 8 Hz.
ROOT_FILTER = {"min_cutoff": 1.0, "beta": 0.005, "d_cutoff": 1.0}
# Joints are kept at least this far in front of the camera while iterating,
# so that the projection stays defined.
MIN_DEPTH_MM = 100.0


def fit_root_positions(poses_rel_cam_mm: np.ndarray, keypoints_norm: np.ndarray, scores: np.ndarray,
                       refine: bool = True, *, iterations: int = 5, huber_delta: float = HUBER_DELTA,
                       min_joints: int = 4, smoothing: OneEuroFilter | None = None) -> np.ndarray:
    """Camera-frame root position per frame, (T, 3) float64 mm; NaN where fewer than `min_joints` are seen.

    poses_rel_cam_mm: (T, J, 3) root-relative pose, camera frame, mm.
    keypoints_norm: (T, J, 2) undistorted normalised image coordinates
        (`Intrinsics.pixels_to_normalized`) of the same joints.
    scores: (T, J) confidences in [0, 1], 0 = missing.
    refine: False keeps the linear solution; True runs `iterations` robust
        Gauss-Newton steps from it (Huber threshold `huber_delta` in
        normalised image units). See the module notes for when each wins.
    smoothing: a One-Euro filter run over the roots in frame order; keep the
        same filter across calls to smooth a stream chunk by chunk.
    """
    poses = np.asarray(poses_rel_cam_mm, dtype=np.float64)
    kp = np.asarray(keypoints_norm, dtype=np.float64)
    w = np.clip(np.nan_to_num(np.asarray(scores, dtype=np.float64)), 0.0, 1.0)
    # A joint with a NaN anywhere cannot take part, whatever its score says.
    w = np.where(np.isfinite(poses).all(-1) & np.isfinite(kp).all(-1), w, 0.0)
    poses, kp = np.nan_to_num(poses), np.nan_to_num(kp)

    root = estimate_root(poses, kp, w, min_joints=min_joints)
    if refine:
        ok = np.isfinite(root).all(-1)
        root[ok] = _refine(poses[ok], kp[ok], w[ok], root[ok], iterations, huber_delta)
    if smoothing is not None:
        root = np.stack([smoothing(r) for r in root]) if len(root) else root
    return root


def _refine(poses: np.ndarray, kp: np.ndarray, w: np.ndarray, root: np.ndarray, iterations: int,
           huber_delta: float) -> np.ndarray:
    """Iteratively reweighted Gauss-Newton on the reprojection error; arrays over (T, ...) frames."""
    root = _in_front(poses, root)
    for _ in range(iterations):
        X = poses + root[:, None, :]
        inv_z = 1.0 / X[..., 2]
        proj = X[..., :2] * inv_z[..., None]
        residual = proj - kp  # (T, J, 2)
        weight = w * _huber_weight(np.linalg.norm(residual, axis=-1), huber_delta)
        # d proj / d root, per joint: [[1/z, 0, -x/z^2], [0, 1/z, -y/z^2]]
        jac = np.zeros(X.shape[:-1] + (2, 3))
        jac[..., 0, 0] = jac[..., 1, 1] = inv_z
        jac[..., :, 2] = -proj * inv_z[..., None]
        jtw = np.swapaxes(jac, -1, -2) * weight[..., None, None]  # (T, J, 3, 2)
        lhs = (jtw @ jac).sum(1) + 1e-12 * np.eye(3)
        rhs = -(jtw @ residual[..., None]).sum(1)
        root = _in_front(poses, root + np.linalg.solve(lhs, rhs)[..., 0])
    return root


def _huber_weight(norm: np.ndarray, delta: float) -> np.ndarray:
    """IRLS weight of the Huber loss: 1 inside delta, delta / |r| beyond."""
    return np.where(norm > delta, delta / np.maximum(norm, 1e-300), 1.0)


def _in_front(poses: np.ndarray, root: np.ndarray) -> np.ndarray:
    """The root moved back along z, where needed, so that every joint is in front of the camera."""
    nearest = poses[..., 2].min(-1)
    root = root.copy()
    root[:, 2] = np.maximum(root[:, 2], MIN_DEPTH_MM - nearest)
    return root


def place_roots(poses_rel_cam_mm: np.ndarray, keypoints_px: np.ndarray, scores: np.ndarray, intrinsics: Intrinsics,
                joint_format: str, fps: float | None = None) -> np.ndarray:
    """Camera-frame pelvis positions (T, 3) mm for lifted poses (T, 17, 3) and their keypoints (T, J, 2) px.

    As ``monocap run`` places a track: `fit_root_positions` on the keypoints brought to H36M17, then,
    given ``fps``, `smooth_roots`.
    """
    kp, sc = to_h36m17(keypoints_px, scores, joint_format)
    root = fit_root_positions(poses_rel_cam_mm, intrinsics.pixels_to_normalized(kp), sc)
    return root if fps is None else smooth_roots(root, fps)


def smooth_roots(root_cam_mm: np.ndarray, fps: float) -> np.ndarray:
    """(T, 3) root positions One-Euro filtered forwards, then backwards over the result (`ROOT_FILTER`).

    The second pass undoes the first one's lag, which only an offline caller,
    holding the whole sequence, can afford.
    """
    root = filter_sequence(root_cam_mm, fps, **ROOT_FILTER)
    return filter_sequence(root[::-1], fps, **ROOT_FILTER)[::-1]
