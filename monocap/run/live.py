"""Live mode: frames as a camera delivers them → causal 3D per frame → overlay shown and recorded, with latency.

    stats = run_live(Pipeline(), "webcam:0", record="take.mp4", window=True)
    stats.latency_ms                     # per processed frame: capture → result

`LiveSource` hands `Pipeline.stream` always the newest frame: a thread
grabs frames continuously and keeps only the last one, so when the work on
a frame takes longer than the camera's frame interval the frames in between
are skipped (and counted) instead of queueing up behind it, which would make
the latency grow without bound. A video file stands in for a camera by being
played at its own frame rate: frame i becomes available i / fps seconds
after the start, never earlier, which makes the latency measured on a file
the one a camera of that rate would see.

The latency of a frame is the time from its capture (the moment the
grabbing thread had it) to the moment its `FrameResult` exists (2D, tracking,
causal lifting and root fit done); drawing, showing and encoding come after
that and are timed apart ("shown").

Each processed frame is drawn like ``overlay.mp4`` (2D skeletons and ids
beside a 3D view, `monocap.viz.overlay`). Unlike there, the whole video is
not known in advance: the camera is taken as level, with the floor under the
ankles of the last `TRAIL_SECONDS` (`level_floor`), and the 3D view is
placed around the first people seen. The
recording (H.264) gives each processed frame its capture time (the frames
skipped after it keep its picture on screen), so that it plays in real time.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
from tqdm import tqdm

from ..io.atomic import atomic_output
from ..io.video import Frame, FrameSource, open_source
from ..viz.overlay import PANEL_BACKGROUND, TRAIL_SECONDS, Canvas, PanelRenderer, VideoWriter, VirtualCamera, \
    draw_people_2d
from ..fit.skeleton import world_from_camera
from ..viz.scene import level_floor, to_world
from .pipeline import FrameResult, Pipeline

WINDOW_TITLE = "monocap live (q or Esc: quit)"
QUIT_KEYS = (ord("q"), 27)


class LiveSource(FrameSource):
    """The frames of a camera (or of a video file played at its frame rate), newest first; see the module docstring.

    captured_at: perf_counter() time at which each handed-out frame index was captured.
    skipped: frames captured but never handed out because newer ones arrived first.
    """

    def __init__(self, source: FrameSource):
        super().__init__(source.info, source.read, prefetch=1)
        self.paced = not source.info.live  # a file: hold each frame back until its time
        self.captured_at: dict[int, float] = {}
        self.skipped = 0

    def __iter__(self) -> Iterator[Frame]:
        if self._reads:
            raise ValueError(f"{self.info.path}: a live source can be read only once")
        self._reads += 1
        return self._newest()

    def _newest(self) -> Iterator[Frame]:
        changed = threading.Condition()
        state = {"latest": None, "done": False, "error": None}
        stop = threading.Event()

        def grab() -> None:
            frames = self.read(0, None)
            start = None  # when frame 0 is captured (opening the file takes a while)
            try:
                for index, rgb in enumerate(frames):
                    if stop.is_set():
                        break
                    if self.paced and start is not None:
                        time.sleep(max(0.0, start + index / self.info.fps - time.perf_counter()))
                    captured = time.perf_counter()
                    # Frame i is captured i / fps after frame 0, never earlier, however busy the machine.
                    start = captured if start is None else start
                    with changed:
                        if state["latest"] is not None:
                            self.skipped += 1
                        state["latest"] = (index, rgb, captured)
                        changed.notify()
            except Exception as exc:  # handed to the consumer, who raises it
                state["error"] = exc
            finally:
                close = getattr(frames, "close", None)
                if close is not None:
                    close()
                with changed:
                    state["done"] = True
                    changed.notify()

        thread = threading.Thread(target=grab, name="monocap-live-grab", daemon=True)
        thread.start()
        try:
            while True:
                with changed:
                    changed.wait_for(lambda: state["latest"] is not None or state["done"])
                    latest, state["latest"] = state["latest"], None
                if latest is None:
                    if state["error"] is not None:
                        raise state["error"]
                    return
                index, rgb, captured = latest
                self.captured_at[index] = captured
                yield Frame(index, rgb)
        finally:
            stop.set()
            thread.join()


@dataclass
class LiveStats:
    """What a live session measured.

    latency_ms: per processed frame, capture → FrameResult.
    shown_ms: per processed frame, capture → drawn, shown and recorded.
    processed: frames that went through the pipeline; skipped: frames the camera gave meanwhile that were dropped.
    wall_s: the session's duration.
    """

    latency_ms: list[float] = field(default_factory=list)
    shown_ms: list[float] = field(default_factory=list)
    processed: int = 0
    skipped: int = 0
    wall_s: float = 0.0

    def summary(self) -> str:
        """One line; the first frame is given apart, as it carries the 2D backend's one-off warm-up."""
        if not self.processed:
            return "no frame processed"
        text = (f"{self.processed} frames processed, {self.skipped} skipped, in {self.wall_s:.1f} s "
                f"({self.processed / self.wall_s:.1f} frames/s); latency capture → 3D: first frame "
                f"{self.latency_ms[0]:.0f} ms")
        if self.processed > 1:
            latency, shown = np.array(self.latency_ms[1:]), np.array(self.shown_ms[1:])
            text += (f", then median {np.median(latency):.0f} ms, 95th percentile {np.percentile(latency, 95):.0f} "
                     f"ms, max {latency.max():.0f} ms; capture → shown: median {np.median(shown):.0f} ms")
        return text


