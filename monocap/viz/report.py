"""``report.html``: one self-contained page about a run: the input, the camera, the people, links to the files.

    write_report(Scene.load("out/clip"), "out/clip/report.html")

Sections: the input (file, resolution, frame rate, frames, duration, 2D
backend, lifter and its licence); the camera (the intrinsics the run used
and what was assumed about it); the people (per track: frames present,
share detected by the 2D stage, mean 2D keypoint score, share of frames
lifted, distance from the camera, path walked, and the per-joint
uncertainty when the run has one), with plots over time (inline SVG) of each
person's distance from the camera, 2D score and joint angles
(`monocap.fit.angles`); and a link to every file of the folder. No scripts, no network: it opens from the folder as it is.
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..fit.angles import joint_angles
from ..io.atomic import atomic_output
from ..io.results import JSON_NAME, NPZ_NAME
from .overlay import OVERLAY_NAME, track_color
from .scene import ANKLE_HEIGHT_MM, Scene
from .viewer import VIEWER_NAME

REPORT_NAME = "report.html"
FILE_DESCRIPTIONS = {
    NPZ_NAME: "3D poses, 2D keypoints and camera (numpy; the `monocap lift` contract)",
    JSON_NAME: "the same per person and frame, with units and coordinate frames (JSON)",
    OVERLAY_NAME: "video: 2D skeletons and ids beside a 3D view (H.264)",
    VIEWER_NAME: "interactive 3D viewer (open in a browser, works offline)",
    REPORT_NAME: "this report",
}
# The per-person exports of `monocap run --export` (`monocap.export`), by how their names end.
EXPORT_DESCRIPTIONS = {
    ".bvh": "skeleton animation (BVH)", ".trc": "3D markers (OpenSim TRC)", ".c3d": "3D markers (C3D)",
    "_angles.csv": "joint angles per frame (CSV)", "_angles.png": "joint-angle plot (PNG)",
}
# How the display world's floor was found (`Scene.floor_source`), said in the report.
FLOOR_TEXT = {
    "plane": "the floor is the plane through the ankles of the person seen longest where they stood still.",
    "line": "the floor runs through the standing ankles of the person seen longest (along their path) and "
            "across it follows their trunk's mean direction.",
    "trunk": "the floor is perpendicular to the mean trunk direction of the person seen longest, under their "
             "standing ankles.",
    "level camera": f"the camera is taken as level (no roll or pitch; too few frames to estimate the floor) and "
                    f"the floor {ANKLE_HEIGHT_MM:.0f} mm below the lowest ankles.",
}
PLOT_SIZE = (720, 200)  # px, the drawing area of a plot is inside a margin
PLOT_MARGIN = (56, 16, 12, 34)  # left, right, top, bottom px
PLOT_POINTS = 1500  # longer series are thinned to about this many points per line
# Joint-angle plots: (title, angle names without the side prefix, or whole names for the trunk).
ANGLE_PLOTS = (("hip flexion", ("hip_flexion",)), ("knee flexion", ("knee_flexion",)),
               ("shoulder elevation", ("shoulder_elevation",)), ("elbow flexion", ("elbow_flexion",)),
               ("trunk lean: forward (solid), sideways to the right (dashed)",
                ("trunk_forward_lean", "trunk_sideways_lean")))


@dataclass(frozen=True)
class PersonFacts:
    """What the report says about one track.

    frames_present: frames tracked (detected or bridged over a short gap); frames_detected: found by the 2D stage.
    mean_score: mean 2D keypoint score over the detected frames, in [0, 1].
    lifted_share: share of the present frames with a 3D pose.
    mean_distance_m: mean distance of the pelvis from the camera, metres (NaN when never placed).
    path_m: length of the pelvis path on the ground, metres.
    mean_uncertainty_mm, max_uncertainty_mm: over joints and lifted frames; None without uncertainty.
    """

    track_id: int
    first_frame: int
    last_frame: int
    frames_present: int
    frames_detected: int
    mean_score: float
    lifted_share: float
    mean_distance_m: float
    path_m: float
    mean_uncertainty_mm: float | None
    max_uncertainty_mm: float | None


def person_facts(scene: Scene) -> list[PersonFacts]:
    r = scene.result
    present = r.present
    lifted = np.isfinite(scene.positions_world_mm).all(axis=(-2, -1))
    facts = []
    for p, track_id in enumerate(r.track_ids):
        frames = np.flatnonzero(present[p])
        detected = r.detected[p]
        distance = np.linalg.norm(r.root_cam_mm[p][lifted[p]], axis=-1) / 1000
        ground = scene.positions_world_mm[p, lifted[p], 0][:, [0, 2]]
        steps = np.linalg.norm(np.diff(ground, axis=0), axis=-1) / 1000
        spread = None if scene.uncertainty_mm is None else scene.uncertainty_mm[p][lifted[p]]
        facts.append(PersonFacts(
            int(track_id), int(frames[0]) if len(frames) else -1, int(frames[-1]) if len(frames) else -1,
            len(frames), int(detected.sum()),
            float(r.scores[p][detected].mean()) if detected.any() else math.nan,
            float(lifted[p][present[p]].mean()) if len(frames) else 0.0,
            float(distance.mean()) if len(distance) else math.nan, float(steps.sum()),
            None if spread is None or not spread.size else float(np.nanmean(spread)),
            None if spread is None or not spread.size else float(np.nanmax(spread))))
    return facts


def write_report(scene: Scene, path: str | Path) -> Path:
    """Write the report for ``scene`` to ``path``, linking the files of its folder; appears complete or not at all."""
    path = Path(path)
    page = report_html(scene, path.parent)
    with atomic_output(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path


def report_html(scene: Scene, folder: Path) -> str:
    r = scene.result
    intr = r.intrinsics
    name = Path(r.source).name or "monocap run"
    duration = r.frame_count / r.fps
    hfov = math.degrees(2 * math.atan(intr.width / 2 / intr.fx))
    vfov = math.degrees(2 * math.atan(intr.height / 2 / intr.fy))
    facts = person_facts(scene)
    esc = html.escape

    parts = [f"<h1>monocap run: {esc(name)}</h1>"]
    parts.append("<h2>Input</h2>" + _table([
        ("source", esc(r.source)),
        ("resolution", f"{intr.width} &times; {intr.height} px"),
        ("frame rate", f"{r.fps:.3f} frames/s"),
        ("frames", f"{r.frame_count} ({duration:.2f} s)"),
        ("2D keypoints", esc(r.backend or "unknown")),
        ("3D lifter", f"{esc(r.model or 'unknown')} ({'temporal, centred' if r.temporal else 'frame by frame'}); "
                      f"root positions {'smoothed (One-Euro)' if r.smoothed else 'not smoothed'}"),
        ("lifter licence", esc(r.licence or "unknown")),
    ]))
    distortion = ", ".join(f"{k} {v:g}" for k, v in zip(("k1", "k2", "k3", "p1", "p2"), intr.dist)) \
        if intr.has_distortion else "none"
    parts.append("<h2>Camera</h2>" + _table([
        ("focal length", f"f<sub>x</sub> {intr.fx:.1f} px, f<sub>y</sub> {intr.fy:.1f} px"),
        ("field of view", f"{hfov:.1f}&deg; horizontal, {vfov:.1f}&deg; vertical"),
        ("principal point", f"({intr.cx:.1f}, {intr.cy:.1f}) px"),
        ("lens distortion", distortion),
        ("estimated height above the ground", f"{scene.camera_height_mm / 1000:.2f} m"),
    ]) + (
        "<p>The intrinsics are those the run was given (<code>--calibration</code>, <code>--focal</code>) or, "
        "by default, a 55&deg; horizontal field of view with the principal point at the image centre: an "
        "assumption, which scales every distance. 3D positions are in millimetres in the camera frame (x right, "
        f"y down, z forward). For display (viewer, overlay, the path below) {FLOOR_TEXT[scene.floor_source]}</p>"))

    parts.append(f"<h2>People ({len(facts)})</h2>")
    if not facts:
        parts.append("<p>Nobody was tracked for long enough in this input.</p>")
    else:
        has_spread = scene.uncertainty_mm is not None
        header = ["id", "frames present", "first &ndash; last frame", "detected by 2D", "mean 2D score",
                  "lifted", "mean distance from camera", "path on the ground"] + \
                 (["uncertainty mean / max"] if has_spread else [])
        rows = []
        for f in facts:
            swatch = f'<span class="swatch" style="background:{_hex(f.track_id)}"></span>'
            row = [f"{swatch}{f.track_id}", f"{f.frames_present} ({f.frames_present / r.frame_count:.0%})",
                   f"{f.first_frame} &ndash; {f.last_frame}",
                   f"{f.frames_detected / max(f.frames_present, 1):.0%}", _num(f.mean_score, ".2f"),
                   f"{f.lifted_share:.0%}", _num(f.mean_distance_m, ".2f", " m"), f"{f.path_m:.2f} m"]
            if has_spread:
                row.append(f"{_num(f.mean_uncertainty_mm, '.0f')} / {_num(f.max_uncertainty_mm, '.0f', ' mm')}")
            rows.append(row)
        parts.append(_grid(header, rows))
        if not has_spread:
            parts.append("<p>This run has no per-joint uncertainty (probabilistic lifting was not used).</p>")
        parts.append("<p>Mean 2D score: the 2D detector's keypoint confidence, averaged over the frames it found "
                     "the person in. Lifted: frames with a 3D pose (too few keypoints seen gives none).</p>")
        times = np.arange(r.frame_count) / r.fps
        lifted = np.isfinite(scene.positions_world_mm).all(axis=(-2, -1))
        distance = np.where(lifted, np.linalg.norm(r.root_cam_mm, axis=-1) / 1000, np.nan)
        score = np.where(r.detected, r.scores.mean(axis=-1), np.nan)
        colors = [_hex(track_id) for track_id in r.track_ids]
        parts.append("<h3>Distance from the camera (pelvis, m)</h3>"
                     + svg_plot(times, [Line(row, c) for row, c in zip(distance, colors)]))
        parts.append("<h3>Mean 2D keypoint score</h3>"
                     + svg_plot(times, [Line(row, c) for row, c in zip(score, colors)], y_range=(0.0, 1.0)))
        parts.append(_angle_section(scene, times))

    parts.append("<h2>Files</h2>" + _files(folder))
    if (folder / OVERLAY_NAME).is_file():
        parts.append(f'<video controls preload="metadata" src="{OVERLAY_NAME}"></video>')
    return _page(f"monocap report: {name}", "\n".join(parts))


@dataclass(frozen=True)
class Line:
    """One curve of a plot: values (T,) over the plot's times (NaN: a gap), an RGB hex colour, dashed or not."""

    values: np.ndarray
    color: str
    dashed: bool = False


