"""Pose-error metrics on hand-computed cases (all lengths in mm)."""
import numpy as np
import pytest

from monocap.eval import (
    accel_error,
    auc3d,
    bone_length_std,
    mpjpe,
    mpjve,
    n_mpjpe,
    pa_mpjpe,
    pck3d,
    procrustes_align,
)

# Five joints, not coplanar, so no reflection of it is a rotation of it.
POSE = np.array([[0.0, 0, 0], [100, 0, 0], [0, 200, 0], [0, 0, 300], [50, 60, 70]])

# 90 degrees about z, then 90 degrees about x: (x, y, z) -> (-y, -z, x) as row vectors.
ROT = np.array([[0.0, 0, 1], [-1, 0, 0], [0, -1, 0]])

PAIR_METRICS = [mpjpe, pa_mpjpe, n_mpjpe, pck3d, auc3d, mpjve, accel_error]


# --- MPJPE -----------------------------------------------------------------

def test_mpjpe_of_a_3_4_0_offset_is_5():
    gt = np.array([[0.0, 0, 0], [10, 20, 30]])
    assert mpjpe(gt + [3, 4, 0], gt) == pytest.approx(5.0)


def test_mpjpe_averages_distances_not_squares():
    gt = np.zeros((2, 3))
    pred = np.array([[3.0, 4, 0], [5, 12, 0]])  # distances 5 and 13
    assert mpjpe(pred, gt) == pytest.approx(9.0)  # an RMS would give sqrt(97) = 9.85


def test_root_relative_mpjpe_ignores_translation():
    gt = POSE
    pred = POSE + [3, 4, 0]
    assert mpjpe(pred, gt) == pytest.approx(5.0)
    assert mpjpe(pred, gt, root=0) == pytest.approx(0.0)
    assert mpjpe(pred, gt, root=-1) == pytest.approx(0.0)


def test_root_relative_mpjpe_hand_value():
    gt = np.zeros((3, 3))
    pred = np.array([[10.0, 0, 0], [10, 0, 0], [10, 6, 8]])  # only joint 2 off its root, by 10
    assert mpjpe(pred, gt, root=0) == pytest.approx(10.0 / 3)


def test_leading_dims_are_kept_and_reduce_averages():
    rng = np.random.default_rng(0)
    gt = rng.normal(0, 100, (2, 3, 4, 3))
    pred = gt + rng.normal(0, 10, gt.shape)
    per_pose = mpjpe(pred, gt)
    assert per_pose.shape == (2, 3)
    assert per_pose[1, 2] == pytest.approx(mpjpe(pred[1, 2], gt[1, 2]))
    assert pa_mpjpe(pred, gt)[1, 2] == pytest.approx(pa_mpjpe(pred[1, 2], gt[1, 2]))
    total = mpjpe(pred, gt, reduce=True)
    assert isinstance(total, float)
    assert total == pytest.approx(per_pose.mean())


# --- Procrustes / PA-MPJPE ---------------------------------------------------

def test_pa_mpjpe_undoes_rotation_scale_and_translation():
    pred = 2.5 * POSE @ ROT + [100, -50, 300]
    assert mpjpe(pred, POSE) > 100
    assert pa_mpjpe(pred, POSE) == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(procrustes_align(pred, POSE), POSE, atol=1e-9)


def test_mirrored_pose_is_not_aligned_by_a_reflection():
    mirrored = POSE * [-1, 1, 1]
    assert pa_mpjpe(mirrored, POSE) > 10
    # Rotation and positive scale keep handedness: the aligned pose must stay mirrored.
    def handedness(pose):
        return np.sign(np.linalg.det(pose[1:4] - pose[0]))
    aligned = procrustes_align(mirrored, POSE)
    assert handedness(aligned) == handedness(mirrored) == -handedness(POSE)


