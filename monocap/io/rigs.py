"""Map mocap rigs onto MOCAP22 (H36M17 + COCO face points), Y-up world, mm.

Rigs are told apart by their joint names: the CMU/HDM05 ASF rig (``lfemur``,
``lhumerus`` ...), the CMU BVH rig with Poser-style names (``hip``,
``abdomen``, ``lThigh`` ...) and the Character Creator rig (``CC_Base_*``).

Limb joints are the rig's own joint centres: hips = femur heads, knees,
ankles, shoulders = upper-arm heads, elbows, wrists; pelvis is the mid-hip
point, as in H36M. (The ASF wrist is the start of ``lhand``: CMU's ASF cuts
the forearm into ``lradius`` and ``lwrist``, two thirds and one third.)

The joints H36M defines but the rigs do not share (spine, thorax,
neck_nose, head) and the COCO face points sit at fixed offsets in the frame
of a rig bone (mid-back, chest or head), so they move rigidly with it. The
offsets are for an H36M-sized body, scaled by `body_scale`. The spine,
chest and head bones of all three rigs share their local axes when the body
stands upright facing forward: x = the person's left, y = up, z = forward,
the frame the offsets are written in. As in H36M, thorax->neck_nose and
neck_nose->head are then given fixed lengths (117 and 115 mm, scaled).

Calibration. The offsets were fitted so that over the upright frames of
walking clips (CMU 02_01/02 and HDM05 jog for the ASF rig, salsa 01/16 for
the Poser rig, iclone 002_01/02 and 007_01/02 for CC) the median derived
joints sit where H36M puts them relative to the rig's hips and shoulders.
H36M figures (train subjects, median over upright frames, mm; torso frame:
up = pelvis->thorax, forward = left x up): thorax is 58 above and 13 in
front of the mid-shoulder point; spine is at 0.476 of pelvis->thorax and 27
behind that line; neck_nose is 69 above / 84 in front of thorax, head 159
above / 39 in front; pelvis->mid-shoulders is 423 and thigh + shin 899
(their sum makes body_scale 1).

Face points come from the rigs that have eyes (Poser and CC): their eye
midpoint sits 144 above / 97 in front of the H36M-style thorax (mean of both
rigs, scaled to an H36M body); from the eyes, the nose tip is 35 below and
25 in front, the ears 15 below and 85 behind, 145 apart; eyes are 63 apart
(adult anthropometry).

Resulting proportions (median over all shared clips, mm) against H36M:

    ============ ===== ===== ===== ===== ===== ===== ===== ===== ===== ===== =====
    rig          hip w thigh shin  u.arm f.arm sh. w pel-  th-   nn-   th-   spine
                                                     th    nn    head  head  frac.
    ============ ===== ===== ===== ===== ===== ===== ===== ===== ===== ===== =====
    H36M S1-S8   271   452   447   282   250   276   489   117   115   180   0.476
    CMU 02 ASF   184   428   409   279   284   398   552   118   116   171   0.475
    HDM05 ASF    176   408   440   277   270   470   585   120   118   195   0.468
    CMU Poser    176   368   454   282   237   229   524   114   112   170   0.481
    CMU CC       194   477   498   252   257   367   553   130   128   195   0.471
    ============ ===== ===== ===== ===== ===== ===== ===== ===== ===== ===== =====

The rigs' femur heads are 8-10 cm closer together than H36M's hips and their
shoulder widths disagree; `_match_h36m_widths` moves the limbs rigidly
sideways to H36M's widths (scaled to the body). Torsos stay as the rigs have them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..skeleton import MOCAP22
from .motion import Motion, forward_kinematics

# H36M training subjects, mean of the per-subject medians, mm.
H36M_REFERENCE = {
    "hip_width": 271.0, "thigh": 452.0, "shin": 447.0, "upper_arm": 282.0, "forearm": 250.0,
    "shoulder_width": 276.0, "pelvis_thorax": 489.0, "thorax_neck_nose": 117.0,
    "neck_nose_head": 115.0, "thorax_head": 180.0, "spine_fraction": 0.476,
}
_H36M_LEG_PLUS_TORSO = 899.0 + 423.0

# Face points relative to the eye midpoint, head frame (x left, y up, z forward), H36M body, mm.
_FACE_FROM_EYES = {
    "nose": (0.0, -35.0, 25.0),
    "l_eye": (31.5, 0.0, 0.0), "r_eye": (-31.5, 0.0, 0.0),
    "l_ear": (72.5, -15.0, -85.0), "r_ear": (-72.5, -15.0, -85.0),
}


@dataclass(frozen=True)
class Rig:
    """How one rig's joints give MOCAP22.

    Offsets are (3,) mm for an H36M-sized body in the named joint's local
    frame (x left, y up, z forward when upright).
    """

    name: str
    limbs: dict[str, str]
    """MOCAP22 limb joint -> rig joint, for the twelve limb joints."""
    spine: tuple[str, tuple[float, float, float]]
    """(rig joint, offset) of the H36M spine point."""
    thorax: tuple[str, tuple[float, float, float]]
    """(rig joint, offset) of the H36M thorax point."""
    head: str
    """Rig joint that carries the head points."""
    neck_nose: tuple[float, float, float]
    """Offset of H36M neck_nose from `head`."""
    head_top: tuple[float, float, float]
    """Offset of H36M head from `head`."""
    eyes: tuple[float, float, float]
    """Offset of the eye midpoint from `head`."""

    def joint_names(self) -> set[str]:
        return {*self.limbs.values(), self.spine[0], self.thorax[0], self.head}


def _sided(pattern: dict[str, str]) -> dict[str, str]:
    """Expand {"hip": "{s}femur"} into both sides: {"l_hip": "lfemur", "r_hip": "rfemur"}."""
    return {f"{side}_{joint}": name.format(s=side, S=side.upper())
            for joint, name in pattern.items() for side in "lr"}


RIGS = (
    Rig(
        name="asf",  # CMU and HDM05 Acclaim skeletons: joints sit at bone starts
        limbs=_sided({"hip": "{s}femur", "knee": "{s}tibia", "ankle": "{s}foot",
                      "shoulder": "{s}humerus", "elbow": "{s}radius", "wrist": "{s}hand"}),
        spine=("upperback", (0.0, 47.0, -1.0)),
        thorax=("thorax", (0.0, 221.0, -10.0)),
        head="head",
        neck_nose=(0.0, -11.0, 97.0),
        head_top=(0.0, 84.0, 56.0),
        eyes=(0.0, 62.0, 112.0),
    ),
    Rig(
        name="poser",  # CMU BVH conversions with hip/abdomen/chest/lThigh... names
        limbs=_sided({"hip": "{s}Thigh", "knee": "{s}Shin", "ankle": "{s}Foot",
                      "shoulder": "{s}Shldr", "elbow": "{s}ForeArm", "wrist": "{s}Hand"}),
        spine=("abdomen", (0.0, 72.0, -51.0)),
        thorax=("chest", (0.0, 236.0, -24.0)),
        head="head",
        neck_nose=(0.0, 9.0, 55.0),
        head_top=(0.0, 99.0, 12.0),
        eyes=(0.0, 82.0, 82.0),
    ),
    Rig(
        name="character_creator",  # Reallusion CC_Base_* rig (iclone conversions)
        limbs=_sided({"hip": "CC_Base_{S}_Thigh", "knee": "CC_Base_{S}_Calf",
                      "ankle": "CC_Base_{S}_Foot", "shoulder": "CC_Base_{S}_Upperarm",
                      "elbow": "CC_Base_{S}_Forearm", "wrist": "CC_Base_{S}_Hand"}),
        spine=("CC_Base_Spine02", (0.0, -11.0, -58.0)),
        thorax=("CC_Base_Spine02", (0.0, 249.0, -6.0)),
        head="CC_Base_Head",
        neck_nose=(0.0, -2.0, 69.0),
        head_top=(0.0, 90.0, 27.0),
        eyes=(0.0, 74.0, 74.0),
    ),
)


def detect_rig(motion: Motion) -> Rig:
    """The rig whose joints `motion` has; ValueError if none matches."""
    names = set(motion.joint_names)
    for rig in RIGS:
        if rig.joint_names() <= names:
            return rig
    raise ValueError(f"{motion.name}: unknown rig (joints {sorted(names)[:12]}...); "
                     f"known rigs: {[r.name for r in RIGS]}")


def to_mocap22(motion: Motion) -> np.ndarray:
    """MOCAP22 joints (T, 22, 3) float32, mm, in a Y-up world (x, z horizontal)."""
    rig = detect_rig(motion)
    positions, rotations = forward_kinematics(motion)
    index = {n: i for i, n in enumerate(motion.joint_names)}

    def at(joint: str) -> np.ndarray:
        return positions[:, index[joint]]

    out = {name: at(joint) for name, joint in rig.limbs.items()}
    out["pelvis"] = 0.5 * (out["l_hip"] + out["r_hip"])
    scale = body_scale(out)
    _match_h36m_widths(out, scale)

    derived = {  # MOCAP22 joint -> (rig joint, offset in its frame)
        "thorax": rig.thorax, "spine": rig.spine,
        "neck_nose": (rig.head, rig.neck_nose), "head": (rig.head, rig.head_top),
        **{name: (rig.head, np.add(rig.eyes, f)) for name, f in _FACE_FROM_EYES.items()},
    }
    for name, (joint, local) in derived.items():
        out[name] = at(joint) + rotations[:, index[joint]] @ (np.asarray(local) * scale)
    # H36M's neck and head bones are rigid: keep the directions the head gives
    # them, at H36M's lengths scaled to this body.
    out["neck_nose"] = _towards(out["thorax"], out["neck_nose"], H36M_REFERENCE["thorax_neck_nose"] * scale)
    out["head"] = _towards(out["neck_nose"], out["head"], H36M_REFERENCE["neck_nose_head"] * scale)
    joints = np.stack([out[n] for n in MOCAP22.joints], axis=1)
    return (joints @ _to_y_up(out["pelvis"], out["thorax"]).T).astype(np.float32)


def _match_h36m_widths(joints: dict[str, np.ndarray], scale: float) -> None:
    """Move each leg and arm sideways, rigidly, so hip and shoulder widths match H36M's.

    H36M's hip and shoulder joints come from a marker-fitted skeleton: its hips
    sit 4-5 cm further out than the rigs' femur heads, and the rigs disagree
    among themselves on shoulder width (229-470 mm). The lifter's targets must
    follow H36M's definition, so whole limb chains are translated along the
    hip (shoulder) line; bone lengths and limb shapes are unchanged.
    """
    for top, chain, width in (("hip", ("hip", "knee", "ankle"), "hip_width"),
                              ("shoulder", ("shoulder", "elbow", "wrist"), "shoulder_width")):
        left, right = joints[f"l_{top}"], joints[f"r_{top}"]
        mid = 0.5 * (left + right)
        current = np.median(np.linalg.norm(left - right, axis=-1))
        factor = H36M_REFERENCE[width] * scale / current
        for side, point in (("l", left), ("r", right)):
            shift = (point - mid) * (factor - 1.0)
            for j in chain:
                joints[f"{side}_{j}"] = joints[f"{side}_{j}"] + shift


def body_scale(joints: dict[str, np.ndarray]) -> float:
    """Size of a body relative to H36M's: (leg + pelvis-to-shoulders length) / H36M's.

    joints: MOCAP22 name -> (T, 3) positions, mm; needs the limb joints and pelvis.
    """
    def length(a, b):
        return np.median(np.linalg.norm(joints[a] - joints[b], axis=-1))

    leg = 0.5 * sum(length(f"{s}_hip", f"{s}_knee") + length(f"{s}_knee", f"{s}_ankle") for s in "lr")
    shoulders = 0.5 * (joints["l_shoulder"] + joints["r_shoulder"])
    torso = np.median(np.linalg.norm(shoulders - joints["pelvis"], axis=-1))
    return float((leg + torso) / _H36M_LEG_PLUS_TORSO)


def _towards(origin: np.ndarray, target: np.ndarray, length: float) -> np.ndarray:
    """Points (T, 3) `length` mm from `origin` in the direction of `target`."""
    step = target - origin
    return origin + step * (length / np.linalg.norm(step, axis=-1, keepdims=True))


def _to_y_up(pelvis: np.ndarray, thorax: np.ndarray) -> np.ndarray:
    """Rotation (3, 3) taking the world axis that points up the clip's torso (on average) to +y."""
    torso = np.mean(thorax - pelvis, axis=0)
    axis = int(np.argmax(np.abs(torso)))
    s = 1.0 if torso[axis] > 0 else -1.0
    if axis == 0:
        return np.array([[0.0, -s, 0.0], [s, 0.0, 0.0], [0.0, 0.0, 1.0]])
    if axis == 1:
        return np.diag([1.0, s, s])
    return np.array([[1.0, 0.0, 0.0], [0.0, 0.0, s], [0.0, -s, 0.0]])
