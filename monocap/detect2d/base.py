"""The 2D keypoint stage's common ground: one frame's detections and the detector interface.

Every backend is built once and then called once per frame::

    with create_detector("mediapipe") as detect:
        for frame_rgb in frames:
            dets = detect(frame_rgb)        # Detections2D, keypoints in pixels

Pixel coordinates follow `monocap.camera`: x right, y down, origin at the
top-left corner of the top-left pixel.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from ..skeleton import blazepose33_to_coco17, joint_set

BACKENDS = ("mediapipe", "rtmpose")


@dataclass(frozen=True)
class Detections2D:
    """The people found in ONE frame.

    keypoints_px: (N, J, 2) float32 pixels (x right, y down); N people, J joints
        in the order of ``joint_format``.
    scores: (N, J) float32 in [0, 1]; 0 marks a joint that was not found (its
        position is then meaningless).
    boxes_px: (N, 4) float32 pixels, x0, y0, x1, y1.
    box_scores: (N,) float32 in [0, 1], how sure the backend is that this is a person.
    joint_format: a `monocap.skeleton` joint set name, "coco17" or "blazepose33"
        from the detectors.
    image_size: (width, height) in pixels of the frame the keypoints refer to.
    points3d_mm: (N, J, 3) float32 mm or None: the backend's own 3D guess of
        each person's joints, origin between the hips, axes roughly the
        camera's (MediaPipe's world landmarks; the other backends give none).
        Kept only to compare with (`monocap score --poses detector`).
    """

    keypoints_px: np.ndarray
    scores: np.ndarray
    boxes_px: np.ndarray
    box_scores: np.ndarray
    joint_format: str
    image_size: tuple[int, int]
    points3d_mm: np.ndarray | None = None

    def __post_init__(self):
        n_joints = len(joint_set(self.joint_format))
        arrays = {
            "keypoints_px": (self.keypoints_px, (n_joints, 2)),
            "scores": (self.scores, (n_joints,)),
            "boxes_px": (self.boxes_px, (4,)),
            "box_scores": (self.box_scores, ()),
        }
        if self.points3d_mm is not None:
            arrays["points3d_mm"] = (self.points3d_mm, (n_joints, 3))
        n_people = np.shape(self.keypoints_px)[0] if np.ndim(self.keypoints_px) else 0
        for name, (value, tail) in arrays.items():
            value = np.asarray(value, dtype=np.float32)
            if value.shape != (n_people, *tail):
                raise ValueError(f"Detections2D.{name} must have shape {('N', *tail)} with N = "
                                 f"{n_people} people and J = {n_joints} ({self.joint_format}), got {value.shape}")
            object.__setattr__(self, name, value)
        width, height = (int(v) for v in self.image_size)
        object.__setattr__(self, "image_size", (width, height))

    @classmethod
    def empty(cls, joint_format: str, image_size: tuple[int, int]) -> "Detections2D":
        """Nobody in the frame."""
        n_joints = len(joint_set(joint_format))
        return cls(np.zeros((0, n_joints, 2)), np.zeros((0, n_joints)), np.zeros((0, 4)), np.zeros(0),
                   joint_format, image_size)

    @classmethod
    def from_keypoints(cls, keypoints_px: np.ndarray, scores: np.ndarray, joint_format: str,
                       image_size: tuple[int, int], box_scores: np.ndarray | None = None) -> "Detections2D":
        """Detections whose boxes are drawn around the found joints (score > 0).

        box_scores default to the mean score of each person's found joints.
        """
        keypoints_px = np.asarray(keypoints_px, dtype=np.float32)
        scores = np.asarray(scores, dtype=np.float32)
        if box_scores is None:
            found = scores > 0
            box_scores = np.where(found.any(axis=1), (scores * found).sum(axis=1) / np.maximum(found.sum(axis=1), 1), 0)
        return cls(keypoints_px, scores, boxes_around(keypoints_px, scores), box_scores, joint_format, image_size)

    def __len__(self) -> int:
        return self.keypoints_px.shape[0]

    def to_coco17(self) -> "Detections2D":
        """The same people on the COCO-17 joints (BlazePose's 33 landmarks contain them)."""
        if self.joint_format == "coco17":
            return self
        if self.joint_format != "blazepose33":
            raise ValueError(f"cannot convert {self.joint_format!r} keypoints to coco17")
        keypoints, scores = blazepose33_to_coco17(self.keypoints_px, self.scores)
        points3d = None if self.points3d_mm is None else blazepose33_to_coco17(self.points3d_mm, self.scores)[0]
        return Detections2D(keypoints, scores, self.boxes_px, self.box_scores, "coco17", self.image_size, points3d)


def boxes_around(keypoints_px: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """(N, 4) boxes x0, y0, x1, y1 around each person's joints with score > 0.

    A person with no such joint gets a box around all its joints, so that
    every box stays finite.
    """
    keypoints_px = np.asarray(keypoints_px, dtype=np.float32)
    if keypoints_px.shape[0] == 0:
        return np.zeros((0, 4), np.float32)
    found = np.asarray(scores) > 0
    found[~found.any(axis=1)] = True
    mask = found[..., None]
    lo = np.where(mask, keypoints_px, np.inf).min(axis=1)
    hi = np.where(mask, keypoints_px, -np.inf).max(axis=1)
    return np.concatenate([lo, hi], axis=1)


def check_frame(frame_rgb: np.ndarray) -> tuple[int, int]:
    """Validate a frame given to a detector; returns its (width, height)."""
    if not isinstance(frame_rgb, np.ndarray) or frame_rgb.dtype != np.uint8 or frame_rgb.ndim != 3 \
            or frame_rgb.shape[2] != 3:
        shape = getattr(frame_rgb, "shape", None)
        dtype = getattr(frame_rgb, "dtype", type(frame_rgb).__name__)
        raise ValueError(f"a frame must be an RGB image, a (H, W, 3) uint8 array; got {dtype} {shape}")
    return frame_rgb.shape[1], frame_rgb.shape[0]


@runtime_checkable
class PoseDetector(Protocol):
    """A 2D pose backend: construct once, call once per frame, close when done."""

    joint_format: str

    def __call__(self, frame_rgb: np.ndarray) -> Detections2D:
        """frame_rgb: (H, W, 3) uint8 RGB image → the people found in it."""
        ...

    def close(self) -> None:
        ...

    def __enter__(self) -> "PoseDetector":
        ...

    def __exit__(self, *exc) -> None:
        ...


class DetectorBase:
    """Context-manager support shared by the backends: leaving the block closes the detector."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def create_detector(name: str, **options) -> PoseDetector:
    """Build a 2D pose backend by name.

    "mediapipe": `MediaPipePose` (single person, BlazePose-33, runs offline).
    "rtmpose": `RTMO` (multi-person, COCO-17, ONNX weights downloaded once or
    given with ``weights=PATH``). ``options`` go to the backend's constructor.
    """
    if name == "mediapipe":
        from .mediapipe_backend import MediaPipePose
        return MediaPipePose(**options)
    if name == "rtmpose":
        from .rtmpose_backend import RTMO
        return RTMO(**options)
    raise ValueError(f"unknown 2D backend {name!r}; expected one of {', '.join(BACKENDS)} "
                     "(precomputed keypoints are read with monocap.detect2d.read_keypoint_file)")
