"""`Lifter`: 2D keypoints in pixels → metric 3D poses in the camera frame.

Construct once, call on keypoints::

    lifter = Lifter("default")                 # or "h36m", or a path to a .npz
    result = lifter(keypoints_px, scores, Intrinsics.from_fov(1920, 1080), "coco17")
    result.poses3d_mm   # (..., T, 17, 3) root-relative, camera frame
    result.root_cam_mm  # (..., T, 3) pelvis position in the camera frame
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ..camera import Intrinsics
from ..io.motion import interpolate_times
from ..skeleton import H36M17, to_h36m17
from .canonical import CanonicalInput, canonicalize, estimate_root, mirror_pose, to_camera_frame
from .model import CHUNK, LiftModel

MODELS = {
    "default": "default.npz",  # open data only (CMU + HDM05): free to use
    "h36m": "h36m.npz",  # Human3.6M: non-commercial research use only
}
MODEL_FPS = 50.0  # frame rate the temporal heads were trained at


def weight_file(name: str | Path, shipped: dict[str, str], kind: str) -> Path:
    """Path of a shipped weight file (a key of ``shipped``) or of a user's file; ``kind`` names it in errors."""
    if str(name) in shipped:
        return Path(str(resources.files(__package__) / "weights" / shipped[str(name)]))
    path = Path(name)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such {kind} file (shipped {kind}s: {', '.join(shipped)})")
    return path


def model_path(name: str | Path) -> Path:
    """Path of a shipped lifter ("default", "h36m") or of a user's weight file."""
    return weight_file(name, MODELS, "model")


def needs_resampling(fps: float | None) -> bool:
    """Whether keypoints at ``fps`` are resampled to the model's rate for temporal lifting (None: unknown, no)."""
    return fps is not None and abs(fps / MODEL_FPS - 1.0) >= 0.2


def network_input(kp17_px: np.ndarray, scores17: np.ndarray,
                  intrinsics: Intrinsics) -> tuple[CanonicalInput, np.ndarray, np.ndarray]:
    """H36M17 keypoints (..., 17, 2) px and scores (..., 17) → (canonical input, normalised image
    coordinates (..., 17, 2) with 0 where missing, scores clipped to [0, 1])."""
    scores = np.clip(scores17, 0.0, 1.0)
    kp_norm = np.where(scores[..., None] > 0, intrinsics.pixels_to_normalized(kp17_px), 0.0)
    return canonicalize(kp_norm, scores), kp_norm, scores


@dataclass
class LiftResult:
    """3D poses for (P people ×) T frames, H36M17 joints.

    poses3d_mm: (..., T, 17, 3) float32, millimetres, camera frame (x right,
        y down, z forward), relative to the pelvis (joint 0 is at the origin).
        NaN for frames with too few visible joints.
    root_cam_mm: (..., T, 3) float32 camera-frame pelvis position, mm; NaN
        where it could not be estimated. Absolute joints are
        ``poses3d_mm + root_cam_mm[..., None, :]``.
    """

    poses3d_mm: np.ndarray
    root_cam_mm: np.ndarray
    joint_names: tuple[str, ...] = H36M17.joints


