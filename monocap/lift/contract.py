"""The ``monocap lift`` file contract: 2D keypoints in an .npz in, 3D poses in an .npz out.

Input file (read with ``allow_pickle=False``, so plain numeric and string arrays only):

==============  ==========================  ===============================================
key             shape                       meaning
==============  ==========================  ===============================================
keypoints       (T, J, 2) or (P, T, J, 2)   pixels (u right, v down), float; P people, T frames
scores          (..., J), optional          confidence in [0, 1]; 0 marks a missing joint
joint_format    ()                          "h36m17", "coco17" or "blazepose33" (sets J)
image_size      (2,)                        (width, height) in pixels
focal           (2,), optional              (fx, fy) pixels; default: 55° horizontal field of view
center          (2,), optional              (cx, cy) pixels; default: the image centre
fps             (), optional                frame rate, lets the temporal model resample
==============  ==========================  ===============================================

Output file:

==============  ==========================  ===============================================
poses3d         (..., T, 17, 3) float32     mm, camera frame (x right, y down, z forward),
                                            H36M-17 joints, relative to the pelvis (joint 0
                                            is the origin); NaN where too few joints were seen
joint_names     (17,)                       H36M-17 joint names, the order of poses3d
root_cam_mm     (..., T, 3) float32         pelvis in the camera frame, mm; NaN where not
                                            estimated. Absolute joints are
                                            ``poses3d + root_cam_mm[..., None, :]``
focal, center   (2,) float64                the intrinsics used (defaults filled in)
image_size      (2,) float64                (width, height) as given
fps             (), only if given           as given
model, licence  ()                          the lifter and the terms of use of its weights
temporal        () bool                     whether neighbouring frames were used
causal          () bool                     whether only past frames were used
flip_test       () bool                     whether the lift of the mirror image was averaged in
skeleton        () bool                     whether the poses were fitted to one skeleton
==============  ==========================  ===============================================

With ``hypotheses`` M > 0 (`monocap lift --hypotheses M`, `monocap.lift.diffusion`),
``poses3d`` is the per-joint mean of M poses drawn from the diffusion prior
guided by the keypoints, ``root_cam_mm`` is fitted with it, and the file gains:

==============  ==========================  ===============================================
hypotheses      (M, ..., T, 17, 3) float32  the M poses, mm, camera frame, pelvis-relative
uncertainty_mm  (..., T, 17) float32        per joint, the RMS distance of the hypotheses
                                            from their mean, mm (0 for the pelvis)
prior, prior_licence ()                     the pose prior and the terms of use of its weights
==============  ==========================  ===============================================

With ``skeleton`` (`monocap lift --skeleton`; not causal), each
person's whole sequence is then fitted to one skeleton (`monocap.fit.skeleton`:
bones of constant length, joint limits, smooth motion, reprojection onto the
keypoints, feet on the floor): ``poses3d`` and ``root_cam_mm`` become the
fitted joints and pelvis (NaN on the same frames as before), and the file gains
``bone_lengths_mm`` (..., 16), one per bone of `H36M17.bones` (NaN for a person
with no pose). Fitting runs at a few hundred frames per second, far slower than lifting.

`lift_file` is the Python entry point; `read_lift_input` / `validate_lift_input`
and `lift_arrays` are its two halves, for callers holding arrays in memory.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, NoReturn

import numpy as np

from ..camera import Intrinsics
from ..fit.root import place_roots
from ..fit.skeleton import fit_person
from ..io.atomic import atomic_output
from ..io.results import read_npz
from ..skeleton import BLAZEPOSE33, COCO17, H36M17, JointSet
from .diffusion import HypothesisLifter
from .lifter import MODEL_FPS, Lifter

INPUT_FORMATS: dict[str, JointSet] = {s.name: s for s in (H36M17, COCO17, BLAZEPOSE33)}
UNKNOWN_LICENCE = "unknown: the weight file records no licence"


@dataclass(frozen=True)
class LiftInput:
    """A validated input file.

    keypoints: (T, J, 2) or (P, T, J, 2) float64 pixels, all finite.
    scores: same shape without the last axis, in [0, 1]; None = all seen.
    image_size: (width, height) pixels; focal (fx, fy) and center (cx, cy)
    in pixels, None where the file leaves them to the defaults.
    source: the file (or caller's label) that problems are reported against.
    """

    keypoints: np.ndarray
    scores: np.ndarray | None
    joint_format: str
    image_size: tuple[float, float]
    focal: tuple[float, float] | None = None
    center: tuple[float, float] | None = None
    fps: float | None = None
    source: str = "<arrays>"

    @property
    def intrinsics(self) -> Intrinsics:
        return Intrinsics.from_contract(self.image_size, self.focal, self.center)


def read_lift_input(path: str | Path) -> LiftInput:
    """Load and validate an input .npz; any problem raises a one-line ValueError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    return validate_lift_input(read_npz(path), source=str(path))


def validate_lift_input(arrays: Mapping[str, np.ndarray], source: str = "<arrays>") -> LiftInput:
    """Check the contract's arrays (as `np.load` gives them) and return a `LiftInput`.

    Raises ValueError ``"<source>: <problem>"`` for the first problem found.
    """
    def fail(problem: str) -> NoReturn:
        raise ValueError(f"{source}: {problem}")

    if "keypoints" not in arrays:
        fail("missing 'keypoints' (an array of 2D keypoints in pixels, shape (T, J, 2) or (P, T, J, 2))")
    kp = np.asarray(arrays["keypoints"])
    if not _is_real(kp):
        fail(f"'keypoints' must be numbers, got dtype {kp.dtype}")
    if kp.ndim not in (3, 4) or kp.shape[-1] != 2:
        fail(f"'keypoints' must have shape (T, J, 2) or (P, T, J, 2), got {kp.shape}")
    if kp.size == 0:
        fail(f"'keypoints' is empty, shape {kp.shape}")

    joint_format = _string(arrays, "joint_format", fail)
    if joint_format not in INPUT_FORMATS:
        fail(f"unknown joint_format {joint_format!r}; expected one of {', '.join(INPUT_FORMATS)}")
    n_joints = len(INPUT_FORMATS[joint_format])
    if kp.shape[-2] != n_joints:
        fail(f"joint_format {joint_format!r} has {n_joints} joints but 'keypoints' has {kp.shape[-2]} "
             f"(shape {kp.shape})")
    bad = ~np.isfinite(kp)
    if bad.any():
        fail(f"'keypoints' has {int(bad.sum())} NaN/inf values; use finite values with scores=0 to mark "
             "missing joints")

    scores = None
    if "scores" in arrays:
        scores = np.asarray(arrays["scores"])
        if not _is_real(scores) or scores.shape != kp.shape[:-1]:
            fail(f"'scores' must be numbers of shape {kp.shape[:-1]} (keypoints without the last axis), "
                 f"got {scores.dtype} {scores.shape}")
        if not (np.isfinite(scores) & (scores >= 0) & (scores <= 1)).all():
            fail("'scores' must lie in [0, 1] (0 marks a missing joint)")
        scores = scores.astype(np.float64)

    if "image_size" not in arrays:
        fail("missing 'image_size' (width, height) in pixels")
    width, height = _pair(arrays, "image_size", "(width, height) in pixels", fail, positive=True)
    focal = center = fps = None
    if "focal" in arrays:
        focal = _pair(arrays, "focal", "(fx, fy) in pixels", fail, positive=True)
    if "center" in arrays:
        center = _pair(arrays, "center", "(cx, cy) in pixels", fail, positive=False)
    if "fps" in arrays:
        fps_arr = np.asarray(arrays["fps"])
        if not _is_real(fps_arr) or fps_arr.size != 1 or not np.isfinite(fps_arr).all() or fps_arr.item() <= 0:
            fail(f"'fps' must be one positive number, got {fps_arr.tolist()!r}")
        fps = float(fps_arr.item())
    return LiftInput(kp.astype(np.float64), scores, joint_format, (width, height), focal, center, fps, source)


def _is_real(a: np.ndarray) -> bool:
    """Integer or floating point (bool, complex, strings and objects are not coordinates)."""
    return np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)


