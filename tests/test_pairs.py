"""Training pairs: exact 2D/3D consistency, virtual cameras, determinism, detector statistics, COCO input."""
from dataclasses import replace

import numpy as np
import pytest

from monocap.io.h36m import Z_UP_TO_Y_UP, camera_for_y_up_world, load_h36m_cameras, load_h36m_poses
from monocap.skeleton import H36M17, MOCAP22
from monocap.train.pairs import MIN_DEPTH_MM, AugmentConfig, PairSampler, pose_rarity_weights


@pytest.fixture(scope="module")
def s1(shared_data):
    """Subject S1: Y-up sequences and its four cameras."""
    root = shared_data / "h36m"
    sequences = [s.joints_world_mm @ Z_UP_TO_Y_UP.T for s in load_h36m_poses(root, ("S1",))]
    return sequences, [camera_for_y_up_world(c) for c in load_h36m_cameras(root)["S1"]]


def _uncanonicalise(batch):
    """Normalised image coordinates (B, W, 17, 2) recovered from the network input alone."""
    c = batch.canonical
    features = batch.inputs[..., :34].reshape(c.features.shape).astype(np.float64)
    xy = features * c.scale[..., None, None]
    rays = np.concatenate([xy, np.ones_like(xy[..., :1])], axis=-1) @ c.rotation  # back to the real camera
    return rays[..., :2] / rays[..., 2:]


def _relative_errors(batch):
    """Per-joint 2D error of the input as a fraction of the person's 2D bounding-box diagonal."""
    true = batch.keypoints_true_px
    diag = np.linalg.norm(true.max(axis=-2) - true.min(axis=-2), axis=-1)
    return np.linalg.norm(batch.keypoints_px - true, axis=-1) / diag[..., None]


def test_unaugmented_pairs_are_exactly_consistent(s1):
    sequences, cameras = s1
    batch = PairSampler(sequences, "h36m17", cameras=cameras, augment=AugmentConfig.none(), seed=1).sample(8, 20)
    assert batch.inputs.shape == (8, 20, 51) and batch.targets.shape == (8, 20, 17, 3)
    assert np.all(batch.scores == 1)
    for i in range(8):
        camera = cameras[batch.camera_index[i]]
        frames = batch.frame_positions[i]
        np.testing.assert_array_equal(frames, frames[0] + np.arange(20))  # real time, whole frames
        world = sequences[batch.sequence_index[i]][frames.astype(int)]
        np.testing.assert_allclose(batch.poses_cam_mm[i], camera.world_to_camera(world), atol=1e-6)
        np.testing.assert_allclose(batch.keypoints_px[i], camera.project(world), atol=1e-6)
        # The input, un-canonicalised and projected, lands on the real pixels (distortion included).
        rays = np.concatenate([_uncanonicalise(batch)[i], np.ones((20, 17, 1))], axis=-1)
        np.testing.assert_allclose(camera.intrinsics.project(rays), batch.keypoints_px[i], atol=1e-3)

    pose = batch.poses_cam_mm
    np.testing.assert_allclose(_uncanonicalise(batch), pose[..., :2] / pose[..., 2:], atol=1e-6)
    np.testing.assert_allclose(batch.targets @ batch.canonical.rotation, pose - pose[..., :1, :], atol=0.01)


