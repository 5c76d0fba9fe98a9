"""Exports of a run's people, fitted to skeletons, for animation and biomechanics tools.

`export_run` fits every person of a `monocap run` output
(`monocap.fit.skeleton.fit_run`) and writes, per person with track id ID:

==================  ===========  ================================================================
file                format       what
==================  ===========  ================================================================
personID.bvh        ``bvh``      the skeletal motion (`monocap.io.bvh.write_bvh`): RIG21 tree (H36M-17 + collars),
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

from pathlib import Path
from typing import Iterable

from tqdm import tqdm

from ..fit.angles import joint_angles
from ..fit.skeleton import FitConfig, FittedPerson, fit_run
from ..io.bvh import write_bvh
from ..io.results import RunResult
from ..skeleton import H36M17
from .angles_table import plot_angles, write_angles_csv
from .markers import write_c3d, write_trc

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


def export_person(person: FittedPerson, folder: str | Path, formats: Iterable[str] = FORMATS,
                  title: str = "") -> list[Path]:
    """Write one fitted person's files (see the module docstring) into ``folder``; returns their paths."""
    formats, folder = _checked(formats), Path(folder)
    stem = f"person{person.track_id}"
    names = list(H36M17.joints)
    written = []
    for fmt in formats:
        if fmt == "bvh":
            written.append(write_bvh(person.motion, folder / f"{stem}.bvh"))
        elif fmt == "trc":
            written.append(write_trc(folder / f"{stem}.trc", names, person.positions_world_mm, person.fps,
                                     person.first_frame))
        elif fmt == "c3d":
            written.append(write_c3d(folder / f"{stem}.c3d", names, person.positions_world_mm, person.fps,
                                     person.first_frame))
        elif fmt == "csv":
            angles = joint_angles(person.positions_world_mm, person.fps, person.first_frame)
            written.append(write_angles_csv(angles, folder / f"{stem}_angles.csv"))
            written.append(plot_angles(angles, folder / f"{stem}_angles.png", title or f"person {person.track_id}"))
    return written


def export_run(result: RunResult, folder: str | Path, formats: Iterable[str] = FORMATS,
               config: FitConfig = FitConfig(), progress: bool = False,
               people: list[FittedPerson] | None = None) -> list[Path]:
    """Fit every person of ``result`` and write their files into ``folder`` (made if missing); returns the paths.

    Every person is fitted before the first file (or the folder) is written,
    so a failure in fitting leaves nothing behind. ``people``: ``result``'s
    people fitted already (`fit_run`), to write instead of fitting again.
    """
    formats = _checked(formats)
    people = fit_run(result, config) if people is None else people
    folder = Path(folder)
    if people:
        folder.mkdir(parents=True, exist_ok=True)
    name = Path(result.source).name
    written = []
    for person in tqdm(people, desc="export", unit="person", disable=not progress, leave=False):
        written += export_person(person, folder, formats, f"person {person.track_id}" + (f", {name}" if name else ""))
    return written
