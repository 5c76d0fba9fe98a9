"""Precomputed 2D keypoints as a frame source: COCO JSON, OpenPose JSON folders, lift-contract npz.

`read_keypoint_file` reads any of them into a `KeypointTrack`, a sequence of
per-frame `Detections2D` like the detectors return:

- COCO keypoint JSON, either an annotation file (a dict with
  ``annotations``, grouped into frames by ``image_id`` in the order of its
  ``images`` section, which also gives each frame's size) or a results file
  (a list of ``{"image_id", "keypoints", "score"}``, frames in image_id
  order). ``keypoints`` is [x, y, v] * 17; in annotations v is 0 (not
  labelled), 1 (labelled, hidden) or 2 (visible) and becomes score 0 or 1;
  in results it is the joint's confidence.
- an OpenPose output folder: one ``*_keypoints.json`` per frame (in
  natural order of the names), people's ``pose_keypoints_2d`` in the BODY_25
  or COCO-18 layout, mapped to COCO-17. A single such file is one frame.
- a ``monocap lift`` input ``.npz`` (see `monocap.lift.contract`): keypoints
  (T, J, 2) or (P, T, J, 2); person p of the file keeps track id p.

Anything malformed raises a one-line ValueError naming the file.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, NamedTuple, NoReturn

import numpy as np

from ..lift.contract import read_lift_input
from ..skeleton import COCO17
from .base import Detections2D

# OpenPose's keypoint layouts (its own names), and where each COCO-17 joint sits in them.
OPENPOSE_BODY25 = ("nose", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist",
                   "mid_hip", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "r_eye", "l_eye",
                   "r_ear", "l_ear", "l_big_toe", "l_small_toe", "l_heel", "r_big_toe", "r_small_toe", "r_heel")
OPENPOSE_COCO18 = ("nose", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist",
                   "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "r_eye", "l_eye", "r_ear", "l_ear")
_OPENPOSE_TO_COCO17 = {len(layout): [layout.index(j) for j in COCO17.joints]
                       for layout in (OPENPOSE_BODY25, OPENPOSE_COCO18)}
_NO_TRACK = -1


class _Person(NamedTuple):
    """One person as a file gives it: keypoints (17, 2) px, scores (17,), box x0, y0, x1, y1 px (None:
    around the found joints), box score (None: their mean score), the file's track id."""

    keypoints: np.ndarray
    scores: np.ndarray
    box: np.ndarray | None
    box_score: float | None
    track_id: int


@dataclass(frozen=True)
class KeypointTrack:
    """Keypoints read from a file, frame by frame.

    frames: one `Detections2D` per frame (people without any found joint in
        a frame are left out of it).
    track_ids: per frame, (N,) int64 the file's identity of each person, -1
        where the format has none.
    frame_names: per frame, the file's name for it (image_id, file stem or index).
    fps: frames per second when the file says, else None.
    source: the file or folder read.
    """

    frames: tuple[Detections2D, ...]
    track_ids: tuple[np.ndarray, ...]
    frame_names: tuple[str, ...]
    joint_format: str
    fps: float | None
    source: str

    def __len__(self) -> int:
        return len(self.frames)

    def __iter__(self) -> Iterator[Detections2D]:
        return iter(self.frames)

    def __getitem__(self, index: int) -> Detections2D:
        return self.frames[index]


def read_keypoint_file(path: str | Path, image_size: tuple[int, int] | None = None) -> KeypointTrack:
    """Read precomputed keypoints (format chosen by what ``path`` is, see the module docstring).

    image_size: (width, height) of the frames, needed where the file does not
    say (OpenPose, COCO results); it overrides the sizes a file gives.
    """
    path = Path(path)
    if path.is_dir():
        return _read_openpose_folder(path, image_size)
    if not path.is_file():
        raise ValueError(f"{path}: no such file or folder")
    if path.suffix.lower() == ".npz":
        return _read_npz(path, image_size)
    if path.suffix.lower() == ".json":
        data = _load_json(path)
        if isinstance(data, dict) and "people" in data:
            size = _required_size(path, image_size)
            return _track([_openpose_frame(path, data, size)], [path.stem], path)
        return _read_coco(path, data, image_size)
    raise ValueError(f"{path}: unknown keypoint file type; expected COCO or OpenPose .json, a lift-contract "
                     ".npz or an OpenPose output folder")


