"""Skeleton fitting: lifted joints → one rigid skeleton per person, with joint rotations, on the floor.

A lifter predicts 17 loose points per frame: bones stretch from frame to
frame, knees bend backwards now and then, feet slide. `fit_person` turns one
tracked person into skeletal motion (`monocap.io.motion.Motion`) whose bones
keep their length, in a Y-up world with the floor at y = 0::

    people = fit_run(RunResult.load("out/clip"))       # one FittedPerson per track
    person = people[0]
    person.motion                # RIG21 tree, local rotations (T,21,3,3), root (T,3), world Y-up mm
    person.positions_world_mm    # (T,17,3) H36M17 = forward_kinematics(person.motion)[0][:, RIG21_H36M17]
    person.positions_cam_mm      # the same joints in the camera frame, beside person.raw_cam_mm

Steps (whole sequence, offline):

1. Gaps (frames without a pose) are filled by linear interpolation; ``present`` marks them.
2. Bone lengths: per bone the median length over the frames where both of
   its joints were seen with confidence >= ``FitConfig.min_confidence``, then
   left and right made equal (their mean). Head and trunk bones are single.
3. Ground and contacts (`monocap.fit.ground`): the floor plane and, per
   frame, which foot stands on it, from the raw joints.
4. Inverse kinematics to an initial pose per frame, in closed form
   (`closed_form_pose`), then Gauss-Newton (Levenberg-Marquardt) on all frames
   at once over the joint rotations and the root position, minimising

   - 3D: distance of every joint, relative to the pelvis, to the lifted one,
     ``sigma_3d_mm`` per unit cost across the image and ``sigma_depth_mm``
     along the camera's z axis (a lifter is least sure of depth, which the
     image does not show); and of the pelvis to the estimated root with its
     depth low-passed (``root_depth_cutoff_hz``, `whittaker_smooth`): a
     monocular root depth wanders from frame to frame while a body's
     distance changes slowly, and a planted foot would pass that wander on
     to the pose;
   - 2D: reprojection error (full perspective, the camera's intrinsics and
     distortion) against the keypoints, weighted by their confidence, Huber
     beyond ``huber_px``, per unit cost ``sigma_2d_px`` for keypoints as
     jittery as a detector's and down to half that for exact ones
     (`reprojection_sigma`). Keypoints that
     COCO-style detectors do not have (pelvis, spine, thorax, neck, head:
     `skeleton.built_h36m17_joints`) are left out: built from other points
     (the spine halfway between hips and shoulders, the nose for the neck)
     they sit off Human3.6M's joints, and pulled the fitted torso 30 mm
     off on a CMU walker;
   - smoothness: joint accelerations, per unit cost ``accel_sigma_depth_mm_s2``
     along the camera's z axis and across the image an amount that follows
     the keypoints' jitter (`keypoint_jitter_px`): clean keypoints already
     carry the true image-plane motion, which smoothing would only remove,
     while noisy ones need it (``image_accel_sigma``);
   - joint limits: knees and elbows are hinges that only flex, from 0 to
     ``max_flexion_deg``; a violation costs ``limit_sigma_deg`` per unit;
   - torso turns: the spine, the neck and each shoulder turning away from
     the person's median torso shape (see the skeleton below),
     ``torso_turn_sigma_deg`` per unit;
   - foot contacts: a foot in contact keeps still (``contact_sigma_mm`` per
     frame, easing in over ``contact_ramp_s`` from either end of a contact,
     as a real foot slows down to land, and pulling less on steps beyond
     ``contact_huber_mm``, where the contact may be wrong: a pivot, a
     foot that only brushed the floor) with its ankle `ANKLE_ABOVE_FLOOR`
     shins above the floor (``floor_sigma_mm``), which takes out most of
     the foot skating.

   The normal equations are block-banded in time (accelerations couple a
   frame to two neighbours on each side) and are solved exactly with a
   banded Cholesky factorisation: memory and time grow linearly with the
   length of the sequence. The joint limits are enforced exactly at the end.
5. The world frame: Y up (the floor's normal), origin on the floor under the
   pelvis of the first frame, Z horizontal and pointing towards the camera,
   X = Y × Z (the camera's right when it is level). ``world_from_camera``
   maps camera to world coordinates.
6. ``FitConfig.contact_passes`` (2): the floor and contacts are found
   again on the fitted motion and step 4 runs again from the fit. The
   fitted ankles are smoother than the lifted ones, so stances the noise
   hid (late, or missed) are found; it doubles the fitting time.

The skeleton (`rest_offsets`): `skeleton.RIG21`, the H36M17 tree rooted at
the pelvis with four joints added on their parents (zero offsets):
``lower_back`` on the pelvis above the spine, ``neck_base`` and the two
collars on the thorax. Without them the hips and spine, and the shoulders
and neck, were rigid triangles, while in Human3.6M the spine turns against
the hips and the shoulders (shrugs) and neck against the thorax: fitting
ground truth left 18–21 mm of error at spine, neck and shoulders. Rest
pose: standing, facing +Z, arms hanging, every limb and the spine along
±Y, the hips and shoulders along ±X (the person's left is +X), the torso
triangles in the person's median shape (`rest_directions`). Degrees of
freedom: pelvis 3 + translation, hips, shoulders and thorax 3 (ball
joints), knees and elbows 1 (hinges about their local x axis: flexion is a
positive rotation for knees, negative for elbows), spine, neck and the four
added joints 2 (they bend; their twist about the bone is left to the joint
above them, which is where a single camera can see it; the added ones turn
from the rest shape at ``torso_turn_sigma_deg`` per unit cost). The
ankles, wrists and head end the chains: they are end sites (no rotation),
since H36M17 has no point beyond them.

Not done here: fitting frame by frame as frames arrive (`monocap.fit.causal`
does that in closed form, without this problem's terms); ball-joint limits
(hips, shoulders, spine) beyond the hinges.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from threadpoolctl import threadpool_limits

from ..camera import Intrinsics
from ..io.motion import Motion, forward_kinematics
from ..io.results import RunResult
from ..skeleton import H36M17, RIG21, RIG21_H36M17, built_h36m17_joints, to_h36m17
from .filters import whittaker_smooth
from .ground import ANKLE_ABOVE_FLOOR, FEET, Ground, estimate_ground

NUM_JOINTS = len(RIG21)
PARENTS = np.array(RIG21.parents)
CHILDREN = [[c for c in range(NUM_JOINTS) if PARENTS[c] == j] for j in range(NUM_JOINTS)]
TO_H36M = np.array(RIG21_H36M17)
"""``positions_rig[:, TO_H36M]``: the H36M17 joints of RIG21 positions."""
ON_PARENT = RIG21.indices(["lower_back", "neck_base", "l_collar", "r_collar"])
"""RIG21 joints with zero offsets: each turns the one bone below it against the rest of the torso."""
BONE_CHILDREN = np.array([c for _, c in H36M17.bones])
"""Bone k of ``H36M17.bones`` ends at H36M17 joint BONE_CHILDREN[k] (= k + 1)."""

_UP, _DOWN, _LEFT, _RIGHT = (0.0, 1.0, 0.0), (0.0, -1.0, 0.0), (1.0, 0.0, 0.0), (-1.0, 0.0, 0.0)
REST_DIRECTIONS = np.array([{
    "pelvis": (0.0, 0.0, 0.0), "r_hip": _RIGHT, "l_hip": _LEFT, "spine": _UP, "thorax": _UP, "neck_nose": _UP,
    "head": _UP, "l_shoulder": _LEFT, "r_shoulder": _RIGHT}.get(name, _DOWN) for name in H36M17.joints])
"""(17, 3) unit direction of each H36M17 joint from its H36M17 parent in the rest pose (world: Y up, facing +Z).

