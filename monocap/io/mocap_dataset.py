"""Open mocap (CMU, HDM05) as MOCAP22 joint sequences, with a fixed train/test split.

Layout under the mocap root (``shared/data/mocap``; a user's copy may hold
more or fewer files in the same places)::

    cmu_bvh/iclone_subjects/<subject>/<subject>_<trial>.bvh[.gz]   + fps.csv
    cmu_bvh/<style>/<take>.bvh[.gz]                  (salsa, martial, indian)
    cmu_asfamc/<subject>/<subject>.asf, <subject>_<trial>.amc[.gz]
    hdm05/{train,test}/<class>/HDM_<actor>.asf, HDM_<actor>_*.amc[.gz]

Frame rates. AMC files carry none: CMU and HDM05 record at 120 Hz. The
iclone BVH files are at 60 Hz, as their Frame Time says: ``fps.csv`` gives
each take's capture rate ("framerate", 120) and, in "Frames 60fps", the
frame count of the 60 Hz version these files are (CMU 02_01.amc has 343
frames at 120 Hz, the iclone 002_01 has 171, and walking speeds come out at
1.3-1.5 m/s only at 60 Hz). The salsa BVH files say 120 Hz but CMU recorded
salsa (subjects 60, 61) at 60 Hz; martial and indian are at 120 Hz as stated.

Conversion faults. The CMU-style BVH files (salsa, martial, indian, iclone
subject 7 from take 3 on) start with a T-pose that blends into the motion
over a few frames; a few BVH clips have frames where a limb flickers
(iclone 005, indian 07, salsa 09/10/13/15), the head is upside down (salsa
06 throughout, 07 in part) or the hips turn 90-140 degrees away from the
shoulders (iclone 005_16, during a spin). `load_clip` returns a file as it is;
`load_open_mocap` keeps only the stretches free of these faults.
"""
from __future__ import annotations

import csv
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..skeleton import MOCAP22
from .asfamc import read_amc, read_asf
from .bvh import read_bvh
from .motion import file_stem, interpolate_times
from .rigs import to_mocap22

AMC_FPS = 120.0
# BVH folders whose Frame Time is wrong, and their true rate.
_FOLDER_FPS = {"salsa": 60.0}
# Joint speeds relative to the pelvis. Clean clips (CMU 02 ASF, HDM05,
# martial) stay below 13.4 m/s, the kicks included; conversion glitches jump
# at 17-70 m/s. A take's first frames move slowly, so there a lower bar
# catches the blend out of the T-pose.
_GLITCH_SPEED_MM_S = 15000.0
_LEAD_IN_SPEED_MM_S = 8000.0
_LEAD_IN_MAX_FRAMES = 10
# The head (neck_nose -> head) points more than 120 degrees away from the torso's up.
_HEAD_INVERTED_COS = -0.5
# The hip line and the shoulder line more than 90 degrees apart (a trunk turns < 60).
_TWISTED_COS = 0.0
_MIN_SEGMENT_S = 0.4
# The code that shapes the cached arrays: editing it invalidates old caches.
_CACHED_CODE = ("io/motion.py", "io/bvh.py", "io/asfamc.py", "io/rigs.py", "io/mocap_dataset.py",
                "skeleton.py")
# CMU takes held out for testing (see `load_open_mocap`), by `MocapClip.subject`.
_CMU_TEST_SUBJECTS = {"7", "salsa/14", "salsa/15", "martial/10", "indian/15"}


@dataclass
class MocapClip:
    """One mocap take as MOCAP22 joints."""

    name: str
    """Folder and file stem, e.g. "salsa/01" or "02/02_01"."""
    source: str
    """"cmu" or "hdm05"."""
    subject: str
    """Who performs: CMU subject number ("2"), HDM05 actor ("bd"); for the CMU style
    folders, whose files do not carry the subject, folder and take ("salsa/15";
    salsa takes N and N+15 are the two partners of one dance and share it)."""
    fps: float
    joints_world_mm: np.ndarray
    """(T, 22, 3) float32, MOCAP22 order, Y-up world, mm."""


def load_clip(path: str | Path, fps: float | None = None, asf: str | Path | None = None) -> MocapClip:
    """Load a .bvh or .amc file (plain or .gz) as MOCAP22 joints at its own frame rate.

    fps: overrides the frame rate (see the module docstring for the defaults).
    asf: the skeleton of an .amc file; by default the .asf in the same folder
    whose name starts the .amc's name ("02.asf" for "02_01.amc").
    """
    path = Path(path)
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".bvh"):
        motion = read_bvh(path)
        motion.fps = fps or _bvh_fps(path, motion.num_frames) or motion.fps
    elif name.endswith(".amc"):
        motion = read_amc(path, read_asf(asf or _find_asf(path)), fps=fps or AMC_FPS)
    else:
        raise ValueError(f"{path}: not a .bvh or .amc file")
    source, subject = _source_subject(path)
    return MocapClip(name=f"{path.parent.name}/{file_stem(path)}", source=source, subject=subject,
                     fps=motion.fps, joints_world_mm=to_mocap22(motion))


