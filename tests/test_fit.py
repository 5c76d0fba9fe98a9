"""Skeleton fitting, ground and contacts (monocap.fit.skeleton, monocap.fit.ground) on real motion."""
import numpy as np
import pytest

from monocap.camera import Intrinsics
from monocap.eval.bench_lift import look_at
from monocap.eval.metrics import accel_error, bone_length_std, mpjpe
from monocap.fit.ground import ANKLE_ABOVE_FLOOR, FEET, detect_contacts, extend_runs, foot_skate_mm
from monocap.fit.skeleton import (DETECTOR_JITTER_PX, HINGE_FLEXION_SIGN, FitConfig, fit_person, fit_run,
                                  image_accel_sigma, keypoint_jitter_px, reprojection_sigma)
from monocap.io.h36m import FPS, load_h36m_cameras, load_h36m_poses
from monocap.io.mocap_dataset import load_clip
from monocap.io.motion import forward_kinematics
from monocap.io.results import RunResult
from monocap.skeleton import H36M17, RIG21, RIG21_H36M17, mocap22_to_coco17

FRAMES = 200


@pytest.fixture(scope="module")
def walking(shared_data):
    """S8 "Walking 1", first FRAMES frames, seen by its first camera: (gt_cam_mm, keypoints_px, intrinsics, up_cam)."""
    root = shared_data / "h36m"
    sequence = next(s for s in load_h36m_poses(root, ("S8",)) if s.action == "Walking 1")
    camera = load_h36m_cameras(root)["S8"][0]
    gt = camera.world_to_camera(sequence.joints_world_mm[:FRAMES].astype(np.float64))
    return gt, camera.intrinsics.project(gt), camera.intrinsics, camera.R @ [0.0, 0.0, 1.0]


def _fit(gt, keypoints, intrinsics, config=FitConfig()):
    ones = np.ones(gt.shape[:2])
    return fit_person(gt - gt[:, :1], gt[:, 0], keypoints, ones, intrinsics, FPS, joint_format="h36m17",
                      config=config)


def _true_contacts(gt, up):
    ankles = gt[:, FEET]
    heights = ankles @ up
    shin = np.median(np.linalg.norm(gt[:, 3] - gt[:, 2], axis=-1))
    return detect_contacts(heights - np.percentile(heights.min(1), 5), ankles, FPS, shin)


@pytest.fixture(scope="module")
def fitted_truth(walking):
    gt, keypoints, intrinsics, _ = walking
    return _fit(gt, keypoints, intrinsics)


def test_fitted_skeleton_is_rigid_symmetric_and_its_own_forward_kinematics(fitted_truth):
    person = fitted_truth
    assert bone_length_std(person.positions_world_mm, reduce=True) < 1e-6
    assert bone_length_std(person.positions_cam_mm, reduce=True) < 1e-6
    lengths = person.bone_lengths_mm
    children = [c for _, c in H36M17.bones]
    for b, c in enumerate(children):
        np.testing.assert_allclose(lengths[b], lengths[children.index(H36M17.flip_perm[c])])
    np.testing.assert_allclose(forward_kinematics(person.motion)[0][:, RIG21_H36M17], person.positions_world_mm,
                               atol=1e-9)
    cam_h = np.concatenate([person.positions_cam_mm, np.ones((*person.positions_cam_mm.shape[:2], 1))], -1)
    np.testing.assert_allclose(cam_h @ person.world_from_camera[:3].T, person.positions_world_mm, atol=1e-6)
    assert person.motion.joint_names == list(RIG21.joints)
    assert person.present.all() and person.first_frame == 0


def test_fitting_ground_truth_changes_it_little(walking, fitted_truth):
    gt = walking[0]
    # Smoothing takes some true motion out: 10.3 mm measured (11.3 before exact keypoints were trusted more;
    # 14.4 when the torso's triangles were rigid).
    assert mpjpe(fitted_truth.positions_cam_mm, gt, root=None, reduce=True) < 12.5
    assert np.abs(fitted_truth.bone_lengths_mm - np.median(_lengths(gt), 0)).max() < 10.0


def _lengths(joints):
    par, chi = np.array(H36M17.bones).T
    return np.linalg.norm(joints[:, chi] - joints[:, par], axis=-1)


