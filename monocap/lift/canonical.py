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

from ..skeleton import H36M17

ROOT = 0  # pelvis in H36M17
MIRROR = list(H36M17.flip_perm)
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
        flat = self.features.reshape(*lead, 2 * self.features.shape[-2])
        return np.concatenate([flat, self.scores], axis=-1).astype(np.float32)

    def mirrored(self) -> "CanonicalInput":
        """The input of the person's mirror twin: x → -x in the virtual camera, left and right joints swapped."""
        return CanonicalInput(self.features[..., MIRROR, :] * [-1.0, 1.0], self.scores[..., MIRROR], self.rotation,
                              self.scale)


def mirror_pose(points_virtual_mm: np.ndarray) -> np.ndarray:
    """Poses (..., 17, 3) of a mirror twin in the virtual camera → the person's own (x → -x, left ↔ right)."""
    return points_virtual_mm[..., MIRROR, :] * np.array([-1.0, 1.0, 1.0], dtype=points_virtual_mm.dtype)


def rotation_to_optical_axis(rays: np.ndarray) -> np.ndarray:
    """Smallest rotations (..., 3, 3) taking each ray (..., 3), z > 0, onto +z.

    Rodrigues' formula R = I + K + K^2 / (1 + cos) about the axis a = v x z,
    written out element by element: a has no z component, which zeroes half
    of K and K^2 (and batched 3x3 products cost more than this whole function).
    """
    v = rays / np.linalg.norm(rays, axis=-1, keepdims=True)
    a0, a1, cos = v[..., 1], -v[..., 0], v[..., 2]
    inv = 1.0 / (1.0 + cos)
    r = np.empty(v.shape[:-1] + (3, 3))
    r[..., 0, 0], r[..., 0, 1], r[..., 0, 2] = 1.0 - a1 * a1 * inv, a0 * a1 * inv, a1
    r[..., 1, 0], r[..., 1, 1], r[..., 1, 2] = a0 * a1 * inv, 1.0 - a0 * a0 * inv, -a0
    r[..., 2, 0], r[..., 2, 1], r[..., 2, 2] = -a1, a0, 1.0 - (a0 * a0 + a1 * a1) * inv
    return r


def canonicalize(keypoints_norm: np.ndarray, scores: np.ndarray) -> CanonicalInput:
    """Normalised image coordinates (..., J, 2) in H36M17 order + scores → `CanonicalInput`.

    The pelvis anchors the virtual camera; where it is missing, the
    score-weighted mean of the visible joints does.
    """
    kp = np.asarray(keypoints_norm, dtype=np.float64)
    visible = np.asarray(scores, dtype=np.float64) > 0
    n_visible = np.maximum(visible.sum(-1), 1)
    # x and y as contiguous (..., J) arrays: reductions over joints of (..., J, 2) views are several times slower.
    x, y = np.ascontiguousarray(kp[..., 0]), np.ascontiguousarray(kp[..., 1])
    anchor = kp[..., ROOT, :].copy()
    no_root = ~visible[..., ROOT]
    if no_root.any():
        w = visible[no_root]
        anchor[no_root] = np.stack([(x[no_root] * w).sum(-1), (y[no_root] * w).sum(-1)], -1) / n_visible[no_root, None]
    rotation = rotation_to_optical_axis(np.concatenate([anchor, np.ones_like(anchor[..., :1])], -1))

    # Each ray (x, y, 1) rotated into the virtual camera, then projected; the anchor lands on (0, 0).
    r = rotation[..., None, :, :]
    rx, ry, rz = (r[..., i, 0] * x + r[..., i, 1] * y + r[..., i, 2] for i in range(3))
    u = np.where(visible, rx / rz, 0.0)
    v = np.where(visible, ry / rz, 0.0)
    scale = np.maximum(np.sqrt((u * u + v * v).sum(-1) / n_visible), _MIN_SCALE)[..., None]
    features = np.stack([u / scale, v / scale], axis=-1)
    return CanonicalInput(features, np.where(visible, scores, 0.0), rotation, scale[..., 0])


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
