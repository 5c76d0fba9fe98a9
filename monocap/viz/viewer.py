"""``viewer.html``: one self-contained page that plays a run's 3D skeletons, offline (no network, no libraries).

    write_viewer(Scene.load("out/clip"), "out/clip/viewer.html")

The page is `assets/viewer.html` (our own 2D-canvas drawing with a
perspective orbit camera, inline JavaScript) with the run embedded as JSON:
the display world of `monocap.viz.scene` (mm, Y up, ground at Y = 0), every
person's joints over the frames from its first to its last appearance as
little-endian int16 millimetres (-32768 where absent, positions beyond
±32.767 m clipped), base64-encoded: 136 bytes per person and frame (about
2.5 MB per person for 10 minutes at 30 fps), plus 48 for the per-joint
uncertainty (uint16 mm) when the run has one. Controls: play/pause (space),
frame slider (arrow keys step), drag to orbit, wheel to zoom; one colour
per person (the overlay's) with its id, the ground grid, the real camera,
each pelvis path on the ground, and circles of the uncertainty's radius.
Scripts can drive it through ``window.monocapViewer`` (``setFrame(n)``,
``play()``, ``pause()``, ``frame``, ``frameCount``, ``trackIds``).
"""
from __future__ import annotations

import base64
import html
import json
from importlib import resources
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_output
from ..skeleton import H36M17
from .overlay import GRID_STEP_MM, VIEW_HFOV_DEG, VIEW_PITCH_DEG, VIEW_YAW_DEG, grid_extent, orbit_fit, track_color
from .scene import Scene, camera_marker_world_mm

VIEWER_NAME = "viewer.html"
VIEWER_FORMAT = "monocap.viewer"
ABSENT_MM = -32768  # int16 code for a joint that is not there
VIEW_ASPECT = 9 / 16  # height / width of the usual page, to place the starting view


def write_viewer(scene: Scene, path: str | Path) -> Path:
    """Write the viewer page for ``scene`` to ``path`` (appears complete or not at all); returns the path."""
    page = viewer_html(scene)
    with atomic_output(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return Path(path)


def viewer_html(scene: Scene) -> str:
    """The page as text."""
    template = resources.files(__package__).joinpath("assets", "viewer.html").read_text(encoding="utf-8")
    title = Path(scene.result.source).name or "monocap run"
    # Inside <script>, "</" could end the element early; JSON allows "<\/" for it.
    data = json.dumps(viewer_data(scene, title), separators=(",", ":")).replace("</", "<\\/")
    return template.replace("__TITLE__", html.escape(title)).replace("__DATA__", data)


def viewer_data(scene: Scene, title: str) -> dict:
    """What the page embeds (see the module docstring for the encoding)."""
    result = scene.result
    positions = scene.positions_world_mm
    present = np.isfinite(positions).all(axis=(-2, -1))
    people = []
    for p, track_id in enumerate(result.track_ids):
        frames = np.flatnonzero(present[p])
        if not len(frames):
            continue
        first, last = int(frames[0]), int(frames[-1])
        span = positions[p, first:last + 1]
        coded = np.clip(np.round(np.nan_to_num(span, nan=0.0)), -32767, 32767).astype("<i2")
        coded[~np.isfinite(span).all(axis=(-2, -1))] = ABSENT_MM
        uncertainty = None
        if scene.uncertainty_mm is not None:
            spread = np.nan_to_num(scene.uncertainty_mm[p, first:last + 1], nan=0.0)
            uncertainty = _base64(np.clip(np.round(spread), 0, 65535).astype("<u2"))
        people.append({"id": int(track_id), "color": "#%02x%02x%02x" % track_color(track_id), "first": first,
                       "last": last, "positions": _base64(coded), "uncertainty": uncertainty})

    target, distance = orbit_fit(positions, VIEW_ASPECT)
    lo, hi = grid_extent(positions[:, :, 0].reshape(-1, 3))
    return {
        "format": VIEWER_FORMAT, "version": 1, "title": title, "fps": float(result.fps),
        "frameCount": int(result.frame_count), "jointNames": list(H36M17.joints),
        "bones": [list(b) for b in H36M17.bones],
        "cameraMarkerMm": [_rounded(point) for point in camera_marker_world_mm(scene.world_from_cam)],
        "view": {"targetMm": _rounded(target), "distanceMm": round(float(distance), 1),
                 "yawDeg": VIEW_YAW_DEG, "pitchDeg": VIEW_PITCH_DEG, "hfovDeg": VIEW_HFOV_DEG},
        "grid": {"minMm": [float(lo[0]), float(lo[2])], "maxMm": [float(hi[0]), float(hi[2])],
                 "stepMm": GRID_STEP_MM},
        "people": people,
    }


def _base64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def _rounded(values: np.ndarray) -> list[float]:
    return [round(float(v), 1) for v in values]
