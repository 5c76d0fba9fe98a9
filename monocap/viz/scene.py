"""The display world shared by the viewer, the overlay's 3D view and the report: Y up, the floor at Y = 0.

    scene = Scene.load("out/clip")          # a `monocap run` output folder
    scene.positions_world_mm                # (P, T, 17, 3), NaN where absent

`monocap run` gives joints in the camera frame (x right, y down, z forward).
For display they are turned into a world whose Y axis is the floor's up,
whose Z axis points back towards the camera along the floor, X = Y × Z, in
mm, with the origin on the floor under the camera (so the camera is at
(0, its height, 0)). The floor comes from the feet of the person seen
longest (`monocap.fit.ground.estimate_ground`: ankles that stand still,
the trunk's mean direction where they do not fix the tilt), so a tilted
camera still shows a level floor. With fewer than `MIN_FLOOR_FRAMES`
lifted frames the camera is taken as level (no roll or pitch) and the floor
`ANKLE_HEIGHT_MM` below the lowest ankles (a low percentile, so that a few
stray joints do not sink it). `Scene.floor_source` says which was used.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..fit.ground import Ground, estimate_ground
from ..fit.skeleton import world_from_camera
from ..io.results import RunResult, run_npz
from ..skeleton import H36M17

ANKLE_HEIGHT_MM = 80.0  # the ankle joint above the sole of a standing person, roughly
GROUND_PERCENTILE = 2.0  # of the ankle heights: the lowest ankles, ignoring the lowest few
MIN_FLOOR_FRAMES = 10  # lifted frames of one person needed to estimate the floor from the feet
ANKLES = H36M17.indices(("l_ankle", "r_ankle"))
SHINS = [(H36M17.index(f"{side}_knee"), H36M17.index(f"{side}_ankle")) for side in "lr"]
UNCERTAINTY_KEY = "uncertainty_mm"  # optional in poses3d.npz: (P, T, 17) per-joint spread in mm


def to_world(points_cam_mm: np.ndarray, world_from_cam: np.ndarray) -> np.ndarray:
    """Camera-frame points (..., 3) mm → world (..., 3) mm with a (4, 4) rigid transform."""
    return np.asarray(points_cam_mm, np.float64) @ world_from_cam[:3, :3].T + world_from_cam[:3, 3]


def camera_marker_world_mm(world_from_cam: np.ndarray, size_mm: float = 150.0) -> np.ndarray:
    """(5, 3) world mm: the real camera, then the corners of a small image frame in front of it.

    The corners (top left, top right, bottom right, bottom left as the camera
    sees them) turn with the camera, so the marker shows its tilt and roll.
    """
    corners_cam = np.array([[-1.0, -0.6, 1.5], [1.0, -0.6, 1.5], [1.0, 0.6, 1.5], [-1.0, 0.6, 1.5]]) * size_mm
    return to_world(np.vstack([np.zeros(3), corners_cam]), world_from_cam)


def level_floor(joints_cam_mm: np.ndarray) -> Ground:
    """The floor for a level camera: `ANKLE_HEIGHT_MM` below the lowest ankles of H36M-17 joints (..., 17, 3);
    1.5 m below the camera without any."""
    ankles_y = joints_cam_mm[..., ANKLES, 1].ravel()
    ankles_y = ankles_y[np.isfinite(ankles_y)]
    lowest = float(np.percentile(ankles_y, 100 - GROUND_PERCENTILE)) + ANKLE_HEIGHT_MM if len(ankles_y) else 1500.0
    return Ground(np.array([0.0, -1.0, 0.0]), -lowest, "level camera")  # up is -y; the floor at y = lowest


def estimate_floor(joints_cam_mm: np.ndarray, fps: float) -> Ground:
    """The floor under the people (P, T, 17, 3) camera frame, mm: from the person lifted in the most frames."""
    lifted = np.isfinite(joints_cam_mm).all(axis=(-2, -1))
    if not lifted.size or lifted.sum(axis=1).max() < MIN_FLOOR_FRAMES:
        return level_floor(joints_cam_mm)
    longest = int(np.argmax(lifted.sum(axis=1)))
    joints = joints_cam_mm[longest][lifted[longest]]
    shin_mm = float(np.median([np.linalg.norm(joints[:, k] - joints[:, a], axis=-1) for k, a in SHINS]))
    floor = estimate_ground(joints, fps, shin_mm)[0]
    # Degenerate poses (e.g. every joint at one point) leave no direction to go by.
    return floor if np.isfinite(floor.up_cam).all() and np.isfinite(floor.level_mm) else level_floor(joints_cam_mm)


@dataclass(frozen=True)
class Scene:
    """Everyone in a run, in the display world (see the module docstring).

    result: the run as read back.
    positions_world_mm: (P, T, 17, 3) float64 mm, H36M-17, absolute; NaN where absent or not lifted.
    world_from_cam: (4, 4) the rigid transform from the camera frame to the display world.
    floor_source: how the floor was found: "plane", "line" or "trunk" (from the feet and trunk,
        `monocap.fit.ground`) or "level camera".
    uncertainty_mm: (P, T, 17) per-joint spread in mm when the run has one (probabilistic lifting), else None.
    """

    result: RunResult
    positions_world_mm: np.ndarray
    world_from_cam: np.ndarray
    floor_source: str
    uncertainty_mm: np.ndarray | None = None

    @classmethod
    def from_result(cls, result: RunResult, uncertainty_mm: np.ndarray | None = None) -> "Scene":
        if uncertainty_mm is not None and uncertainty_mm.shape != result.poses3d_mm.shape[:-1]:
            raise ValueError(f"{UNCERTAINTY_KEY} has shape {uncertainty_mm.shape}, expected "
                             f"{result.poses3d_mm.shape[:-1]} (people, frames, joints)")
        joints_cam = result.poses3d_mm.astype(np.float64) + result.root_cam_mm[..., None, :]
        floor = estimate_floor(joints_cam, result.fps)
        transform = world_from_camera(floor, np.zeros(3))  # the origin on the floor under the camera
        return cls(result, to_world(joints_cam, transform), transform, floor.source, uncertainty_mm)

    @classmethod
    def load(cls, folder: str | Path) -> "Scene":
        """The scene of a `monocap run` output folder (or its poses3d.npz); ValueError names the file."""
        result = RunResult.load(folder)  # it reads the optional per-joint spread too
        npz = run_npz(folder)
        try:
            return cls.from_result(result, result.uncertainty_mm)
        except ValueError as err:
            raise ValueError(f"{npz}: {err}") from None

    @property
    def camera_height_mm(self) -> float:
        """The real camera's height above the floor; it stands at (0, this, 0) in the world."""
        return float(self.world_from_cam[1, 3])
