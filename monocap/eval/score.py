"""``monocap score``: a run's (or a lift's) 3D poses against ground truth of your own.

The benchmarks score the lifter on ground-truth 2D. This scores the whole
chain a user runs, image → 2D detector → lifter → root, on recordings that
come with 3D ground truth (Human3.6M test videos, MPI-INF-3DHP, a lab's
own captures), and counts the people it failed to find.

Ground truth is an ``.npz`` with ``poses3d``: (T, 17, 3) for one person or
(Q, T, 17, 3) for several, float, millimetres, **camera frame** (x right,
y down, z forward: the camera of the video), absolute (the pelvis where it
is, not at the origin), H36M-17 joint order; NaN where a person is not
there. Optional ``frames`` (T,) int: the prediction's frame each
ground-truth frame belongs to (default: 0 … T-1, one for one).

Per frame, each ground-truth person is matched to at most one predicted
person by the angle between their pelvis directions seen from the camera
(one assignment per frame, `scipy.optimize.linear_sum_assignment`): the
direction of a person is certain from 2D, their distance is not. A pair
more than ``max_angle_deg`` apart is no match; an unmatched ground-truth
person in a frame is *missed*. Matched poses are scored root-relative with
`bench_lift.POSE_METRICS` (P1, P2, N-MPJPE, PCK3D@150, AUC) plus the root's
error in depth and in 3D.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..io.results import NPZ_NAME, read_npz, run_npz
from ..skeleton import mpi_inf_3dhp17_to_h36m17
from .bench_lift import RowErrors

# The joint orders a ground-truth file may have, each with its conversion to H36M17.
TRUTH_JOINTS = {"h36m17": lambda poses: poses, "mpi_inf_3dhp17": mpi_inf_3dhp17_to_h36m17}
# Whose poses a prediction file offers: the npz key of each.
PREDICTED_POSES = {"lifter": "poses3d", "detector": "detector_poses3d"}
MAX_ANGLE_DEG = 10.0  # farther apart than this, seen from the camera, a prediction is not that person


@dataclass(frozen=True)
class Poses3D:
    """People's 3D joints over frames, camera frame.

    poses_cam_mm: (P, T, 17, 3) float64 mm, absolute; NaN where a person is not there.
    """

    poses_cam_mm: np.ndarray

    @property
    def present(self) -> np.ndarray:
        """(P, T) bool."""
        return np.isfinite(self.poses_cam_mm).all(axis=(-2, -1))


def load_prediction(path: str | Path, poses: str = "lifter") -> Poses3D:
    """A `monocap run` folder or its poses3d.npz, or a `monocap lift` output: pelvis-relative ``poses3d``
    (..., T, 17, 3) plus ``root_cam_mm`` (..., T, 3) → absolute joints.

    ``poses`` "detector": a run's ``detector_poses3d`` instead (the 2D backend's own 3D guess, MediaPipe's
    world landmarks), placed at the run's roots, so that it is matched and scored exactly as the lifter's."""
    if poses not in PREDICTED_POSES:
        raise ValueError(f"unknown poses {poses!r}: use {' or '.join(PREDICTED_POSES)}")
    npz = run_npz(path)
    key = PREDICTED_POSES[poses]
    arrays = _read_npz(npz, ("poses3d", "root_cam_mm"))
    if key not in arrays:
        raise ValueError(f"{npz}: no {key}: only runs with the mediapipe backend keep the detector's own 3D")
    poses, root = arrays[key].astype(np.float64), arrays["root_cam_mm"].astype(np.float64)
    if poses.ndim == 3:
        poses, root = poses[None], root[None]
    if poses.ndim != 4 or poses.shape[-2:] != (17, 3) or root.shape != poses.shape[:-2] + (3,):
        raise ValueError(f"{npz}: {key} {arrays[key].shape} and root_cam_mm {arrays['root_cam_mm'].shape} "
                         "are not (P, T, 17, 3) and (P, T, 3)")
    return Poses3D(poses + root[..., None, :])


def load_ground_truth(path: str | Path, joints: str = "h36m17") -> tuple[Poses3D, np.ndarray]:
    """(ground truth, (T,) frame index of each ground-truth frame in the prediction); see the module docstring.

    ``joints``: the order of the file's 17 joints, "h36m17" or "mpi_inf_3dhp17" (MPI-INF-3DHP's test joints,
    reordered to H36M17 here)."""
    if joints not in TRUTH_JOINTS:
        raise ValueError(f"unknown ground-truth joints {joints!r}: use {' or '.join(TRUTH_JOINTS)}")
    path = Path(path)
    arrays = _read_npz(path, ("poses3d",))
    poses = arrays["poses3d"].astype(np.float64)
    poses = poses[None] if poses.ndim == 3 else poses
    if poses.ndim != 4 or poses.shape[-2:] != (17, 3):
        raise ValueError(f"{path}: poses3d is {arrays['poses3d'].shape}, not (T, 17, 3) or (Q, T, 17, 3) "
                         f"{joints} joints")
    poses = TRUTH_JOINTS[joints](poses)
    frames = np.asarray(arrays.get("frames", np.arange(poses.shape[1])))
    if frames.shape != (poses.shape[1],) or frames.dtype.kind not in "iu":
        raise ValueError(f"{path}: frames must be {poses.shape[1]} integer frame indices, one per ground-truth frame")
    truth = Poses3D(poses)
    pelvis_z = poses[..., 0, 2][truth.present]
    if not len(pelvis_z):
        raise ValueError(f"{path}: no frame with every joint given (NaN marks an absent person)")
    if np.any(pelvis_z <= 0):
        raise ValueError(f"{path}: a pelvis at or behind the camera (z <= 0): give absolute camera-frame joints "
                         "(x right, y down, z forward, mm), not pelvis-relative ones")
    return truth, frames


@dataclass(frozen=True)
class PersonMatches:
    """One ground-truth person of one recording: their frames, and the poses of those a prediction matched.

    truth_cam_mm, pred_cam_mm: (N, 17, 3) float64 mm, absolute camera-frame joints of the N matched frames.
    """

    person_frames: int
    truth_cam_mm: np.ndarray
    pred_cam_mm: np.ndarray

    @classmethod
    def missed(cls, person_frames: int) -> "PersonMatches":
        return cls(person_frames, np.zeros((0, 17, 3)), np.zeros((0, 17, 3)))


def match(prediction: Poses3D, truth: Poses3D, frames: np.ndarray,
          max_angle_deg: float = MAX_ANGLE_DEG) -> list[PersonMatches]:
    """Each ground-truth person's matches, frame by frame (module docstring)."""
    n_frames = prediction.poses_cam_mm.shape[1]
    if frames.min() < 0 or frames.max() >= n_frames:
        raise ValueError(f"ground truth refers to frames up to {frames.max()}, the prediction has {n_frames}")
    matched = np.full(truth.present.shape, -1)  # (Q, T): the predicted person matched, -1 for none
    for i, t in enumerate(frames):
        people, candidates = np.flatnonzero(truth.present[:, i]), np.flatnonzero(prediction.present[:, t])
        if not len(people) or not len(candidates):
            continue
        angles = _angle_deg(truth.poses_cam_mm[people, i, 0][:, None], prediction.poses_cam_mm[candidates, t, 0][None])
        rows, cols = linear_sum_assignment(angles)
        keep = angles[rows, cols] <= max_angle_deg
        matched[people[rows[keep]], i] = candidates[cols[keep]]
    out = []
    for q, row in enumerate(matched):
        i = np.flatnonzero(row >= 0)
        out.append(PersonMatches(int(truth.present[q].sum()), truth.poses_cam_mm[q, i],
                                 prediction.poses_cam_mm[row[i], frames[i]]))
    return out


