"""What ``monocap run`` writes for one input: ``poses3d.npz`` and ``poses3d.json``, complete or not at all.

Coordinate frames and units, in both files:

- 3D: the camera frame, x right, y down, z forward (OpenCV's), origin at
  the camera's optical centre, millimetres. ``poses3d`` is relative to the
  pelvis (joint 0 is the origin); ``root_cam_mm`` is where the pelvis is, so
  the absolute joints are ``poses3d + root_cam_mm[..., None, :]``. Joints in
  Human3.6M-17 order (``joint_names``).
- 2D: pixels, u right, v down, origin at the top-left corner of the
  top-left pixel; keypoints in COCO-17 order (``keypoint_names``).
- time: frame ``t`` is at ``t / fps`` seconds.

``poses3d.npz``, the ``monocap lift`` output contract (`monocap.lift.contract`)
for P tracked people over the T frames of the input, plus the 2D side:

==================  ==================  ==================================================
poses3d             (P, T, 17, 3) f4    mm, pelvis-relative; NaN where the person is absent
                                        or too few joints were seen
root_cam_mm         (P, T, 3) f4        mm; NaN where absent or not estimated
joint_names         (17,)               H36M-17 names, the order of poses3d
keypoints2d         (P, T, 17, 2) f4    px, COCO-17; NaN where the person is absent
scores              (P, T, 17) f4       in [0, 1]; 0 where absent or the joint not found
detected            (P, T) bool         found by the 2D stage in that frame (False where
                                        absent, or on a short gap bridged by interpolation)
keypoint_names      (17,)               COCO-17 names, the order of keypoints2d
track_ids           (P,) i8             the person's id, as on the overlay
fps                 ()                  frames per second
focal, center       (2,) f8             fx, fy and cx, cy in pixels
image_size          (2,) f8             width, height in pixels
dist                (5,) f8             lens distortion k1, k2, k3, p1, p2 (0: none)
model, licence      ()                  the lifter and the terms of use of its weights
temporal, causal    () bool             neighbouring frames used; past frames only
flip_test           () bool             the lift of the mirror image averaged in
smoothed            () bool             roots One-Euro filtered
source, backend     ()                  the input, the 2D backend
==================  ==================  ==================================================

With ``monocap run --skeleton`` every person was fitted to one skeleton
(`monocap.fit.skeleton`): ``poses3d`` and ``root_cam_mm`` hold the fitted joints
(on the frames that had a lifted pose), ``skeleton`` is True and the file gains
``bone_lengths_mm`` (P, 16) f4 mm, one per bone of ``H36M17.bones`` (NaN for a
person the fit could not take).

With ``monocap run --hypotheses M`` (the diffusion prior, `monocap.lift.diffusion`)
``poses3d`` is the per-joint mean of M hypotheses and the file gains
``hypotheses`` (M, P, T, 17, 3) f4 mm, pelvis-relative, and ``uncertainty_mm``
(P, T, 17) f4, per joint the RMS distance of the hypotheses from their mean.

``poses3d.json``: the same numbers, per person per frame, for tools without
numpy. One object::

    {"format": "monocap.poses3d", "version": 1, "source", "backend", "model", "licence",
     "temporal", "flip_test", "smoothed", "skeleton", "fps", "frame_count", "units": {...},
     "coordinate_frames": {...},
     "camera": {"fx", "fy", "cx", "cy", "width", "height", "dist_k1_k2_k3_p1_p2"},
     "joint_names": [17 names], "keypoint_names": [17 names],
     "people": [{"track_id", "first_frame", "last_frame",
                 "bone_lengths_mm": [16 numbers] (only with skeleton; null if not fitted),
                 "frames": [{"frame", "time_s", "detected",
                             "root_cam_mm": [x, y, z] or null,
                             "poses3d_mm": [[x, y, z] * 17] or null,
                             "uncertainty_mm": [17 numbers] or null (only with hypotheses),
                             "keypoints_px": [[u, v] * 17], "scores": [17 numbers]}]}]}

A person lists only the frames it is present in (from its first to its last,
short gaps bridged); ``null`` marks a pose or root that could not be
estimated. Millimetres are rounded to 0.1, pixels to 0.01, scores to 0.001.

`staged_folder` makes a run's output appear complete or not at all: the
files are written into a hidden folder beside the final one, which is
renamed into place only when everything is written.
"""
from __future__ import annotations