def test_mirrored_planar_pose_is_a_rotation_and_aligns_exactly():
    # A flat pose's mirror image is the pose turned 180 degrees about an in-plane axis.
    flat = POSE * [1, 1, 0]
    assert pa_mpjpe(flat * [-1, 1, 1], flat) == pytest.approx(0.0, abs=1e-9)


def test_collapsed_prediction_lands_on_the_gt_centroid():
    gt = np.array([[0.0, 0, 0], [0, 0, 10]])
    pred = np.full((2, 3), 7.0)
    np.testing.assert_allclose(procrustes_align(pred, gt), [[0, 0, 5], [0, 0, 5]])
    assert pa_mpjpe(pred, gt) == pytest.approx(5.0)


# --- N-MPJPE -----------------------------------------------------------------

def test_n_mpjpe_of_a_scaled_translated_copy_is_0():
    pred = 0.5 * POSE + [20, 30, 40]
    assert mpjpe(pred, POSE, root=0) > 50
    assert n_mpjpe(pred, POSE) == pytest.approx(0.0, abs=1e-9)


def test_n_mpjpe_can_exceed_root_relative_mpjpe():
    # The least-squares scale minimises squared errors, not their mean norm.
    # Here s = <p, g> / <p, p> = (1 + 1 + 4) / 3 = 2; at s = 2 the joint errors are
    # 0, 1, 1, 2 (mean 1), while unscaled they are 0, 0, 0, 3 (mean 0.75).
    pred = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    gt = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 4]])
    assert mpjpe(pred, gt, root=0) == pytest.approx(0.75)
    assert n_mpjpe(pred, gt) == pytest.approx(1.0)


def test_alignments_order_squared_errors_and_bound_the_metrics():
    """What does hold between the protocols, on random poses.

    Each alignment searches a superset of the previous one's transforms
    (root-relative: x - x_root + g_root; N: scale about the root as well;
    PA: any rotation, scale and translation), so the summed SQUARED error
    they minimise can only go down: SSE_pa <= SSE_n <= SSE_root. The metrics
    are means of unsquared distances, which least squares does not minimise,
    so pa_mpjpe <= n_mpjpe <= mpjpe(root=0) can fail (see the test above);
    only the bound mean <= RMS (Cauchy-Schwarz) carries the order over.
    """
    rng = np.random.default_rng(1)
    gt = rng.normal(0, 200, (50, 17, 3))
    pred = gt + rng.normal(0, 80, gt.shape) * rng.exponential(1, (50, 17, 1))

    pred_rel, gt_rel = pred - pred[:, :1], gt - gt[:, :1]
    scale = (pred_rel * gt_rel).sum(axis=(1, 2)) / (pred_rel**2).sum(axis=(1, 2))
    sse_root = ((pred_rel - gt_rel) ** 2).sum(axis=(1, 2))
    sse_n = ((scale[:, None, None] * pred_rel - gt_rel) ** 2).sum(axis=(1, 2))
    sse_pa = ((procrustes_align(pred, gt) - gt) ** 2).sum(axis=(1, 2))
    assert np.all(sse_pa <= sse_n + 1e-6)
    assert np.all(sse_n <= sse_root + 1e-6)
    assert np.all(pa_mpjpe(pred, gt) <= np.sqrt(sse_pa / 17) + 1e-9)
    assert np.all(n_mpjpe(pred, gt) <= np.sqrt(sse_n / 17) + 1e-9)
    assert np.all(mpjpe(pred, gt, root=0) <= np.sqrt(sse_root / 17) + 1e-9)


def test_procrustes_is_a_local_optimum():
    rng = np.random.default_rng(2)
    gt = rng.normal(0, 200, (17, 3))
    aligned = procrustes_align(gt + rng.normal(0, 50, gt.shape), gt)
    best = ((aligned - gt) ** 2).sum()
    centre = aligned.mean(axis=0)
    for _ in range(20):
        # A small random similarity transform about the centroid.
        skew = rng.normal(0, 0.02, 3)
        rot, _ = np.linalg.qr(np.eye(3) + np.cross(np.eye(3), skew))
        rot *= np.sign(np.diag(rot))  # keep it near the identity, det +1
        nudged = (1 + rng.normal(0, 0.02)) * (aligned - centre) @ rot + centre + rng.normal(0, 2, 3)
        assert ((nudged - gt) ** 2).sum() >= best