def test_virtual_cameras(s1):
    sequences, _ = s1
    sampler = PairSampler(sequences, "h36m17", augment=AugmentConfig.detector(), seed=2)
    cfg = sampler.camera_config
    fovs, portrait, distorted = [], [], []
    for batch_size, window in [(256, 1)] * 12 + [(16, 27)]:
        batch = sampler.sample(batch_size, window)
        size = np.array([[i.width, i.height] for i in batch.intrinsics])[:, None, None]
        seen = batch.scores > 0
        assert np.all((batch.keypoints_px >= 0) & (batch.keypoints_px < size) | ~seen[..., None])
        assert np.all(batch.keypoints_px[~seen] == 0)
        assert np.all(batch.poses_cam_mm[..., 2] > MIN_DEPTH_MM)
        assert seen.mean() > 0.8  # most of the person is in view
        assert np.isfinite(batch.inputs).all() and np.isfinite(batch.targets).all()
        rel = batch.poses_cam_mm - batch.poses_cam_mm[..., :1, :]
        np.testing.assert_allclose(batch.targets @ batch.canonical.rotation, rel, atol=0.01)
        for intr in batch.intrinsics:
            fovs.append(np.degrees(2 * np.arctan(max(intr.width, intr.height) / (2 * intr.fx))))
            portrait.append(intr.height > intr.width)
            distorted.append(intr.has_distortion)
    lo, hi = cfg.fov_deg
    assert lo - 1e-9 <= min(fovs) < lo + 6 and hi - 6 < max(fovs) <= hi + 1e-9
    assert 0.2 < np.mean(portrait) < 0.8 and 0.1 < np.mean(distorted) < 0.5


def test_same_seed_same_batches(s1):
    sequences, cameras = s1
    make = lambda seed: PairSampler(sequences, "h36m17", cameras=cameras, real_camera_share=0.5, seed=seed)
    a, b, c = make(7), make(7), make(8)
    for window in (1, 9):
        x, y, z = a.sample(64, window), b.sample(64, window), c.sample(64, window)
        np.testing.assert_array_equal(x.inputs, y.inputs)
        np.testing.assert_array_equal(x.targets, y.targets)
        assert not np.array_equal(x.inputs, z.inputs)
    state = a.rng.bit_generator.state  # what a training checkpoint saves
    first = a.sample(32, 5)
    a.rng.bit_generator.state = state
    np.testing.assert_array_equal(a.sample(32, 5).inputs, first.inputs)


def test_detector_statistics(s1):
    sequences, cameras = s1
    # Real cameras keep the whole person in view, so every missing joint is a random drop.
    aug = replace(AugmentConfig.detector(), limb_missing_prob=0.0, truncation_prob=0.0)
    batch = PairSampler(sequences, "h36m17", cameras=cameras, augment=aug, seed=3).sample(4096, 1)
    seen = batch.scores > 0
    expected_missing = aug.missing_prob * (1 + aug.max_missing) / 2 / len(H36M17)
    assert abs((1 - seen.mean()) - expected_missing) < 0.005
    error = _relative_errors(batch)[seen]
    assert 0.015 < error.mean() < 0.03  # ≈ 2% of the person's size
    scores = batch.scores[seen]
    assert aug.min_score <= scores.min() and scores.max() <= 1
    assert np.corrcoef(error, scores)[0, 1] < -0.5  # worse joints score lower

    clean = PairSampler(sequences, "h36m17", cameras=cameras, augment=AugmentConfig.clean(), seed=3).sample(1024, 1)
    seen = clean.scores > 0
    assert np.all(clean.scores[seen] == 1) and seen.mean() > 0.995  # only the image border hides joints
    assert _relative_errors(clean).mean() < 0.002
    assert np.abs(clean.keypoints_px - clean.keypoints_true_px).mean() < 0.5  # px


def _mocap22(h36m: np.ndarray) -> np.ndarray:
    """A MOCAP22 sequence (T, 22, 3) from an H36M17 one, with made-up face points."""
    j = {n: h36m[:, i] for i, n in enumerate(H36M17.joints)}
    unit = lambda v: v / np.linalg.norm(v, axis=-1, keepdims=True)
    left = unit(j["l_shoulder"] - j["r_shoulder"])
    up = unit(j["head"] - j["thorax"])
    front = np.cross(left, up)
    face = 0.5 * (j["neck_nose"] + j["head"])
    points = {"nose": face + 90 * front - 30 * up, "l_eye": face + 30 * left + 70 * front,
              "r_eye": face - 30 * left + 70 * front, "l_ear": face + 75 * left, "r_ear": face - 75 * left}
    return np.concatenate([h36m, np.stack([points[n] for n in MOCAP22.joints[17:]], axis=1)], axis=1)