def svg_plot(times_s: np.ndarray, lines: list[Line], y_range: tuple[float, float] | None = None,
             legend: str = "") -> str:
    """An inline SVG line plot of ``lines`` over ``times_s`` (T,); at most `PLOT_POINTS` points per line."""
    width, height = PLOT_SIZE
    left, right, top, bottom = PLOT_MARGIN
    step = max(1, math.ceil(len(times_s) / PLOT_POINTS))
    times_s = times_s[::step]
    lines = [Line(line.values[::step], line.color, line.dashed) for line in lines]
    finite = np.concatenate([line.values[np.isfinite(line.values)] for line in lines] + [np.zeros(0)])
    lo, hi = y_range or ((float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0))
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    t_end = float(times_s[-1]) if len(times_s) > 1 and times_s[-1] > 0 else 1.0
    x = lambda t: left + (width - left - right) * t / t_end  # noqa: E731
    y = lambda v: top + (height - top - bottom) * (1 - (v - lo) / (hi - lo))  # noqa: E731
    out = [f'<svg class="plot" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
           f'<rect x="{left}" y="{top}" width="{width - left - right}" height="{height - top - bottom}" '
           'fill="none" stroke="#999"/>']
    for tick in np.linspace(lo, hi, 5):
        out.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:.3g}</text>')
    for tick in _ticks(t_end):
        out.append(f'<text x="{x(tick):.1f}" y="{height - bottom + 16}" text-anchor="middle">{tick:g} s</text>')
    for line in lines:
        dash = ' stroke-dasharray="5,3"' if line.dashed else ""
        for run in _finite_runs(line.values):
            if len(run) == 1:
                out.append(f'<circle cx="{x(times_s[run[0]]):.1f}" cy="{y(line.values[run[0]]):.1f}" r="1.5" '
                           f'fill="{line.color}"/>')
            else:
                points = " ".join(f"{x(times_s[t]):.1f},{y(line.values[t]):.1f}" for t in run)
                out.append(f'<polyline points="{points}" fill="none" stroke="{line.color}" stroke-width="1.5"{dash}/>')
    if legend:
        out.append(f'<text x="{width - right}" y="{top + 14}" text-anchor="end">{html.escape(legend)}</text>')
    out.append("</svg>")
    return "".join(out)


