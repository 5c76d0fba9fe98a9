"""Acclaim ASF (skeleton) / AMC (motion) reader, as used by CMU and HDM05.

An ASF bone has a rest direction and length in the world frame and an
``axis``: the rotation C from the world frame to the bone's local frame. The
AMC angles of a bone give a rotation M in that local frame, so the bone's
rotation expressed in its parent's (rest-world-aligned) frame is
``C @ M @ C^-1``; a bone starts where its parent ends and ends at
``start + G @ (direction * length)`` with G its global rotation.

In the `Motion` built here every bone is a joint placed at the bone's start
(joint "ltibia" is the knee), and each leaf bone's far end is an end site
named ``<bone>_end`` (``head_end`` is the top of the head).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .motion import Motion, euler_to_matrix, file_stem, read_text

# CMU and HDM05 state ":units length 0.45": lengths are inches times 0.45.
INCH_MM = 25.4


@dataclass
class AsfSkeleton:
    """An ASF skeleton. Bone 0 is the root (zero length); bones are in tree order."""

    name: str
    bone_names: list[str]
    parents: np.ndarray
    """(B,) int, parent bone index, -1 for the root."""
    directions: np.ndarray
    """(B, 3) float, unit rest direction of each bone in the world frame."""
    lengths_mm: np.ndarray
    """(B,) float, bone lengths, mm."""
    axes: np.ndarray
    """(B, 3, 3) float, C: rotation from the world frame to each bone's local frame."""
    dofs: list[tuple[str, ...]]
    """Per bone, the AMC channels in file order (e.g. ("rx", "ry", "rz"); the root has "tx".. too)."""
    mm_per_unit: float
    """Millimetres per ASF/AMC length unit (root translations use it too)."""
    rad_per_unit: float
    """Radians per AMC angle unit."""


def read_asf(path: str | Path, length_unit_mm: float = INCH_MM) -> AsfSkeleton:
    """Read an ASF skeleton.

    The ``:units length`` factor divides the file's lengths to give
    `length_unit_mm` units (inches for CMU and HDM05; pass 10.0 for files whose
    ``length`` factor refers to centimetres).
    """
    path = Path(path)
    sections = _sections(path, read_text(path))
    units = dict(_key_values(sections.get("units", [])))
    try:
        length_factor = float(units.get("length", ["1"])[0])
    except ValueError:
        raise ValueError(f"{path}: bad ':units length'") from None
    angle = units.get("angle", ["deg"])[0].lower()
    if angle not in ("deg", "rad"):
        raise ValueError(f"{path}: unknown angle unit {angle!r}")
    if "root" not in sections or "bonedata" not in sections or "hierarchy" not in sections:
        raise ValueError(f"{path}: needs :root, :bonedata and :hierarchy sections")
    rad = np.pi / 180 if angle == "deg" else 1.0

    root = dict(_key_values(sections["root"]))
    root_order = tuple(t.lower() for t in root.get("order", []))
    orientation = _floats(path, root.get("orientation", ["0", "0", "0"]), 3, "root orientation")
    root_axis = "".join(root.get("axis", ["XYZ"]))
    bones = {"root": dict(direction=np.zeros(3), length=0.0,
                          axis=_axis_rotation(path, orientation * rad, root_axis), dof=root_order)}
    for block in _blocks(path, sections["bonedata"]):
        fields = dict(_key_values(block))
        name = fields.get("name", [None])[0]
        if name is None or "direction" not in fields or "length" not in fields:
            raise ValueError(f"{path}: a bone lacks name, direction or length")
        axis = fields.get("axis", ["0", "0", "0", "XYZ"])
        direction = _floats(path, fields["direction"], 3, f"direction of {name}")
        bones[name] = dict(
            direction=direction / max(np.linalg.norm(direction), 1e-12),
            length=_floats(path, fields["length"], 1, f"length of {name}")[0],
            axis=_axis_rotation(path, _floats(path, axis[:3], 3, f"axis of {name}") * rad,
                                axis[3] if len(axis) > 3 else "XYZ"),
            dof=tuple(t.lower() for t in fields.get("dof", [])))

    names, parents = _tree_order(path, sections["hierarchy"], bones)
    return AsfSkeleton(
        name=path.stem,
        bone_names=names,
        parents=np.array(parents),
        directions=np.array([bones[n]["direction"] for n in names]),
        lengths_mm=np.array([bones[n]["length"] for n in names]) / length_factor * length_unit_mm,
        axes=np.array([bones[n]["axis"] for n in names]),
        dofs=[bones[n]["dof"] for n in names],
        mm_per_unit=length_unit_mm / length_factor,
        rad_per_unit=rad,
    )