def test_coco_input_from_mocap22(s1):
    sequences, _ = s1
    mocap = [_mocap22(s[:2000]) for s in sequences[:3]]
    aug = replace(AugmentConfig.detector(), coco_input_share=1.0)
    batch = PairSampler(mocap, "mocap22", augment=aug, seed=4).sample(128, 9)
    assert batch.coco_input.all()
    assert batch.inputs.shape == (128, 9, 51) and np.isfinite(batch.inputs).all()
    assert np.isfinite(batch.targets).all()
    # COCO-derived joints are built in pixel space: the pelvis is the mid-hips of the projections.
    true = batch.keypoints_true_px
    np.testing.assert_allclose(true[..., 0, :], 0.5 * (true[..., 1, :] + true[..., 4, :]))
    # The targets stay the true H36M17 joints, not the COCO-derived ones.
    rel = batch.poses_cam_mm - batch.poses_cam_mm[..., :1, :]
    np.testing.assert_allclose(batch.targets @ batch.canonical.rotation, rel, atol=0.01)


def test_short_sequences_repeat_their_last_frame():
    rng = np.random.default_rng(0)
    sequence = rng.normal(0, 300, size=(5, 17, 3)) + [0, 1000, 0]
    batch = PairSampler([sequence], "h36m17", augment=AugmentConfig.none()).sample(4, 12)
    np.testing.assert_array_equal(batch.frame_positions, np.minimum(np.arange(12), 4)[None].repeat(4, 0))


def test_cameras_must_match_the_y_up_world(shared_data, s1):
    sequences, _ = s1
    z_up_cameras = load_h36m_cameras(shared_data / "h36m")["S1"]
    with pytest.raises(ValueError, match="Y-up"):
        PairSampler(sequences, "h36m17", cameras=z_up_cameras)


def test_bone_scaling_gives_new_symmetric_proportions_and_keeps_joint_angles(s1):
    from monocap.skeleton import bone_lengths
    sequences, cameras = s1
    plain = PairSampler(sequences, "h36m17", augment=AugmentConfig.none(), seed=3).sample(64, 5)
    scaled = PairSampler(sequences, "h36m17", augment=replace(AugmentConfig.none(), bone_scale_std=0.1),
                         seed=3).sample(64, 5)
    # Same seed: the same windows (cameras differ: the scaling draws come first).
    np.testing.assert_array_equal(scaled.frame_positions, plain.frame_positions)
    same = scaled.mirrored == plain.mirrored  # mirroring swaps left and right bones
    ratio = (bone_lengths(scaled.poses_cam_mm) / bone_lengths(plain.poses_cam_mm))[same]
    assert 0.05 < np.log(ratio).std() < 0.15
    np.testing.assert_allclose(ratio / ratio[:, :1], 1.0, rtol=1e-4, err_msg="one factor per bone for the whole window")
    for left, right in ((4, 1), (5, 2), (6, 3), (11, 14), (12, 15), (13, 16)):  # the bone ending at this joint
        np.testing.assert_allclose(ratio[..., left - 1], ratio[..., right - 1], rtol=1e-4)

    def bend_cosines(pose):  # between each bone and its parent bone: unchanged by rotation and scaling
        p = np.array(H36M17.parents)
        child = [c for c in range(17) if p[c] > 0]
        bone = lambda c: pose[..., c, :] - pose[..., p[c], :]
        unit = lambda v: v / np.linalg.norm(v, axis=-1, keepdims=True)
        return np.stack([(unit(bone(c)) * unit(bone(p[c]))).sum(-1) for c in child], -1)
    np.testing.assert_allclose(bend_cosines(scaled.poses_cam_mm)[same], bend_cosines(plain.poses_cam_mm)[same],
                               atol=1e-4)