def _angle_section(scene: Scene, times_s: np.ndarray) -> str:
    """Joint-angle plots per person (`monocap.fit.angles` on the display-world joints), right solid, left dashed."""
    parts = ["<h2>Joint angles</h2>",
             "<p>Degrees, from the 3D joints (<code>monocap.fit.angles</code>: ISB-style segment frames; flexion "
             "positive forwards, 0 = straight limb). Right side solid, left side dashed. Trunk lean is measured "
             "from the vertical of the display world, so it follows the floor estimate above; the limb angles "
             "do not depend on it. Ankle and wrist angles need foot and hand points that the 17 joints lack.</p>"]
    for p, track_id in enumerate(scene.result.track_ids):
        angles = joint_angles(scene.positions_world_mm[p], scene.result.fps)
        color = _hex(track_id)
        parts.append(f'<h3><span class="swatch" style="background:{color}"></span>id {track_id}</h3>')
        for title, names in ANGLE_PLOTS:
            if names[0].startswith("trunk"):
                lines = [Line(angles[name], color, dashed=k > 0) for k, name in enumerate(names)]
            else:
                lines = [Line(angles[f"{side}_{names[0]}"], color, dashed=side == "l") for side in ("r", "l")]
            parts.append(f"<h4>{html.escape(title)}</h4>" + svg_plot(times_s, lines, legend="degrees"))
    return "\n".join(parts)