def summarize(people: list[PersonMatches]) -> dict:
    """Found share and, over the found frames pooled, the errors (`bench_lift.POSE_METRICS`) and the root's."""
    total = sum(p.person_frames for p in people)
    found = sum(len(p.truth_cam_mm) for p in people)
    out = {"person_frames": total, "found": found, "found_pct": 100.0 * found / total if total else float("nan")}
    if found:
        errors = RowErrors()
        truth = np.concatenate([p.truth_cam_mm for p in people])
        pred = np.concatenate([p.pred_cam_mm for p in people])
        errors.add(pred - pred[:, :1], pred[:, 0], truth)
        out |= errors.summary() | {"root_err_median_mm": float(np.median(np.linalg.norm(pred[:, 0] - truth[:, 0],
                                                                                         axis=-1)))}
    return out


def score_file(prediction: str | Path, truth: str | Path, joints: str = "h36m17", poses: str = "lifter",
               max_angle_deg: float = MAX_ANGLE_DEG) -> dict:
    """Found share and errors of a prediction file's poses matched to a ground-truth file's (`match_files`);
    also per ground-truth person."""
    people = match_files(prediction, truth, joints, poses, max_angle_deg)
    return {"max_angle_deg": max_angle_deg, **summarize(people), "per_person": [summarize([p]) for p in people]}