def test_joint_shift_moves_joint_centres_in_the_torso_frame_and_keeps_limbs(s1):
    from monocap.skeleton import bone_lengths
    sequences, _ = s1
    plain = PairSampler(sequences, "h36m17", augment=AugmentConfig.none(), seed=3).sample(256, 5)
    sampler = PairSampler(sequences, "h36m17", augment=replace(AugmentConfig.none(), joint_shift_std_mm=20), seed=3)
    shifted = sampler.sample(256, 5)
    np.testing.assert_array_equal(shifted.frame_positions, plain.frame_positions)
    same = shifted.mirrored == plain.mirrored
    change = (bone_lengths(shifted.poses_cam_mm) - bone_lengths(plain.poses_cam_mm))[same]
    limbs = [H36M17.joints.index(j) - 1 for j in ("r_knee", "r_ankle", "l_knee", "l_ankle",
                                                   "l_elbow", "l_wrist", "r_elbow", "r_wrist")]
    np.testing.assert_allclose(change[..., limbs], 0.0, atol=1e-3)
    assert 10 < np.abs(change[..., H36M17.joints.index("thorax") - 1]).mean() < 30
    hips = [H36M17.joints.index("r_hip") - 1, H36M17.joints.index("l_hip") - 1]  # rigid in the hips' own axes
    np.testing.assert_allclose(change[..., hips] - change[:, :1, hips], 0.0, atol=1e-3,
                               err_msg="one offset for the whole window")

    # Known offsets on one frame: 10 mm towards the left hip for the right hip (the left mirrors it),
    # 30 mm up the spine for the head.
    world = sequences[0][None, :1].astype(np.float64)
    offsets = np.zeros((1, 6, 3))
    offsets[0, 0, 0], offsets[0, 5, 1] = 10.0, 30.0
    moved = sampler._shift_joints(world, offsets)
    j = H36M17.joints.index
    width = lambda pose: np.linalg.norm(pose[..., j("l_hip"), :] - pose[..., j("r_hip"), :])
    assert width(moved) == pytest.approx(width(world) - 20.0)
    np.testing.assert_allclose(moved[..., j("r_knee"), :] - world[..., j("r_knee"), :],
                               moved[..., j("r_hip"), :] - world[..., j("r_hip"), :])
    up = world[..., j("thorax"), :] - world[..., j("pelvis"), :]
    head_step = moved[..., j("head"), :] - world[..., j("head"), :]
    assert np.linalg.norm(head_step) == pytest.approx(30.0)
    assert (head_step * up).sum() > 0
    untouched = [j(n) for n in ("pelvis", "neck_nose", "spine", "thorax", "l_shoulder", "r_wrist")]
    np.testing.assert_array_equal(moved[..., untouched, :], world[..., untouched, :])


def test_balance_draws_rare_poses_more_often(shared_data):
    """A long walk and six seconds of sitting: balanced sampling raises the sitting share well above its 8 %."""
    h36m = {s.action: s.joints_world_mm @ Z_UP_TO_Y_UP.T for s in load_h36m_poses(shared_data / "h36m", ("S1",))}
    walk, sit = h36m["Walking 1"], h36m["Sitting 1"][:300]
    frame_share = len(sit) / (len(walk) + len(sit))

    weights = pose_rarity_weights(np.concatenate([walk, sit]), H36M17)
    assert weights.mean() == pytest.approx(1.0)
    assert weights[len(walk):].mean() > 2 * weights[:len(walk)].mean()
    yaw = np.array([[np.cos(1.0), 0, np.sin(1.0)], [0, 1, 0], [-np.sin(1.0), 0, np.cos(1.0)]])
    turned = pose_rarity_weights(np.concatenate([walk, sit]) @ yaw.T + [500, 0, -800], H36M17)
    assert np.allclose(turned, weights)  # poses are compared by shape: facing and place do not count

    def sitting_share(balance):
        sampler = PairSampler([walk, sit], "h36m17", augment=AugmentConfig.none(), seed=2, balance=balance)
        return np.mean([np.mean(sampler.sample(500, 1).sequence_index == 1) for _ in range(10)])
    assert sitting_share(0.0) == pytest.approx(frame_share, abs=0.02)
    assert sitting_share(1.0) > 2 * frame_share
    assert frame_share < sitting_share(0.5) < sitting_share(1.0)
    with pytest.raises(ValueError, match="balance must be 0 or more"):
        sitting_share(-0.5)
