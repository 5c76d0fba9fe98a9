"""Joint angle curves (`monocap.fit.angles.JointAngles`) as a CSV table and a PNG plot."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..fit.angles import JointAngles
from ..io.atomic import atomic_output

# One panel per quantity; right side solid, left side dashed.
_PANELS = (
    ("trunk lean and rotation", ("trunk_forward_lean", "trunk_sideways_lean", "trunk_rotation")),
    ("hip flexion", ("r_hip_flexion", "l_hip_flexion")),
    ("hip adduction", ("r_hip_adduction", "l_hip_adduction")),
    ("hip internal rotation", ("r_hip_internal_rotation", "l_hip_internal_rotation")),
    ("knee flexion", ("r_knee_flexion", "l_knee_flexion")),
    ("shoulder elevation", ("r_shoulder_elevation", "l_shoulder_elevation")),
    ("shoulder flexion", ("r_shoulder_flexion", "l_shoulder_flexion")),
    ("shoulder abduction", ("r_shoulder_abduction", "l_shoulder_abduction")),
    ("shoulder internal rotation", ("r_shoulder_internal_rotation", "l_shoulder_internal_rotation")),
    ("elbow flexion", ("r_elbow_flexion", "l_elbow_flexion")),
)


def write_angles_csv(angles: JointAngles, path: str | Path) -> Path:
    """One row per frame: ``frame`` (0-based, of the video), ``time_s``, then ``<angle>_deg`` per angle.

    Undefined values are empty fields. Degrees with 2 decimals. Returns ``path``.
    """
    path = Path(path)
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["frame", "time_s"] + [f"{name}_deg" for name in angles.names])
        for frame, time_s, row in zip(angles.frames, angles.times_s, angles.degrees):
            out.writerow([int(frame), f"{time_s:.6f}"] + ["" if np.isnan(v) else f"{v:.2f}" for v in row])
    return path


def plot_angles(angles: JointAngles, path: str | Path, title: str = "") -> Path:
    """A PNG of every angle curve over time (seconds), one panel per quantity. Returns ``path``."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    path = Path(path)
    columns = 2
    rows = (len(_PANELS) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(12, 2.3 * rows), sharex=True, squeeze=False)
    try:
        for ax, (label, names) in zip(axes.flat, _PANELS):
            for name in names:
                style = "--" if name.startswith("l_") else "-"
                ax.plot(angles.times_s, angles[name], style, linewidth=1.2, label=name)
            ax.set_title(label, fontsize=10)
            ax.set_ylabel("degrees")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, loc="upper right")
        for ax in axes.flat[len(_PANELS):]:
            ax.set_visible(False)
        for ax in axes[-1]:
            ax.set_xlabel("time (s)")
        if title:
            figure.suptitle(title)
        # Fixed margins: tight_layout would measure every label first, which doubles the time.
        figure.subplots_adjust(left=0.07, right=0.98, bottom=0.06, top=0.93, hspace=0.35, wspace=0.15)
        with atomic_output(path) as tmp:
            figure.savefig(tmp, format="png", dpi=100)
    finally:
        plt.close(figure)
    return path
