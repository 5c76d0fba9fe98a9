"""Camera-aware input normalisation shared by training and inference.

A lifter must serve any resolution, focal length and position of the person
in the frame. We therefore never feed it pixels. Keypoints are turned into
undistorted rays (pixels + intrinsics), then the camera is rotated virtually
so that it looks straight at the person's pelvis. In that *virtual camera*
the person sits on the optical axis, which removes the perspective skew of
people near the image border; the 2D pose is then centred on the pelvis and
divided by its own RMS size. The network predicts the root-relative 3D pose
in millimetres in the virtual camera frame, and `to_camera_frame` rotates it
back into the real camera.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ROOT = 0  # pelvis in H36M17
_MIN_SCALE = 1e-6


@dataclass
class CanonicalInput:
    """Network input for (...) poses of J joints.

    features: (..., J, 2) centred, scale-free 2D coordinates in the virtual
        camera (zero where a joint is missing).
    scores: (..., J) confidences in [0, 1]; 0 marks a missing joint.
    rotation: (..., 3, 3) real camera → virtual camera rotation.
    scale: (..., ) RMS radius of the 2D pose in normalised image units.
    """

    features: np.ndarray
    scores: np.ndarray
    rotation: np.ndarray
    scale: np.ndarray

    def as_vector(self) -> np.ndarray:
        """(..., 3J) float32: the flat network input [x, y per joint, then scores]."""
        lead = self.features.shape[:-2]
        return np.concatenate([self.features.reshape(*lead, -1), self.scores], axis=-1).astype(np.float32)


def rotation_to_optical_axis(rays: np.ndarray) -> np.ndarray:
    """Smallest rotations (..., 3, 3) taking each ray (..., 3), z > 0, onto +z."""
    v = rays / np.linalg.norm(rays, axis=-1, keepdims=True)
    axis = np.stack([v[..., 1], -v[..., 0], np.zeros_like(v[..., 0])], axis=-1)  # v × z
    cos = v[..., 2]
    k = np.zeros(v.shape[:-1] + (3, 3))
    k[..., 0, 2], k[..., 1, 2] = axis[..., 1], -axis[..., 0]
    k[..., 2, 0], k[..., 2, 1] = -axis[..., 1], axis[..., 0]
    eye = np.broadcast_to(np.eye(3), k.shape)
    return eye + k + (k @ k) / (1.0 + cos)[..., None, None]


def canonicalize(keypoints_norm: np.ndarray, scores: np.ndarray) -> CanonicalInput:
    """Normalised image coordinates (..., J, 2) in H36M17 order + scores → `CanonicalInput`.

    The pelvis anchors the virtual camera; where it is missing, the
    score-weighted mean of the visible joints does.
    """
    kp = np.asarray(keypoints_norm, dtype=np.float64)
    visible = np.asarray(scores, dtype=np.float64) > 0
    w = visible.astype(np.float64)
    n_visible = np.maximum(w.sum(-1, keepdims=True), 1.0)
    centroid = (kp * w[..., None]).sum(-2) / n_visible
    anchor = np.where(visible[..., ROOT, None], kp[..., ROOT, :], centroid)
    rotation = rotation_to_optical_axis(np.concatenate([anchor, np.ones_like(anchor[..., :1])], -1))

    rays = np.concatenate([kp, np.ones_like(kp[..., :1])], axis=-1)
    rotated = rays @ np.swapaxes(rotation, -1, -2)
    xy = rotated[..., :2] / rotated[..., 2:3]  # the anchor lands on (0, 0)
    xy = np.where(visible[..., None], xy, 0.0)
    scale = np.sqrt((xy ** 2).sum(-1).sum(-1) / n_visible[..., 0])
    scale = np.maximum(scale, _MIN_SCALE)
    return CanonicalInput(xy / scale[..., None, None], np.where(visible, scores, 0.0), rotation, scale)


def to_virtual_frame(points_cam_mm: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """Root-relative camera-frame points (..., J, 3) → virtual camera frame (training targets)."""
    return points_cam_mm @ np.swapaxes(rotation, -1, -2)


def to_camera_frame(points_virtual_mm: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """Network output (..., J, 3) in the virtual camera → real camera frame."""
    return points_virtual_mm @ rotation


def estimate_root(poses_rel_cam_mm: np.ndarray, keypoints_norm: np.ndarray, scores: np.ndarray,
                  min_joints: int = 4) -> np.ndarray:
    """Camera-frame root position (..., 3) mm that best reprojects a root-relative pose.

    Solves the linearised perspective equations x_j (Z_j + t_z) = X_j + t_x and
    y_j (Z_j + t_z) = Y_j + t_y for t in weighted least squares (weights =
    scores). The metric scale comes from the pose itself, so the depth is as
    good as the predicted body size. NaN where fewer than `min_joints` are seen.
    """
    X = np.asarray(poses_rel_cam_mm, dtype=np.float64)
    x, y = keypoints_norm[..., 0], keypoints_norm[..., 1]
    w = np.where(np.asarray(scores) > 0, scores, 0.0)
    # The normal equations A^T W A t = A^T W b, summed per joint: a 3x3 system per pose
    # (forming A, (..., 2J, 3), explicitly took a quarter of a batched lift).
    bx, by = x * X[..., 2] - X[..., 0], y * X[..., 2] - X[..., 1]
    sw, swx, swy = w.sum(-1), (w * x).sum(-1), (w * y).sum(-1)
    swr = (w * (x * x + y * y)).sum(-1) + 1e-9
    lhs = np.empty(sw.shape + (3, 3))
    lhs[..., 0, 0] = lhs[..., 1, 1] = sw + 1e-9
    lhs[..., 0, 1] = lhs[..., 1, 0] = 0.0
    lhs[..., 0, 2] = lhs[..., 2, 0] = -swx
    lhs[..., 1, 2] = lhs[..., 2, 1] = -swy
    lhs[..., 2, 2] = swr
    rhs = np.stack([(w * bx).sum(-1), (w * by).sum(-1), -(w * (x * bx + y * by)).sum(-1)], axis=-1)
    t = np.linalg.solve(lhs, rhs[..., None])[..., 0]
    enough = (w > 0).sum(-1) >= min_joints
    return np.where(enough[..., None], t, np.nan)