def read_amc(path: str | Path, skeleton: AsfSkeleton, fps: float = 120.0) -> Motion:
    """Read AMC motion (plain or .gz) for `skeleton` into a `Motion` in mm.

    Bones the file never mentions keep their rest pose; a bone missing from
    some frames but not others, or with the wrong number of values, is an error.
    """
    path = Path(path)
    channels = _amc_channels(path, read_text(path), skeleton)
    num_frames = len(next(iter(channels.values()))) if channels else 0
    num_bones = len(skeleton.bone_names)

    rotations = np.broadcast_to(np.eye(3), (num_frames, num_bones, 3, 3)).copy()
    root_positions = np.zeros((num_frames, 3))
    for b, (name, dof) in enumerate(zip(skeleton.bone_names, skeleton.dofs)):
        if name not in channels:
            continue
        values = channels[name]
        if values.shape[1] != len(dof):
            raise ValueError(f"{path}: bone {name!r} has {values.shape[1]} values per frame, "
                             f"its ASF dof has {len(dof)}")
        for k, d in enumerate(dof):
            if d[0] == "t":
                root_positions[:, "xyz".index(d[1])] = values[:, k] * skeleton.mm_per_unit
        rot = [(k, d[1]) for k, d in enumerate(dof) if d[0] == "r"]
        if rot:
            idx, axes = zip(*rot)
            # Rotations apply in dof order in the bone's local frame: the first
            # listed is the right-most factor.
            angles = values[:, list(idx)[::-1]] * skeleton.rad_per_unit
            local = euler_to_matrix(angles, "".join(axes[::-1]))
            c = skeleton.axes[b]
            rotations[:, b] = c @ local @ c.T

    # Joint b sits at the start of bone b, i.e. its parent bone's vector away from the parent joint.
    bone_vectors = skeleton.directions * skeleton.lengths_mm[:, None]
    offsets = np.array([bone_vectors[p] if p >= 0 else np.zeros(3) for p in skeleton.parents])
    leaves = [b for b in range(num_bones) if b not in set(skeleton.parents)]
    return Motion(
        name=file_stem(path),
        joint_names=skeleton.bone_names + [f"{skeleton.bone_names[b]}_end" for b in leaves],
        parents=np.concatenate([skeleton.parents, leaves]).astype(int),
        offsets_mm=np.concatenate([offsets, bone_vectors[leaves]]),
        is_end_site=np.arange(num_bones + len(leaves)) >= num_bones,
        local_rotations=np.concatenate(
            [rotations, np.broadcast_to(np.eye(3), (num_frames, len(leaves), 3, 3))], axis=1),
        root_positions_mm=root_positions,
        fps=float(fps),
    )


def _amc_channels(path: Path, text: str, skeleton: AsfSkeleton) -> dict[str, np.ndarray]:
    """Per bone named in the file, its values (T, n_values)."""
    rows: dict[str, list[list[str]]] = {}
    known = set(skeleton.bone_names)
    num_frames = 0
    for line in text.splitlines():
        parts = line.split()
        if not parts or parts[0][0] in "#:":
            continue
        if len(parts) == 1 and parts[0].isdigit():
            num_frames += 1
            continue
        if num_frames == 0:
            raise ValueError(f"{path}: bone data before the first frame number")
        if parts[0] not in known:
            raise ValueError(f"{path}: bone {parts[0]!r} is not in skeleton {skeleton.name!r}")
        rows.setdefault(parts[0], []).append(parts[1:])
    out = {}
    for name, values in rows.items():
        if len(values) != num_frames:
            raise ValueError(f"{path}: bone {name!r} appears in {len(values)} of {num_frames} frames")
        try:
            out[name] = np.array(values, dtype=np.float64).reshape(num_frames, -1)
        except ValueError:
            raise ValueError(f"{path}: bone {name!r} has a bad number or a varying value count") from None
    return out


def _axis_rotation(path: Path, angles_rad: np.ndarray, order: str) -> np.ndarray:
    """ASF axis rotation: rotate about order[0] first (fixed frame), so it is the right-most factor."""
    order = order.upper()
    if sorted(order) != ["X", "Y", "Z"]:
        raise ValueError(f"{path}: bad axis order {order!r}")
    by_axis = dict(zip("XYZ", angles_rad))
    return euler_to_matrix(np.array([by_axis[a] for a in order[::-1]]), order[::-1])


def _sections(path: Path, text: str) -> dict[str, list[str]]:
    """Lines of each ``:keyword`` section, comments dropped; the keyword's own values start it."""
    sections: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith(":"):
            keyword, _, rest = line[1:].partition(" ")
            current = sections.setdefault(keyword.lower(), [])
            if rest.strip():
                current.append(rest.strip())
        elif current is None:
            raise ValueError(f"{path}: text before the first ':' section")
        else:
            current.append(line)
    return sections


def _key_values(lines: list[str]) -> list[tuple[str, list[str]]]:
    out = []
    for line in lines:
        key, *values = line.split()
        out.append((key.lower(), values))
    return out


def _blocks(path: Path, lines: list[str]) -> list[list[str]]:
    """The begin ... end blocks of a :bonedata section."""
    blocks, current = [], None
    for line in lines:
        if line == "begin":
            current = []
        elif line == "end":
            if current is None:
                raise ValueError(f"{path}: 'end' without 'begin' in :bonedata")
            blocks.append(current)
            current = None
        elif current is not None:
            current.append(line)
    if current is not None:
        raise ValueError(f"{path}: :bonedata block without 'end'")
    return blocks


def _tree_order(path: Path, hierarchy: list[str], bones: dict) -> tuple[list[str], list[int]]:
    """Bone names with the root first and every parent before its children, and parent indices."""
    children: dict[str, list[str]] = {}
    for line in hierarchy:
        if line in ("begin", "end"):
            continue
        parent, *kids = line.split()
        for name in [parent, *kids]:
            if name not in bones:
                raise ValueError(f"{path}: :hierarchy names unknown bone {name!r}")
        children.setdefault(parent, []).extend(kids)
    names, parents = [], []
    stack = [("root", -1)]
    while stack:
        name, parent = stack.pop()
        if name in names:
            raise ValueError(f"{path}: bone {name!r} appears twice in :hierarchy")
        names.append(name)
        parents.append(parent)
        stack.extend((kid, len(names) - 1) for kid in reversed(children.get(name, [])))
    return names, parents


def _floats(path: Path, tokens: list[str], n: int, what: str) -> np.ndarray:
    try:
        values = np.array([float(t) for t in tokens[:n]])
    except ValueError:
        values = np.zeros(0)
    if len(values) != n:
        raise ValueError(f"{path}: bad {what}: {' '.join(tokens)!r}")
    return values