def test_a_leg_folded_across_when_sitting_keeps_its_bend(shared_data):
    """S6 sits down cross-legged: the right thigh crosses to the left and its knee bends 110-140 degrees.

    Seen from the thigh's untwisted position that bend points forwards; the fit once read it as a knee
    bent the wrong way, started from a straight leg and put the knee 380 mm off (40.5 mm mean).
    """
    root = shared_data / "h36m"
    sequence = next(s for s in load_h36m_poses(root, ("S6",)) if s.action == "SittingDown")
    camera = load_h36m_cameras(root)["S6"][1]
    gt = camera.world_to_camera(sequence.joints_world_mm[150:300].astype(np.float64))
    person = _fit(gt, camera.intrinsics.project(gt), camera.intrinsics)
    off = np.linalg.norm(person.positions_cam_mm - gt, axis=-1)
    assert off.mean() < 15.0  # measured 9.8
    assert off[:, H36M17.index("r_knee")].max() < 40.0  # measured 17


def test_world_is_y_up_with_the_feet_on_the_floor_during_contacts(walking, fitted_truth):
    gt, _, _, up = walking
    person = fitted_truth
    world_up_in_camera = person.world_from_camera[1, :3]
    # A straight walk fixes the floor's tilt along the walk; across it the trunk's mean direction decides.
    assert person.ground.source == "line"
    assert np.degrees(np.arccos(world_up_in_camera @ up)) < 5.0
    world = person.positions_world_mm
    assert (world[:, H36M17.index("head"), 1] > world[:, 0, 1]).all()
    assert (world[:, 0, 1] > world[:, FEET, 1].max(1)).all()
    contacts = person.contacts
    assert contacts.any(0).all(), "both feet stand on the floor at some point of a walk"
    truth = _true_contacts(gt, up)
    assert (contacts == truth).mean() > 0.85
    _assert_on_the_floor(world[:, FEET, 1][contacts], person)


def _assert_on_the_floor(contact_ankle_heights_mm, person):
    """Ankles one `ANKLE_ABOVE_FLOOR` above the floor during contacts; at a stance's ends the heel may rise.

    (The CMU walker's true ankle rises 57 mm over the last ten frames of a stance the contacts still hold.)
    """
    off = np.abs(contact_ankle_heights_mm - ANKLE_ABOVE_FLOOR * person.bone_lengths_mm[H36M17.index("r_ankle") - 1])
    assert np.mean(off < 25.0) > 0.85 and off.max() < 70.0


def test_noisy_poses_get_smoother_feet_stop_sliding_and_joint_limits_hold(walking):
    gt, keypoints, intrinsics, up = walking
    rng = np.random.default_rng(0)
    noisy = gt + rng.normal(0.0, 15.0, gt.shape) + rng.normal(0.0, 30.0, (len(gt), 1, 3))  # joints and root
    noisy_keypoints = keypoints + rng.normal(0.0, 2.0, keypoints.shape)
    person = _fit(noisy, noisy_keypoints, intrinsics)
    fitted = person.positions_cam_mm
    assert accel_error(fitted, gt, reduce=True) < 0.5 * accel_error(noisy, gt, reduce=True)
    assert mpjpe(fitted, gt, reduce=True) < mpjpe(noisy, gt, reduce=True)
    truth = _true_contacts(gt, up)
    assert foot_skate_mm(fitted[:, FEET], truth, up) < 0.5 * foot_skate_mm(noisy[:, FEET], truth, up)
    # Contacts found through the noise (hysteresis, then again on the first fit): nearly every true one, few others.
    found = person.contacts
    assert (found & truth).sum() >= 0.95 * truth.sum() and (found & truth).sum() >= 0.8 * found.sum()
    for joint in HINGE_FLEXION_SIGN:
        rotation = person.motion.local_rotations[:, joint]
        np.testing.assert_allclose(rotation[:, :, 0], [[1.0, 0.0, 0.0]] * len(rotation), atol=1e-9)  # a hinge
        flexion = HINGE_FLEXION_SIGN[joint] * np.degrees(np.arctan2(rotation[:, 2, 1], rotation[:, 1, 1]))
        assert flexion.min() >= 0.0 and flexion.max() <= FitConfig().max_flexion_deg


