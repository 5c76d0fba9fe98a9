"""The display world shared by the viewer, the overlay's 3D view and the report: Y up, the ground at Y = 0.

    scene = Scene.load("out/clip")          # a `monocap run` output folder
    scene.positions_world_mm                # (P, T, 17, 3), NaN where absent

`monocap run` gives joints in the camera frame (x right, y down, z forward).
For display the camera frame is turned half a turn about its x axis, which
keeps it right-handed: X right, Y up, Z towards the camera (the camera looks
along -Z, as in OpenGL). This assumes a level camera (no roll or pitch),
which nothing in a single video measures; a tilted camera shows a tilted
ground. The ground is then put at Y = 0: `ANKLE_HEIGHT_MM` below the lowest
ankles of the video (a low percentile, so that a few stray joints do not
sink it), which puts the camera at its estimated height above the ground.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io.results import NPZ_NAME, RunResult
from ..skeleton import H36M17

# Camera frame → display world: half a turn about x (y down → Y up, z forward → Z backwards).
WORLD_FROM_CAMERA = np.diag([1.0, -1.0, -1.0])
ANKLE_HEIGHT_MM = 80.0  # the ankle joint above the sole of a standing person, roughly
GROUND_PERCENTILE = 2.0  # of the ankle heights: the lowest ankles, ignoring the lowest few
ANKLES = H36M17.indices(("l_ankle", "r_ankle"))
UNCERTAINTY_KEY = "uncertainty_mm"  # optional in poses3d.npz: (P, T, 17) per-joint spread in mm


def world_from_camera(points_cam_mm: np.ndarray, ground_cam_y_mm: float) -> np.ndarray:
    """Camera-frame points (..., 3) mm → display world (..., 3) mm, for a ground at camera y = ``ground_cam_y_mm``."""
    world = np.asarray(points_cam_mm, np.float64) @ WORLD_FROM_CAMERA.T
    world[..., 1] += ground_cam_y_mm
    return world


def ground_cam_y(joints_cam_mm: np.ndarray) -> float:
    """The ground's height in the camera frame (y, mm, down) under H36M-17 joints (..., 17, 3); 1.5 m without any."""
    ankles_y = joints_cam_mm[..., ANKLES, 1].ravel()
    ankles_y = ankles_y[np.isfinite(ankles_y)]
    if not len(ankles_y):
        return 1500.0  # a camera at about eye height
    return float(np.percentile(ankles_y, 100 - GROUND_PERCENTILE)) + ANKLE_HEIGHT_MM


@dataclass(frozen=True)
class Scene:
    """Everyone in a run, in the display world (see the module docstring).

    result: the run as read back.
    positions_world_mm: (P, T, 17, 3) float64 mm, H36M-17, absolute; NaN where absent or not lifted.
    camera_world_mm: (3,) where the real camera is: (0, its height above the ground, 0).
    uncertainty_mm: (P, T, 17) per-joint spread in mm when the run has one (probabilistic lifting), else None.
    """

    result: RunResult
    positions_world_mm: np.ndarray
    camera_world_mm: np.ndarray
    uncertainty_mm: np.ndarray | None = None

    @classmethod
    def from_result(cls, result: RunResult, uncertainty_mm: np.ndarray | None = None) -> "Scene":
        joints_cam = result.poses3d_mm.astype(np.float64) + result.root_cam_mm[..., None, :]
        ground = ground_cam_y(joints_cam)
        if uncertainty_mm is not None and uncertainty_mm.shape != result.poses3d_mm.shape[:-1]:
            raise ValueError(f"{UNCERTAINTY_KEY} has shape {uncertainty_mm.shape}, expected "
                             f"{result.poses3d_mm.shape[:-1]} (people, frames, joints)")
        return cls(result, world_from_camera(joints_cam, ground), world_from_camera(np.zeros(3), ground),
                   uncertainty_mm)

    @classmethod
    def load(cls, folder: str | Path) -> "Scene":
        """The scene of a `monocap run` output folder (or its poses3d.npz); ValueError names the file."""
        result = RunResult.load(folder)
        npz = Path(folder) / NPZ_NAME if Path(folder).is_dir() else Path(folder)
        with np.load(npz, allow_pickle=False) as f:
            uncertainty = f[UNCERTAINTY_KEY] if UNCERTAINTY_KEY in f.files else None
        try:
            return cls.from_result(result, uncertainty)
        except ValueError as err:
            raise ValueError(f"{npz}: {err}") from None

    @property
    def camera_height_mm(self) -> float:
        return float(self.camera_world_mm[1])