def _string(arrays, key: str, fail) -> str:
    if key not in arrays:
        fail(f"missing {key!r} (one of {', '.join(INPUT_FORMATS)})")
    value = np.asarray(arrays[key])
    if value.dtype.kind not in "US" or value.size != 1:
        fail(f"{key!r} must be a single string, got {value.dtype} {value.shape}")
    item = value.item()
    return item.decode() if isinstance(item, bytes) else str(item)


def _pair(arrays, key: str, meaning: str, fail, positive: bool) -> tuple[float, float]:
    value = np.asarray(arrays[key])
    ok = _is_real(value) and value.size == 2 and np.isfinite(value).all()
    if not ok or (positive and (value <= 0).any()):
        fail(f"{key!r} must be 2 {'positive ' if positive else ''}numbers {meaning}, got {value.tolist()!r}")
    a, b = (float(v) for v in value.reshape(2))
    return a, b


def lift_arrays(inp: LiftInput, lifter: Lifter, temporal: bool = True, causal: bool = False,
                hypotheses: int = 0, sampler: HypothesisLifter | None = None, flip_test: bool = True,
                skeleton: bool = False) -> dict:
    """Lift a validated input; returns the output file's arrays (see the module docstring).

    ``flip_test``: average with the lift of the mirror image (`Lifter.__call__`), as `monocap run` does;
    ignored with hypotheses, which replace the lifted poses.

    ``hypotheses`` > 0 draws that many poses per frame with ``sampler`` (default:
    `HypothesisLifter.matching(lifter)`) and reports their mean and spread.

    ``skeleton``: fit each person's sequence to one skeleton (`fit_skeletons`); not with causal lifting,
    which promises that a frame's pose never waits for later frames, nor with hypotheses.
    """
    if causal and not temporal:
        raise ValueError("causal lifting is temporal: use temporal=True with causal=True")
    if skeleton and (causal or hypotheses):
        raise ValueError("fitting a skeleton takes whole sequences lifted once: use causal=False and no hypotheses "
                         "with skeleton=True")
    flip_test = flip_test and hypotheses == 0
    intr = inp.intrinsics
    result = lifter(inp.keypoints, inp.scores, intr, inp.joint_format, temporal=temporal, causal=causal,
                    fps=inp.fps, flip_test=flip_test)
    out = {
        "poses3d": result.poses3d_mm.astype(np.float32),
        "joint_names": np.array(result.joint_names),
        "root_cam_mm": result.root_cam_mm.astype(np.float32),
        "focal": np.array([intr.fx, intr.fy]),
        "center": np.array([intr.cx, intr.cy]),
        "image_size": np.array(inp.image_size),
        "model": np.array(lifter.model_name),
        "licence": np.array(str(lifter.info.get("licence", UNKNOWN_LICENCE))),
        "temporal": np.array(temporal),
        "causal": np.array(causal),
        "flip_test": np.array(flip_test),
        "skeleton": np.array(skeleton),
    }
    if inp.fps is not None:
        out["fps"] = np.array(inp.fps)
    if hypotheses > 0:
        sampler = sampler if sampler is not None else HypothesisLifter.matching(lifter)
        hyp = sampler(inp.keypoints, inp.scores, intr, inp.joint_format, hypotheses=hypotheses,
                      temporal=temporal, causal=causal, fps=inp.fps)
        out.update(poses3d=hyp.poses3d_mm, root_cam_mm=hyp.root_cam_mm, hypotheses=hyp.hypotheses_mm,
                   uncertainty_mm=hyp.uncertainty_mm, prior=np.array(sampler.prior.name),
                   prior_licence=np.array(sampler.prior.licence))
    if skeleton:
        poses, root, bones = fit_skeletons(out["poses3d"], inp)
        out.update(poses3d=poses, root_cam_mm=root, bone_lengths_mm=bones)
    return out