class LiveRenderer:
    """Draws `FrameResult`s as the overlay does (frame and 3D view side by side), keeping state across frames."""

    def __init__(self, image_size: tuple[int, int], fps: float):
        self.canvas = Canvas.for_image(image_size)
        history = max(1, int(round(TRAIL_SECONDS * fps)))
        self._recent_joints_cam = deque(maxlen=history)  # (K, 17, 3) camera-frame joints of recent frames
        self._trails: dict[int, deque] = {}
        self._history = history
        self.panel: PanelRenderer | None = None
        self._image = self.canvas.blank()

    def __call__(self, result: FrameResult) -> np.ndarray:
        """The canvas (H, W, 3) RGB for one result, its live skeletons where it has them; reused per call."""
        left, panel = self.canvas.split(self._image, result.image_rgb)
        draw_people_2d(left, result.keypoints_px * self.canvas.scale, result.scores, result.detected,
                       result.track_ids, self.canvas.font_scale)
        joints_cam = result.joints_cam_mm if result.skeletons is None else result.skeletons.joints_cam_mm
        lifted = np.isfinite(joints_cam).all(axis=(-2, -1))
        if lifted.any():
            self._recent_joints_cam.append(joints_cam[lifted])
        recent = np.concatenate(list(self._recent_joints_cam)) if self._recent_joints_cam else np.zeros((0, 17, 3))
        world_from_cam = world_from_camera(level_floor(recent), np.zeros(3))
        joints_world = to_world(joints_cam, world_from_cam)
        if self.panel is None and lifted.any():
            # Placed once, around the first people seen, so that the view does not jump about.
            view = VirtualCamera.fit(joints_world[lifted], self.canvas.panel_size)
            self.panel = PanelRenderer(view, self.canvas.panel_size, world_from_cam,
                                       joints_world[lifted][:, 0], self.canvas.font_scale)
        for gone in self._trails.keys() - set(result.track_ids.tolist()):
            del self._trails[gone]
        for track_id, pelvis in zip(result.track_ids.tolist(), joints_world[:, 0]):
            self._trails.setdefault(track_id, deque(maxlen=self._history)).append(pelvis)
        if self.panel is None:
            panel[:] = PANEL_BACKGROUND
        else:
            trails = [np.array(self._trails[track_id]) for track_id in result.track_ids.tolist()]
            self.panel.render(panel, joints_world, result.track_ids, trails)
        return self._image


def has_display() -> bool:
    """Whether a window can be opened: on Linux and BSD an X11 or Wayland display must be set."""
    if not sys.platform.startswith(("linux", "freebsd", "openbsd")):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run_live(pipeline: Pipeline, source: str | Path, *, record: str | Path | None = None, window: bool = True,
             max_frames: int | None = None, progress: bool = False, skeletons: bool = False) -> LiveStats:
    """Process ``source`` ("webcam:N" or a video file) live; see the module docstring. Stops at the end of a file,
    after ``max_frames`` processed frames, on q or Esc in the window, or on Ctrl-C. ``skeletons``: draw
    each person's live skeleton (`monocap.fit.causal`: bones of constant length) instead of the lifted joints."""
    live = LiveSource(open_source(source))
    info = live.info
    draw = LiveRenderer(info.image_size, info.fps)
    stats = LiveStats()
    start = time.perf_counter()
    with ExitStack() as stack:
        writer = None
        if record is not None:
            path = stack.enter_context(atomic_output(record))
            writer = stack.enter_context(VideoWriter(path, info.fps, draw.canvas.size))
        if window:
            cv2.namedWindow(WINDOW_TITLE, cv2.WINDOW_NORMAL)
            stack.callback(cv2.destroyWindow, WINDOW_TITLE)
        bar = stack.enter_context(tqdm(total=info.frame_count, disable=not progress, unit="frame",
                                       desc=f"{info.name}: live"))
        try:
            for result in pipeline.stream(live, max_frames=max_frames, skeletons=skeletons):
                captured = live.captured_at.pop(result.frame_index)
                stats.latency_ms.append(1000 * (time.perf_counter() - captured))
                canvas = draw(result)
                if writer is not None:
                    writer.write(canvas, result.frame_index)
                stats.processed += 1
                bar.update(result.frame_index + 1 - bar.n)
                if window:
                    cv2.imshow(WINDOW_TITLE, cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
                    if cv2.waitKey(1) & 0xFF in QUIT_KEYS:
                        break
                stats.shown_ms.append(1000 * (time.perf_counter() - captured))
        except KeyboardInterrupt:
            pass  # a normal way to stop: the recording is finished and the figures printed
    stats.skipped = live.skipped
    stats.wall_s = time.perf_counter() - start
    return stats