The children of the pelvis and of the thorax take the person's own directions (`rest_directions`)."""
# The torso's triangles (H36M17): (centre, the joint fixing the up direction, left joint, right joint).
TORSO = [tuple(H36M17.indices(names)) for names in (("pelvis", "spine", "l_hip", "r_hip"),
                                                    ("thorax", "neck_nose", "l_shoulder", "r_shoulder"))]

BALL = RIG21.indices(["pelvis", "r_hip", "l_hip", "thorax", "l_shoulder", "r_shoulder"])
SWING = RIG21.indices(["spine", "neck_nose"]) + ON_PARENT
HINGE_FLEXION_SIGN = {RIG21.index(n): s for n, s in (("r_knee", 1), ("l_knee", 1), ("l_elbow", -1), ("r_elbow", -1))}
"""Hinge joint → sign of its flexion as a rotation about its local x axis (knees bend back, elbows forward)."""
END_SITES = np.array([not CHILDREN[j] for j in range(NUM_JOINTS)])
# A knee whose leg looks bent forwards less than this is read as straight (noise about a straight leg);
# bent further, as a thigh turned outwards, as in sitting cross-legged.
FLIP_MAX_DEG = 30.0

# The optimised parameters of one frame: (joint, kind) per column block, in this order.
_BLOCKS = ([(0, "translation", 3)] + [(j, "ball" if j in BALL else "swing" if j in SWING else "hinge",
                                       3 if j in BALL else 2 if j in SWING else 1)
                                      for j in range(NUM_JOINTS) if not END_SITES[j]])
_OFFSETS = np.cumsum([0] + [n for _, _, n in _BLOCKS])
PARAMS_PER_FRAME = int(_OFFSETS[-1])


def _ancestors(joint: int) -> list[int]:
    out = []
    while joint >= 0:
        out.append(joint)
        joint = PARENTS[joint]
    return out


DESCENDANTS = [[k for k in range(NUM_JOINTS) if k != j and j in _ancestors(k)] for j in range(NUM_JOINTS)]


@dataclass(frozen=True)
class FitConfig:
    """Weights and switches of `fit_person`. A term's sigma is the error that costs as much as one unit."""

    sigma_3d_mm: float = 40.0
    sigma_depth_mm: float = 40.0
    sigma_root_depth_mm: float = 10.0
    """The pelvis's depth against the estimated root's, low-passed at ``root_depth_cutoff_hz``."""
    root_depth_cutoff_hz: float = 0.6
    sigma_2d_px: float = 3.0
    """For keypoints with at least `DETECTOR_JITTER_PX` of jitter; cleaner ones are trusted more
    (`reprojection_sigma`)."""
    sigma_2d_clean_px: float | None = 1.5
    """For exact keypoints (jitter at most half `DETECTOR_JITTER_PX`); None: ``sigma_2d_px`` whatever the jitter."""
    huber_px: float = 15.0
    accel_sigma_depth_mm_s2: float = 4000.0
    accel_sigma_image_mm_s2: float | None = None
    """None: `image_accel_sigma` of the measured keypoint jitter."""
    accel_sigma_image_per_px: float = 4000.0
    """mm/s² at 1 px of keypoint jitter, divided by the jitter: the penalty's weight grows with its variance."""
    min_jitter_px: float = 0.125
    """Clean keypoints (ground truth, mocap) count as this much jitter. Some smoothing must stay: the joint
    limits and contacts switch on and off from frame to frame, which would otherwise show as jerks."""
    joint_limits: bool = True
    max_flexion_deg: float = 150.0
    limit_sigma_deg: float = 0.5
    torso_turn_sigma_deg: float = 10.0
    """How far the spine, the neck and each shoulder turn on their own (the RIG21 joints on their parents)
    from the person's median torso shape."""
    reduce_skating: bool = True
    contact_sigma_mm: float = 2.0
    contact_ramp_s: float = 0.2
    contact_huber_mm: float = 2.0
    floor_sigma_mm: float = 10.0
    min_confidence: float = 0.5
    iterations: int = 8
    contact_passes: int = 2


@dataclass
class FittedPerson:
    """One tracked person fitted to one skeleton; frames are the run's frames first_frame..first_frame+T-1.

    Frames: world = Y up, floor at y = 0, mm (see the module docstring);
    camera = x right, y down, z forward, mm.
    """

    track_id: int
    first_frame: int
    fps: float
    motion: Motion
    """RIG21 tree (names and parents of `skeleton.RIG21`), world frame; rest pose standing, facing +Z,
    limbs along -Y; offsets from ``bone_lengths_mm``; local_rotations (T,21,3,3); root_positions_mm (T,3)."""
    positions_world_mm: np.ndarray
    """(T, 17, 3) fitted H36M17 joints, world frame: ``forward_kinematics(motion)[0][:, RIG21_H36M17]``."""
    positions_cam_mm: np.ndarray
    """(T, 17, 3) fitted joints, absolute, camera frame."""
    raw_cam_mm: np.ndarray
    """(T, 17, 3) lifted joints before fitting, absolute, camera frame (gaps filled by interpolation)."""
    bone_lengths_mm: np.ndarray
    """(16,) one per bone of ``H36M17.bones``, left and right equal."""
    world_from_camera: np.ndarray
    """(4, 4): X_world = M @ [X_cam, 1]."""
    contacts: np.ndarray
    """(T, 2) bool: left / right foot on the floor."""
    present: np.ndarray
    """(T,) bool: frames where the person was tracked with a pose (the others were filled in)."""
    ground: Ground
    """The floor in the camera frame, and what fixed its tilt."""
    keypoint_jitter_px: float
    """The keypoints' frame-to-frame noise (`keypoint_jitter_px`), NaN if the track is too short to tell."""