def fit_skeletons(poses3d_mm: np.ndarray, inp: LiftInput) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each person's lifted sequence fitted to one skeleton, as ``monocap export`` fits a track of a run.

    poses3d_mm: (..., T, 17, 3) pelvis-relative lifted poses of ``inp``'s keypoints, NaN where none.
    The root is placed as ``monocap run`` places it (`place_roots`, smoothed), then
    `fit_person` fits the sequence at the input's fps (the lifter's 50 Hz where the file gives none).
    Returns the fitted (poses3d_mm (..., T, 17, 3) pelvis-relative, root_cam_mm (..., T, 3),
    bone_lengths_mm (..., 16)) in float32, NaN where the lift had no pose.
    """
    T = poses3d_mm.shape[-3]
    lifted = poses3d_mm.reshape(-1, T, len(H36M17), 3).astype(np.float64)
    keypoints = inp.keypoints.reshape(len(lifted), T, *inp.keypoints.shape[-2:])
    scores = np.ones(keypoints.shape[:-1]) if inp.scores is None else inp.scores.reshape(keypoints.shape[:-1])
    fps = inp.fps or MODEL_FPS
    intr = inp.intrinsics
    poses = np.full(lifted.shape, np.nan, np.float32)
    roots = np.full((len(lifted), T, 3), np.nan, np.float32)
    bones = np.full((len(lifted), len(H36M17.bones)), np.nan, np.float32)
    for p, (pose, kp, sc) in enumerate(zip(lifted, keypoints, scores)):
        present = np.isfinite(pose).all(axis=(-2, -1))
        if not present.any():
            continue
        root = np.full((T, 3), np.nan)
        root[present] = place_roots(pose[present], kp[present], sc[present], intr, inp.joint_format, fps)
        fitted = fit_person(pose, root, kp, sc, intr, fps, track_id=p, joint_format=inp.joint_format)
        joints = fitted.positions_cam_mm
        poses[p, present] = (joints - joints[:, :1])[present]
        roots[p, present] = joints[present, 0]
        bones[p] = fitted.bone_lengths_mm
    lead = poses3d_mm.shape[:-3]
    return poses.reshape(poses3d_mm.shape), roots.reshape(*lead, T, 3), bones.reshape(*lead, len(H36M17.bones))


def lift_file(in_path: str | Path, out_path: str | Path, model: str | Path = "default", temporal: bool = True,
              causal: bool = False, lifter: Lifter | None = None, hypotheses: int = 0,
              sampler: HypothesisLifter | None = None, flip_test: bool = True, skeleton: bool = False) -> dict:
    """Lift the keypoints in ``in_path`` to 3D and write ``out_path`` (both .npz, see the module docstring).

    ``model``: "default" (open data), "h36m" (research only) or a weight
    file, ignored when a loaded ``lifter`` is given. ``temporal`` uses
    neighbouring frames, ``causal`` only past ones. The output appears
    complete or not at all. ``hypotheses``, ``sampler``, ``flip_test``, ``skeleton``: see `lift_arrays`.
    Returns a summary: paths, model, licence, people, frames, poses_found
    (person-frames with a pose), flags, hypotheses.
    """
    out_path = Path(out_path)
    if not out_path.parent.is_dir():
        raise ValueError(f"{out_path}: output folder {out_path.parent} does not exist")
    inp = read_lift_input(in_path)
    lifter = lifter if lifter is not None else Lifter(model)
    out = lift_arrays(inp, lifter, temporal, causal, hypotheses, sampler, flip_test, skeleton)
    with atomic_output(out_path) as tmp, open(tmp, "wb") as f:  # readers never see half a file
        np.savez(f, **out)
    poses = out["poses3d"]
    return {
        "input": str(in_path), "output": str(out_path), "model": lifter.model_name,
        "licence": str(out["licence"]), "people": int(poses.shape[0]) if poses.ndim == 4 else 1,
        "frames": int(poses.shape[-3]), "poses_found": int(np.isfinite(poses).all(axis=(-2, -1)).sum()),
        "temporal": temporal, "causal": causal, "hypotheses": hypotheses, "skeleton": skeleton,
    }