def _fail(path: Path, problem: str) -> NoReturn:
    raise ValueError(f"{path}: {problem}")


def _load_json(path: Path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        _fail(path, f"not valid JSON ({err})")


def _required_size(path: Path, image_size) -> tuple[int, int]:
    if image_size is None:
        _fail(path, "the file does not give the image size; pass image_size=(width, height)")
    width, height = (int(v) for v in image_size)
    if width <= 0 or height <= 0:
        _fail(path, f"image_size must be positive (width, height), got {image_size}")
    return width, height


def _track(frames: list[tuple[Detections2D, np.ndarray]], names, path: Path) -> KeypointTrack:
    """A COCO-17 track from (detections, track ids) per frame, of a file that gives no frame rate."""
    return KeypointTrack(tuple(d for d, _ in frames), tuple(ids for _, ids in frames), tuple(str(n) for n in names),
                         COCO17.name, None, str(path))


def _xyv(path: Path, values, n_joints_options, what: str) -> np.ndarray:
    """A flat [x, y, v] * J list → (J, 3) float64, J one of ``n_joints_options``."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        _fail(path, f"{what} must be a list of numbers")
    if arr.ndim != 1 or arr.size % 3 or arr.size // 3 not in n_joints_options:
        counts = " or ".join(str(3 * n) for n in n_joints_options)
        _fail(path, f"{what} must hold {counts} numbers ([x, y, score] per joint), got {arr.size}")
    if not np.isfinite(arr).all():
        _fail(path, f"{what} has NaN or infinite values")
    return arr.reshape(-1, 3)


# --- COCO ---------------------------------------------------------------------------------------

def _read_coco(path: Path, data, image_size) -> KeypointTrack:
    if isinstance(data, dict):
        if "annotations" not in data:
            _fail(path, "a COCO keypoint file needs an 'annotations' list (or be a list of results)")
        people, images, is_results = data["annotations"], data.get("images"), False
    elif isinstance(data, list):
        people, images, is_results = data, None, True
    else:
        _fail(path, "not a COCO keypoint file (expected a dict with 'annotations' or a list of results)")
    if not isinstance(people, list):
        _fail(path, "'annotations' must be a list")

    sizes = {}
    for i, img in enumerate(images or []):
        try:
            sizes[img["id"]] = (int(img["width"]), int(img["height"]))
        except (KeyError, TypeError, ValueError):
            _fail(path, f"images[{i}] needs 'id', 'width' and 'height'")

    by_image: dict = {}
    for i, person in enumerate(people):
        if not isinstance(person, dict) or "image_id" not in person or "keypoints" not in person:
            _fail(path, f"entry {i} needs 'image_id' and 'keypoints'")
        if person.get("category_id", 1) != 1 or person.get("iscrowd", 0):
            continue
        xyv = _xyv(path, person["keypoints"], (len(COCO17),), f"entry {i} 'keypoints'")
        scores = np.clip(xyv[:, 2], 0, 1) if is_results else (xyv[:, 2] > 0).astype(np.float64)
        if not scores.any():
            continue
        box = _coco_box(path, person.get("bbox"), i)
        try:
            box_score = None if "score" not in person else float(person["score"])
            track_id = int(person.get("track_id", _NO_TRACK))
        except (TypeError, ValueError):
            _fail(path, f"entry {i} 'score' and 'track_id' must be numbers")
        by_image.setdefault(person["image_id"], []).append(_Person(xyv[:, :2], scores, box, box_score, track_id))

    image_ids = list(sizes) if images is not None else sorted(by_image, key=_natural_key)
    missing = [i for i in by_image if i not in sizes] if images is not None else []
    if missing:
        _fail(path, f"keypoints for image_id {missing[0]!r}, which the 'images' section does not list")
    frames = []
    for image_id in image_ids:
        size = sizes[image_id] if image_size is None and image_id in sizes else _required_size(path, image_size)
        frames.append(_frame(by_image.get(image_id, []), size))
    return _track(frames, image_ids, path)


def _coco_box(path: Path, bbox, index: int) -> np.ndarray | None:
    """COCO's [x, y, width, height] → x0, y0, x1, y1, or None when the entry has no box."""
    if bbox is None:
        return None
    try:
        x, y, w, h = (float(v) for v in bbox)
    except (TypeError, ValueError):
        _fail(path, f"entry {index} 'bbox' must be 4 numbers [x, y, width, height]")
    return np.array([x, y, x + w, y + h])


def _frame(people: list[_Person], size: tuple[int, int]) -> tuple[Detections2D, np.ndarray]:
    """The people of one frame → its detections and their track ids."""
    if not people:
        return Detections2D.empty(COCO17.name, size), np.zeros(0, np.int64)
    around = Detections2D.from_keypoints(np.stack([p.keypoints for p in people]),
                                         np.stack([p.scores for p in people]), COCO17.name, size)
    boxes = [around.boxes_px[i] if p.box is None else p.box for i, p in enumerate(people)]
    box_scores = [around.box_scores[i] if p.box_score is None else p.box_score for i, p in enumerate(people)]
    dets = Detections2D(around.keypoints_px, around.scores, np.stack(boxes), np.clip(box_scores, 0, 1),
                        COCO17.name, size)
    return dets, np.array([p.track_id for p in people], np.int64)


# --- OpenPose -----------------------------------------------------------------------------------

def _read_openpose_folder(folder: Path, image_size) -> KeypointTrack:
    files = sorted(folder.glob("*_keypoints.json"), key=lambda p: _natural_key(p.name))
    if not files:
        _fail(folder, "no OpenPose *_keypoints.json files in this folder")
    size = _required_size(folder, image_size)
    frames = [_openpose_frame(f, _load_json(f), size) for f in files]
    return _track(frames, [f.stem for f in files], folder)


def _openpose_frame(path: Path, data, size: tuple[int, int]) -> tuple[Detections2D, np.ndarray]:
    if not isinstance(data, dict) or not isinstance(data.get("people"), list):
        _fail(path, "not an OpenPose keypoint file (expected a dict with a 'people' list)")
    people = []
    for i, person in enumerate(data["people"]):
        if not isinstance(person, dict) or "pose_keypoints_2d" not in person:
            _fail(path, f"people[{i}] has no 'pose_keypoints_2d'")
        xyc = _xyv(path, person["pose_keypoints_2d"], tuple(_OPENPOSE_TO_COCO17),
                   f"people[{i}] 'pose_keypoints_2d'")
        coco = xyc[_OPENPOSE_TO_COCO17[len(xyc)]]
        # OpenPose writes (0, 0, 0) for a joint it did not find.
        scores = np.clip(coco[:, 2], 0, 1)
        if scores.any():
            people.append(_Person(coco[:, :2], scores, None, None, _NO_TRACK))
    return _frame(people, size)


# --- lift-contract npz --------------------------------------------------------------------------

def _read_npz(path: Path, image_size) -> KeypointTrack:
    inp = read_lift_input(path)
    if inp.joint_format not in ("coco17", "blazepose33"):
        _fail(path, f"{inp.joint_format} keypoints: `monocap run` tracks and draws COCO-17 or BlazePose-33 "
                    f"keypoints; lift these with `monocap lift {path} OUT.npz`")
    keypoints = inp.keypoints if inp.keypoints.ndim == 4 else inp.keypoints[None]
    scores = np.ones(keypoints.shape[:-1]) if inp.scores is None else \
        (inp.scores if inp.scores.ndim == 3 else inp.scores[None])
    size = inp.image_size if image_size is None else _required_size(path, image_size)
    frames, track_ids = [], []
    for t in range(keypoints.shape[1]):
        present = np.flatnonzero(scores[:, t].any(axis=1))
        frames.append(Detections2D.from_keypoints(keypoints[present, t], scores[present, t], inp.joint_format, size))
        track_ids.append(present.astype(np.int64))
    return KeypointTrack(tuple(frames), tuple(track_ids), tuple(str(t) for t in range(len(frames))),
                         inp.joint_format, inp.fps, str(path))


def _natural_key(name) -> list:
    """Sort key that puts frame_2 before frame_10."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", str(name))]