def fit_run(result: RunResult, config: FitConfig = FitConfig()) -> list[FittedPerson]:
    """Fit every track of a `monocap run` output; one FittedPerson per track with at least one pose."""
    people = []
    for p, track_id in enumerate(result.track_ids):
        frames = np.flatnonzero(result.present[p] & np.isfinite(result.poses3d_mm[p]).all((-2, -1)))
        if len(frames) == 0:
            continue
        span = slice(frames[0], frames[-1] + 1)
        people.append(fit_person(result.poses3d_mm[p, span], result.root_cam_mm[p, span],
                                 result.keypoints_px[p, span], result.scores[p, span], result.intrinsics,
                                 result.fps, track_id=int(track_id), first_frame=int(frames[0]), config=config))
    return people


def with_skeletons(result: RunResult, people: list[FittedPerson]) -> RunResult:
    """``result`` with each fitted person's poses and roots replaced by the fitted ones (``monocap run --skeleton``).

    Frames that had no lifted pose stay NaN; ``bone_lengths_mm`` is NaN for a track not among ``people``.
    """
    poses, roots = result.poses3d_mm.copy(), result.root_cam_mm.copy()
    bones = np.full((len(result.track_ids), len(H36M17.bones)), np.nan, np.float32)
    row = {int(track_id): p for p, track_id in enumerate(result.track_ids)}
    for person in people:
        p, joints = row[person.track_id], person.positions_cam_mm
        frames = person.first_frame + np.flatnonzero(np.isfinite(poses[p, person.first_frame:][:len(joints)])
                                                     .all(axis=(-2, -1)))
        fitted = joints[frames - person.first_frame]
        poses[p, frames], roots[p, frames] = fitted - fitted[:, :1], fitted[:, 0]
        bones[p] = person.bone_lengths_mm
    return replace(result, poses3d_mm=poses, root_cam_mm=roots, bone_lengths_mm=bones)


# The solver multiplies and inverts thousands of blocks of about 60 x 60 in a row. OpenBLAS splits
# each over its threads, which then wait on one another: with another busy process on the 2-core
# development machine one person's fit took 8.4 s, on one thread 0.8 s.
@threadpool_limits.wrap(limits=1, user_api="blas")
def fit_person(poses3d_mm: np.ndarray, root_cam_mm: np.ndarray, keypoints_px: np.ndarray, scores: np.ndarray,
               intrinsics: Intrinsics, fps: float, *, track_id: int = 0, first_frame: int = 0,
               config: FitConfig = FitConfig(), joint_format: str = "coco17") -> FittedPerson:
    """Fit one person's lifted sequence to a skeleton (see the module docstring).

    poses3d_mm: (T, 17, 3) pelvis-relative H36M17 joints, camera frame, mm (NaN where not lifted).
    root_cam_mm: (T, 3) pelvis in the camera frame, mm (NaN where not estimated).
    keypoints_px: (T, K, 2) pixels in ``joint_format`` (COCO17 as `monocap run` writes them), NaN where absent.
    scores: (T, K) confidences in [0, 1].
    """
    poses = np.asarray(poses3d_mm, dtype=np.float64)
    root = np.asarray(root_cam_mm, dtype=np.float64)
    if poses.ndim != 3 or poses.shape[1:] != (len(H36M17), 3) or root.shape != (len(poses), 3):
        raise ValueError(f"fit_person: poses3d_mm must be (T, 17, 3) and root_cam_mm (T, 3), got {poses.shape} "
                         f"and {root.shape}")
    kp, sc = to_h36m17(np.asarray(keypoints_px, dtype=np.float64), np.asarray(scores, dtype=np.float64),
                       joint_format)
    seen = np.isfinite(kp).all(-1)
    sc = np.where(seen, np.clip(np.nan_to_num(sc), 0.0, 1.0), 0.0)
    present = np.isfinite(poses).all((-2, -1)) & np.isfinite(root).all(-1)
    if not present.any():
        raise ValueError(f"fit_person: track {track_id} has no frame with a pose")
    raw = fill_gaps(poses + root[:, None], present)

    bones = estimate_bone_lengths(raw, sc, config.min_confidence)
    directions = rest_directions(raw)
    offsets = rest_offsets(bones, directions)
    shin = bones[H36M17.index("r_ankle") - 1]
    sc_2d = sc.copy()  # the reprojection term holds to observed keypoints only
    sc_2d[:, built_h36m17_joints(joint_format)] = 0.0
    jitter = keypoint_jitter_px(kp)
    config = replace(config, accel_sigma_image_mm_s2=image_accel_sigma(jitter, config),
                     sigma_2d_px=reprojection_sigma(jitter, config), sigma_2d_clean_px=None)
    keypoints_norm = intrinsics.pixels_to_normalized(np.nan_to_num(kp))
    focal = 0.5 * (intrinsics.fx + intrinsics.fy)
    anchor = raw.copy()
    anchor[..., 2] += (whittaker_smooth(raw[:, 0, 2], fps, config.root_depth_cutoff_hz) - raw[:, 0, 2])[:, None]
    local, root_fit, fitted = closed_form_pose(on_rig(raw), directions, config), anchor[:, 0].copy(), raw
    for _ in range(max(1, config.contact_passes)):
        ground, contacts = estimate_ground(fitted, fps, shin)
        problem = _Problem(anchor, present, keypoints_norm, sc_2d, focal, fps, ground,
                           contacts if config.reduce_skating else np.zeros_like(contacts), offsets, config)
        local, root_fit = problem.solve(local, root_fit)
        fitted = problem._fk(local, root_fit)[0][:, TO_H36M]

    world = world_from_camera(ground, root_fit[0])
    rot_w, t_w = world[:3, :3], world[:3, 3]
    local_world = local.copy()
    local_world[:, 0] = rot_w @ local[:, 0]
    motion = skeleton_motion(f"track{track_id}", local_world, root_fit @ rot_w.T + t_w, offsets, fps)
    positions_world = forward_kinematics(motion)[0][:, TO_H36M]
    return FittedPerson(track_id, first_frame, float(fps), motion, positions_world, fitted, raw, bones, world,
                        contacts, present, ground, jitter)