def _ticks(end: float) -> np.ndarray:
    """Round time ticks (s) over [0, end], about six of them."""
    step = 10 ** math.floor(math.log10(max(end, 1e-3) / 6))
    step *= next(m for m in (1, 2, 5, 10) if end / (step * m) <= 6)
    return np.arange(0, end + 1e-9, step)


def _finite_runs(row: np.ndarray) -> list[np.ndarray]:
    """Index runs of consecutive finite values."""
    finite = np.flatnonzero(np.isfinite(row))
    return np.split(finite, np.flatnonzero(np.diff(finite) > 1) + 1) if len(finite) else []


def _files(folder: Path) -> str:
    """A table linking every file in ``folder`` (and the report itself, which is being written)."""
    names = sorted({p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")} | {REPORT_NAME})
    rows = []
    for name in names:
        size = (folder / name).stat().st_size if (folder / name).is_file() else None
        link = f'<a href="{html.escape(name)}">{html.escape(name)}</a>'
        what = FILE_DESCRIPTIONS.get(name) or next((d for end, d in EXPORT_DESCRIPTIONS.items() if name.endswith(end)),
                                                   "")
        rows.append([link, "" if size is None else _size(size), what])
    return _grid(["file", "size", "what"], rows)


def _size(n: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError


def _num(value: float | None, fmt: str, unit: str = "") -> str:
    return "&ndash;" if value is None or not math.isfinite(value) else f"{value:{fmt}}{unit}"


def _hex(track_id: int) -> str:
    return "#%02x%02x%02x" % track_color(track_id)


def _table(rows: list[tuple[str, str]]) -> str:
    return "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def _grid(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="grid"><tr>{head}</tr>{body}</table>'


def _page(title: str, body: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<link rel="icon" href="data:,">
<style>
  body {{ font: 15px/1.45 sans-serif; max-width: 980px; margin: 24px auto; padding: 0 16px; color: #222; }}
  table {{ border-collapse: collapse; margin: 8px 0 16px; }}
  th, td {{ text-align: left; padding: 3px 12px 3px 0; vertical-align: top; }}
  table.grid th, table.grid td {{ border-bottom: 1px solid #ddd; padding: 4px 10px; }}
  .swatch {{ display: inline-block; width: 11px; height: 11px; margin-right: 6px; }}
  table.grid td:first-child {{ white-space: nowrap; }}
  svg.plot text {{ font-size: 11px; fill: #444; }}
  video {{ max-width: 100%; margin-top: 12px; }}
</style>
</head>
<body>
{body}
</body>
</html>
"""
