"""Exports of a run's people, fitted to skeletons, for animation and biomechanics tools.

`export_run` fits every person of a `monocap run` output
(`monocap.fit.skeleton.fit_run`) and writes, per person with track id ID:

==================  ===========  ================================================================
file                format       what
==================  ===========  ================================================================
personID.bvh        ``bvh``      the skeletal motion (`monocap.io.bvh.write_bvh`): H36M-17 tree,
                                 root position + ZXY Euler angles, mm, Y up, Frame Time 1 / fps
personID.trc        ``trc``      the fitted joints as markers for OpenSim (`markers.write_trc`)
personID.c3d        ``c3d``      the same markers as C3D (`markers.write_c3d`)
personID_angles.csv ``csv``      joint angles per frame, degrees (`monocap.fit.angles`)
personID_angles.png ``csv``      a plot of those curves
==================  ===========  ================================================================

All in the fitted world frame: Y up, floor at y = 0, millimetres. Time: the
first frame of every file is the person's first frame in the video
(``first_frame``, 0-based); TRC and C3D number frames from 1 over the whole
video and the CSV gives the video frame and time of each row, while BVH,
which has no start time, begins at that frame. Each file appears complete or
not at all.
"""
from __future__ import annotations

from typing import Iterable

FORMATS = ("bvh", "trc", "c3d", "csv")


def parse_formats(text: str) -> tuple[str, ...]:
    """``"bvh,trc"`` → ("bvh", "trc"); ValueError naming anything that is not one of `FORMATS`."""
    return _checked(f.strip().lower() for f in text.split(",") if f.strip())


def _checked(formats: Iterable[str]) -> tuple[str, ...]:
    formats = tuple(dict.fromkeys(formats))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"unknown export format(s) {', '.join(map(repr, unknown)) or 'none given'}; "
                         f"choose from {','.join(FORMATS)}")
    return formats