MIN_JITTER_SAMPLES = 30
# Keypoint jitter of a detector at its cleanest: MediaPipe's tracks on demo.mp4 measure 0.9-1.8 px. Keypoints
# with less are trusted more than the default weights do (`reprojection_sigma`, `image_accel_sigma`).
DETECTOR_JITTER_PX = 0.5


def keypoint_jitter_px(keypoints_px: np.ndarray) -> float:
    """The standard deviation of the keypoints' white noise, pixels, from their third differences in time.

    keypoints_px: (T, K, 2), NaN where absent. Third differences of smooth
    motion are small, while those of white noise have 20 times its variance;
    the median absolute one (over 0.6745, a unit Gaussian's) makes the
    estimate robust to fast moves and tracking slips. NaN with fewer than
    `MIN_JITTER_SAMPLES` differences.
    """
    d = np.diff(np.asarray(keypoints_px, dtype=np.float64), 3, axis=0)
    d = np.abs(d[np.isfinite(d)])
    if len(d) < MIN_JITTER_SAMPLES:
        return float("nan")
    return float(np.median(d) / 0.6745 / np.sqrt(20.0))


def reprojection_sigma(jitter_px: float, config: FitConfig) -> float:
    """The reprojection error per unit cost, px: ``sigma_2d_px`` for keypoints with the jitter of a detector
    (`DETECTOR_JITTER_PX` or more; an unknown jitter counts as that), falling in proportion to the jitter to
    ``sigma_2d_clean_px`` at half of it and below (exact keypoints: ground truth, projected mocap)."""
    if config.sigma_2d_clean_px is None or not np.isfinite(jitter_px):
        return float(config.sigma_2d_px)
    scale = np.clip(jitter_px / DETECTOR_JITTER_PX, 0.5, 1.0)
    return float(config.sigma_2d_clean_px + (config.sigma_2d_px - config.sigma_2d_clean_px) * (2 * scale - 1))


def image_accel_sigma(jitter_px: float, config: FitConfig) -> float:
    """The image-plane acceleration sigma, mm/s²: the config's own, or one that falls as 1 / jitter.

    Least squares balances data against a smoothness penalty best when the
    penalty's weight grows with the data's noise variance; an unknown jitter
    (a short track) counts as 1 px, about what MediaPipe shows at 30 fps.
    """
    if config.accel_sigma_image_mm_s2 is not None:
        return float(config.accel_sigma_image_mm_s2)
    jitter = 1.0 if not np.isfinite(jitter_px) else max(jitter_px, config.min_jitter_px)
    return config.accel_sigma_image_per_px / jitter


# -- skeleton ---------------------------------------------------------------------------------------

def estimate_bone_lengths(joints_mm: np.ndarray, scores: np.ndarray, min_confidence: float) -> np.ndarray:
    """(16,) bone lengths, mm: per bone the median over confident frames, then left = right = their mean.

    joints_mm: (T, 17, 3); scores: (T, 17) H36M17 confidences. A bone with fewer than 3 confident
    frames takes the median over all frames.
    """
    par, chi = np.array(H36M17.bones).T
    lengths = np.linalg.norm(joints_mm[:, chi] - joints_mm[:, par], axis=-1)
    confident = np.minimum(scores[:, chi], scores[:, par]) >= min_confidence
    confident[:, confident.sum(0) < 3] = True
    median = np.array([np.median(lengths[confident[:, b], b]) for b in range(len(chi))])
    mirror = [list(chi).index(H36M17.flip_perm[c]) for c in chi]
    return 0.5 * (median + median[mirror])


def rest_directions(joints_mm: np.ndarray) -> np.ndarray:
    """(17, 3) rest directions: `REST_DIRECTIONS` with the person's own pelvis and thorax shapes.

    The shape of the pelvis (hips, spine) and of the thorax (shoulders,
    neck) differs from person to person and from dataset to dataset
    (Human3.6M's shoulders sit about 20 degrees below the thorax, its neck
    point ahead of it). Each triangle's rest shape is the median over the
    frames of its children's directions in its own frame (x from the right
    to the left child, y towards the up child), made left/right symmetric;
    the spine, the neck and the shoulders turn away from it in the fit
    (`ON_PARENT`, ``FitConfig.torso_turn_sigma_deg``).
    """
    directions = REST_DIRECTIONS.copy()
    for centre, up, left, right in TORSO:
        x = _unit(joints_mm[:, left] - joints_mm[:, right])
        y = joints_mm[:, up] - joints_mm[:, centre]
        y = _unit(y - (y * x).sum(-1, keepdims=True) * x)
        frame = np.stack([x, y, np.cross(x, y)], axis=1)  # rows: the triangle's axes
        local = {j: np.median((frame @ _unit(joints_mm[:, j] - joints_mm[:, centre])[..., None])[..., 0], axis=0)
                 for j in (up, left, right)}
        side = 0.5 * (local[left] + local[right] * [-1.0, 1.0, 1.0])
        directions[left], directions[right] = _unit(side), _unit(side * [-1.0, 1.0, 1.0])
        directions[up] = _unit(local[up] * [0.0, 1.0, 1.0])
    return directions


def rest_offsets(bone_lengths_mm: np.ndarray, directions: np.ndarray = REST_DIRECTIONS) -> np.ndarray:
    """(21, 3) rest offsets of the RIG21 joints from their parents, mm (zero for the root and `ON_PARENT`).

    bone_lengths_mm: (16,) per bone of ``H36M17.bones``; directions: (17, 3) per H36M17 joint.
    """
    offsets = np.zeros((NUM_JOINTS, 3))
    offsets[TO_H36M[BONE_CHILDREN]] = directions[BONE_CHILDREN] * np.asarray(bone_lengths_mm)[:, None]
    return offsets


def on_rig(joints_mm: np.ndarray) -> np.ndarray:
    """(T, 17, 3) H36M17 joints → (T, 21, 3) RIG21 joints, those on their parents placed there."""
    out = np.empty((len(joints_mm), NUM_JOINTS, 3))
    out[:, TO_H36M] = joints_mm
    out[:, ON_PARENT] = out[:, PARENTS[ON_PARENT]]
    return out


