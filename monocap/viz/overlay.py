"""``overlay.mp4``: each frame with the people's 2D skeletons and track ids, plus a small 3D view.

    codec = write_overlay(source, result, "overlay.mp4")   # a second pass over the frames

The video is scaled down to at most `OVERLAY_MAX_SIDE` pixels on its longer
side (encoding dominates the cost of this pass and a preview needs no
more). Skeletons are COCO-17 keypoints joined where both ends score at
least `MIN_DRAW_SCORE`, in one colour per track, thinner on frames bridged
over a gap; the id is written above the head. The inset in the lower right
corner shows everyone's absolute 3D joints, seen from above and to the side
(orthographic), at one scale for the whole video, and the camera when it
is near enough to fall inside.

Encoding: H.264 through PyAV (libx264) where PyAV is installed, else
OpenCV's H.264 where its build has an encoder (the pip wheels have none),
else OpenCV's MPEG-4 Part 2 ("mp4v"), which every build writes and most
players (not all browsers) play.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from itertools import islice
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ..io.results import RunResult
from ..io.video import FrameSource
from ..skeleton import COCO17, H36M17

OVERLAY_NAME = "overlay.mp4"
OVERLAY_MAX_SIDE = 1280
MIN_DRAW_SCORE = 0.3
H264 = "H.264"
MP4V = "MPEG-4 Part 2 (mp4v)"
# Distinct colours (RGB) for track ids, taken in turn.
PALETTE = ((230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
           (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212))
INSET_WIDTH = 0.35  # of the frame width
INSET_ASPECT = 0.75  # height / width
INSET_MARGIN_PX = 10
INSET_DARKEN = 0.3  # the frame shows through the inset at this brightness
# The inset's view: turned about the camera's vertical axis, then tilted to look down on the scene.
INSET_YAW_DEG = 35.0
INSET_PITCH_DEG = 25.0
INSET_POINTS = 20_000  # joints sampled to size the inset
INSET_MIN_EXTENT_MM = 2500.0  # the inset spans at least this much, so one person does not fill it


def write_overlay(frames: FrameSource, result: RunResult, path: str | Path, progress: bool = False) -> str:
    """Draw ``result`` on the frames of ``frames`` (read again from the start) into ``path``; returns the codec."""
    size = overlay_size(frames.info.image_size)
    draw = OverlayRenderer(result, size)
    bar = tqdm(total=result.frame_count, disable=not progress, unit="frame", desc=f"{frames.info.name}: overlay")
    with VideoWriter(path, result.fps, size) as writer, bar:
        for frame in islice(frames, result.frame_count):
            image = frame.rgb
            if (image.shape[1], image.shape[0]) != size:
                image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
            draw(image, frame.index)
            writer.write(image)
            bar.update()
    return writer.codec


def overlay_size(image_size: tuple[int, int]) -> tuple[int, int]:
    """(width, height) of the overlay: at most OVERLAY_MAX_SIDE, even (as H.264's 4:2:0 needs)."""
    width, height = image_size
    scale = min(1.0, OVERLAY_MAX_SIDE / max(width, height))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def track_color(track_id: int) -> tuple[int, int, int]:
    return PALETTE[int(track_id) % len(PALETTE)]


class OverlayRenderer:
    """Draws one frame of a `RunResult` onto an RGB image of the overlay's size, in place."""

    def __init__(self, result: RunResult, size: tuple[int, int]):
        self.result = result
        self.scale = np.array([size[0] / result.intrinsics.width, size[1] / result.intrinsics.height])
        self.present = result.present
        self.inset = InsetView.fit(result, size)
        self.font_scale = max(0.4, size[0] / 1600)

    def __call__(self, image: np.ndarray, frame: int) -> None:
        r = self.result
        people = np.flatnonzero(self.present[:, frame])
        for p in people:
            color = track_color(r.track_ids[p])
            keypoints = r.keypoints_px[p, frame] * self.scale
            seen = r.scores[p, frame] >= MIN_DRAW_SCORE
            thickness = 2 if r.detected[p, frame] else 1
            for parent, child in COCO17.bones:
                if seen[parent] and seen[child]:
                    cv2.line(image, _pt(keypoints[parent]), _pt(keypoints[child]), color, thickness, cv2.LINE_AA)
            for point in keypoints[seen]:
                cv2.circle(image, _pt(point), thickness + 1, color, -1, cv2.LINE_AA)
            if seen.any():
                top = keypoints[seen][np.argmin(keypoints[seen, 1])]
                # Above the head, but never above the top of the frame.
                origin = (int(top[0]) - 15, max(int(top[1]) - 12, int(25 * self.font_scale)))
                _label(image, f"id {r.track_ids[p]}", origin, color, self.font_scale)
        joints = r.poses3d_mm[people, frame] + r.root_cam_mm[people, frame][:, None, :]
        self.inset.draw(image, joints, [track_color(r.track_ids[p]) for p in people], self.font_scale)


@dataclass(frozen=True)
class InsetView:
    """The 3D inset: a box of the frame and an orthographic view of camera-frame points into it.

    box: x0, y0, width, height in overlay pixels.
    rotation: (3, 3) camera frame → view frame (u right, v down on the screen).
    center_mm: (3,) camera-frame point that lands at the box centre.
    px_per_mm: the view's scale.
    """

    box: tuple[int, int, int, int]
    rotation: np.ndarray
    center_mm: np.ndarray
    px_per_mm: float

    @classmethod
    def fit(cls, result: RunResult, size: tuple[int, int]) -> "InsetView":
        """A view that holds nearly all joints of the whole video."""
        width = int(size[0] * INSET_WIDTH)
        height = int(width * INSET_ASPECT)
        box = (size[0] - width - INSET_MARGIN_PX, size[1] - height - INSET_MARGIN_PX, width, height)
        yaw, pitch = np.radians(INSET_YAW_DEG), np.radians(INSET_PITCH_DEG)
        turn = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
        # Tilting by the pitch moves far points up the screen: v = y cos - z sin.
        tilt = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
        rotation = tilt @ turn

        joints = (result.poses3d_mm + result.root_cam_mm[..., None, :]).reshape(-1, 3)
        joints = joints[np.isfinite(joints).all(axis=1)]
        if len(joints) > INSET_POINTS:
            joints = joints[np.linspace(0, len(joints) - 1, INSET_POINTS).astype(int)]
        # Sized to the people, not to the camera, which is often metres away: a few stray joints may leave it.
        screen = (joints if len(joints) else np.zeros((1, 3))) @ rotation.T
        lo = np.percentile(screen[:, :2], 1, axis=0)
        hi = np.percentile(screen[:, :2], 99, axis=0)
        extent = np.maximum(hi - lo, INSET_MIN_EXTENT_MM)
        px_per_mm = 0.85 * min(width / extent[0], height / extent[1])
        middle = np.append((lo + hi) / 2, 0.0)
        return cls(box, rotation, rotation.T @ middle, float(px_per_mm))

    def to_px(self, points_mm: np.ndarray) -> np.ndarray:
        """Camera-frame points (..., 3) mm → pixels (..., 2) inside the box (its top-left corner is 0, 0)."""
        _, _, width, height = self.box
        screen = (np.asarray(points_mm) - self.center_mm) @ self.rotation.T
        return screen[..., :2] * self.px_per_mm + [width / 2, height / 2]

    def draw(self, image: np.ndarray, joints_mm: np.ndarray, colors: list, font_scale: float) -> None:
        """Darken the box and draw each person's (17, 3) absolute joints in its colour, and the camera."""
        x0, y0, width, height = self.box
        # Drawing on the box's own view of the image clips whatever falls outside it.
        box = image[y0:y0 + height, x0:x0 + width]
        np.multiply(box, INSET_DARKEN, out=box, casting="unsafe")
        white = (255, 255, 255)
        camera = self.to_px(np.zeros(3))
        if 0 <= camera[0] < width and 0 <= camera[1] < height:
            cv2.drawMarker(box, _pt(camera), white, cv2.MARKER_TRIANGLE_UP, 12, 1, cv2.LINE_AA)
            _label(box, "camera", (int(camera[0]) + 8, int(camera[1]) + 4), white, font_scale * 0.8)
        _label(box, "3D", (6, int(22 * font_scale)), white, font_scale)
        for person, color in zip(joints_mm, colors):
            if not np.isfinite(person).all():
                continue
            points = self.to_px(person)
            for parent, child in H36M17.bones:
                cv2.line(box, _pt(points[parent]), _pt(points[child]), color, 2, cv2.LINE_AA)
        cv2.rectangle(box, (0, 0), (width - 1, height - 1), (200, 200, 200), 1)


def _pt(point: np.ndarray) -> tuple[int, int]:
    return int(round(float(point[0]))), int(round(float(point[1])))


def _label(image: np.ndarray, text: str, origin: tuple[int, int], color, font_scale: float) -> None:
    """Text with a dark outline, readable on any background."""
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, font_scale, color, 1, cv2.LINE_AA)