# --- PCK / AUC -----------------------------------------------------------------

def test_pck_counts_joints_within_threshold():
    gt = np.zeros((2, 3))
    pred = np.array([[100.0, 0, 0], [0, 200, 0]])
    assert pck3d(pred, gt, root=None) == pytest.approx(0.5)
    assert pck3d(pred, gt, threshold=100, root=None) == pytest.approx(0.5)  # inclusive
    assert pck3d(pred, gt, threshold=99.9, root=None) == pytest.approx(0.0)


def test_pck_root_joint_counts_as_correct():
    gt = np.zeros((3, 3))
    pred = np.array([[0.0, 0, 0], [100, 0, 0], [0, 200, 0]])
    assert pck3d(pred + [1000, 0, 0], gt) == pytest.approx(2 / 3)


def test_auc_with_every_error_75mm():
    # 45^2 + 60^2 = 75^2. Thresholds are 0, 5, ..., 150: 16 of the 31 are >= 75.
    gt = np.zeros((3, 3))
    pred = np.tile([45.0, 60, 0], (3, 1))
    assert auc3d(pred, gt, root=None) == pytest.approx(16 / 31)


def test_auc_with_root_alignment_hand_value():
    # The root joint is exact (within all 31 thresholds, 0 included), the other is 75 off.
    gt = np.zeros((2, 3))
    pred = np.array([[5.0, 5, 5], [5, 5, 80]])
    assert auc3d(pred, gt) == pytest.approx((31 + 16) / 62)


def test_auc_extremes():
    assert auc3d(POSE, POSE) == pytest.approx(1.0)
    assert auc3d(POSE * 10, POSE) == pytest.approx(1 / 5)  # only the exact root joint
    assert auc3d(POSE + 1000, POSE, root=None) == pytest.approx(0.0)


# --- Temporal metrics -----------------------------------------------------------

def _constant_velocity_sequence(frames=6):
    """(T, 3, 3): a still root and two joints each moving at its own constant velocity."""
    start = np.array([[0.0, 0, 0], [100, 0, 0], [0, 100, 0]])
    velocity = np.array([[0.0, 0, 0], [1, 2, 3], [-4, 0, 2]])
    return start + np.arange(frames)[:, None, None] * velocity


def test_mpjve_of_a_shifted_copy_is_0():
    seq = _constant_velocity_sequence(7)
    gt, pred = seq[:-1], seq[1:] + [5, 5, 5]  # one frame later and moved in space
    assert mpjpe(pred, gt).min() > 0
    err = mpjve(pred, gt)
    assert err.shape == (5,)
    np.testing.assert_allclose(err, 0.0, atol=1e-12)


def test_mpjve_hand_value_and_fps():
    gt = _constant_velocity_sequence()
    drift = np.arange(6)[:, None, None] * np.array([3.0, 4, 0])  # every joint, 5 mm/frame faster
    pred = gt + drift
    np.testing.assert_allclose(mpjve(pred, gt, root=None), 5.0)
    np.testing.assert_allclose(mpjve(pred, gt, root=None, fps=50), 250.0)
    # The root drifts with the others, so root-relative velocities agree.
    np.testing.assert_allclose(mpjve(pred, gt), 0.0, atol=1e-12)


