"""Joint angles in degrees from H36M-17 joint positions in a Y-up world.

Segment frames follow the ISB recommendations (Wu et al. 2002, 2005) as
far as 17 joints allow: X anterior, Y superior (along the segment, towards
its proximal end), Z to the subject's right, on both sides. A joint's angles
are the Euler angles of the distal frame in the proximal one, in the order
Z (flexion), X (ab/adduction), Y (axial rotation) — the ISB joint coordinate
system. Left-side ab/adduction and rotation are negated so that each angle
means the same on both sides.

==========================  ===================================================  =================================
angle                       positive when                                        measured
==========================  ===================================================  =================================
trunk_forward_lean          the trunk (pelvis → thorax) leans forward            from the vertical, in the plane
                                                                                 of the hips' heading
trunk_sideways_lean         the trunk leans to the subject's right               from the vertical
trunk_rotation              the shoulders turn to the left of the hips           thorax in pelvis, about the trunk
{r,l}_hip_flexion           the thigh swings forward                             thigh in pelvis
{r,l}_hip_adduction         the knee moves towards the midline                   thigh in pelvis
{r,l}_hip_internal_rotation the thigh's front turns towards the midline          thigh in pelvis; needs knee
                                                                                 flexion ≥ 20°
{r,l}_knee_flexion          the knee bends (0 = straight; never negative)        thigh to shank
{r,l}_shoulder_elevation    the arm is raised from hanging, in any direction     upper arm to the thorax's -Y;
                                                                                 0 to 180, always defined
{r,l}_shoulder_flexion      the arm swings forward (90 = forward, 180 = up)      upper arm in thorax
{r,l}_shoulder_abduction    the arm moves out to the side                        upper arm in thorax
{r,l}_shoulder_internal_    the arm's front turns towards the body               upper arm in thorax; needs
rotation                                                                         elbow flexion ≥ 20°
{r,l}_elbow_flexion         the elbow bends (0 = straight; never negative)       upper arm to forearm
==========================  ===================================================  =================================

Segment frames. Pelvis: Y from the pelvis joint to the thorax joint, Z along
the hip line. H36M-17 has no pelvic landmarks (the pelvis joint is the
middle of the hips), so the pelvis is taken to tilt with the whole trunk:
hip flexion is the thigh's angle to the trunk line. Upright standing
therefore does not read exactly 0 (on Human3.6M's joints: median hip
flexion -2.6, trunk lean -2.9 degrees).
Thorax: Y from the spine joint to the thorax joint, Z along the shoulder
line. Thigh and upper arm: Y along the bone, Z along the hinge axis of the
knee or elbow below it — which is why their axial rotation is defined only
while that joint is bent. Trunk lean is measured in a heading frame: the
world's vertical and the hip line made horizontal.

What H36M-17 cannot give, and is left out: ankle angles (no foot or toe
point: dorsi/plantarflexion, inversion), wrist angles (no hand point), neck
angles beyond the head joint, and knee or elbow ab/adduction and rotation
(no frame below a hinge). Knee and elbow hyperextension reads as small
flexion.

NaN where an angle is undefined: a joint missing, a degenerate segment,
axial rotation with a straight hinge, or flexion and axial rotation when
the abduction is within 15° of ±90° (gimbal lock, where they have no
meaning). Every angle is unwrapped over time within each run of defined
frames, so a curve passing ±180° keeps going instead of jumping by 360°;
each run starts in (-180, 180].
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..skeleton import H36M17

# Axial rotation of a thigh or upper arm needs the hinge below it bent at least this much.
MIN_HINGE_FLEXION_DEG = 20.0
# Flexion is undefined when the abduction comes this close to ±90° (the segment lies along Z).
GIMBAL_MARGIN_DEG = 15.0
_UP = np.array([0.0, 1.0, 0.0])

TRUNK_ANGLES = ("trunk_forward_lean", "trunk_sideways_lean", "trunk_rotation")
LIMB_ANGLES = ("hip_flexion", "hip_adduction", "hip_internal_rotation", "knee_flexion", "shoulder_elevation",
               "shoulder_flexion", "shoulder_abduction", "shoulder_internal_rotation", "elbow_flexion")
ANGLE_NAMES = TRUNK_ANGLES + tuple(f"{side}_{angle}" for angle in LIMB_ANGLES for side in ("r", "l"))


@dataclass
class JointAngles:
    """Joint angles of one person over T frames (see the module docstring for every angle's meaning).

    degrees: (T, K) float, one column per name in `names`, unwrapped over time, NaN where undefined.
    Frame ``t`` of the array is frame ``first_frame + t`` of the video, at ``(first_frame + t) / fps`` s.
    """

    names: tuple[str, ...]
    degrees: np.ndarray
    fps: float
    first_frame: int = 0

    def __getitem__(self, name: str) -> np.ndarray:
        """(T,) degrees of one angle."""
        return self.degrees[:, self.names.index(name)]

    @property
    def frames(self) -> np.ndarray:
        """(T,) int, the video frame of each row."""
        return self.first_frame + np.arange(len(self.degrees))

    @property
    def times_s(self) -> np.ndarray:
        """(T,) seconds from the start of the video."""
        return self.frames / self.fps


def joint_angles(positions_world_mm: np.ndarray, fps: float, first_frame: int = 0) -> JointAngles:
    """Joint angles of H36M-17 joints (T, 17, 3) in mm in a Y-up world; NaN joints give NaN angles."""
    positions = np.asarray(positions_world_mm, dtype=np.float64)
    if positions.ndim != 3 or positions.shape[1:] != (len(H36M17), 3):
        raise ValueError(f"expected H36M-17 positions (T, 17, 3), got shape {positions.shape}")
    joint = {name: positions[:, i] for i, name in enumerate(H36M17.joints)}
    with np.errstate(invalid="ignore", divide="ignore"):
        pelvis = _segment_frame(joint["thorax"] - joint["pelvis"], joint["r_hip"] - joint["l_hip"])
        thorax = _segment_frame(joint["thorax"] - joint["spine"], joint["r_shoulder"] - joint["l_shoulder"])
        heading = _segment_frame(np.broadcast_to(_UP, positions.shape[:1] + (3,)), joint["r_hip"] - joint["l_hip"])
        lean_forward, lean_sideways = _flexion_adduction(_in_frame(heading, joint["thorax"] - joint["pelvis"]))
        angles = {"trunk_forward_lean": -lean_forward, "trunk_sideways_lean": lean_sideways,
                  "trunk_rotation": _axial_rotation(pelvis, thorax)}
        for side, sign in (("r", 1.0), ("l", -1.0)):
            hip, knee, ankle = (joint[f"{side}_{n}"] for n in ("hip", "knee", "ankle"))
            shoulder, elbow, wrist = (joint[f"{side}_{n}"] for n in ("shoulder", "elbow", "wrist"))
            knee_flexion, elbow_flexion = _hinge_flexion(hip, knee, ankle), _hinge_flexion(shoulder, elbow, wrist)

            flexion, adduction = _flexion_adduction(_in_frame(pelvis, hip - knee))
            # Both knees bend backwards: thigh x shank points to the subject's right on either side.
            thigh = _segment_frame(hip - knee, np.cross(hip - knee, ankle - knee))
            rotation = _axial_rotation(pelvis, thigh, defined=(knee_flexion >= MIN_HINGE_FLEXION_DEG)
                                       & np.isfinite(flexion))
            angles |= {f"{side}_hip_flexion": flexion, f"{side}_hip_adduction": sign * adduction,
                       f"{side}_hip_internal_rotation": sign * rotation, f"{side}_knee_flexion": knee_flexion}

            flexion, adduction = _flexion_adduction(_in_frame(thorax, shoulder - elbow))
            # Elbows bend forwards: forearm x upper arm points to the subject's right.
            upper_arm = _segment_frame(shoulder - elbow, np.cross(wrist - elbow, shoulder - elbow))
            rotation = _axial_rotation(thorax, upper_arm, defined=(elbow_flexion >= MIN_HINGE_FLEXION_DEG)
                                       & np.isfinite(flexion))
            # The arm raised from hanging along the trunk, in any direction: defined where flexion is not.
            elevation = 180.0 - _hinge_flexion(joint["spine"] - joint["thorax"] + shoulder, shoulder, elbow)
            angles |= {f"{side}_shoulder_elevation": elevation,
                       f"{side}_shoulder_flexion": flexion, f"{side}_shoulder_abduction": -sign * adduction,
                       f"{side}_shoulder_internal_rotation": sign * rotation, f"{side}_elbow_flexion": elbow_flexion}
    degrees = np.stack([_unwrap_degrees(angles[name]) for name in ANGLE_NAMES], axis=1)
    return JointAngles(ANGLE_NAMES, degrees, float(fps), first_frame)


def _unit(v: np.ndarray) -> np.ndarray:
    """v / |v| along the last axis; NaN where |v| is (nearly) zero."""
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.where(norm > 1e-9, v / norm, np.nan)


def _segment_frame(y_axis: np.ndarray, z_hint: np.ndarray) -> np.ndarray:
    """(T, 3, 3) frames with columns X, Y, Z: Y along ``y_axis``, Z as close to ``z_hint`` as Y allows, X = Y x Z."""
    y = _unit(y_axis)
    x = _unit(np.cross(y, z_hint))
    return np.stack([x, y, np.cross(x, y)], axis=-1)


def _in_frame(frame: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """(T, 3) unit vectors' components along a frame's X, Y, Z axes."""
    return np.einsum("tij,ti->tj", frame, _unit(vectors))


def _flexion_adduction(y_direction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Degrees (Z angle, X angle) of the ZXY rotation that takes Y to ``y_direction`` (T, 3 unit, proximal frame).

    With ``R = Rz(a) @ Rx(b) @ Ry(c)``, ``R @ Y = (-sin a cos b, cos a cos b, sin b)``:
    the two angles depend on the segment's direction only, not on its twist.
    """
    x, y, z = y_direction[:, 0], y_direction[:, 1], y_direction[:, 2]
    flexion = np.degrees(np.arctan2(0.0 - x, y))  # 0.0 - x, not -x: no -0, so straight up is +180, not -180
    gimbal = np.hypot(x, y) < np.sin(np.radians(GIMBAL_MARGIN_DEG))
    # atan2 rather than arcsin(z): exact near +-90 degrees.
    return np.where(gimbal, np.nan, flexion), np.degrees(np.arctan2(z, np.hypot(x, y)))


def _axial_rotation(proximal: np.ndarray, distal: np.ndarray, defined: np.ndarray | bool = True) -> np.ndarray:
    """Degrees, the Y angle of the ZXY Euler angles of the distal frame in the proximal one; NaN where not defined."""
    relative = np.einsum("tji,tjk->tik", proximal, distal)
    # Row Z of Rz(a) @ Rx(b) @ Ry(c) is (-cos b sin c, sin b, cos b cos c).
    return np.where(defined, np.degrees(np.arctan2(0.0 - relative[:, 2, 0], relative[:, 2, 2])), np.nan)


def _hinge_flexion(proximal: np.ndarray, hinge: np.ndarray, distal: np.ndarray) -> np.ndarray:
    """Degrees between the bone into the hinge and the bone out of it: 0 when straight."""
    cosine = np.sum(_unit(hinge - proximal) * _unit(distal - hinge), axis=-1)
    return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))


def _unwrap_degrees(values: np.ndarray) -> np.ndarray:
    """Unwrap each run of defined values of a curve on its own, in degrees.

    A run starts afresh in (-180, 180] after a gap: what happens in a gap is
    unknown (at gimbal lock flexion can swing by 180 degrees), and carrying
    a turn count across it would shift the rest of the curve by 360.
    """
    out = np.asarray(values, dtype=np.float64).copy()
    defined = np.isfinite(out)
    edges = np.flatnonzero(np.diff(np.concatenate([[False], defined, [False]]).astype(np.int8)))
    for start, stop in zip(edges[::2], edges[1::2]):
        out[start:stop] = np.degrees(np.unwrap(np.radians(out[start:stop])))
    return out
