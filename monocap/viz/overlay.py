"""``overlay.mp4``: each frame with 2D skeletons and ids, beside a 3D view of everyone from a virtual camera.

    codec = write_overlay(frames, scene, "overlay.mp4")   # a second pass over the frames

Left: the frame, with each track's COCO-17 keypoints joined where both ends
score at least `MIN_DRAW_SCORE`, one colour per track (thinner on frames
bridged over a gap) and the id above the head. Right: the same people in the
display world (`monocap.viz.scene`: Y up, ground at Y = 0) seen by a
perspective virtual camera that stays put for the whole video: turned
`VIEW_YAW_DEG` to the side of the real camera and looking down
`VIEW_PITCH_DEG`, far enough back to hold nearly all joints of the video. It
shows a 1 m ground grid, the real camera, each person's pelvis path on the
ground over the last `TRAIL_SECONDS`, and, when the run has per-joint
uncertainty, a circle of that radius around each joint.

The canvas (`Canvas`) fits in `OVERLAY_BOX` pixels (encoding dominates the cost of
this pass, and a preview needs no more). Encoding: H.264 (libx264, yuv420p,
so browsers play it) through PyAV, whose wheels carry libx264.
"""
from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from itertools import islice
from pathlib import Path

import av
import cv2
import numpy as np
from tqdm import tqdm

from ..io.video import FrameSource
from ..skeleton import COCO17, H36M17
from .scene import Scene, camera_marker_world_mm

