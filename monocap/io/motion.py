"""Skeletal motion: a joint tree with per-frame rotations, and its forward kinematics.

Both mocap readers (`monocap.io.bvh`, `monocap.io.asfamc`) produce a `Motion`;
`forward_kinematics` turns it into world joint positions and orientations.

Conventions: rotation matrices act on column vectors, a joint's global
rotation is ``G[j] = G[parent] @ R_local[j]`` and its position is
``P[j] = P[parent] + G[parent] @ offset[j]``.
"""
from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Motion:
    """One clip of skeletal animation.

    End sites (BVH ``End Site``, the far ends of ASF leaf bones) are joints
    too, flagged in `is_end_site`: they never rotate, but FK places them, which
    is how a rig's head top or toe tip is found.
    """

    name: str
    """The file's name without suffixes."""
    joint_names: list[str]
    parents: np.ndarray
    """(J,) int, index of each joint's parent, -1 for the root; parents come before children."""
    offsets_mm: np.ndarray
    """(J, 3) float, rest offset of each joint from its parent in the parent's frame, mm."""
    is_end_site: np.ndarray
    """(J,) bool, True for end sites."""
    local_rotations: np.ndarray
    """(T, J, 3, 3) float, rotation of each joint relative to its parent's frame."""
    root_positions_mm: np.ndarray
    """(T, 3) float, world position of the root joint, mm."""
    fps: float
    """Frames per second."""
    translated_joints: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    """(K,) int, non-root joints whose offset is animated (BVH position channels)."""
    local_translations_mm: np.ndarray | None = None
    """(T, K, 3) float, the animated offsets of `translated_joints`, mm; replaces their rest offsets."""

    def __post_init__(self):
        n = len(self.joint_names)
        if not (self.parents.shape == (n,) and self.offsets_mm.shape == (n, 3)
                and self.is_end_site.shape == (n,) and self.local_rotations.shape[1:] == (n, 3, 3)):
            raise ValueError(f"{self.name}: inconsistent joint array shapes")
        if np.any(self.parents >= np.arange(n)):
            raise ValueError(f"{self.name}: joints must come after their parents")
        if self.root_positions_mm.shape != (self.num_frames, 3):
            raise ValueError(f"{self.name}: root_positions_mm must be (T, 3)")
        if self.local_translations_mm is None:
            self.local_translations_mm = np.zeros((self.num_frames, 0, 3))

    @property
    def num_frames(self) -> int:
        return self.local_rotations.shape[0]

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def index(self, joint: str) -> int:
        return self.joint_names.index(joint)


def forward_kinematics(motion: Motion) -> tuple[np.ndarray, np.ndarray]:
    """World positions (T, J, 3) in mm and global rotations (T, J, 3, 3) of every joint.

    Loops over joints and vectorises over frames; the result has the dtype of
    `motion.local_rotations`, so float32 input halves the memory of long clips.
    """
    rot = motion.local_rotations
    num_frames, num_joints = rot.shape[:2]
    positions = np.empty((num_frames, num_joints, 3), dtype=rot.dtype)
    rotations = np.empty_like(rot)
    animated = {j: k for k, j in enumerate(motion.translated_joints)}
    for j, p in enumerate(motion.parents):
        if p < 0:
            positions[:, j] = motion.root_positions_mm
            rotations[:, j] = rot[:, j]
            continue
        if j in animated:
            offset = motion.local_translations_mm[:, animated[j]]
            positions[:, j] = positions[:, p] + np.einsum("tij,tj->ti", rotations[:, p], offset)
        else:
            positions[:, j] = positions[:, p] + rotations[:, p] @ motion.offsets_mm[j].astype(rot.dtype)
        # End sites never rotate: skip the matrix product.
        rotations[:, j] = rotations[:, p] if motion.is_end_site[j] else rotations[:, p] @ rot[:, j]
    return positions, rotations


# For a rotation about each axis, the two coordinates it mixes, in right-handed order.
_PLANE = {"x": (1, 2), "y": (2, 0), "z": (0, 1)}


def euler_to_matrix(angles_rad: np.ndarray, axes: str) -> np.ndarray:
    """Rotation matrices (..., 3, 3) from Euler angles (..., len(axes)) in radians.

    The result is ``R[axes[0]](a0) @ R[axes[1]](a1) @ ...``: the BVH reading of
    a channel list ("ZXY" means Rz @ Rx @ Ry). An ASF ``XYZ`` order, which rotates
    about x first in the fixed frame, is ``euler_to_matrix(a[..., ::-1], "ZYX")``.
    """
    angles_rad = np.asarray(angles_rad, dtype=np.float64)
    if angles_rad.shape[-1] != len(axes) or not set(axes.lower()) <= set(_PLANE):
        raise ValueError(f"{angles_rad.shape[-1]} angles for rotation order {axes!r}")
    out = np.zeros(angles_rad.shape[:-1] + (3, 3))
    out[..., [0, 1, 2], [0, 1, 2]] = 1.0
    for k, axis in enumerate(axes.lower()):
        # Right-multiplying by a one-axis rotation only mixes two columns:
        # far cheaper than a stacked 3x3 matrix product.
        i, j = _PLANE[axis]
        c, s = np.cos(angles_rad[..., k, None]), np.sin(angles_rad[..., k, None])
        col_i, col_j = out[..., :, i].copy(), out[..., :, j].copy()
        out[..., :, i] = c * col_i + s * col_j
        out[..., :, j] = c * col_j - s * col_i
    return out


def interpolate_times(values: np.ndarray, t_from: np.ndarray, t_to: np.ndarray, axis: int = 0) -> np.ndarray:
    """Linear interpolation of ``values`` along ``axis`` from sample times t_from (increasing) to t_to.

    Times before the first sample or after the last take that sample (held, not extrapolated).
    """
    values = np.moveaxis(np.asarray(values), axis, 0)
    t_from, t_to = np.asarray(t_from, dtype=np.float64), np.asarray(t_to, dtype=np.float64)
    i = np.clip(np.searchsorted(t_from, t_to, side="right") - 1, 0, len(t_from) - 1)
    j = np.minimum(i + 1, len(t_from) - 1)
    span = np.where(j > i, t_from[j] - t_from[i], 1.0)
    w = np.clip((t_to - t_from[i]) / span, 0.0, 1.0).reshape(-1, *([1] * (values.ndim - 1)))
    return np.moveaxis((1 - w) * values[i] + w * values[j], 0, axis)


def read_text(path: str | Path) -> str:
    """The text of a mocap file, plain or gzip-compressed (told apart by content, not name)."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise ValueError(f"{path}: damaged gzip file ({err})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        # Old mocap files carry Latin-1 comments (e.g. HDM05's "f\xfcr Bonn").
        return raw.decode("latin-1")


def file_stem(path: str | Path) -> str:
    """A mocap file's name without ".gz" and its format suffix ("02_01.amc.gz" -> "02_01")."""
    return Path(Path(path).name.removesuffix(".gz")).stem
