"""Human3.6M as shipped in ``shared/data/h36m``: world poses and the four cameras.

``poses3d_world_mm.npz`` holds one (T, 17, 3) float32 array per sequence,
key ``"<subject>/<action>"``, H36M17 order, millimetres, Z-up world, 50 Hz.
``cameras.json`` holds per subject the four calibrated cameras with the
model ``x_cam = R @ (X_world - T)``, pinhole ``f, c`` and distortion ``k``
(radial, 3) and ``p`` (tangential, 2).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..camera import Camera, Intrinsics

FPS = 50.0
SUBJECTS_TRAIN = ("S1", "S5", "S6", "S7", "S8")
SUBJECT_HOLDOUT = "S8"  # kept out of training for model selection (`monocap train`, unless --no-holdout)
# Images are 1000x1002 for these two cameras and 1000x1000 for the others.
_TALL_CAMERAS = {"54138969", "60457274"}
# H36M world is Z-up; monocap's training world is Y-up (x, z horizontal).
Z_UP_TO_Y_UP = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])


@dataclass
class H36MSequence:
    """One recording. joints_world_mm: (T, 17, 3) H36M17, Z-up world, mm, 50 Hz."""

    subject: str
    action: str  # e.g. "Walking 1"
    joints_world_mm: np.ndarray

    @property
    def action_class(self) -> str:
        """The action without its take number ("Walking 1" → "Walking")."""
        return self.action.split(" ")[0]


def load_h36m_poses(root: str | Path, subjects=SUBJECTS_TRAIN) -> list[H36MSequence]:
    path = Path(root) / "poses3d_world_mm.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: Human3.6M poses not found")
    out = []
    with np.load(path, allow_pickle=False) as data:
        for key in sorted(data.files):
            subject, action = key.split("/", 1)
            if subject in subjects:
                out.append(H36MSequence(subject, action, data[key].astype(np.float32)))
    return out


def camera_for_y_up_world(camera: Camera) -> Camera:
    """The same camera seeing points given in the Y-up world (``X_y_up = Z_UP_TO_Y_UP @ X``)."""
    return Camera(camera.intrinsics, camera.R @ Z_UP_TO_Y_UP.T, camera.t, camera.name)


def load_h36m_cameras(root: str | Path) -> dict[str, list[Camera]]:
    """Per subject, the four cameras in the order of ``cameras.json`` (Z-up world)."""
    path = Path(root) / "cameras.json"
    meta = json.loads(path.read_text())
    cameras = {}
    for subject, cams in meta["cameras"].items():
        cameras[subject] = []
        for cam_id, c in cams.items():
            k1, k2, k3 = c["k"]
            p1, p2 = c["p"]
            intr = Intrinsics(c["f"][0], c["f"][1], c["c"][0], c["c"][1], 1000,
                              1002 if cam_id in _TALL_CAMERAS else 1000, (k1, k2, k3, p1, p2))
            R = np.asarray(c["R"], dtype=np.float64)
            cameras[subject].append(Camera(intr, R, -R @ np.asarray(c["T"], dtype=np.float64), cam_id))
    return cameras