import json
import os
import shutil
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, TextIO

import numpy as np

from ..camera import Intrinsics
from ..skeleton import COCO17, H36M17

NPZ_NAME = "poses3d.npz"
JSON_NAME = "poses3d.json"
JSON_FORMAT = "monocap.poses3d"
JSON_VERSION = 1
UNITS = {
    "poses3d_mm": "millimetres, pelvis-relative", "root_cam_mm": "millimetres",
    "keypoints_px": "pixels", "scores": "confidence in [0, 1], 0 = not found", "time_s": "seconds",
    "uncertainty_mm": "millimetres, per joint: RMS distance of the pose hypotheses from their mean",
}
COORDINATE_FRAMES = {
    "camera": "x right, y down, z forward (OpenCV), origin at the camera's optical centre; "
              "absolute joints = poses3d_mm + root_cam_mm",
    "pixels": "u right, v down, origin at the top-left corner of the top-left pixel",
}


@dataclass(frozen=True)
class RunResult:
    """3D motion of P tracked people over the T frames of one input (see the module docstring).

    poses3d_mm: (P, T, 17, 3) float32 mm, camera frame, pelvis-relative, H36M-17.
    root_cam_mm: (P, T, 3) float32 mm, camera frame.
    keypoints_px: (P, T, 17, 2) float32 pixels, COCO-17; NaN where absent.
    scores: (P, T, 17) float32 in [0, 1].
    detected: (P, T) bool.
    track_ids: (P,) int64.
    hypotheses_mm: (M, P, T, 17, 3) float32 mm or None: the pose hypotheses
        that poses3d_mm is the mean of (``--hypotheses M``).
    uncertainty_mm: (P, T, 17) float32 mm or None: their per-joint spread.
    bone_lengths_mm: (P, 16) float32 mm or None: each person's skeleton, when
        the poses are fitted to one (``--skeleton``; `monocap.fit.skeleton.with_skeletons`).
    detector_poses3d_mm: (P, T, 17, 3) float32 mm or None: the 2D backend's own
        3D guess (MediaPipe's world landmarks) on H36M-17, pelvis-relative, NaN
        where it gave none; to compare the lifter with (`monocap score --poses detector`).
    """

    poses3d_mm: np.ndarray
    root_cam_mm: np.ndarray
    keypoints_px: np.ndarray
    scores: np.ndarray
    detected: np.ndarray
    track_ids: np.ndarray
    fps: float
    intrinsics: Intrinsics
    model: str
    licence: str
    temporal: bool
    smoothed: bool
    source: str
    backend: str
    hypotheses_mm: np.ndarray | None = None
    uncertainty_mm: np.ndarray | None = None
    flip_test: bool = False
    bone_lengths_mm: np.ndarray | None = None
    detector_poses3d_mm: np.ndarray | None = None

    @property
    def skeleton(self) -> bool:
        """Whether the poses are fitted to one skeleton per person."""
        return self.bone_lengths_mm is not None

    @property
    def frame_count(self) -> int:
        return self.poses3d_mm.shape[1]

    @property
    def present(self) -> np.ndarray:
        """(P, T) bool: the person is tracked in that frame (detected, or bridged over a short gap)."""
        return np.isfinite(self.keypoints_px).all(axis=(-2, -1))

    def arrays(self) -> dict[str, np.ndarray]:
        """The npz file's arrays."""
        intr = self.intrinsics
        hypotheses = {} if self.hypotheses_mm is None else {
            "hypotheses": self.hypotheses_mm.astype(np.float32), "uncertainty_mm": self.uncertainty_mm.astype(np.float32)}
        bones = {} if self.bone_lengths_mm is None else {"bone_lengths_mm": self.bone_lengths_mm.astype(np.float32)}
        detector = {} if self.detector_poses3d_mm is None else {
            "detector_poses3d": self.detector_poses3d_mm.astype(np.float32)}
        return {
            "poses3d": self.poses3d_mm.astype(np.float32),
            "root_cam_mm": self.root_cam_mm.astype(np.float32),
            "joint_names": np.array(H36M17.joints),
            "keypoints2d": self.keypoints_px.astype(np.float32),
            "scores": self.scores.astype(np.float32),
            "detected": self.detected.astype(bool),
            "keypoint_names": np.array(COCO17.joints),
            "track_ids": self.track_ids.astype(np.int64),
            "fps": np.array(float(self.fps)),
            "focal": np.array([intr.fx, intr.fy]),
            "center": np.array([intr.cx, intr.cy]),
            "image_size": np.array([intr.width, intr.height], dtype=np.float64),
            "dist": np.array(intr.dist, dtype=np.float64),
            "model": np.array(self.model),
            "licence": np.array(self.licence),
            "temporal": np.array(self.temporal),
            "causal": np.array(False),
            "flip_test": np.array(self.flip_test),
            "smoothed": np.array(self.smoothed),
            "source": np.array(self.source),
            "backend": np.array(self.backend),
            "skeleton": np.array(self.skeleton),
        } | hypotheses | bones | detector

    @classmethod
    def load(cls, path: str | Path) -> "RunResult":
        """Read a run back from its ``poses3d.npz`` (or the folder holding it); ValueError names the file."""
        npz = run_npz(path)
        if not npz.is_file():
            raise FileNotFoundError(f"{npz}: no such file (a `monocap run` output folder holds {NPZ_NAME})")
        a = read_npz(npz)
        missing = sorted({"poses3d", "root_cam_mm", "keypoints2d", "scores", "detected", "track_ids", "fps",
                          "focal", "center", "image_size"} - a.keys())
        if missing:
            raise ValueError(f"{npz}: not a `monocap run` output (missing {', '.join(missing)})")
        width, height = (int(v) for v in a["image_size"])
        dist = tuple(float(v) for v in a.get("dist", np.zeros(5)))
        intrinsics = Intrinsics(*(float(v) for v in a["focal"]), *(float(v) for v in a["center"]), width, height,
                                dist)
        text = lambda key: str(a[key]) if key in a else ""
        return cls(a["poses3d"], a["root_cam_mm"], a["keypoints2d"], a["scores"], a["detected"].astype(bool),
                   a["track_ids"], float(a["fps"]), intrinsics, text("model"), text("licence"),
                   bool(a.get("temporal", True)), bool(a.get("smoothed", False)), text("source"), text("backend"),
                   a.get("hypotheses"), a.get("uncertainty_mm"), bool(a.get("flip_test", False)),
                   a.get("bone_lengths_mm"), a.get("detector_poses3d"))

    def write(self, folder: Path) -> list[Path]:
        """Write poses3d.npz and poses3d.json into ``folder``; returns their paths."""
        npz, js = Path(folder) / NPZ_NAME, Path(folder) / JSON_NAME
        with open(npz, "wb") as f:
            np.savez(f, **self.arrays())
        with open(js, "w", encoding="utf-8") as f:
            self._write_json(f)
        return [npz, js]

    def _write_json(self, f: TextIO) -> None:
        """The JSON document, written person by person and frame by frame so that it is never all in memory."""
        intr = self.intrinsics
        header = {
            "format": JSON_FORMAT, "version": JSON_VERSION, "source": self.source, "backend": self.backend,
            "model": self.model, "licence": self.licence, "temporal": self.temporal, "flip_test": self.flip_test,
            "smoothed": self.smoothed, "skeleton": self.skeleton,
            "fps": float(self.fps), "frame_count": self.frame_count, "units": UNITS,
            "coordinate_frames": COORDINATE_FRAMES,
            "camera": {"fx": intr.fx, "fy": intr.fy, "cx": intr.cx, "cy": intr.cy, "width": intr.width,
                       "height": intr.height, "dist_k1_k2_k3_p1_p2": list(intr.dist)},
            "joint_names": list(H36M17.joints), "keypoint_names": list(COCO17.joints),
        }
        if self.hypotheses_mm is not None:
            header["hypotheses"] = len(self.hypotheses_mm)
        f.write(json.dumps(header)[:-1] + ', "people": [')
        present = self.present
        for p, track_id in enumerate(self.track_ids):
            frames = np.flatnonzero(present[p])
            person = {"track_id": int(track_id), "first_frame": int(frames[0]), "last_frame": int(frames[-1])}
            if self.bone_lengths_mm is not None:
                person["bone_lengths_mm"] = _rounded_or_null(self.bone_lengths_mm[p], 1)
            f.write(("" if p == 0 else ", ") + json.dumps(person)[:-1] + ', "frames": [')
            f.write(", ".join(json.dumps(self._frame_entry(p, int(t))) for t in frames))
            f.write("]}")
        f.write("]}\n")

    def _frame_entry(self, p: int, t: int) -> dict:
        uncertainty = {} if self.uncertainty_mm is None else {
            "uncertainty_mm": _rounded_or_null(self.uncertainty_mm[p, t], 1)}
        return {
            "frame": t, "time_s": round(t / self.fps, 6), "detected": bool(self.detected[p, t]),
            "root_cam_mm": _rounded_or_null(self.root_cam_mm[p, t], 1),
            "poses3d_mm": _rounded_or_null(self.poses3d_mm[p, t], 1),
            "keypoints_px": np.round(self.keypoints_px[p, t].astype(np.float64), 2).tolist(),
            "scores": np.round(self.scores[p, t].astype(np.float64), 3).tolist(),
        } | uncertainty


