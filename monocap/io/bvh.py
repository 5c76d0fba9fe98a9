"""BVH (Biovision hierarchy) reader: any rig, any channel order, plain or gzipped.

Channel semantics follow common practice: rotation channels compose in the
order listed (``Zrotation Xrotation Yrotation`` gives Rz @ Rx @ Ry), and
position channels, on the root or any other joint, replace the matching
components of the joint's rest offset rather than adding to them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .motion import Motion, euler_to_matrix, file_stem, read_text

UNIT_TO_MM = {"mm": 1.0, "cm": 10.0, "m": 1000.0}
# A person's longest bone path (toe to fingertip, or fingertip to fingertip)
# is 1.5-3 m; "auto" picks the unit that brings a rig's longest path nearest this.
_TYPICAL_LONGEST_PATH_MM = 2000.0


@dataclass
class _Joint:
    name: str
    parent: int
    offset: np.ndarray  # (3,) file units
    channels: list[str] = field(default_factory=list)
    end_site: bool = False


def read_bvh(path: str | Path, unit: str = "auto", fps: float | None = None) -> Motion:
    """Read a BVH file (plain or .gz) into a `Motion` in millimetres.

    unit: the file's length unit, "cm", "m", "mm", or "auto" to guess it from
    the size of the skeleton. fps: overrides the file's ``Frame Time`` (some
    converters write a wrong one). Raises ValueError naming the file when it
    is malformed.
    """
    path = Path(path)
    text = read_text(path)
    head, sep, body = text.partition("MOTION")
    if not sep:
        raise ValueError(f"{path}: no MOTION section")
    joints = _parse_hierarchy(path, head.split())
    num_frames, frame_time, values = _parse_motion(path, body, sum(len(j.channels) for j in joints))

    parents = np.array([j.parent for j in joints])
    offsets = np.array([j.offset for j in joints])
    if unit == "auto":
        unit = guess_unit(parents, offsets)
    if unit not in UNIT_TO_MM:
        raise ValueError(f"unit must be 'auto' or one of {sorted(UNIT_TO_MM)}, not {unit!r}")
    scale = UNIT_TO_MM[unit]

    rotations = np.broadcast_to(np.eye(3), (num_frames, len(joints), 3, 3)).copy()
    translations = {}
    column = 0
    for j, joint in enumerate(joints):
        cols = values[:, column:column + len(joint.channels)]
        column += len(joint.channels)
        rot = [(k, c[0]) for k, c in enumerate(joint.channels) if c.endswith("rotation")]
        if rot:
            idx, axes = zip(*rot)
            rotations[:, j] = euler_to_matrix(np.deg2rad(cols[:, list(idx)]), "".join(axes))
        pos = [(k, "XYZ".index(c[0])) for k, c in enumerate(joint.channels) if c.endswith("position")]
        if pos:
            translation = np.repeat(joint.offset[None] * scale, num_frames, axis=0)
            for k, axis in pos:
                translation[:, axis] = cols[:, k] * scale
            translations[j] = translation
    root_positions = translations.pop(0, np.repeat(joints[0].offset[None] * scale, num_frames, axis=0))

    if fps is None:
        if frame_time <= 0:
            raise ValueError(f"{path}: Frame Time {frame_time} is not positive; pass fps=")
        fps = 1.0 / frame_time
    moving = sorted(translations)
    return Motion(
        name=file_stem(path),
        joint_names=[j.name for j in joints],
        parents=parents,
        offsets_mm=offsets * scale,
        is_end_site=np.array([j.end_site for j in joints]),
        local_rotations=rotations,
        root_positions_mm=root_positions,
        fps=float(fps),
        translated_joints=np.array(moving, dtype=int),
        local_translations_mm=np.stack([translations[j] for j in moving], axis=1) if moving else None,
    )


def guess_unit(parents: np.ndarray, offsets: np.ndarray) -> str:
    """The unit ("m", "cm" or "mm") that makes the skeleton human-sized.

    Uses the longest path between two joints along the bones, which does not
    depend on the rest pose (some rigs' rest pose is not a standing one).
    """
    lengths = np.linalg.norm(offsets, axis=1)
    depth = np.zeros(len(parents))  # longest path from each joint down to a leaf
    longest = 0.0
    for j in range(len(parents) - 1, 0, -1):
        p = parents[j]
        reach = depth[j] + lengths[j]
        longest = max(longest, depth[p] + reach)
        depth[p] = max(depth[p], reach)
    return min(UNIT_TO_MM, key=lambda u: abs(math.log(max(longest, 1e-9) * UNIT_TO_MM[u]
                                                     / _TYPICAL_LONGEST_PATH_MM)))


def _parse_hierarchy(path: Path, tokens: list[str]) -> list[_Joint]:
    """Joints in file order (parents before children) from the HIERARCHY tokens."""
    joints: list[_Joint] = []
    pos = 0

    def take() -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise ValueError(f"{path}: HIERARCHY ends early")
        pos += 1
        return tokens[pos - 1]

    def expect(word: str):
        got = take()
        if got != word:
            raise ValueError(f"{path}: expected {word!r} in HIERARCHY, got {got!r}")

    def numbers(n: int) -> list[float]:
        try:
            return [float(take()) for _ in range(n)]
        except ValueError:
            raise ValueError(f"{path}: bad number near {tokens[pos - 1]!r} in HIERARCHY") from None

    def joint(name: str, parent: int):
        expect("{")
        expect("OFFSET")
        this = _Joint(name, parent, np.array(numbers(3)))
        joints.append(this)
        index = len(joints) - 1
        expect("CHANNELS")
        count = take()
        if not count.isdigit():
            raise ValueError(f"{path}: bad channel count {count!r} for joint {name!r}")
        this.channels = [take() for _ in range(int(count))]
        for c in this.channels:
            if c[1:] not in ("position", "rotation") or c[0] not in "XYZ":
                raise ValueError(f"{path}: unknown channel {c!r} for joint {name!r}")
        while (word := take()) != "}":
            if word == "JOINT":
                joint(take(), index)
            elif word == "End":
                expect("Site")
                expect("{")
                expect("OFFSET")
                joints.append(_Joint(f"{name}_end", index, np.array(numbers(3)), end_site=True))
                expect("}")
            else:
                raise ValueError(f"{path}: unexpected {word!r} in joint {name!r}")

    expect("HIERARCHY")
    expect("ROOT")
    joint(take(), -1)
    if pos != len(tokens):
        raise ValueError(f"{path}: unexpected {tokens[pos]!r} after the root joint")
    return joints


def _parse_motion(path: Path, body: str, num_channels: int) -> tuple[int, float, np.ndarray]:
    """(frame count, frame time, values (T, num_channels)) from the text after MOTION."""
    lines = body.strip().splitlines()
    if len(lines) < 2 or not lines[0].startswith("Frames:") or not lines[1].startswith("Frame Time:"):
        raise ValueError(f"{path}: MOTION must start with 'Frames:' and 'Frame Time:' lines")
    try:
        num_frames = int(lines[0].split(":")[1])
        frame_time = float(lines[1].split(":")[1])
    except ValueError:
        raise ValueError(f"{path}: bad 'Frames:' or 'Frame Time:' line") from None
    try:
        values = np.loadtxt(lines[2:], ndmin=2, dtype=np.float64)
    except ValueError as err:
        # numpy reports rows counted from the first motion line.
        raise ValueError(f"{path}: bad motion data: {err}") from None
    if values.shape[0] != num_frames:
        raise ValueError(f"{path}: header says {num_frames} frames but the file has {values.shape[0]}")
    if num_frames and values.shape[1] != num_channels:
        raise ValueError(f"{path}: the hierarchy has {num_channels} channels but motion rows have "
                         f"{values.shape[1]} values")
    return num_frames, frame_time, values.reshape(num_frames, num_channels)