def test_keypoint_jitter_is_measured_and_sets_the_image_plane_smoothing(walking, fitted_truth):
    """Exact projections of a walk show almost no jitter; added white noise is measured at its size."""
    _, keypoints, _, _ = walking
    assert fitted_truth.keypoint_jitter_px < 0.05  # measured: 0.01 px (third differences of real motion)
    rng = np.random.default_rng(1)
    for sigma in (0.5, 2.0, 5.0):
        noisy = keypoints + rng.normal(0.0, sigma, keypoints.shape)
        noisy[::7, 3] = np.nan  # missing joints are skipped
        assert keypoint_jitter_px(noisy) == pytest.approx(sigma, rel=0.1)
    assert np.isnan(keypoint_jitter_px(keypoints[:4, :5]))  # 10 third differences: too few to tell
    config = FitConfig()
    assert image_accel_sigma(2.0, config) == pytest.approx(0.5 * image_accel_sigma(1.0, config))
    assert image_accel_sigma(0.0, config) == image_accel_sigma(config.min_jitter_px, config)
    assert image_accel_sigma(float("nan"), config) == image_accel_sigma(1.0, config)
    assert image_accel_sigma(2.0, FitConfig(accel_sigma_image_mm_s2=123.0)) == 123.0
    # The reprojection term trusts keypoints cleaner than a detector's more, exact ones twice as much.
    assert reprojection_sigma(fitted_truth.keypoint_jitter_px, config) == config.sigma_2d_clean_px == 1.5
    assert reprojection_sigma(0.4, config) == pytest.approx(2.4)
    assert reprojection_sigma(DETECTOR_JITTER_PX, config) == reprojection_sigma(2.0, config) == config.sigma_2d_px
    assert reprojection_sigma(float("nan"), config) == config.sigma_2d_px
    assert reprojection_sigma(0.0, FitConfig(sigma_2d_clean_px=None)) == config.sigma_2d_px


def test_fit_run_on_a_run_of_a_walking_mocap_clip_with_gaps(shared_data):
    """CMU subject 7 walking, seen by a camera 4 m away, as `monocap run` would store it (COCO-17 keypoints)."""
    clip = load_clip(shared_data / "mocap" / "cmu_bvh" / "iclone_subjects" / "007" / "007_01.bvh.gz")
    world = clip.joints_world_mm[:120].astype(np.float64)
    intrinsics = Intrinsics.from_fov(1920, 1080, 60.0)
    target = world[:, 0].mean(0)
    eye = target + [0.0, 0.0, 4500.0]
    eye[1] = world[..., 1].min() + 1500.0
    camera = look_at(eye, target, intrinsics, "front")
    cam = camera.world_to_camera(world)
    n = len(cam) + 10
    poses = np.full((1, n, 17, 3), np.nan)
    roots = np.full((1, n, 3), np.nan)
    keypoints = np.full((1, n, 17, 2), np.nan)
    scores = np.zeros((1, n, 17))
    poses[0, 10:] = cam[:, :17] - cam[:, :1]
    roots[0, 10:] = cam[:, 0]
    keypoints[0, 10:] = mocap22_to_coco17(intrinsics.project(cam))
    scores[0, 10:] = 0.9
    poses[0, 50:55] = np.nan  # the lifter found too few joints: a gap to bridge
    result = RunResult(poses, roots, keypoints, scores, np.isfinite(keypoints[..., 0, 0]), np.array([7]), clip.fps,
                       intrinsics, "test", "test", True, True, "clip", "file")
    (person,) = fit_run(result)
    assert person.track_id == 7 and person.first_frame == 10 and person.fps == clip.fps
    assert len(person.present) == len(cam) and not person.present[40:45].any() and person.present[:40].all()
    assert np.isfinite(person.positions_world_mm).all()
    # 13.3 mm measured; 21.2 when the torso joints COCO lacks (built from others) held the reprojection term.
    assert mpjpe(person.positions_cam_mm, cam[:, :17], root=None, reduce=True) < 18.0
    contacts = person.contacts
    assert contacts.any(0).all()
    _assert_on_the_floor(person.positions_world_mm[:, FEET, 1][contacts], person)


def test_contact_runs_extend_only_around_strict_frames():
    strict = np.array([[0, 0], [0, 0], [1, 0], [0, 0], [0, 0], [0, 0], [0, 1]], bool)
    loose = np.array([[0, 1], [1, 1], [1, 1], [1, 0], [0, 1], [1, 1], [0, 1]], bool)
    np.testing.assert_array_equal(extend_runs(strict, loose), [[0, 0], [1, 0], [1, 0], [1, 0], [0, 1], [0, 1], [0, 1]])


def test_a_track_without_any_pose_is_refused():
    nan = np.full((5, 17, 3), np.nan)
    with pytest.raises(ValueError, match="track 3 has no frame with a pose"):
        fit_person(nan, nan[:, 0], np.zeros((5, 17, 2)), np.ones((5, 17)), Intrinsics.from_fov(640, 480), 30.0,
                   track_id=3)
