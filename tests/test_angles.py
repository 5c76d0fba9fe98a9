"""Joint angles: sign conventions on hand-made poses, and behaviour over real Human3.6M clips."""
import numpy as np
import pytest

from monocap.fit.angles import ANGLE_NAMES, joint_angles
from monocap.io.h36m import Z_UP_TO_Y_UP, load_h36m_poses
from monocap.skeleton import H36M17

# An upright person in body coordinates (forward, up, right), mm: legs and arms straight down.
STANDING = {
    "pelvis": (0, 1000, 0), "r_hip": (0, 1000, 100), "r_knee": (0, 550, 100), "r_ankle": (0, 100, 100),
    "l_hip": (0, 1000, -100), "l_knee": (0, 550, -100), "l_ankle": (0, 100, -100), "spine": (0, 1250, 0),
    "thorax": (0, 1500, 0), "neck_nose": (80, 1600, 0), "head": (0, 1700, 0),
    "l_shoulder": (0, 1450, -180), "l_elbow": (0, 1150, -180), "l_wrist": (0, 900, -180),
    "r_shoulder": (0, 1450, 180), "r_elbow": (0, 1150, 180), "r_wrist": (0, 900, 180),
}


def direction(forward: float, up: float, right: float) -> np.ndarray:
    return np.array([forward, up, right], dtype=np.float64)


def pose(yaw_deg: float = 130.0, **moved) -> np.ndarray:
    """(1, 17, 3) world positions (Y up) of STANDING with some joints moved, facing ``yaw_deg`` about the vertical."""
    joints = {name: np.array(p, dtype=np.float64) for name, p in STANDING.items()}
    joints.update({name: np.asarray(p, dtype=np.float64) for name, p in moved.items()})
    yaw = np.radians(yaw_deg)
    forward, up = np.array([np.sin(yaw), 0.0, np.cos(yaw)]), np.array([0.0, 1.0, 0.0])
    body_to_world = np.stack([forward, up, np.cross(forward, up)], axis=1)  # right = forward x up
    return np.stack([body_to_world @ joints[name] for name in H36M17.joints])[None]


def angles_of(positions: np.ndarray) -> dict[str, float]:
    a = joint_angles(positions, fps=50.0)
    return {name: float(a[name][0]) for name in a.names}


def rotate_about(point, axis, degrees, *names, joints=None) -> dict:
    """STANDING joints ``names`` turned about ``axis`` (body coordinates) through ``point``."""
    axis = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    t = np.radians(degrees)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rotation = np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * k @ k  # Rodrigues
    joints = joints or STANDING
    point = np.asarray(point, dtype=np.float64)
    return {n: point + rotation @ (np.asarray(joints[n], dtype=np.float64) - point) for n in names}


def test_standing_is_zero_and_rotations_need_a_bent_hinge():
    a = angles_of(pose())
    for name in ANGLE_NAMES:
        if name.endswith("internal_rotation"):
            assert np.isnan(a[name]), name
        else:
            assert a[name] == pytest.approx(0.0, abs=1e-9), name


def test_leg_signs():
    hip = np.array(STANDING["r_hip"], dtype=np.float64)
    # Sitting on the right leg: thigh forward, shank down.
    knee = hip + 450 * direction(1, 0, 0)
    a = angles_of(pose(r_knee=knee, r_ankle=knee + 450 * direction(0, -1, 0)))
    assert (a["r_hip_flexion"], a["r_knee_flexion"]) == pytest.approx((90.0, 90.0))
    assert (a["r_hip_adduction"], a["r_hip_internal_rotation"]) == pytest.approx((0.0, 0.0), abs=1e-9)
    # From there the foot swinging out means the thigh turns in (internal rotation).
    out = direction(0, -np.cos(np.radians(30)), np.sin(np.radians(30)))
    a = angles_of(pose(r_knee=knee, r_ankle=knee + 450 * out))
    assert a["r_hip_internal_rotation"] == pytest.approx(30.0)
    # Thigh backwards (extension), knee bending the shank backwards.
    knee = hip + 450 * direction(-np.sin(np.radians(20)), -np.cos(np.radians(20)), 0)
    a = angles_of(pose(r_knee=knee, r_ankle=knee + 450 * direction(-1, -1, 0) / np.sqrt(2)))
    assert (a["r_hip_flexion"], a["r_knee_flexion"]) == pytest.approx((-20.0, 25.0))
    # Knee out to the side: abduction reads as negative adduction.
    knee = hip + 450 * direction(0, -np.cos(np.radians(20)), np.sin(np.radians(20)))
    a = angles_of(pose(r_knee=knee, r_ankle=knee + 450 * direction(0, -1, 0)))
    assert (a["r_hip_adduction"], a["r_hip_flexion"]) == pytest.approx((-20.0, 0.0), abs=1e-9)