OVERLAY_NAME = "overlay.mp4"
OVERLAY_BOX = (1600, 900)  # the canvas (frame + 3D view) fits in this width, height
MIN_DRAW_SCORE = 0.3
H264 = "H.264"
# Distinct colours (RGB) for track ids, taken in turn; the viewer uses the same ones.
PALETTE = ((230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
           (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212))
VIEW_YAW_DEG = 35.0  # the virtual camera, turned about the vertical from the real camera's side
VIEW_PITCH_DEG = 25.0  # and looking down
VIEW_HFOV_DEG = 50.0
VIEW_MIN_RADIUS_MM = 1500.0  # the view holds at least this much around its centre
VIEW_POINTS = 20_000  # joints sampled to place the view
NEAR_MM = 100.0  # lines are cut where they come nearer than this to the virtual camera
DRAW_AHEAD = 2  # frames drawn ahead of the one being encoded
GRID_STEP_MM = 1000.0
GRID_MARGIN_MM = 1000.0
TRAIL_SECONDS = 10.0
PANEL_BACKGROUND = (32, 34, 40)
GRID_COLOR = (80, 84, 92)
WHITE = (255, 255, 255)


def write_overlay(frames: FrameSource, scene: Scene, path: str | Path, progress: bool = False) -> str:
    """Draw ``scene`` on the frames of ``frames`` (read again from the start) into ``path``; returns the codec.

    Three threads in a row: decoding (`FrameSource`), drawing with the
    conversion to 4:2:0, and encoding, a few frames apart. Drawing runs on
    one thread, in frame order, because the renderer reuses its canvas.
    """
    result = scene.result
    draw = OverlayRenderer(scene)
    bar = tqdm(total=result.frame_count, disable=not progress, unit="frame", desc=f"{frames.info.name}: overlay")
    with VideoWriter(path, result.fps, draw.canvas.size) as writer, bar, ThreadPoolExecutor(1) as drawing:
        drawn: deque = deque()
        for frame in islice(frames, result.frame_count):
            drawn.append(drawing.submit(lambda f=frame: to_yuv420(draw(f.rgb, f.index))))
            if len(drawn) > DRAW_AHEAD:
                writer.write_yuv420(drawn.popleft().result())
                bar.update()
        while drawn:
            writer.write_yuv420(drawn.popleft().result())
            bar.update()
    return writer.codec


@dataclass(frozen=True)
class Canvas:
    """Where things go on the overlay of frames of one size: the scaled frame at the left, the 3D view at its right.

    The view is as tall as the frame and square, or as wide as the frame when
    that is narrower (portrait video); the whole fits in `OVERLAY_BOX`. Sizes
    are (width, height) in pixels, even, as H.264's 4:2:0 needs.

    frame_size, panel_size, size: the frame, the 3D view, the whole canvas.
    scale: (2,) canvas pixels per source pixel, x and y.
    font_scale: OpenCV font scale for labels.
    """

    frame_size: tuple[int, int]
    panel_size: tuple[int, int]
    scale: np.ndarray
    font_scale: float

    @classmethod
    def for_image(cls, image_size: tuple[int, int]) -> "Canvas":
        width, height = image_size
        box_width, box_height = OVERLAY_BOX
        fit = min(1.0, box_width / (width + min(width, height)), box_height / height)
        frame = (max(2, int(width * fit) // 2 * 2), max(2, int(height * fit) // 2 * 2))
        return cls(frame, (min(frame), frame[1]), np.array([frame[0] / width, frame[1] / height]),
                   max(0.4, frame[0] / 1600))

    @property
    def size(self) -> tuple[int, int]:
        return self.frame_size[0] + self.panel_size[0], self.frame_size[1]

    def blank(self) -> np.ndarray:
        """An uninitialised canvas image (H, W, 3) uint8."""
        return np.empty((self.size[1], self.size[0], 3), np.uint8)

    def split(self, canvas: np.ndarray, image_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Put the frame ``image_rgb`` (any size) at the left of ``canvas``; returns views of (frame, panel)."""
        width = self.frame_size[0]
        left, panel = canvas[:, :width], canvas[:, width:]
        if (image_rgb.shape[1], image_rgb.shape[0]) == self.frame_size:
            left[:] = image_rgb
        else:
            left[:] = cv2.resize(image_rgb, self.frame_size, interpolation=cv2.INTER_LINEAR)
        return left, panel


def track_color(track_id: int) -> tuple[int, int, int]:
    return PALETTE[int(track_id) % len(PALETTE)]


def draw_people_2d(image: np.ndarray, keypoints_px: np.ndarray, scores: np.ndarray, detected: np.ndarray,
                   track_ids: np.ndarray, font_scale: float) -> None:
    """Skeletons and ids of K people on an RGB image, in place; keypoints (K, 17, 2) in that image's pixels."""
    for keypoints, score, found, track_id in zip(keypoints_px, scores, detected, track_ids):
        color = track_color(track_id)
        seen = score >= MIN_DRAW_SCORE
        thickness = 2 if found else 1
        for parent, child in COCO17.bones:
            if seen[parent] and seen[child]:
                cv2.line(image, _pt(keypoints[parent]), _pt(keypoints[child]), color, thickness, cv2.LINE_AA)
        for point in keypoints[seen]:
            cv2.circle(image, _pt(point), thickness + 1, color, -1, cv2.LINE_AA)
        if seen.any():
            top = keypoints[seen][np.argmin(keypoints[seen, 1])]
            # Above the head, but never above the top of the frame.
            origin = (int(top[0]) - 15, max(int(top[1]) - 12, int(25 * font_scale)))
            _label(image, f"id {track_id}", origin, color, font_scale)


def orbit_fit(points_world_mm: np.ndarray, aspect: float) -> tuple[np.ndarray, float]:
    """(target (3,), distance) mm for an orbit view of height/width ``aspect`` that holds nearly all points (..., 3)."""
    points = points_world_mm.reshape(-1, 3)
    points = points[np.isfinite(points).all(axis=1)]
    if len(points) > VIEW_POINTS:
        points = points[np.linspace(0, len(points) - 1, VIEW_POINTS).astype(int)]
    if not len(points):
        points = np.array([[0.0, 900.0, -3000.0]])  # nobody: where a person might stand
    lo, hi = np.percentile(points, 1, axis=0), np.percentile(points, 99, axis=0)
    radius = max(VIEW_MIN_RADIUS_MM, float(np.linalg.norm(hi - lo)) / 2)
    half_fov = np.radians(VIEW_HFOV_DEG) / 2 * min(1.0, aspect)
    return (lo + hi) / 2, 1.1 * radius / np.sin(half_fov)


def grid_extent(points_world_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Corners (3,) lo and hi, mm, of a ground grid on whole `GRID_STEP_MM` around the points (N, 3), with a margin."""
    points = points_world_mm[np.isfinite(points_world_mm).all(axis=1)]
    if not len(points):
        points = np.zeros((1, 3))
    lo = np.floor((points.min(axis=0) - GRID_MARGIN_MM) / GRID_STEP_MM) * GRID_STEP_MM
    hi = np.ceil((points.max(axis=0) + GRID_MARGIN_MM) / GRID_STEP_MM) * GRID_STEP_MM
    return lo, hi


@dataclass(frozen=True)
class VirtualCamera:
    """A pinhole camera in the display world, for drawing it.

    rotation: (3, 3) world → view frame (x right, y down, z forward, as the real camera's).
    position_mm: (3,) the camera in the world, mm.
    focal_px: focal length in pixels; center_px: (2,) principal point, pixels.
    """

    rotation: np.ndarray
    position_mm: np.ndarray
    focal_px: float
    center_px: np.ndarray

    @classmethod
    def orbit(cls, target_mm: np.ndarray, distance_mm: float, yaw_deg: float, pitch_deg: float,
              size: tuple[int, int], hfov_deg: float = VIEW_HFOV_DEG) -> "VirtualCamera":
        """Looking at ``target_mm`` from ``distance_mm`` away; yaw 0 and pitch 0 is the real camera's side."""
        yaw, pitch = np.radians(yaw_deg), np.radians(pitch_deg)
        back = np.array([np.sin(yaw) * np.cos(pitch), np.sin(pitch), np.cos(yaw) * np.cos(pitch)])
        forward = -back
        right = np.cross(forward, [0.0, 1.0, 0.0])
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        focal = size[0] / 2 / np.tan(np.radians(hfov_deg) / 2)
        return cls(np.stack([right, down, forward]), np.asarray(target_mm, float) + distance_mm * back, float(focal),
                   np.array([size[0] / 2, size[1] / 2]))

    @classmethod
    def fit(cls, points_world_mm: np.ndarray, size: tuple[int, int]) -> "VirtualCamera":
        """The standard side view (`VIEW_YAW_DEG`, `VIEW_PITCH_DEG`) of nearly all of these points (..., 3)."""
        target, distance = orbit_fit(points_world_mm, size[1] / size[0])
        return cls.orbit(target, distance, VIEW_YAW_DEG, VIEW_PITCH_DEG, size)

    def to_view(self, points_world_mm: np.ndarray) -> np.ndarray:
        """World points (..., 3) → the view frame (..., 3), mm."""
        return (np.asarray(points_world_mm) - self.position_mm) @ self.rotation.T

    def project_view(self, points_view_mm: np.ndarray) -> np.ndarray:
        """View-frame points (..., 3) in front of the camera → pixels (..., 2)."""
        return points_view_mm[..., :2] / points_view_mm[..., 2:] * self.focal_px + self.center_px


class PanelRenderer:
    """The 3D view: ground grid and real camera drawn once, then per frame skeletons, ids, trails and uncertainty."""

    def __init__(self, view: VirtualCamera, size: tuple[int, int], world_from_cam: np.ndarray,
                 ground_points_mm: np.ndarray, font_scale: float):
        self.view = view
        self.size = size
        self.font_scale = font_scale
        self.background = np.empty((size[1], size[0], 3), np.uint8)
        self.background[:] = PANEL_BACKGROUND
        self._draw_grid(ground_points_mm)
        self._draw_camera(camera_marker_world_mm(world_from_cam))
        _label(self.background, "3D", (6, int(22 * font_scale)), WHITE, font_scale)

    def render(self, out: np.ndarray, joints_world_mm: np.ndarray, track_ids: np.ndarray,
               trails_world_mm: list[np.ndarray], uncertainty_mm: np.ndarray | None = None) -> None:
        """Draw into ``out`` (H, W, 3): K people's (K, 17, 3) joints, their pelvis trails ((N, 3) each), and
        a circle of the (K, 17) uncertainty around each joint when given."""
        out[:] = self.background
        for trail, track_id in zip(trails_world_mm, track_ids):
            ground = trail[np.isfinite(trail).all(axis=1)] * [1, 0, 1]
            points = self._visible_px(ground)
            if len(points) > 1:
                cv2.polylines(out, [points], False, _dim(track_color(track_id)), 1, cv2.LINE_AA)
        for k, (joints, track_id) in enumerate(zip(joints_world_mm, track_ids)):
            if not np.isfinite(joints).all():
                continue
            color = track_color(track_id)
            view = self.view.to_view(joints)
            if (view[:, 2] < NEAR_MM).any():
                continue  # the virtual camera stands back from everyone; this one is a stray pose
            px = self.view.project_view(view)
            if uncertainty_mm is not None and np.isfinite(uncertainty_mm[k]).all():
                radii = uncertainty_mm[k] * self.view.focal_px / view[:, 2]
                for point, radius in zip(px, radii):
                    cv2.circle(out, _pt(point), max(1, int(round(radius))), _dim(color), 1, cv2.LINE_AA)
            for parent, child in H36M17.bones:
                cv2.line(out, _pt(px[parent]), _pt(px[child]), color, 2, cv2.LINE_AA)
            top = px[np.argmin(px[:, 1])]
            _label(out, f"id {track_id}", (int(top[0]) - 15, int(top[1]) - 10), color, self.font_scale * 0.8)

    def _visible_px(self, points_world_mm: np.ndarray) -> np.ndarray:
        """(N, 2) int32 pixels of the points in front of the camera."""
        view = self.view.to_view(points_world_mm)
        view = view[view[:, 2] > NEAR_MM]
        return np.round(self.view.project_view(view)).astype(np.int32)

    def _segment(self, image: np.ndarray, a_world: np.ndarray, b_world: np.ndarray, color, thickness: int = 1):
        """A world line segment, cut where it passes behind the near plane."""
        a, b = self.view.to_view(a_world), self.view.to_view(b_world)
        if a[2] < NEAR_MM and b[2] < NEAR_MM:
            return
        if a[2] < NEAR_MM or b[2] < NEAR_MM:
            t = (NEAR_MM - a[2]) / (b[2] - a[2])
            cut = a + t * (b - a)
            a, b = (cut, b) if a[2] < NEAR_MM else (a, cut)
        cv2.line(image, _pt(self.view.project_view(a)), _pt(self.view.project_view(b)), color, thickness,
                 cv2.LINE_AA)

    def _draw_grid(self, ground_points_mm: np.ndarray) -> None:
        """Lines every `GRID_STEP_MM` on the ground (Y = 0) around the given points (N, 3)."""
        lo, hi = grid_extent(ground_points_mm)
        for x in np.arange(lo[0], hi[0] + 1, GRID_STEP_MM):
            self._segment(self.background, np.array([x, 0, lo[2]]), np.array([x, 0, hi[2]]), GRID_COLOR)
        for z in np.arange(lo[2], hi[2] + 1, GRID_STEP_MM):
            self._segment(self.background, np.array([lo[0], 0, z]), np.array([hi[0], 0, z]), GRID_COLOR)

    def _draw_camera(self, marker_mm: np.ndarray) -> None:
        """The real camera as a small pyramid pointing where it looks (`camera_marker_world_mm`), labelled."""
        camera, corners = marker_mm[0], marker_mm[1:]
        for i in range(4):
            self._segment(self.background, camera, corners[i], WHITE)
            self._segment(self.background, corners[i], corners[(i + 1) % 4], WHITE)
        view = self.view.to_view(camera)
        if view[2] > NEAR_MM:
            x, y = _pt(self.view.project_view(view))
            _label(self.background, "camera", (x + 8, y - 8), WHITE, self.font_scale * 0.7)


class OverlayRenderer:
    """One canvas per frame of a `Scene`: the frame with 2D skeletons, and the 3D view to its right."""

    def __init__(self, scene: Scene):
        self.scene = scene
        result = scene.result
        self.canvas = Canvas.for_image((result.intrinsics.width, result.intrinsics.height))
        self.present = result.present
        positions = scene.positions_world_mm
        view = VirtualCamera.fit(positions, self.canvas.panel_size)
        self.panel = PanelRenderer(view, self.canvas.panel_size, scene.world_from_cam,
                                   positions[:, :, 0].reshape(-1, 3), self.canvas.font_scale)
        self.trail_frames = max(1, int(round(TRAIL_SECONDS * result.fps)))
        self._image = self.canvas.blank()

    def __call__(self, image_rgb: np.ndarray, frame: int) -> np.ndarray:
        """The canvas (H, W, 3) RGB for frame ``frame`` of the video, whose image is ``image_rgb``; reused per call."""
        r = self.scene.result
        left, panel = self.canvas.split(self._image, image_rgb)
        people = np.flatnonzero(self.present[:, frame])
        draw_people_2d(left, r.keypoints_px[people, frame] * self.canvas.scale, r.scores[people, frame],
                       r.detected[people, frame], r.track_ids[people], self.canvas.font_scale)
        start = max(0, frame - self.trail_frames)
        trails = [self.scene.positions_world_mm[p, start:frame + 1, 0] for p in people]
        uncertainty = None if self.scene.uncertainty_mm is None else self.scene.uncertainty_mm[people, frame]
        self.panel.render(panel, self.scene.positions_world_mm[people, frame], r.track_ids[people], trails,
                          uncertainty)
        return self._image


def _pt(point: np.ndarray) -> tuple[int, int]:
    return int(round(float(point[0]))), int(round(float(point[1])))


def _dim(color: tuple[int, int, int]) -> tuple[int, int, int]:
    return tuple(int(c * 0.6) for c in color)


def _label(image: np.ndarray, text: str, origin: tuple[int, int], color, font_scale: float) -> None:
    """Text with a dark outline, readable on any background."""
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, font_scale, color, 1, cv2.LINE_AA)


def to_yuv420(rgb: np.ndarray) -> np.ndarray:
    """An (H, W, 3) uint8 RGB image as one (H * 3/2, W) plane of planar 4:2:0 YUV, what the encoder takes.

    OpenCV converts (BT.601, as FFmpeg would) several times faster than FFmpeg's own scaler does.
    """
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)


class VideoWriter:
    """Writes RGB frames of one size to an H.264 mp4 file (libx264 through PyAV; see the module docstring)."""

    codec = H264

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int]):
        self.path = str(path)
        self.size = tuple(size)
        self._container = av.open(self.path, mode="w")
        self._rate = Fraction(fps).limit_denominator(1001)
        self._stream = self._container.add_stream("libx264", rate=self._rate)
        self._next_index = 0
        self._stream.width, self._stream.height = self.size
        self._stream.pix_fmt = "yuv420p"
        # ultrafast: about half the time of x264's default preset per frame, for files about twice as big.
        self._stream.options = {"preset": "ultrafast", "crf": "23"}

    def write(self, rgb: np.ndarray, index: int | None = None) -> None:
        """Add a frame (H, W, 3) uint8 RGB as frame ``index`` at the writer's rate (default: the next one).

        Indices must increase; over the ones left out the previous picture stays
        on screen, so a recording that skipped frames still plays in real time.
        """
        self.write_yuv420(to_yuv420(rgb), index)

    def write_yuv420(self, yuv: np.ndarray, index: int | None = None) -> None:
        """`write` for a frame already converted by `to_yuv420`."""
        index = self._next_index if index is None else index
        if index < self._next_index:
            raise ValueError(f"{self.path}: frame {index} written after frame {self._next_index - 1}")
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts, frame.time_base = index, 1 / self._rate
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self._next_index = index + 1

    def close(self) -> None:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