def run_npz(path: str | Path) -> Path:
    """The poses3d.npz of a run: ``path`` itself, or the file of that name in the folder ``path``."""
    path = Path(path)
    return path / NPZ_NAME if path.is_dir() else path


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an existing ``.npz`` file, read at once (no pickles); ValueError names the file and
    the problem."""
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        raise ValueError(f"{path}: not an .npz file (save one with numpy.savez)") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: a single .npy array, not an .npz file (save one with numpy.savez)")
    with data:
        arrays = {}
        for key in data.files:
            try:
                arrays[key] = data[key]
            except ValueError:
                raise ValueError(f"{path}: {key!r} is a pickled object array; store plain numeric or "
                                 "string arrays") from None
            except (OSError, zipfile.BadZipFile, EOFError):
                raise ValueError(f"{path}: {key!r} cannot be read (damaged .npz file)") from None
    return arrays


def _rounded_or_null(values: np.ndarray, decimals: int) -> list | None:
    """Nested lists rounded to ``decimals``, or None (JSON null) when any value is NaN."""
    values = values.astype(np.float64)
    return np.round(values, decimals).tolist() if np.isfinite(values).all() else None


@contextmanager
def staged_folder(final: Path) -> Iterator[Path]:
    """A hidden temporary folder beside ``final`` that becomes ``final`` when the block succeeds.

    When the block raises, the temporary folder is removed (and the parent
    folder too, if this call created it and it is empty). An existing
    ``final`` folder is replaced only once the new one is complete.
    """
    final = Path(final)
    created_parent = not final.parent.exists()
    final.parent.mkdir(parents=True, exist_ok=True)
    stage = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        yield stage
        _replace_folder(stage, final)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        if created_parent and not any(final.parent.iterdir()):
            final.parent.rmdir()
        raise


def leftover_stages(final: Path) -> list[Path]:
    """The folders `staged_folder` left beside ``final`` in a process that was killed (``.<name>.<pid>.tmp/.old``)."""
    final = Path(final)
    prefix = f".{final.name}."
    if not final.parent.is_dir():
        return []
    found = []
    for path in final.parent.iterdir():
        pid, _, kind = path.name[len(prefix):].partition(".")
        if path.name.startswith(prefix) and pid.isdigit() and kind in ("tmp", "old"):
            found.append(path)
    return sorted(found)


def _replace_folder(new: Path, final: Path) -> None:
    """Move ``new`` to ``final``; an earlier ``final`` is set aside first and deleted once the move is done."""
    if not final.exists():
        os.replace(new, final)
        return
    old = final.with_name(f".{final.name}.{os.getpid()}.old")
    shutil.rmtree(old, ignore_errors=True)
    os.replace(final, old)
    os.replace(new, final)
    shutil.rmtree(old, ignore_errors=True)