def load_open_mocap(root: str | Path, split: str = "train", fps: float = 50.0,
                    cache_dir: str | Path | None = None) -> list[MocapClip]:
    """All CMU and HDM05 clips of one split, resampled to `fps`, cached on disk.

    split: "train", "test" or "all". The rule:
    - HDM05: its own ``train``/``test`` folders (actors bd, bk, dg / mm, tr).
    - CMU: whole subjects or takes are held out: test = iclone subject 7, salsa
      takes 14 and 15 (both partners: files 14, 15, 29, 30), martial 10 and
      indian 15; all else is train. Subject 2 exists both as ASF/AMC and as
      iclone BVH (the same takes): only the ASF/AMC copy is loaded, in train.
    Clips are cut into their fault-free stretches of at least 0.4 s (see
    the module docstring; a clip cut in several is named "<name>#<k>") and
    resampled by linear interpolation of positions. The cache
    (`cache_dir`, default ``~/.cache/monocap/mocap``) is keyed by the files'
    paths, sizes and modification times, `fps` and the source of the modules
    that produce the arrays.
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', not {split!r}")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: mocap folder not found")
    files = [p for p in _clip_files(root) if split == "all" or _split_of(root, p) == split]
    cache = Path(cache_dir or Path.home() / ".cache" / "monocap" / "mocap")
    cache_file = cache / f"mocap_{split}_{_cache_key(root, files, fps)}.npz"
    if cache_file.is_file():
        return _read_cache(cache_file)
    clips = []
    for path in files:
        for piece in fault_free_pieces(load_clip(path)):
            piece.joints_world_mm = resample(piece.joints_world_mm, piece.fps, fps)
            piece.fps = fps
            clips.append(piece)
    _write_cache(cache_file, clips)
    return clips


def resample(joints: np.ndarray, fps_in: float, fps_out: float) -> np.ndarray:
    """Linearly interpolate (T, ...) frames from `fps_in` to `fps_out`, keeping the dtype."""
    if fps_in == fps_out or len(joints) < 2:
        return joints
    t_in = np.arange(len(joints)) / fps_in
    return interpolate_times(joints, t_in, np.arange(0.0, t_in[-1] + 1e-9, 1.0 / fps_out)).astype(joints.dtype)


def fault_free_pieces(clip: MocapClip) -> list[MocapClip]:
    """The stretches of `clip` without conversion faults, each at least `_MIN_SEGMENT_S` long."""
    x = clip.joints_world_mm
    pose = x - x[:, :1]
    speed = np.linalg.norm(np.diff(pose, axis=0), axis=-1).max(axis=1) * clip.fps
    ok = np.ones(len(x), dtype=bool)
    glitch = speed > _GLITCH_SPEED_MM_S
    ok[:-1] &= ~glitch
    ok[1:] &= ~glitch
    lead_in = np.nonzero(speed[:_LEAD_IN_MAX_FRAMES] > _LEAD_IN_SPEED_MM_S)[0]
    if len(lead_in):
        ok[:lead_in[-1] + 1] = False
    torso = x[:, MOCAP22.index("thorax")] - x[:, MOCAP22.index("pelvis")]
    head = x[:, MOCAP22.index("head")] - x[:, MOCAP22.index("neck_nose")]
    cos = (torso * head).sum(-1) / (np.linalg.norm(torso, axis=-1) * np.linalg.norm(head, axis=-1) + 1e-9)
    ok &= cos > _HEAD_INVERTED_COS
    hips = x[:, MOCAP22.index("l_hip")] - x[:, MOCAP22.index("r_hip")]
    shoulders = x[:, MOCAP22.index("l_shoulder")] - x[:, MOCAP22.index("r_shoulder")]
    ok &= (hips * shoulders).sum(-1) > _TWISTED_COS

    edges = np.flatnonzero(np.diff(np.concatenate([[0], ok.astype(int), [0]])))
    runs = [(a, b) for a, b in zip(edges[::2], edges[1::2]) if b - a >= _MIN_SEGMENT_S * clip.fps]
    return [MocapClip(name=clip.name if len(runs) == 1 else f"{clip.name}#{k}", source=clip.source,
                      subject=clip.subject, fps=clip.fps, joints_world_mm=x[a:b])
            for k, (a, b) in enumerate(runs)]


def _clip_files(root: Path) -> list[Path]:
    """Every clip under the mocap root, in a fixed order, without duplicate takes."""
    amc_subjects = {_subject_number(p.name) for p in (root / "cmu_asfamc").glob("*") if p.is_dir()}
    files = []
    for pattern in ("cmu_bvh/*/*.bvh*", "cmu_bvh/*/*/*.bvh*"):
        for path in sorted(root.glob(pattern)):
            source, subject = _source_subject(path)
            if path.parent.name.isdigit() and subject in amc_subjects:
                continue  # the same takes are loaded from cmu_asfamc
            files.append(path)
    for pattern in ("cmu_asfamc/*/*.amc*", "hdm05/*/*/*.amc*"):
        files.extend(sorted(root.glob(pattern)))
    return files


def _split_of(root: Path, path: Path) -> str:
    parts = path.relative_to(root).parts
    if parts[0] == "hdm05":
        return parts[1]
    return "test" if _source_subject(path)[1] in _CMU_TEST_SUBJECTS else "train"


def _source_subject(path: Path) -> tuple[str, str]:
    """(source, subject) from a clip's path alone (see `MocapClip.subject`)."""
    stem = file_stem(path)
    if stem.startswith("HDM_"):
        return "hdm05", stem.split("_")[1]
    folder = path.parent.name
    if folder.isdigit():  # cmu_asfamc/02/02_01 or iclone_subjects/007/007_01
        return "cmu", _subject_number(folder)
    if folder == "salsa" and stem.isdigit() and int(stem) > 15:
        stem = f"{int(stem) - 15:02d}"  # CMU subjects 60 and 61 dance together: N and N+15 are one take
    return "cmu", f"{folder}/{stem}"