def world_from_camera(ground: Ground, pelvis_cam_mm: np.ndarray) -> np.ndarray:
    """(4, 4) camera → world: Y = the floor's up, origin on the floor under the given pelvis, Z towards the camera."""
    y = ground.up_cam
    towards_camera = -np.array([0.0, 0.0, 1.0])
    z = towards_camera - (towards_camera @ y) * y
    if np.linalg.norm(z) < 1e-6:  # a camera looking straight down: keep the image's down direction as -Z
        z = np.array([0.0, 1.0, 0.0]) - y[1] * y
    z /= np.linalg.norm(z)
    rot = np.stack([np.cross(y, z), y, z])  # rows: world axes in camera coordinates
    origin = pelvis_cam_mm - ground.height_mm(pelvis_cam_mm) * y
    out = np.eye(4)
    out[:3, :3], out[:3, 3] = rot, -rot @ origin
    return out


def fill_gaps(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(T, ...) values with the frames where ``valid`` is False linearly interpolated (ends held)."""
    frames = np.flatnonzero(valid)
    flat = values.reshape(len(values), -1)
    out = np.empty_like(flat, dtype=np.float64)
    for i in range(flat.shape[1]):
        out[:, i] = np.interp(np.arange(len(values)), frames, flat[frames, i])
    return out.reshape(values.shape)


def skeleton_motion(name: str, local: np.ndarray, root: np.ndarray, offsets: np.ndarray, fps: float) -> Motion:
    return Motion(name, list(RIG21.joints), PARENTS.copy(), offsets, END_SITES.copy(), local, root, float(fps))


# -- rotations --------------------------------------------------------------------------------------

def _exp(rotvec: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) from rotation vectors (..., 3) (Rodrigues)."""
    angle = np.linalg.norm(rotvec, axis=-1)[..., None, None]
    k = _skew(rotvec)
    small = angle < 1e-8
    safe = np.where(small, 1.0, angle)
    a = np.where(small, 1.0, np.sin(safe) / safe)
    b = np.where(small, 0.5, (1 - np.cos(safe)) / safe**2)
    return np.eye(3) + a * k + b * (k @ k)


def _log(rotation: np.ndarray) -> np.ndarray:
    """Rotation vectors (..., 3) of rotation matrices (..., 3, 3), angles below 180 degrees."""
    cos = np.clip((np.trace(rotation, axis1=-2, axis2=-1) - 1.0) / 2.0, -1.0, 1.0)
    angle = np.arccos(cos)
    sin = np.sin(angle)
    twice_sin_axis = np.stack([rotation[..., 2, 1] - rotation[..., 1, 2], rotation[..., 0, 2] - rotation[..., 2, 0],
                               rotation[..., 1, 0] - rotation[..., 0, 1]], axis=-1)
    scale = np.where(sin > 1e-8, angle / (2.0 * np.maximum(sin, 1e-12)), 0.5)
    return twice_sin_axis * scale[..., None]


def _skew(v: np.ndarray) -> np.ndarray:
    out = np.zeros(v.shape[:-1] + (3, 3))
    out[..., 0, 1], out[..., 0, 2], out[..., 1, 2] = -v[..., 2], v[..., 1], -v[..., 0]
    return out - np.swapaxes(out, -1, -2)


def _rot_x(angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    out = np.zeros(angle.shape + (3, 3))
    out[..., 0, 0] = 1.0
    out[..., 1, 1], out[..., 1, 2], out[..., 2, 1], out[..., 2, 2] = c, -s, s, c
    return out


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation (..., 3, 3) taking unit vectors a to b (..., 3)."""
    axis = np.cross(a, b)
    sin = np.linalg.norm(axis, axis=-1)
    cos = (a * b).sum(-1)
    # Opposite vectors: turn half a circle about any axis perpendicular to a.
    other = np.where(np.abs(a[..., :1]) < 0.9, [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
    axis = np.where((sin < 1e-8)[..., None], _unit(np.cross(a, other)) * (cos < 0)[..., None], _unit(axis))
    return _exp(axis * np.arctan2(sin, cos)[..., None])


def _kabsch(rest: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rotations (T, 3, 3) best taking rest directions (n, 3) to target directions (T, n, 3)."""
    u, _, vt = np.linalg.svd(np.einsum("ni,tnj->tji", rest, target))
    d = np.sign(np.linalg.det(u @ vt))
    u[..., :, -1] *= d[..., None]
    return u @ vt


def closed_form_pose(joints: np.ndarray, directions: np.ndarray, config: FitConfig,
                     turn_torso: bool = False) -> np.ndarray:
    """Local rotations (T, 21, 3, 3) of the skeleton pointing every bone along the lifted one (closed form).

    joints: (T, 21, 3) RIG21 (`on_rig`); directions: (17, 3) H36M17 rest
    directions. Multi-child joints (pelvis, thorax) take the best rotation of
    their child directions (Kabsch); the joints on them (`ON_PARENT`) stay
    unturned, leaving their turns to the fit, or with ``turn_torso`` swing
    their bone onto the lifted one like the spine (live use); hips
    and shoulders turn the thigh / upper arm onto the bone and the hinge axis
    of the knee / elbow onto the normal of the limb's bending plane; spine
    and neck bend the least that reaches the bone.
    """
    T = len(joints)
    glob = np.repeat(np.eye(3)[None, None], NUM_JOINTS, axis=1).repeat(T, axis=0)
    local = glob.copy()
    directions = rest_offsets(np.ones(len(BONE_CHILDREN)), directions)  # per RIG21 joint, unit or zero

    def direction(j):
        return _unit(joints[:, j] - joints[:, PARENTS[j]])

    def bone_end(j):  # a joint on its parent stands for the one bone below it
        return CHILDREN[j][0] if j in ON_PARENT else j

    for j in range(NUM_JOINTS):
        p = PARENTS[j]
        parent = glob[:, p] if p >= 0 else np.eye(3)
        kids = CHILDREN[j]
        if not kids or (j in ON_PARENT and not turn_torso):
            glob[:, j] = parent
            continue
        if len(kids) > 1:
            ends = [bone_end(c) for c in kids]
            glob[:, j] = _kabsch(directions[ends], np.stack([direction(c) for c in ends], 1))
        elif j in SWING:
            glob[:, j] = _rotation_between(parent @ directions[kids[0]], direction(kids[0])) @ parent
        elif j in HINGE_FLEXION_SIGN:
            # The hinge axis came from the joint above (see below); the rest is the bend angle.
            bone, axis = direction(kids[0]), parent[..., 0]
            up_bone = -parent[..., 1]
            angle = np.arctan2((np.cross(up_bone, bone) * axis).sum(-1), (up_bone * bone).sum(-1))
            flexion = HINGE_FLEXION_SIGN[j] * angle
            if config.joint_limits:
                flexion = np.clip(flexion, 0.0, np.radians(config.max_flexion_deg))
            local[:, j] = _rot_x(HINGE_FLEXION_SIGN[j] * flexion)
            glob[:, j] = parent @ local[:, j]
            continue
        else:  # hips, shoulders: a limb's first bone, whose child is a hinge
            kid = kids[0]
            upper, lower = direction(kid), direction(CHILDREN[kid][0])
            # Axis with zero twist: the parent's x carried by the smallest swing onto the bone...
            reference = (_rotation_between(parent @ directions[kid], upper) @ parent)[..., 0]
            # ...replaced by the bending plane's normal as the limb bends (flexion positive).
            bend = HINGE_FLEXION_SIGN[kid] * np.cross(upper, lower)
            if HINGE_FLEXION_SIGN[kid] > 0:
                # A knee never bends forwards: a leg slightly bent so is a straight one (`FLIP_MAX_DEG`).
                forwards = (bend * reference).sum(-1) < 0
                forwards &= (upper * lower).sum(-1) > np.cos(np.radians(FLIP_MAX_DEG))
                bend *= np.where(forwards, -1.0, 1.0)[..., None]
            axis = bend + 0.25 * reference
            axis = _unit(axis - (axis * upper).sum(-1, keepdims=True) * upper)
            glob[:, j] = np.stack([axis, -upper, np.cross(axis, -upper)], axis=-1)
        local[:, j] = np.swapaxes(parent, -1, -2) @ glob[:, j]
    return local


# -- the least-squares problem ------------------------------------------------------------------------

class _Problem:
    """Every term of the fit over all frames, its Gauss-Newton normal equations and their solution."""

    def __init__(self, lifted_mm: np.ndarray, present: np.ndarray, keypoints_norm: np.ndarray, scores: np.ndarray,
                 focal_px: float, fps: float, ground: Ground, contacts: np.ndarray, offsets_mm: np.ndarray,
                 config: FitConfig):
        self.target = _pelvis_relative(lifted_mm)
        # Per camera axis: a lifter is least sure of depth (z), which the image does not show, and
        # surer of the pose than of where the pelvis is. Filled-in frames only lightly hold on.
        per_axis = np.tile([config.sigma_3d_mm, config.sigma_3d_mm, config.sigma_depth_mm], (len(H36M17), 1))
        per_axis[0, 2] = config.sigma_root_depth_mm
        self.w3d = np.where(present, 1.0, 0.1)[:, None, None] * per_axis**-2.0
        self.kp, self.scores = keypoints_norm, scores
        self.focal = focal_px
        self.config = config
        image = config.accel_sigma_image_mm_s2  # fit_person has set it from the keypoints' jitter
        self.w_acc = (fps**2 / np.array([image, image, config.accel_sigma_depth_mm_s2]))**2  # per camera axis
        self.ground, self.contacts = ground, contacts
        self.still = _stillness(contacts, fps, config.contact_ramp_s)
        shin = np.linalg.norm(offsets_mm[RIG21.index("r_ankle")])
        self.ankle_level = ground.level_mm + ANKLE_ABOVE_FLOOR * shin
        self.offsets = offsets_mm
        self.fps = fps

    def solve(self, local: np.ndarray, root: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Levenberg-Marquardt from initial local rotations and root positions; returns both fitted."""
        hinge = {j: HINGE_FLEXION_SIGN[j] * np.arctan2(local[:, j, 2, 1], local[:, j, 1, 1])
                 for j in HINGE_FLEXION_SIGN}
        cost = self.cost(local, root, hinge)
        damping = 1e-3
        for _ in range(self.config.iterations):
            positions, glob = self._fk(local, root)
            jac = self._jacobian(positions, glob)
            hess, grad = self._normal_equations(positions, jac, hinge, local, glob)
            for _attempt in range(4):
                step = self._solve_banded(hess, grad, damping)
                candidate = self._apply(local, root, hinge, glob, positions, step)
                new_cost = self.cost(*candidate)
                if new_cost <= cost:
                    damping = max(damping / 3, 1e-6)
                    break
                damping *= 10
            else:
                break
            (local, root, hinge), cost = candidate, new_cost
        if self.config.joint_limits:
            limit = np.radians(self.config.max_flexion_deg)
            for j, flexion in hinge.items():
                local[:, j] = _rot_x(HINGE_FLEXION_SIGN[j] * np.clip(flexion, 0.0, limit))
        return local, root

    def _fk(self, local: np.ndarray, root: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """RIG21 positions (T, 21, 3) and global rotations (T, 21, 3, 3), camera frame."""
        return forward_kinematics(skeleton_motion("fit", local, root, self.offsets, self.fps))

    # Residuals, each (T, ...) with its weight; the cost is the weighted sum of squares. Positions in
    # the residuals are the H36M17 joints (T, 17, 3), which the data terms are about.

    def _residual_2d(self, positions: np.ndarray):
        """Reprojection error in pixels (T, 17, 2), its IRLS weights (T, 17), and d(error)/d(position)."""
        z = np.maximum(positions[..., 2], 1.0)
        proj = positions[..., :2] / z[..., None]
        error = self.focal * (proj - self.kp)
        norm = np.linalg.norm(error, axis=-1)
        huber = np.where(norm > self.config.huber_px, self.config.huber_px / np.maximum(norm, 1e-9), 1.0)
        weight = self.scores * huber / self.config.sigma_2d_px**2
        d = np.zeros(positions.shape[:-1] + (2, 3))
        d[..., 0, 0] = d[..., 1, 1] = self.focal / z
        d[..., :, 2] = -self.focal * proj / z[..., None]
        return error, weight, d

    def _still_weight(self, positions: np.ndarray) -> np.ndarray:
        """(T-1, 2) IRLS weights of the ankles' keep-still steps: the eased-in contacts, Huber beyond the threshold."""
        step = np.linalg.norm(np.diff(positions[:, FEET], axis=0), axis=-1)
        huber = self.config.contact_huber_mm
        return self.still * np.where(step > huber, huber / np.maximum(step, 1e-9), 1.0)

    def cost(self, local: np.ndarray, root: np.ndarray, hinge: dict) -> float:
        positions = self._fk(local, root)[0][:, TO_H36M]
        total = (self.w3d * (_pelvis_relative(positions) - self.target)**2).sum()
        error, weight, _ = self._residual_2d(positions)
        total += (weight * (error**2).sum(-1)).sum()
        total += (self.w_acc * np.diff(positions, 2, axis=0)**2).sum()
        total += self._limit_cost(hinge)
        total += (_log(local[:, ON_PARENT])**2).sum() / np.radians(self.config.torso_turn_sigma_deg)**2
        ankles = positions[:, FEET]
        total += (((ankles[1:] - ankles[:-1])**2).sum(-1) * self._still_weight(positions)).sum() \
            / self.config.contact_sigma_mm**2
        total += (((ankles @ self.ground.up_cam - self.ankle_level)**2) * self.contacts).sum() \
            / self.config.floor_sigma_mm**2
        return float(total)

    def _limit_cost(self, hinge: dict) -> float:
        if not self.config.joint_limits:
            return 0.0
        over = [self._limit_excess(f) for f in hinge.values()]
        return float(sum((o**2).sum() for o in over)) / np.radians(self.config.limit_sigma_deg)**2

    def _limit_excess(self, flexion: np.ndarray) -> np.ndarray:
        """How far each flexion lies outside [0, max] (signed: negative below 0), radians."""
        return np.minimum(flexion, 0.0) + np.maximum(flexion - np.radians(self.config.max_flexion_deg), 0.0)

    def _jacobian(self, positions: np.ndarray, glob: np.ndarray) -> np.ndarray:
        """d(H36M17 joint positions)/d(parameters) per frame, (T, 17, 3, PARAMS_PER_FRAME), from RIG21 FK."""
        T = len(positions)
        jac = np.zeros((T, NUM_JOINTS, 3, PARAMS_PER_FRAME))
        jac[:, :, :, 0:3] = np.eye(3)
        for (j, kind, n), start in zip(_BLOCKS[1:], _OFFSETS[1:-1]):
            axes = self._axes(j, kind, positions, glob)  # (T, n, 3) world rotation axes
            desc = DESCENDANTS[j]
            lever = positions[:, desc] - positions[:, j, None]  # (T, D, 3)
            # d P_k / d angle about axis a = a x (P_k - P_j)
            jac[:, desc, :, start:start + n] = np.swapaxes(np.cross(axes[:, None, :, :], lever[:, :, None, :]), -1, -2)
        return jac[:, TO_H36M]

    @staticmethod
    def _axes(j: int, kind: str, positions: np.ndarray, glob: np.ndarray) -> np.ndarray:
        T = len(positions)
        if kind == "ball":
            return np.broadcast_to(np.eye(3), (T, 3, 3))
        if kind == "hinge":
            return glob[:, j, :, 0][:, None]
        bone = _unit(positions[:, CHILDREN[j][0]] - positions[:, j])
        # Any axis across the bone will do: the joint's x, or its z where x runs along the bone (collars).
        along = np.abs((bone * glob[:, j, :, 0]).sum(-1)) > 0.7
        across = np.where(along[:, None], glob[:, j, :, 2], glob[:, j, :, 0])
        first = _unit(np.cross(bone, across))
        return np.stack([first, np.cross(bone, first)], axis=1)

    def _normal_equations(self, rig_positions: np.ndarray, jac: np.ndarray, hinge: dict, local: np.ndarray,
                          glob: np.ndarray):
        """Gauss-Newton H (as blocks: diagonal (T,n,n), first and second sub-diagonal) and gradient (T, n).

        rig_positions (T, 21, 3), local and glob (T, 21, 3, 3): RIG21 FK; jac from `_jacobian`.
        """
        positions = rig_positions[:, TO_H36M]
        T, n = len(positions), PARAMS_PER_FRAME
        # 3D and 2D terms: one frame each.
        h0, grad = _weighted_gram(_pelvis_relative(jac), self.w3d, _pelvis_relative(positions) - self.target)
        error, weight, d2 = self._residual_2d(positions)
        h2d, g2d = _weighted_gram(d2 @ jac, weight[..., None].repeat(2, -1), error)
        h0 += h2d
        grad += g2d
        # Joint limits: one parameter each.
        if self.config.joint_limits:
            w_lim = 1.0 / np.radians(self.config.limit_sigma_deg)**2
            for (j, kind, _), start in zip(_BLOCKS, _OFFSETS):
                if kind == "hinge":
                    excess = self._limit_excess(hinge[j])
                    outside = (excess != 0) * w_lim
                    h0[:, start, start] += outside
                    grad[:, start] += outside * excess * HINGE_FLEXION_SIGN[j]
        # Torso turns: a joint on its parent turns its bone by log(local), which a step about its
        # (world) axes changes by the parent's view of those axes.
        w_turn = 1.0 / np.radians(self.config.torso_turn_sigma_deg)**2
        for (j, kind, k), start in zip(_BLOCKS, _OFFSETS):
            if j in ON_PARENT:
                axes = self._axes(j, kind, rig_positions, glob)  # (T, 2, 3)
                d_turn = np.swapaxes(glob[:, PARENTS[j]], -1, -2) @ np.swapaxes(axes, -1, -2)  # (T, 3, 2)
                h0[:, start:start + k, start:start + k] += w_turn * _gram(d_turn, d_turn)
                grad[:, start:start + k] += w_turn * _apply_transposed(d_turn, _log(local[:, j]))
        h1 = np.zeros((max(T - 1, 0), n, n))
        h2 = np.zeros((max(T - 2, 0), n, n))
        # Smoothness: acceleration x[t+1] - 2 x[t] + x[t-1] couples three frames.
        if T >= 3:
            flat = jac.reshape(T, -1, n)
            acc = np.diff(positions, 2, axis=0).reshape(T - 2, -1)
            a, b, c = flat[:-2], flat[1:-1], flat[2:]  # frames t-1, t, t+1 of each acceleration
            w = np.tile(self.w_acc, len(H36M17))[:, None]  # rows: x, y, z of each joint
            h0[:-2] += _gram(w * a, a)
            h0[1:-1] += 4 * _gram(w * b, b)
            h0[2:] += _gram(w * c, c)
            h1[:-1] += -2 * _gram(w * b, a)  # block (t, t-1)
            h1[1:] += -2 * _gram(w * c, b)   # block (t+1, t)
            h2 += _gram(w * c, a)            # block (t+1, t-1)
            weighted = w[:, 0] * acc
            grad[:-2] += _apply_transposed(a, weighted)
            grad[1:-1] += -2 * _apply_transposed(b, weighted)
            grad[2:] += _apply_transposed(c, weighted)
        # Contacts: a planted ankle keeps still between frames and stays at the floor.
        if self.contacts.any() and T >= 2:
            w = 1.0 / self.config.contact_sigma_mm**2
            still_weight = self._still_weight(positions)
            for f, joint in enumerate(FEET):
                still = still_weight[:, f, None, None] * w
                ja = jac[:, joint]  # (T, 3, n)
                p, q = ja[:-1], ja[1:]
                move = (positions[1:, joint] - positions[:-1, joint]) * still[:, :, 0]
                h0[:-1] += still * _gram(p, p)
                h0[1:] += still * _gram(q, q)
                h1 -= still * _gram(q, p)
                grad[:-1] -= _apply_transposed(p, move)
                grad[1:] += _apply_transposed(q, move)
                on = self.contacts[:, f].astype(float) / self.config.floor_sigma_mm**2
                jh = np.einsum("i,tia->ta", self.ground.up_cam, ja)
                h0 += on[:, None, None] * jh[:, :, None] * jh[:, None, :]
                grad += (on * (positions[:, joint] @ self.ground.up_cam - self.ankle_level))[:, None] * jh
        return (h0, h1, h2), grad

    @staticmethod
    def _solve_banded(hess, grad: np.ndarray, damping: float) -> np.ndarray:
        """Solve (H + damping * diag(H)) step = -grad for H block-banded (two blocks below the diagonal).

        Block Cholesky, frame by frame: H = L L^T with L's blocks (t, t), (t, t-1), (t, t-2); then
        forward and back substitution. Time and memory grow linearly with the number of frames.
        """
        h0, h1, h2 = hess
        T, n = grad.shape
        idx = np.arange(n)
        inv_diag = np.empty_like(h0)          # inverse of block (t, t) of L
        below1 = np.zeros((T + 1, n, n))      # block (t, t-1) of L
        below2 = np.zeros((T + 2, n, n))      # block (t, t-2) of L
        y = np.zeros((T + 2, n))              # forward substitution, two zero frames in front
        for t in range(T):
            block = h0[t] - below1[t] @ below1[t].T - below2[t] @ below2[t].T
            block[idx, idx] += damping * h0[t, idx, idx] + 1e-9
            inv = np.linalg.inv(np.linalg.cholesky(block))
            inv_diag[t] = inv
            y[t + 2] = inv @ (-grad[t] - below1[t] @ y[t + 1] - below2[t] @ y[t])
            if t + 1 < T:
                below1[t + 1] = (h1[t] - below2[t + 1] @ below1[t].T) @ inv.T
            if t + 2 < T:
                below2[t + 2] = h2[t] @ inv.T
        step = np.zeros((T + 2, n))           # back substitution, two zero frames behind
        for t in range(T - 1, -1, -1):
            step[t] = inv_diag[t].T @ (y[t + 2] - below1[t + 1].T @ step[t + 1] - below2[t + 2].T @ step[t + 2])
        return step[:T]

    @staticmethod
    def _apply(local, root, hinge, glob, positions, step):
        """The parameters moved by ``step`` (T, n)."""
        local, hinge = local.copy(), dict(hinge)
        root = root + step[:, 0:3]
        for (j, kind, n), start in zip(_BLOCKS[1:], _OFFSETS[1:-1]):
            s = step[:, start:start + n]
            if kind == "hinge":
                hinge[j] = hinge[j] + HINGE_FLEXION_SIGN[j] * s[:, 0]
                local[:, j] = _rot_x(HINGE_FLEXION_SIGN[j] * hinge[j])
                continue
            axes = _Problem._axes(j, kind, positions, glob)
            rotvec = np.einsum("tn,tni->ti", s, axes)
            parent = glob[:, PARENTS[j]] if PARENTS[j] >= 0 else np.broadcast_to(np.eye(3), glob[:, 0].shape)
            local[:, j] = _exp(np.einsum("tji,tj->ti", parent, rotvec)) @ local[:, j]
        return local, root, hinge


def _stillness(contacts: np.ndarray, fps: float, ramp_s: float) -> np.ndarray:
    """(T-1, 2) weight of "this ankle keeps still from frame t to t+1": 1 inside a contact, ramping up from its ends.

    A foot slows down over the last frames before it lands and speeds up
    after it lifts: holding it still at full weight right from a contact's
    first frame would stop it dead there.
    """
    still = contacts[1:] & contacts[:-1]
    steps = np.arange(len(still))[:, None]
    far = len(still) + 1
    # Per step, how many steps away the nearest step that is not still lies (beyond either end: none).
    since = steps - np.maximum.accumulate(np.where(still, -far, steps), axis=0)
    until = np.minimum.accumulate(np.where(still, 2 * far, steps)[::-1], axis=0)[::-1] - steps
    return np.where(still, np.minimum(1.0, np.minimum(since, until) / max(1.0, ramp_s * fps)), 0.0)


def _pelvis_relative(x: np.ndarray) -> np.ndarray:
    """(T, 17, ...) → the pelvis's own entry, and every other joint's minus the pelvis's (also for Jacobians)."""
    out = x.copy()
    out[:, 1:] -= x[:, :1]
    return out


def _gram(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per frame a^T b: (T, r, n) and (T, r, m) → (T, n, m)."""
    return np.swapaxes(a, -1, -2) @ b


def _apply_transposed(a: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Per frame a^T v: (T, r, n) and (T, r) → (T, n)."""
    return (np.swapaxes(a, -1, -2) @ v[..., None])[..., 0]


def _weighted_gram(jac: np.ndarray, weight: np.ndarray, residual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """J^T W J and J^T W r per frame for diagonal weights: jac (T, K, D, n), weight and residual (T, K, D)."""
    T, n = jac.shape[0], jac.shape[-1]
    flat = jac.reshape(T, -1, n)
    weighted = flat * weight.reshape(T, -1)[..., None]
    return _gram(weighted, flat), _apply_transposed(weighted, residual.reshape(T, -1))
