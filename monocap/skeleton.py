"""Joint sets and skeletons: the one place that names joints.

Every array of joints in monocap is ordered by one of the `JointSet`s here:

- ``H36M17``  the 3D output of every lifter (Human3.6M's 17 joints).
- ``COCO17``  what 2D detectors give (COCO keypoints).
- ``BLAZEPOSE33`` MediaPipe Pose landmarks.
- ``MOCAP22`` what the mocap readers produce: H36M17 followed by the five
  COCO face points (nose, eyes, ears), so that one clip yields both the 3D
  targets (H36M17) and realistic detector-style 2D inputs (COCO17).
- ``MPI_INF_3DHP17`` MPI-INF-3DHP's test joints, for scoring against its
  ground truth (`mpi_inf_3dhp17_to_h36m17`).
- ``RIG21``   the skeleton that fitting animates (`monocap.fit.skeleton`):
  H36M17 plus four joints placed on their parents that let the spine, the
  neck and each shoulder turn on their own.

Conversions between sets work on any trailing coordinate size (2D pixels or
3D millimetres) and carry per-joint scores along.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class JointSet:
    """An ordered list of joint names with a kinematic tree.

    ``parents[i]`` is the index of joint i's parent, -1 for the root. Names
    starting with ``l_``/``r_`` (or ``left_``/``right_``) are mirrored by
    `flip_perm`.
    """

    name: str
    joints: tuple[str, ...]
    parents: tuple[int, ...]
    flip_perm: tuple[int, ...] = field(init=False)

    def __post_init__(self):
        assert len(self.joints) == len(self.parents), self.name
        object.__setattr__(self, "flip_perm", tuple(self.index(_mirror_name(n)) for n in self.joints))

    def __len__(self) -> int:
        return len(self.joints)

    def index(self, joint: str) -> int:
        return self.joints.index(joint)

    def indices(self, joints) -> list[int]:
        return [self.index(j) for j in joints]

    @property
    def bones(self) -> list[tuple[int, int]]:
        """(parent, child) index pairs, one per non-root joint with a parent."""
        return [(p, c) for c, p in enumerate(self.parents) if p >= 0]


def _mirror_name(name: str) -> str:
    for a, b in (("l_", "r_"), ("r_", "l_"), ("left_", "right_"), ("right_", "left_")):
        if name.startswith(a):
            return b + name[len(a):]
    return name


H36M17 = JointSet(
    "h36m17",
    ("pelvis", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "spine", "thorax",
     "neck_nose", "head", "l_shoulder", "l_elbow", "l_wrist", "r_shoulder", "r_elbow", "r_wrist"),
    (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15),
)

RIG21 = JointSet(
    "rig21",
    ("pelvis", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "lower_back", "spine", "thorax",
     "neck_base", "neck_nose", "head", "l_collar", "l_shoulder", "l_elbow", "l_wrist",
     "r_collar", "r_shoulder", "r_elbow", "r_wrist"),
    (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 10, 11, 9, 13, 14, 15, 9, 17, 18, 19),
)
"""H36M17 as an animation rig. ``lower_back`` sits on the pelvis, ``neck_base`` and the collars on the
thorax (zero offsets): in Human3.6M's own rig, as in BVH rigs with collar joints, the spine turns against
the hips and each shoulder (a shrug) and the neck against the thorax, so no torso triangle is rigid."""
RIG21_H36M17 = RIG21.indices(H36M17.joints)
"""RIG21 index of each H36M17 joint: ``positions_rig[:, RIG21_H36M17]`` are H36M17 positions."""

COCO17 = JointSet(
    "coco17",
    ("nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow",
     "l_wrist", "r_wrist", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle"),
    # COCO has no true tree; this one (face to nose, arms to shoulders, legs to hips,
    # hips and shoulders to the nose) is what skeleton drawings use.
    (-1, 0, 0, 1, 2, 0, 0, 5, 6, 7, 8, 5, 6, 11, 12, 13, 14),
)

BLAZEPOSE33 = JointSet(
    "blazepose33",
    ("nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
     "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
     "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
     "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip",
     "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel",
     "left_foot_index", "right_foot_index"),
    (-1, 0, 1, 2, 0, 4, 5, 3, 6, 0, 0, 0, 0, 11, 12, 13, 14, 15, 16, 15, 16, 15, 16, 11, 12, 23, 24,
     25, 26, 27, 28, 27, 28),
)

MOCAP22 = JointSet(
    "mocap22",
    H36M17.joints + ("nose", "l_eye", "r_eye", "l_ear", "r_ear"),
    H36M17.parents + (10, 17, 17, 18, 19),
)

# MPI-INF-3DHP's 17 test joints (its annot3 / univ_annot3 order): head_top, neck, right arm, left arm, right leg,
# left leg, pelvis, spine, head. They were chosen to match Human3.6M's 17, so each is named here after the H36M17
# joint it stands for: head_top is H36M's head, neck its thorax, head its neck_nose.
_MPI_INF_3DHP17_AS_H36M = (
    "head", "thorax", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist",
    "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "pelvis", "spine", "neck_nose")
MPI_INF_3DHP17 = JointSet(
    "mpi_inf_3dhp17", _MPI_INF_3DHP17_AS_H36M,
    (16, 15, 1, 2, 3, 1, 5, 6, 14, 8, 9, 14, 11, 12, -1, 14, 1),  # H36M17's tree on these joints
)
"""Ground truth of MPI-INF-3DHP's test set (`monocap score --truth-joints`); no lifter reads or writes it."""

