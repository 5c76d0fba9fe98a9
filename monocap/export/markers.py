"""Joint trajectories as marker files: TRC (OpenSim) and C3D (biomechanics software).

Both hold the same numbers: one virtual marker per joint, named after it,
millimetres, in the world frame the positions are given in (monocap's fitted
motion: Y up, floor at y = 0, which is also OpenSim's vertical axis). Frames
are numbered from 1 as both formats expect, counting from the first frame of
the video: a person who appears at video frame 40 (0-based) starts at frame
41, time 40 / fps. A NaN joint is a gap: empty fields in TRC, a negative
residual (the C3D mark for "invalid") in C3D.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_output


def _check(names, positions_mm: np.ndarray, fps: float) -> np.ndarray:
    positions_mm = np.asarray(positions_mm, dtype=np.float64)
    if positions_mm.ndim != 3 or positions_mm.shape[1:] != (len(names), 3):
        raise ValueError(f"positions must be (T, {len(names)}, 3) for {len(names)} marker names, "
                         f"got {positions_mm.shape}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, not {fps}")
    if len(positions_mm) == 0:
        raise ValueError("no frames to write")
    bad = [n for n in names if not n or any(c.isspace() for c in n)]
    if bad:
        raise ValueError(f"marker names cannot be empty or hold spaces: {bad}")
    return positions_mm


def write_trc(path: str | Path, names: list[str], positions_mm: np.ndarray, fps: float,
              first_frame: int = 0) -> Path:
    """Write an OpenSim TRC file (tab-separated text) of ``positions_mm`` (T, M, 3), one marker per name.

    Layout: ``PathFileType`` line; the ``DataRate CameraRate NumFrames
    NumMarkers Units OrigDataRate OrigDataStartFrame OrigNumFrames`` keys and
    their values; ``Frame# Time`` and the marker names (each over its three
    columns); ``X1 Y1 Z1 X2 ...``; a blank line; one row per frame.
    ``first_frame``: the 0-based video frame of the first row. Returns ``path``.
    """
    path = Path(path)
    positions = _check(names, positions_mm, fps)
    num_frames = len(positions)
    header = [
        f"PathFileType\t4\t(X/Y/Z)\t{path.name}",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
        f"{fps:g}\t{fps:g}\t{num_frames}\t{len(names)}\tmm\t{fps:g}\t{first_frame + 1}\t{num_frames}",
        "\t".join(["Frame#", "Time"] + [f"{n}\t\t" for n in names]).rstrip("\t"),
        "\t".join(["", ""] + [f"{axis}{i + 1}" for i in range(len(names)) for axis in "XYZ"]),
        "",
    ]
    frames = first_frame + np.arange(num_frames)
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(header) + "\n")
        for t in range(num_frames):
            values = ["" if not np.isfinite(v) else f"{v:.3f}" for v in positions[t].ravel()]
            f.write("\t".join([str(frames[t] + 1), f"{frames[t] / fps:.6f}"] + values) + "\n")
    return path


def write_c3d(path: str | Path, names: list[str], positions_mm: np.ndarray, fps: float,
              first_frame: int = 0) -> Path:
    """Write a C3D file (binary, 32-bit floats) of ``positions_mm`` (T, M, 3) with the `c3d` library.

    POINT:LABELS are the names, POINT:UNITS "mm", POINT:RATE ``fps``; the
    screen axes (POINT:X_SCREEN, Y_SCREEN) are +X and +Y, which tells
    viewers such as Mokka that Y is up. No analog channels. ``first_frame``:
    the 0-based video frame of the first point frame. Returns ``path``.
    """
    import c3d

    path = Path(path)
    positions = _check(names, positions_mm, fps)
    writer = c3d.Writer(point_rate=float(fps), analog_rate=0.0, point_scale=-1.0, point_units="mm  ")
    writer.set_point_labels(list(names))
    writer.set_screen_axis("+X", "+Y")
    writer.set_start_frame(first_frame + 1)
    no_analog = np.zeros((0, 0), dtype=np.float32)
    frames = []
    for frame in positions:
        # Columns: x, y, z, residual (-1: invalid; 0: valid, no residual known), camera mask.
        points = np.zeros((len(names), 5), dtype=np.float32)
        seen = np.isfinite(frame).all(axis=1)
        points[seen, :3] = frame[seen]
        points[~seen, 3] = -1.0
        frames.append((points, no_analog))
    writer.add_frames(frames)
    with atomic_output(path) as tmp, open(tmp, "wb") as f, warnings.catch_warnings():
        # The library warns that a file without analog channels has no analog data: that is the intent.
        warnings.simplefilter("ignore", UserWarning)
        writer.write(f)
    return path