class Lifter:
    """A loaded lifting model; call it on keypoint arrays."""

    def __init__(self, model: str | Path = "default", min_joints: int = 6, threads: int | None = None):
        """``threads``: CPU threads of the network (onnxruntime); None: one per CPU this process may use."""
        self.model_name = str(model)
        self.model = LiftModel.load(model_path(model), threads)
        self.min_joints = min_joints

    @property
    def info(self) -> dict:
        """The weight file's training facts (data, licence, command, validation figures)."""
        return dict(self.model.config)

    def __call__(self, keypoints_px: np.ndarray, scores: np.ndarray | None, intrinsics: Intrinsics,
                 joint_format: str = "h36m17", temporal: bool = True, causal: bool = False,
                 fps: float | None = None, flip_test: bool = False) -> LiftResult:
        """keypoints_px: (T, J, 2) or (P, T, J, 2) pixels; scores: (..., J) in [0, 1], 0 = missing.

        ``temporal`` uses neighbouring frames (``causal``: past frames only);
        ``fps`` lets sequences at other rates be resampled to the model's.
        ``flip_test`` also lifts the mirror image and averages the two (test-time
        augmentation: about 1 mm lower P1 on Human3.6M for twice the network's time).
        """
        kp = np.asarray(keypoints_px, dtype=np.float64)
        sc = np.ones(kp.shape[:-1]) if scores is None else np.asarray(scores, dtype=np.float64)
        kp, sc = to_h36m17(kp, sc, joint_format)
        if temporal:
            return self._lift(kp, sc, intrinsics, temporal, causal, fps, flip_test)
        # Frames are independent: lift them in blocks, so that every intermediate array stays in cache.
        flat_kp, flat_sc = kp.reshape(-1, *kp.shape[-2:]), sc.reshape(-1, sc.shape[-1])
        blocks = [self._lift(flat_kp[i:i + CHUNK], flat_sc[i:i + CHUNK], intrinsics, False, False, None, flip_test)
                  for i in range(0, max(len(flat_kp), 1), CHUNK)]
        return LiftResult(np.concatenate([b.poses3d_mm for b in blocks]).reshape(*kp.shape[:-1], 3),
                          np.concatenate([b.root_cam_mm for b in blocks]).reshape(*kp.shape[:-2], 3))

    def _lift(self, kp: np.ndarray, sc: np.ndarray, intrinsics: Intrinsics, temporal: bool, causal: bool,
              fps: float | None, flip_test: bool) -> LiftResult:
        """`__call__` on H36M17 keypoints (..., 17, 2) px and scores (..., 17)."""
        canon, kp_norm, sc = network_input(kp, sc, intrinsics)
        rel_virtual = self._network(canon, temporal, causal, fps)
        if flip_test:
            # A person's mirror image is a person too; the network's errors on the two only partly agree.
            rel_virtual = 0.5 * (rel_virtual + mirror_pose(self._network(canon.mirrored(), temporal, causal, fps)))
        return self.result(rel_virtual, canon, kp_norm, sc)

    def result(self, rel_virtual_mm: np.ndarray, canon: CanonicalInput, kp_norm: np.ndarray,
               scores: np.ndarray) -> LiftResult:
        """The network's poses (..., 17, 3) in the virtual camera → a `LiftResult` in the real camera (with the
        root fitted to the keypoints; NaN where fewer than ``min_joints`` joints are seen)."""
        poses = to_camera_frame(rel_virtual_mm.astype(np.float64), canon.rotation)
        root = estimate_root(poses, kp_norm, scores, min_joints=self.min_joints)
        seen = (scores > 0).sum(-1) >= self.min_joints
        poses = np.where(seen[..., None, None], poses, np.nan)
        return LiftResult(poses.astype(np.float32), root.astype(np.float32))

    def _network(self, canon: CanonicalInput, temporal: bool, causal: bool, fps: float | None) -> np.ndarray:
        """Root-relative poses (..., 17, 3) mm in the virtual camera."""
        x = canon.as_vector()
        if temporal:
            sequences = x.reshape(int(np.prod(x.shape[:-2])), *x.shape[-2:])
            return self._temporal(sequences, causal, fps).reshape(*x.shape[:-1], 17, 3)
        return self.model.single(x)

    def _temporal(self, x: np.ndarray, causal: bool, fps: float | None) -> np.ndarray:
        """x: (B, T, 3J) → (B, T, J, 3), resampling in time when fps differs much from the model's."""
        T = x.shape[1]
        if not needs_resampling(fps) or T < 2:
            return self.model.temporal(x, causal=causal)
        t_in = np.arange(T) / fps
        t_model = np.arange(0.0, t_in[-1] + 1e-9, 1.0 / MODEL_FPS)
        out = self.model.temporal(interpolate_times(x, t_in, t_model, axis=1), causal=causal)
        return interpolate_times(out, t_model, t_in, axis=1)