def test_arm_signs():
    shoulder = np.array(STANDING["r_shoulder"], dtype=np.float64)
    cases = [  # elbow direction from the shoulder -> (flexion, abduction, elevation)
        (direction(1, 0, 0), (90.0, 0.0, 90.0)),
        (direction(0, 1, 0), (180.0, 0.0, 180.0)),
        (direction(-1, -1, 0), (-45.0, 0.0, 45.0)),
        (direction(0, -1, 1), (0.0, 45.0, 45.0)),
        (direction(0, 0, 1), (np.nan, 90.0, 90.0)),  # straight out sideways: flexion is at gimbal lock
    ]
    for towards, expected in cases:
        elbow = shoulder + 300 * towards / np.linalg.norm(towards)
        a = angles_of(pose(r_elbow=elbow, r_wrist=elbow + 250 * towards / np.linalg.norm(towards)))
        got = (a["r_shoulder_flexion"], a["r_shoulder_abduction"], a["r_shoulder_elevation"])
        assert got == pytest.approx(expected, nan_ok=True, abs=1e-9), towards
    # Elbow bent 90 degrees with the forearm forward, then turned towards the belly.
    elbow = np.array(STANDING["r_elbow"], dtype=np.float64)
    a = angles_of(pose(r_wrist=elbow + 250 * direction(1, 0, 0)))
    assert (a["r_elbow_flexion"], a["r_shoulder_internal_rotation"]) == pytest.approx((90.0, 0.0), abs=1e-9)
    inwards = direction(np.cos(np.radians(30)), 0, -np.sin(np.radians(30)))
    assert angles_of(pose(r_wrist=elbow + 250 * inwards))["r_shoulder_internal_rotation"] == pytest.approx(30.0)


def test_trunk_signs():
    upper = ("spine", "thorax", "neck_nose", "head", "l_shoulder", "l_elbow", "l_wrist", "r_shoulder", "r_elbow",
             "r_wrist")
    pelvis = STANDING["pelvis"]
    a = angles_of(pose(**rotate_about(pelvis, (0, 0, -1), 30, *upper)))  # the head towards the front
    assert (a["trunk_forward_lean"], a["trunk_sideways_lean"]) == pytest.approx((30.0, 0.0), abs=1e-9)
    assert a["r_hip_flexion"] == pytest.approx(30.0), "the thigh ahead of the trunk line"
    a = angles_of(pose(**rotate_about(pelvis, (1, 0, 0), 10, *upper)))  # the head towards the right
    assert (a["trunk_sideways_lean"], a["trunk_forward_lean"]) == pytest.approx((10.0, 0.0), abs=1e-9)
    # Shoulders turned 20 degrees to the left of the hips (counterclockwise seen from above).
    a = angles_of(pose(**rotate_about(pelvis, (0, 1, 0), 20, *upper)))
    assert (a["trunk_rotation"], a["trunk_forward_lean"]) == pytest.approx((20.0, 0.0), abs=1e-9)