class VideoWriter:
    """Writes RGB frames of one size to an mp4 file; ``codec`` says which encoder it got (see the module docstring)."""

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int]):
        self.path = str(path)
        self.size = tuple(size)
        self._av = self._cv = None
        try:
            import av
        except ImportError:
            av = None
        if av is not None and "libx264" in av.codecs_available:
            self._av = av.open(self.path, mode="w")
            self._stream = self._av.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
            self._stream.width, self._stream.height = self.size
            self._stream.pix_fmt = "yuv420p"
            # ultrafast: about half the time of x264's default preset per frame, for files about twice as big.
            self._stream.options = {"preset": "ultrafast", "crf": "23"}
            self._frame = av.VideoFrame
            self.codec = H264
            return
        for fourcc, codec in (("avc1", H264), ("mp4v", MP4V)):
            self._cv = cv2.VideoWriter(self.path, cv2.VideoWriter_fourcc(*fourcc), float(fps), self.size)
            if self._cv.isOpened():
                self.codec = codec
                return
        raise RuntimeError(f"{self.path}: OpenCV cannot write an mp4 video here")

    def write(self, rgb: np.ndarray) -> None:
        if self._av is not None:
            for packet in self._stream.encode(self._frame.from_ndarray(rgb, format="rgb24")):
                self._av.mux(packet)
        else:
            self._cv.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        if self._av is not None:
            for packet in self._stream.encode():
                self._av.mux(packet)
            self._av.close()
        else:
            self._cv.release()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