def test_accel_error_hand_value_and_fps():
    gt = _constant_velocity_sequence()
    t = np.arange(6)[:, None, None]
    # A velocity offset alone has no acceleration.
    np.testing.assert_allclose(accel_error(gt + t * [3.0, 4, 0], gt, root=None), 0.0, atol=1e-12)
    # Adding t^2 along z has second difference 2 mm/frame^2 at every frame.
    curve = np.zeros((1, 3, 3))
    curve[..., 2] = 1.0
    err = accel_error(gt + t**2 * curve, gt, root=None)
    assert err.shape == (4,)
    np.testing.assert_allclose(err, 2.0)
    np.testing.assert_allclose(accel_error(gt + t**2 * curve, gt, root=None, fps=10), 200.0)
    # Only joint 2 curves: root-relative, the errors over 3 joints are 0, 0, 2.
    curve[0, :2] = 0.0
    np.testing.assert_allclose(accel_error(gt + t**2 * curve, gt), 2.0 / 3)


@pytest.mark.parametrize("metric, frames", [(mpjve, 1), (accel_error, 2)])
def test_temporal_metrics_need_enough_frames(metric, frames):
    seq = _constant_velocity_sequence(frames)
    with pytest.raises(ValueError, match="T >"):
        metric(seq, seq)


# --- Bone lengths ----------------------------------------------------------------

def test_bone_length_std_of_a_rigidly_moving_pose_is_0():
    rng = np.random.default_rng(3)
    pose = rng.normal(0, 200, (17, 3))
    frames = []
    for angle in np.linspace(0, np.pi, 10):
        c, s = np.cos(angle), np.sin(angle)
        turn = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
        frames.append(pose @ turn + [angle * 100, 0, 50])
    std = bone_length_std(np.stack(frames))
    assert std.shape == (16,)
    np.testing.assert_allclose(std, 0.0, atol=1e-9)


def test_bone_length_std_of_an_alternating_bone_is_50():
    frames = [
        [[0.0, 0, 0], [0, 100 if t % 2 else 200, 0], [0, 0, 30]] for t in range(6)
    ]  # bone (0, 1) alternates 200/100 mm, bone (0, 2) stays 30 mm
    std = bone_length_std(np.array(frames), bones=[(0, 1), (0, 2)])
    np.testing.assert_allclose(std, [50.0, 0.0], atol=1e-12)
    assert bone_length_std(np.array(frames), bones=[(0, 1), (0, 2)], reduce=True) == pytest.approx(25.0)


def test_bone_length_std_default_bones_need_17_joints():
    with pytest.raises(ValueError, match="J == 17"):
        bone_length_std(np.zeros((4, 5, 3)))


# --- Errors and NaN ----------------------------------------------------------

@pytest.mark.parametrize("metric", PAIR_METRICS + [procrustes_align])
def test_mismatched_shapes_raise(metric):
    with pytest.raises(ValueError, match="shapes differ"):
        metric(np.zeros((4, 17, 3)), np.zeros((4, 16, 3)))
    with pytest.raises(ValueError, match=r"\(\.\.\., J, 3\)"):
        metric(np.zeros((4, 17, 2)), np.zeros((4, 17, 2)))


def test_root_out_of_range_raises():
    with pytest.raises(ValueError, match="root joint 5"):
        mpjpe(POSE, POSE, root=5)


@pytest.mark.parametrize("metric", PAIR_METRICS)
@pytest.mark.parametrize("which", ["pred", "gt"])
def test_nan_gives_nan_for_that_pose_only(metric, which):
    seq = np.stack([_constant_velocity_sequence(4), _constant_velocity_sequence(4) * 2])
    pred, gt = seq + 7.0, seq.copy()
    (pred if which == "pred" else gt)[0, 1, 2, 0] = np.nan  # sequence 0, frame 1, joint 2
    out = metric(pred, gt)
    assert np.isnan(out[0]).any()
    assert np.isfinite(out[1]).all()
    assert np.isnan(metric(pred, gt, reduce=True))


def test_bone_length_std_nan_gives_nan_for_that_bone():
    frames = np.tile(POSE, (4, 1, 1))
    frames[2, 3, 0] = np.nan
    std = bone_length_std(frames, bones=[(0, 1), (0, 3)])
    assert np.isfinite(std[0]) and np.isnan(std[1])