def test_mirrored_pose_swaps_sides():
    """Mirroring a bent, twisted pose swaps left and right angles; lean sideways and trunk rotation change sign."""
    shoulder, hip = np.array(STANDING["r_shoulder"], float), np.array(STANDING["r_hip"], float)
    elbow, knee = shoulder + 300 * direction(0.6, -0.5, 0.62), hip + 450 * direction(0.7, -0.6, -0.2)
    moved = {"r_elbow": elbow, "r_wrist": elbow + direction(150, 100, -180), "r_knee": knee,
             "r_ankle": knee + direction(-100, -400, 150), "thorax": direction(60, 1490, 40)}
    positions = pose(**moved)
    a, b = angles_of(positions), angles_of(_mirror_world(positions))
    for name in ANGLE_NAMES:
        twin = {"r_": "l_", "l_": "r_"}.get(name[:2], "") + name[2:] if name[:2] in ("r_", "l_") else name
        sign = -1.0 if name in ("trunk_sideways_lean", "trunk_rotation") else 1.0
        assert b[twin] == pytest.approx(sign * a[name], abs=1e-6, nan_ok=True), name
    assert np.isfinite([a["r_hip_internal_rotation"], a["r_shoulder_internal_rotation"]]).all()


def _mirror_world(positions: np.ndarray) -> np.ndarray:
    """The pose mirrored through the world's x = 0 plane, left and right joints swapped."""
    return (positions * np.array([-1.0, 1.0, 1.0]))[:, list(H36M17.flip_perm)]


def test_undefined_joints_give_nan_only_where_used():
    positions = pose()
    positions[0, H36M17.index("l_wrist")] = np.nan
    a = angles_of(positions)
    assert np.isnan(a["l_elbow_flexion"]) and np.isnan(a["l_shoulder_internal_rotation"])
    assert a["l_shoulder_flexion"] == pytest.approx(0.0, abs=1e-9) and a["r_elbow_flexion"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="H36M-17"):
        joint_angles(np.zeros((4, 16, 3)), fps=30.0)


@pytest.fixture(scope="module")
def h36m_s1(shared_data) -> dict[str, np.ndarray]:
    """S1's clips as (T, 17, 3) mm in a Y-up world."""
    return {s.action: s.joints_world_mm @ Z_UP_TO_Y_UP.T for s in load_h36m_poses(shared_data / "h36m", ("S1",))}


def test_walking_sitting_and_standing_on_real_motion(h36m_s1):
    walking = joint_angles(h36m_s1["Walking 1"], fps=50.0)
    for side in "rl":
        knee = walking[f"{side}_knee_flexion"]
        assert np.percentile(knee, 5) < 15.0, "legs nearly straight in stance"
        assert 40.0 < np.percentile(knee, 95) < 90.0, "knees bend in swing"
        hip = walking[f"{side}_hip_flexion"]
        assert 25.0 < np.percentile(hip, 95) - np.percentile(hip, 5) < 60.0, "the thighs swing back and forth"
    sitting = joint_angles(h36m_s1["Sitting 1"], fps=50.0)
    standing = joint_angles(h36m_s1["Directions 1"], fps=50.0)
    for side in "rl":
        assert np.median(sitting[f"{side}_knee_flexion"]) > 60.0 and np.median(sitting[f"{side}_hip_flexion"]) > 45
        assert np.median(standing[f"{side}_knee_flexion"]) < 15.0 and abs(np.median(standing[f"{side}_hip_flexion"])) < 20
    assert walking.times_s[50] == pytest.approx(1.0)


@pytest.mark.parametrize("action", ["Walking 1", "SittingDown 2", "Greeting 1"])
def test_curves_have_no_jumps_and_do_not_depend_on_heading(h36m_s1, action):
    positions = h36m_s1[action]
    angles = joint_angles(positions, fps=50.0)
    steps = np.abs(np.diff(angles.degrees, axis=0))
    assert np.nanmax(steps) < 90.0, "no wrap-around or gimbal jumps between frames"
    assert np.isfinite(angles.degrees).all(axis=0).sum() >= len(ANGLE_NAMES) - 6, "only rotations go undefined"
    turn = np.radians(75.0)
    yaw = np.array([[np.cos(turn), 0, np.sin(turn)], [0, 1, 0], [-np.sin(turn), 0, np.cos(turn)]])
    turned = joint_angles(positions @ yaw.T + np.array([3000.0, 0.0, -2000.0]), fps=50.0)
    np.testing.assert_allclose(turned.degrees, angles.degrees, atol=1e-6)
