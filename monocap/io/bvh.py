"""BVH (Biovision hierarchy) reader and writer: any rig, any channel order, plain or gzipped.

Channel semantics follow common practice: rotation channels compose in the
order listed (``Zrotation Xrotation Yrotation`` gives Rz @ Rx @ Ry), and
position channels, on the root or any other joint, replace the matching
components of the joint's rest offset rather than adding to them.

`write_bvh` writes that same convention, which Blender's importer and most
animation tools share: Euler angles in degrees, by default in ``ZXY`` order
(the root's channels are ``Xposition Yposition Zposition Zrotation
Xrotation Yrotation``), lengths in millimetres unless told otherwise, the
Motion's own world axes (monocap's fitted motion: Y up, mm).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from .atomic import atomic_output
from .motion import Motion, euler_to_matrix, file_stem, read_text

UNIT_TO_MM = {"mm": 1.0, "cm": 10.0, "m": 1000.0}
# A person's longest bone path (toe to fingertip, or fingertip to fingertip)
# is 1.5-3 m; "auto" picks the unit that brings a rig's longest path nearest this.
_TYPICAL_LONGEST_PATH_MM = 2000.0
# A leaf joint that is not an end site still needs an End Site in BVH (and a
# bone tail in Blender): it continues the joint's bone by this fraction of its
# length, or goes this far up for a joint that sits on its parent.
_LEAF_TAIL_FRACTION = 0.5
_LEAF_TAIL_FALLBACK_MM = np.array([0.0, 100.0, 0.0])
# Fixed point (some BVH readers reject exponents): 1e-6 degrees, and 1e-3 mm even in metres.
_NUMBER_FORMAT = "%.6f"


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


def write_bvh(motion: Motion, path: str | Path, unit: str = "mm", rotation_order: str = "ZXY") -> Path:
    """Write ``motion`` as a BVH file that `read_bvh` and Blender read back to the same joint positions.

    unit: the file's length unit, "mm" (default), "cm" or "m".
    rotation_order: the Euler order of every joint's rotation channels, any
    order of "XYZ"; angles are unwrapped over time (no 359 -> 0 jumps), which
    leaves the rotations unchanged. The root gets position and rotation
    channels, joints with animated offsets (`Motion.translated_joints`)
    position channels too, other joints rotation channels only. Joints are
    written depth first; an end site becomes an ``End Site`` of its parent,
    and a leaf joint that is not an end site gets one continuing its bone by
    half its length (BVH needs one; it carries no data, and reads back as an
    extra joint ``<name>_end``). Frame Time is ``1 / motion.fps``.
    The file appears complete or not at all. Returns ``path``.
    """
    path = Path(path)
    if unit not in UNIT_TO_MM:
        raise ValueError(f"unit must be one of {sorted(UNIT_TO_MM)}, not {unit!r}")
    order = rotation_order.upper()
    if sorted(order) != ["X", "Y", "Z"]:
        raise ValueError(f"rotation_order must be an order of the axes XYZ, not {rotation_order!r}")
    bad = [n for n in motion.joint_names if not n or any(c.isspace() for c in n)]
    if bad:
        raise ValueError(f"{motion.name}: BVH joint names cannot be empty or hold spaces: {bad}")
    if not (np.isfinite(motion.local_rotations).all() and np.isfinite(motion.root_positions_mm).all()
            and np.isfinite(motion.local_translations_mm).all()):
        raise ValueError(f"{motion.name}: the motion has NaN or infinite values, which BVH cannot hold")
    if not motion.fps > 0:
        raise ValueError(f"{motion.name}: fps must be positive, not {motion.fps}")

    children: list[list[int]] = [[] for _ in motion.joint_names]
    for j, p in enumerate(motion.parents):
        if p >= 0:
            children[p].append(j)
            if motion.is_end_site[p]:
                raise ValueError(f"{motion.name}: end site {motion.joint_names[p]!r} has children")
    if motion.is_end_site[0]:
        raise ValueError(f"{motion.name}: the root cannot be an end site")

    mm_to_unit = 1.0 / UNIT_TO_MM[unit]
    animated = {j: k for k, j in enumerate(motion.translated_joints)}
    lines = ["HIERARCHY"]
    columns: list[np.ndarray] = []  # (T, n) blocks of channel values in file order

    def offset_text(offset_mm: np.ndarray) -> str:
        return " ".join(_NUMBER_FORMAT % v for v in np.asarray(offset_mm) * mm_to_unit + 0.0)

    def write_joint(j: int, depth: int) -> None:
        pad = "  " * depth
        lines.append(f"{pad}{'ROOT' if j == 0 else 'JOINT'} {motion.joint_names[j]}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET {offset_text(motion.offsets_mm[j])}")
        rotation_channels = " ".join(f"{axis}rotation" for axis in order)
        if j == 0 or j in animated:
            lines.append(f"{pad}  CHANNELS 6 Xposition Yposition Zposition {rotation_channels}")
            positions = motion.root_positions_mm if j == 0 else motion.local_translations_mm[:, animated[j]]
            columns.append(positions * mm_to_unit)
        else:
            lines.append(f"{pad}  CHANNELS 3 {rotation_channels}")
        columns.append(_euler_degrees(motion.local_rotations[:, j], order))
        joints = [c for c in children[j] if not motion.is_end_site[c]]
        ends = [c for c in children[j] if motion.is_end_site[c]]
        for c in joints:
            write_joint(c, depth + 1)
        end_offsets = [motion.offsets_mm[c] for c in ends]
        if not children[j]:
            own = np.asarray(motion.offsets_mm[j], dtype=np.float64)
            end_offsets = [own * _LEAF_TAIL_FRACTION if np.linalg.norm(own) > 1e-6 else _LEAF_TAIL_FALLBACK_MM]
        for offset in end_offsets:
            lines.extend([f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET {offset_text(offset)}", f"{pad}  }}"])
        lines.append(f"{pad}}}")

    write_joint(0, 0)
    lines += ["MOTION", f"Frames: {motion.num_frames}", f"Frame Time: {1.0 / motion.fps:.9f}"]
    values = np.concatenate(columns, axis=1) + 0.0  # + 0.0 turns -0 into 0
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
        np.savetxt(f, values, fmt=_NUMBER_FORMAT, delimiter=" ")
    return path


def _euler_degrees(rotations: np.ndarray, order: str) -> np.ndarray:
    """(T, 3) angles in degrees, unwrapped over time, with ``R = R[order[0]] @ R[order[1]] @ R[order[2]]``.

    SciPy's upper-case (intrinsic) sequences are exactly this product.
    """
    if len(rotations) == 0:
        return np.zeros((0, 3))
    with warnings.catch_warnings():
        # At gimbal lock SciPy warns and picks one of the equivalent triples: still the same rotation.
        warnings.simplefilter("ignore", UserWarning)
        angles = Rotation.from_matrix(np.asarray(rotations, dtype=np.float64)).as_euler(order, degrees=True)
    return np.unwrap(angles.reshape(-1, 3), period=360.0, axis=0)
