"""The floor under a tracked person, and when each foot stands on it.

A single camera does not say which way is up, nor where the floor is. Both
come from the feet: while a foot stands on the floor its ankle is low and
still, and the ankles of all such moments lie on a plane parallel to the
floor, one ankle height above it.

`estimate_ground` works on a person's absolute joints in the camera frame
(mm, x right, y down, z forward), a few rounds of:

1. up = the current guess (at first the trunk's mean direction, pelvis to
   thorax, averaged over the sequence: people mostly keep their trunk
   upright, while the camera may be tilted any way);
2. contacts (`detect_contacts`) = frames where an ankle is within
   ``height_tol`` of the lowest ankle level and moves slower than ``speed_tol``,
   each run of them extended to the neighbouring low frames slower than
   `HYSTERESIS` x ``speed_tol`` (`extend_runs`): a lifted ankle's speed
   jitters across one threshold at the start and end of a stance;
3. the plane through the contact ankles (least squares): its normal becomes
   the new up. The ankles must spread over the floor for that: when they
   spread along one line only (walking straight), the normal is the guess
   made perpendicular to that line; when they do not spread (standing on
   the spot, or no contact found), the trunk's mean direction stays up
   (``Ground.source`` says which of "plane", "line", "trunk" was used).

The floor lies `ANKLE_ABOVE_FLOOR` shin lengths below the median contact
ankle (below the lowest ankle level when no contact is found).

`foot_skate_mm` measures how far feet slide while they should stand still.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..skeleton import H36M17

FEET = np.array(H36M17.indices(["l_ankle", "r_ankle"]))
"""The ankle joints that stand for the feet, left then right (H36M17 has no toes)."""
# The ankle joint centre sits about a fifth of the shin length above the sole
# (Human3.6M S8: ankles 70-100 mm above the floor while standing, shin 439 mm).
ANKLE_ABOVE_FLOOR = 0.2
# Contacts: an ankle within this many shin lengths of the lowest ankle level...
CONTACT_HEIGHT_TOL = 0.25
# ...and slower than this (a foot in swing moves at 2-5 m/s, a planted one at ~0).
CONTACT_SPEED_TOL_MM_S = 500.0
# A contact found with those tolerances extends to the neighbouring frames that
# meet tolerances this many times looser (hysteresis): lifted ankles jitter
# across a single threshold at the start and end of a stance.
HYSTERESIS = 2.0
# Speeds are taken over +-0.05 s after a centred 0.1 s average, which tames
# the frame-to-frame jitter of lifted poses without blurring a step.
SPEED_HALF_SPAN_S = 0.05
# The contact ankles must spread at least this far (standard deviation, mm)
# along a direction before that direction constrains the floor's tilt.
MIN_SPREAD_MM = 150.0
# A floor tilted more than this from the trunk's mean direction is not believed.
MAX_TILT_FROM_TRUNK_DEG = 35.0
ROUNDS = 3


@dataclass(frozen=True)
class Ground:
    """A floor plane in the camera frame: the points X with ``up_cam @ X == level_mm``."""

    up_cam: np.ndarray
    """(3,) unit vector, camera frame, pointing up out of the floor."""
    level_mm: float
    """Height of the floor along ``up_cam``, mm (camera frame, camera centre at 0)."""
    source: str
    """What fixed the tilt: "plane" (contacts spread over the floor), "line" (contacts along a
    line, trunk for the rest) or "trunk" (the trunk's mean direction)."""

    def height_mm(self, points_cam_mm: np.ndarray) -> np.ndarray:
        """Height above the floor of camera-frame points (..., 3), mm."""
        return points_cam_mm @ self.up_cam - self.level_mm


def estimate_ground(joints_cam_mm: np.ndarray, fps: float, shin_mm: float) -> tuple[Ground, np.ndarray]:
    """The floor under a person and the foot contacts: (Ground, contacts (T, 2) bool, left/right foot).

    joints_cam_mm: (T, 17, 3) absolute H36M17 joints, camera frame, mm, no NaN.
    shin_mm: the person's knee-to-ankle length, which scales the height tolerances.
    """
    trunk = _unit(joints_cam_mm[:, H36M17.index("thorax")] - joints_cam_mm[:, H36M17.index("pelvis")])
    trunk_up = _unit(trunk.mean(0))
    ankles = smooth_centred(joints_cam_mm[:, FEET], fps)
    up, source = trunk_up, "trunk"
    contacts = np.zeros(ankles.shape[:2], bool)
    for _ in range(ROUNDS):
        heights = ankles @ up
        above_lowest = heights - np.percentile(heights.min(1), 5)
        contacts = extend_runs(detect_contacts(above_lowest, ankles, fps, shin_mm),
                               detect_contacts(above_lowest, ankles, fps, shin_mm,
                                               speed_tol_mm_s=HYSTERESIS * CONTACT_SPEED_TOL_MM_S))
        if not contacts.any():
            break
        up, source = _floor_normal(ankles[contacts], trunk_up)
    heights = ankles @ up
    ankle_level = np.median(heights[contacts]) if contacts.any() else np.percentile(heights.min(1), 5)
    return Ground(up, float(ankle_level - ANKLE_ABOVE_FLOOR * shin_mm), source), contacts


def detect_contacts(ankle_heights_mm: np.ndarray, ankles_mm: np.ndarray, fps: float, shin_mm: float,
                    height_tol: float = CONTACT_HEIGHT_TOL,
                    speed_tol_mm_s: float = CONTACT_SPEED_TOL_MM_S) -> np.ndarray:
    """(T, 2) bool: the foot is low (height < ``height_tol`` shins) and slow (< ``speed_tol_mm_s``).

    ankle_heights_mm: (T, 2) heights above the lowest ankle level; ankles_mm: (T, 2, 3) positions.
    """
    k = max(1, int(round(SPEED_HALF_SPAN_S * fps)))
    padded = np.concatenate([ankles_mm[:1].repeat(k, 0), ankles_mm, ankles_mm[-1:].repeat(k, 0)])
    speed = np.linalg.norm(padded[2 * k:] - padded[:-2 * k], axis=-1) * fps / (2 * k)
    return (ankle_heights_mm < height_tol * shin_mm) & (speed < speed_tol_mm_s)


def extend_runs(strict: np.ndarray, loose: np.ndarray) -> np.ndarray:
    """(T, F) bool: the runs of ``loose`` (along axis 0, per column) that hold at least one ``strict`` frame."""
    out = np.zeros_like(loose)
    for f in range(loose.shape[1]):
        edges = np.flatnonzero(np.diff(np.concatenate([[0], loose[:, f].astype(np.int8), [0]])))
        for start, stop in zip(edges[::2], edges[1::2]):
            out[start:stop, f] = strict[start:stop, f].any()
    return out


def smooth_centred(values: np.ndarray, fps: float, window_s: float = 0.1) -> np.ndarray:
    """Centred moving average over ``window_s`` along axis 0 of (T, ...), ends padded by repetition."""
    k = max(0, int(round(window_s * fps / 2)))
    if k == 0 or len(values) < 2:
        return np.asarray(values, dtype=np.float64)
    padded = np.concatenate([values[:1].repeat(k, 0), values, values[-1:].repeat(k, 0)]).astype(np.float64)
    csum = np.concatenate([np.zeros((1, *values.shape[1:])), np.cumsum(padded, 0)])
    return (csum[2 * k + 1:] - csum[:-2 * k - 1]) / (2 * k + 1)


def foot_skate_mm(ankles_mm: np.ndarray, contacts: np.ndarray, up: np.ndarray) -> float:
    """Mean horizontal ankle motion between consecutive frames that both have the foot in contact, mm/frame.

    ankles_mm: (T, 2, 3) left/right ankle positions; contacts: (T, 2) bool; up: (3,) the floor's normal
    in the same frame. NaN when no foot stays in contact over two frames.
    """
    step = np.diff(ankles_mm, axis=0)
    horizontal = step - (step @ up)[..., None] * up
    both = contacts[1:] & contacts[:-1]
    return float(np.linalg.norm(horizontal, axis=-1)[both].mean()) if both.any() else float("nan")


def _floor_normal(points: np.ndarray, trunk_up: np.ndarray) -> tuple[np.ndarray, str]:
    """Normal of the plane through (N, 3) contact ankles, as constrained as their spread allows."""
    centred = points - points.mean(0)
    eigval, eigvec = np.linalg.eigh(centred.T @ centred / len(points))  # ascending
    spread = np.sqrt(np.maximum(eigval, 0.0))
    if spread[1] >= MIN_SPREAD_MM:
        normal, source = eigvec[:, 0], "plane"
    elif spread[2] >= MIN_SPREAD_MM:
        along = eigvec[:, 2]
        normal, source = trunk_up - (trunk_up @ along) * along, "line"
    else:
        return trunk_up, "trunk"
    normal = _unit(normal) * np.sign(normal @ trunk_up)
    if normal @ trunk_up < np.cos(np.radians(MAX_TILT_FROM_TRUNK_DEG)):
        return trunk_up, "trunk"
    return normal, source


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)