def match_files(prediction: str | Path, truth: str | Path, joints: str = "h36m17", poses: str = "lifter",
                max_angle_deg: float = MAX_ANGLE_DEG) -> list[PersonMatches]:
    """`match` on a prediction file (`load_prediction`) and a ground-truth file (`load_ground_truth`);
    a mismatch between the two is an error that names the ground truth."""
    truth_poses, frames = load_ground_truth(truth, joints)
    try:
        return match(load_prediction(prediction, poses), truth_poses, frames, max_angle_deg)
    except ValueError as err:
        raise ValueError(f"{truth}: {err}") from None


def score_folders(runs: Path, truths: Path, joints: str = "h36m17", poses: str = "lifter",
                  max_angle_deg: float = MAX_ANGLE_DEG) -> dict:
    """Every ``truths/<name>.npz`` against the run ``runs/<name>`` (as `monocap batch` names its outputs).

    A recording without its run counts as missed throughout (`missing_runs`). Returns the figures pooled over
    every person-frame, their unweighted mean over the recordings (the errors over those with a match) and each
    recording's."""
    files = sorted(Path(truths).glob("*.npz"))
    if not files:
        raise ValueError(f"{truths}: no ground-truth .npz files in it")
    recordings, pooled, missing = {}, [], []
    for path in files:
        run = Path(runs) / path.stem
        if (run / NPZ_NAME).is_file():
            people = match_files(run, path, joints, poses, max_angle_deg)
        else:
            missing.append(path.stem)
            truth, _ = load_ground_truth(path, joints)
            people = [PersonMatches.missed(int(n)) for n in truth.present.sum(axis=1)]
        recordings[path.stem] = summarize(people)
        pooled += people
    scored = [f for f in recordings.values() if f["found"]]
    mean = {"found_pct": float(np.mean([f["found_pct"] for f in recordings.values()])), "with_a_match": len(scored),
            **{k: float(np.mean([f[k] for f in scored])) for k in ("p1_mm", "p2_mm") if scored}}
    return {"max_angle_deg": max_angle_deg, "recordings": len(files), **summarize(pooled),
            "mean_over_recordings": mean, "per_recording": recordings, "missing_runs": missing}


def _angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle between the directions of points a and b (..., 3) from the camera's centre, degrees."""
    cos = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def _read_npz(path: Path, required: tuple[str, ...]) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    arrays = read_npz(path)
    missing = [k for k in required if k not in arrays]
    if missing:
        raise ValueError(f"{path}: no {', '.join(missing)} in it")
    return arrays


def describe(figures: dict) -> str:
    """The figures (of `score_file` or `score_folders`) as a few printed lines."""
    f = figures
    if "per_recording" in f:
        lines = [f"{'recording':<32}{'found %':>9}{'P1':>8}{'P2':>8}   (mm)"]
        for name, r in f["per_recording"].items():
            errors = f"{r['p1_mm']:>8.1f}{r['p2_mm']:>8.1f}" if r["found"] else f"{'-':>8}{'-':>8}"
            lines.append(f"{name:<32}{r['found_pct']:>9.1f}{errors}")
        if f["missing_runs"]:
            lines.append(f"no run for {len(f['missing_runs'])} recording(s), counted as missed: "
                         f"{', '.join(f['missing_runs'])}")
        whose = f"{f['recordings']} recordings"
    else:
        lines = []
        whose = f"{len(f['per_person'])} {'person' if len(f['per_person']) == 1 else 'people'}"
    lines.append(f"{f['person_frames']} ground-truth person-frames of {whose}: found {f['found']} "
                 f"({f['found_pct']:.1f} %; matched within {f['max_angle_deg']:g} deg of the pelvis direction)")
    if f["found"]:
        metrics = "  ".join(f"{name} {f[key]:.1f}" for name, key in (
            ("P1", "p1_mm"), ("P2", "p2_mm"), ("N-MPJPE", "n_p1_mm")))
        lines.append(f"{metrics} mm   PCK3D@150 {f['pck150_pct']:.1f} %   AUC {f['auc_pct']:.1f} %")
        lines.append(f"root: median error {f['root_err_median_mm']:.0f} mm in 3D, "
                     f"{f['root_depth_err_median_pct']:.1f} % of the true depth")
    mean = f.get("mean_over_recordings")
    if mean:
        errors = f", P1 {mean['p1_mm']:.1f}, P2 {mean['p2_mm']:.1f} mm over the {mean['with_a_match']} with a match" \
            if mean["with_a_match"] else ""
        lines.append(f"mean over the {f['recordings']} recordings: found {mean['found_pct']:.1f} %{errors}")
    return "\n".join(lines)
