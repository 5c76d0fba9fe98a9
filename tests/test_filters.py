"""Fitting: the One-Euro filter, the Whittaker smoother and the metric root fit, on real Human3.6M motion."""
import numpy as np
import pytest

from monocap.fit import OneEuroFilter, filter_sequence, fit_root_positions
from monocap.fit.filters import whittaker_smooth
from monocap.io.h36m import FPS, load_h36m_cameras, load_h36m_poses

R_WRIST = 16


@pytest.fixture(scope="module")
def s1(shared_data):
    """S1's sequences by action (world mm, 50 Hz) and its second camera."""
    root = shared_data / "h36m"
    sequences = {s.action: s.joints_world_mm.astype(np.float64) for s in load_h36m_poses(root, ("S1",))}
    return sequences, load_h36m_cameras(root)["S1"][1]


def _rms(error: np.ndarray) -> float:
    """Root mean square of 3D error vectors (..., 3)."""
    return float(np.sqrt(np.mean(np.sum(error ** 2, axis=-1))))


# --- One-Euro filter --------------------------------------------------------------------------------------

def test_a_constant_signal_passes_unchanged():
    values = np.full((60, 17, 3), 1234.5)
    np.testing.assert_array_equal(filter_sequence(values, 30.0, min_cutoff=0.5, beta=0.1), values)


def test_noise_is_reduced_with_bounded_lag_on_real_motion(s1):
    """Right wrist in S1 "Discussion" (gestures up to about 2 m/s), 20 mm of noise per axis.

    Lag measure: over the fastest half second of the clean trajectory, the
    shift s (frames) that minimises the RMS of filtered[t] - clean[t - s].
    """
    sequences, _ = s1
    clean = sequences["Discussion"][:1500, R_WRIST]
    noisy = clean + np.random.default_rng(0).normal(0.0, 20.0, clean.shape)
    filtered = filter_sequence(noisy, FPS, min_cutoff=1.0, beta=0.01)
    plain = filter_sequence(noisy, FPS, min_cutoff=1.0, beta=0.0)  # a fixed 1 Hz low-pass

    reduction = 1.0 - _rms(filtered - clean) / _rms(noisy - clean)
    assert reduction >= 0.30, reduction  # measured: 0.37

    speed = np.linalg.norm(np.diff(clean, axis=0), axis=-1) * FPS
    start = max(int(np.argmax(np.convolve(speed, np.ones(25), "valid"))), 20)  # room for the shifts
    fast = slice(start, start + 25)

    def lag(signal):
        return int(np.argmin([_rms(signal[fast] - clean[fast.start - s:fast.stop - s]) for s in range(20)]))

    assert lag(filtered) <= 1  # measured: 1 frame (20 ms) at 1.2 m/s
    assert lag(plain) >= 4  # measured: 5 frames; the speed-dependent cutoff is what keeps the lag down


def test_the_filter_is_causal(s1):
    sequences, _ = s1
    values = sequences["Walking"][:200]
    changed = values.copy()
    changed[120:] += 500.0
    np.testing.assert_array_equal(filter_sequence(changed, FPS, beta=0.01)[:120],
                                  filter_sequence(values, FPS, beta=0.01)[:120])


def test_missing_samples_hold_the_state(s1):
    """A NaN sample gives NaN and leaves the state alone: the element continues as if that sample was
    never taken, while the other elements are not affected."""
    sequences, _ = s1
    values = sequences["Walking"][:100, R_WRIST]  # (100, 3)
    holed = values.copy()
    holed[40:45, 0] = np.nan
    out = filter_sequence(holed, FPS, beta=0.01)
    assert np.isnan(out[40:45, 0]).all() and np.isfinite(out[:, 1:]).all()
    np.testing.assert_array_equal(out[:, 1:], filter_sequence(values, FPS, beta=0.01)[:, 1:])

    skip = OneEuroFilter(FPS, beta=0.01)
    kept = [t for t in range(100) if not 40 <= t < 45]
    expected = np.array([skip(values[t, 0], time_s=t / FPS) for t in kept])
    np.testing.assert_allclose(out[kept, 0], expected, rtol=1e-9)


def test_sample_shape_must_not_change():
    smooth = OneEuroFilter(30.0)
    smooth(np.zeros(3))
    with pytest.raises(ValueError, match="shape"):
        smooth(np.zeros(4))


# --- Whittaker smoother -----------------------------------------------------------------------------------

def test_whittaker_smoother_solves_its_least_squares_problem():
    """Against the dense normal equations (I + lam D'D) x = y, for lengths down to the shortest it smooths."""
    rng = np.random.default_rng(3)
    for frames in (3, 4, 5, 40):
        values = rng.normal(size=(frames, 2, 3))
        lam = (FPS / (2 * np.pi * 0.6))**4
        second = np.diff(np.eye(frames), 2, axis=0)
        dense = np.linalg.solve(np.eye(frames) + lam * second.T @ second, values.reshape(frames, -1))
        np.testing.assert_allclose(whittaker_smooth(values, FPS, 0.6), dense.reshape(values.shape), atol=1e-9)
    line = 3.0 * np.arange(100.0) - 250.0  # no second differences: nothing to smooth
    np.testing.assert_allclose(whittaker_smooth(line, FPS, 0.6), line, atol=1e-6)
    np.testing.assert_array_equal(whittaker_smooth(np.array([1.0, 5.0]), FPS, 0.6), [1.0, 5.0])