def _subject_number(name: str) -> str:
    return str(int(name)) if name.isdigit() else name


def _bvh_fps(path: Path, num_frames: int) -> float | None:
    """The true frame rate of a BVH file whose Frame Time is wrong, or None."""
    table = path.parent.parent / "fps.csv"
    if not table.is_file():
        return _FOLDER_FPS.get(path.parent.name)
    subject, _, trial = file_stem(path).partition("_")
    with open(table, newline="") as f:
        for row in csv.DictReader(f):
            if row["Subject"] == _subject_number(subject) and row["Trial #"] == _subject_number(trial):
                frames_60 = row.get("Frames 60fps", "")
                if frames_60.isdigit() and int(frames_60) == num_frames:
                    return 60.0
                return float(row["framerate"]) if row.get("framerate") else None
    return None


def _find_asf(amc: Path) -> Path:
    stem = file_stem(amc)
    candidates = [p for p in amc.parent.glob("*.asf") if stem.startswith(p.stem + "_")]
    if not candidates:
        raise FileNotFoundError(f"{amc}: no .asf skeleton in its folder whose name starts the file name")
    return max(candidates, key=lambda p: len(p.stem))


def _cache_key(root: Path, files: list[Path], fps: float) -> str:
    h = hashlib.sha1(f"fps={fps}".encode())
    package = Path(__file__).resolve().parents[1]
    for module in _CACHED_CODE:
        h.update((package / module).read_bytes())
    for path in files:
        st = path.stat()
        h.update(f"|{path.relative_to(root)}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def _write_cache(path: Path, clips: list[MocapClip]):
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target and rename, so a reader never sees half a file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
    with os.fdopen(fd, "wb") as f:
        np.savez(f, joints=np.concatenate([c.joints_world_mm for c in clips]) if clips
                 else np.zeros((0, 22, 3), np.float32),
                 lengths=np.array([len(c.joints_world_mm) for c in clips], dtype=np.int64),
                 names=np.array([c.name for c in clips], dtype=str),
                 sources=np.array([c.source for c in clips], dtype=str),
                 subjects=np.array([c.subject for c in clips], dtype=str),
                 fps=np.array([c.fps for c in clips], dtype=np.float64))
    os.replace(tmp, path)


def _read_cache(path: Path) -> list[MocapClip]:
    with np.load(path, allow_pickle=False) as data:
        starts = np.concatenate([[0], np.cumsum(data["lengths"])])
        joints = data["joints"]
        return [MocapClip(name=str(n), source=str(s), subject=str(subj), fps=float(f),
                          joints_world_mm=joints[a:b])
                for n, s, subj, f, a, b in zip(data["names"], data["sources"], data["subjects"],
                                               data["fps"], starts[:-1], starts[1:])]