JOINT_SETS = {s.name: s for s in (H36M17, COCO17, BLAZEPOSE33, MOCAP22)}


def joint_set(name: str) -> JointSet:
    """Look a joint set up by name ("h36m17", "coco17", "blazepose33", "mocap22")."""
    try:
        return JOINT_SETS[name]
    except KeyError:
        raise ValueError(f"unknown joint format {name!r}; expected one of {sorted(JOINT_SETS)}") from None


# Index maps for the conversions that are pure selections.
_COCO_FROM_MOCAP22 = MOCAP22.indices(
    ["nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow",
     "l_wrist", "r_wrist", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle"])
_COCO_FROM_BLAZEPOSE = BLAZEPOSE33.indices(
    ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
     "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
     "right_knee", "left_ankle", "right_ankle"])

_H36M_FROM_MPI_INF_3DHP17 = MPI_INF_3DHP17.indices(H36M17.joints)

# How far above the ears the H36M "head" joint (top of the head) sits, as a
# fraction of the thorax-to-ears distance. Chosen so that the COCO-derived
# head lands where the mocap rigs put the H36M head (median over the shared
# CMU and HDM05 clips: 0.33-0.43).
HEAD_TOP_ABOVE_EARS = 0.35


def mpi_inf_3dhp17_to_h36m17(points: np.ndarray) -> np.ndarray:
    """MPI-INF-3DHP test joints (..., 17, C) → H36M17 order (a reordering: the sets correspond one to one)."""
    return points[..., _H36M_FROM_MPI_INF_3DHP17, :]


def mocap22_to_coco17(points: np.ndarray) -> np.ndarray:
    return points[..., _COCO_FROM_MOCAP22, :]


def blazepose33_to_coco17(points: np.ndarray, scores: np.ndarray | None = None):
    """Select COCO17 from BlazePose landmarks; returns (points, scores)."""
    pts = points[..., _COCO_FROM_BLAZEPOSE, :]
    return pts, None if scores is None else scores[..., _COCO_FROM_BLAZEPOSE]


BUILT_FROM_COCO17 = tuple(n for n in H36M17.joints if n not in COCO17.joints)
"""The H36M17 joints `coco17_to_h36m17` builds from other keypoints (pelvis, spine, thorax, head; the
nose stands in for neck_nose) rather than copies: stand-ins, not observations of Human3.6M's joints."""


def coco17_to_h36m17(points: np.ndarray, scores: np.ndarray | None = None):
    """Approximate H36M17 joints from COCO17 keypoints (2D or 3D).

    Limb joints are copied; the torso and head joints H36M has but COCO lacks
    are built from them: pelvis = mid-hips, thorax = mid-shoulders, spine =
    halfway between, neck_nose = the nose, head = the top of the head above
    the ears. A derived joint's score is the smallest score it was built from.
    Returns (points (...,17,D), scores (...,17) or None).
    """
    points = np.asarray(points, dtype=np.float64)
    c = {n: points[..., i, :] for i, n in enumerate(COCO17.joints)}
    if scores is None:
        s = None
    else:
        scores = np.asarray(scores, dtype=np.float64)
        s = {n: scores[..., i] for i, n in enumerate(COCO17.joints)}
    pelvis = 0.5 * (c["l_hip"] + c["r_hip"])
    thorax = 0.5 * (c["l_shoulder"] + c["r_shoulder"])
    ears = 0.5 * (c["l_ear"] + c["r_ear"])
    out = {
        "pelvis": pelvis, "spine": 0.5 * (pelvis + thorax), "thorax": thorax, "neck_nose": c["nose"],
        "head": ears + HEAD_TOP_ABOVE_EARS * (ears - thorax),
    }
    for n in H36M17.joints:
        out.setdefault(n, c.get(n))
    h36m = np.stack([out[n] for n in H36M17.joints], axis=-2)
    if s is None:
        return h36m, None
    hips = np.minimum(s["l_hip"], s["r_hip"])
    shoulders = np.minimum(s["l_shoulder"], s["r_shoulder"])
    s_out = {
        "pelvis": hips, "spine": np.minimum(hips, shoulders), "thorax": shoulders,
        "neck_nose": s["nose"], "head": np.minimum(np.minimum(s["l_ear"], s["r_ear"]), shoulders),
    }
    for n in H36M17.joints:
        s_out.setdefault(n, s.get(n))
    return h36m, np.stack([s_out[n] for n in H36M17.joints], axis=-1)


def to_h36m17(points: np.ndarray, scores: np.ndarray | None, joint_format: str):
    """Bring keypoints of any supported format to H36M17; returns (points, scores)."""
    fmt = joint_set(joint_format).name
    if points.shape[-2] != len(JOINT_SETS[fmt]):
        raise ValueError(f"joint_format {fmt!r} has {len(JOINT_SETS[fmt])} joints but the array has "
                         f"{points.shape[-2]}")
    if fmt == "h36m17":
        return points, scores
    if fmt == "mocap22":
        return points[..., :17, :], None if scores is None else scores[..., :17]
    if fmt == "blazepose33":
        points, scores = blazepose33_to_coco17(points, scores)
    return coco17_to_h36m17(points, scores)


def built_h36m17_joints(joint_format: str) -> list[int]:
    """H36M17 indices of the joints `to_h36m17` builds for this format rather than copies (`BUILT_FROM_COCO17`)."""
    return [] if joint_set(joint_format).name in ("h36m17", "mocap22") else H36M17.indices(BUILT_FROM_COCO17)


def bone_lengths(points: np.ndarray, joints: JointSet = H36M17) -> np.ndarray:
    """Length of every bone, (..., n_bones), in the points' unit."""
    par, chi = np.array(joints.bones).T
    return np.linalg.norm(points[..., chi, :] - points[..., par, :], axis=-1)


def flip_lr(points: np.ndarray, joints: JointSet = H36M17, axis: int = 0) -> np.ndarray:
    """Mirror a pose: negate coordinate `axis` and swap left/right joints."""
    out = points[..., list(joints.flip_perm), :].copy()
    out[..., axis] *= -1
    return out