def test_whittaker_smoother_keeps_slow_motion_and_removes_fast(s1):
    """On the pelvis depth of S1 walking: a 4 Hz wobble goes entirely, the walk's metres of depth stay."""
    sequences, camera = s1
    depth = camera.world_to_camera(sequences["Walking"][:1000])[:, 0, 2]
    wobble = 30.0 * np.sin(2 * np.pi * 4.0 * np.arange(len(depth)) / FPS)
    smoothed = whittaker_smooth(depth, FPS, 0.6)
    # Linear, with a gain of 5e-4 at 4 Hz; within a wobble period of either end less is removed.
    np.testing.assert_allclose(whittaker_smooth(depth + wobble, FPS, 0.6)[25:-25], smoothed[25:-25], atol=1.0)
    assert np.ptp(depth) > 1000.0
    # What goes of the walk itself is its gait's sway in depth: measured 15 mm on average.
    assert np.abs(smoothed - depth).mean() < 20.0


# --- root fit ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def walking(s1):
    """S1 "Walking" in camera 2: root-relative poses (T, 17, 3), true roots (T, 3), pixels (T, 17, 2)."""
    sequences, camera = s1
    world = sequences["Walking"][:500]
    cam = camera.world_to_camera(world)
    return cam - cam[:, :1], cam[:, 0], camera.project(world), camera.intrinsics


def _root_error(fitted: np.ndarray, true: np.ndarray) -> np.ndarray:
    return np.linalg.norm(fitted - true, axis=-1)


def test_true_pose_and_true_2d_give_the_true_root(walking):
    rel, root, pixels, intrinsics = walking
    keypoints = intrinsics.pixels_to_normalized(pixels)  # lens distortion undone
    scores = np.ones(rel.shape[:2])
    for refine in (False, True):
        assert _root_error(fit_root_positions(rel, keypoints, scores, refine), root).max() < 0.01  # mm

    noisy = intrinsics.pixels_to_normalized(pixels + np.random.default_rng(0).normal(0, 1.0, pixels.shape))
    error = _root_error(fit_root_positions(rel, noisy, scores), root)
    assert np.median(error) < 15.0, np.median(error)  # measured: 11 mm at 4.6-7.3 m for 1 px of noise


def test_a_pose_too_big_puts_the_person_as_much_too_far(walking):
    """Scale-depth ambiguity: a pose 10 % too big fits the image exactly at 1.1 times the distance."""
    rel, root, pixels, intrinsics = walking
    fitted = fit_root_positions(1.1 * rel, intrinsics.pixels_to_normalized(pixels), np.ones(rel.shape[:2]))
    np.testing.assert_allclose(fitted[:, 2] / root[:, 2], 1.1, rtol=1e-4)
    np.testing.assert_allclose(fitted, 1.1 * root, atol=0.01)


def test_the_robust_fit_resists_wrong_keypoints(walking):
    """Three joints per frame moved 60-150 px (a swapped limb, a joint on the wrong person), 2 px noise."""
    rel, root, pixels, intrinsics = walking
    rng = np.random.default_rng(1)
    wrong = pixels + rng.normal(0, 2.0, pixels.shape)
    for t in range(len(wrong)):
        joints = rng.choice(17, 3, replace=False)
        angle = rng.uniform(0, 2 * np.pi, 3)
        wrong[t, joints] += rng.uniform(60, 150, (3, 1)) * np.stack([np.cos(angle), np.sin(angle)], -1)
    keypoints, scores = intrinsics.pixels_to_normalized(wrong), np.ones(rel.shape[:2])
    linear = np.median(_root_error(fit_root_positions(rel, keypoints, scores, refine=False), root))
    robust = np.median(_root_error(fit_root_positions(rel, keypoints, scores), root))
    assert robust < 60.0 and robust < 0.1 * linear, (robust, linear)  # measured: 36 vs 1094 mm


def test_scores_and_missing_joints(walking):
    rel, root, pixels, intrinsics = walking
    keypoints = intrinsics.pixels_to_normalized(pixels[:3])
    scores = np.ones((3, 17))
    scores[1, 3:] = 0.0  # 3 joints seen: fewer than min_joints
    keypoints[2, 5] = np.nan  # a NaN joint is left out whatever its score
    fitted = fit_root_positions(rel[:3], keypoints, scores)
    assert np.isnan(fitted[1]).all()
    assert _root_error(fitted[[0, 2]], root[[0, 2]]).max() < 0.01
    assert fit_root_positions(rel[:0], keypoints[:0], scores[:0]).shape == (0, 3)


def test_smoothing_the_root_trajectory(walking):
    """One-Euro on the roots of 50 Hz frames with 2 px of keypoint noise; chunked calls smooth alike."""
    rel, root, pixels, intrinsics = walking
    keypoints = intrinsics.pixels_to_normalized(pixels + np.random.default_rng(2).normal(0, 2.0, pixels.shape))
    scores = np.ones(rel.shape[:2])
    raw = fit_root_positions(rel, keypoints, scores)
    smoothed = fit_root_positions(rel, keypoints, scores, smoothing=OneEuroFilter(FPS, min_cutoff=1.0, beta=0.01))
    assert _rms(smoothed - root) < 0.8 * _rms(raw - root)  # measured: 25 vs 36 mm

    smooth = OneEuroFilter(FPS, min_cutoff=1.0, beta=0.01)
    chunks = [fit_root_positions(rel[i:i + 100], keypoints[i:i + 100], scores[i:i + 100], smoothing=smooth)
              for i in range(0, len(rel), 100)]
    np.testing.assert_allclose(np.concatenate(chunks), smoothed, rtol=1e-12)
