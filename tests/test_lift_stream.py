"""`CausalLifter`: live lifting frame by frame gives the causal lifter's poses on real Human3.6M keypoints."""
import numpy as np
import pytest

from monocap.camera import Intrinsics
from monocap.lift.lifter import Lifter
from monocap.lift.stream import CausalLifter


@pytest.fixture(scope="module")
def s8_keypoints(shared_data):
    """Two S8 takes seen by one camera: (2, 200, 17, 2) pixels, and the camera's pinhole intrinsics."""
    from monocap.io.h36m import load_h36m_cameras, load_h36m_poses

    seqs = load_h36m_poses(shared_data / "h36m", ("S8",))
    cam = load_h36m_cameras(shared_data / "h36m")["S8"][1]
    kp = np.stack([cam.project(s.joints_world_mm[:200].astype(float)) for s in (seqs[0], seqs[7])])
    intr = Intrinsics(cam.intrinsics.fx, cam.intrinsics.fy, cam.intrinsics.cx, cam.intrinsics.cy, 1000, 1000)
    return kp, intr


@pytest.fixture(scope="module")
def lifter():
    return Lifter("default")


@pytest.mark.parametrize("flip_test", [False, True])
def test_frame_by_frame_equals_causal_lifting_of_the_whole_take(s8_keypoints, lifter, flip_test):
    kp, intr = s8_keypoints
    scores = np.ones(kp.shape[:-1])
    scores[0, 120:130, 13] = 0.0  # a wrist unseen for a while
    scores[1, 60, 4:] = 0.0  # too few joints in one frame: NaN there, the take goes on
    whole = lifter(kp, scores, intr, temporal=True, causal=True, flip_test=flip_test)
    stream = CausalLifter(lifter, intr, fps=50.0, flip_test=flip_test)
    results = [stream([4, 9], kp[:, t], scores[:, t]) for t in range(kp.shape[1])]  # two people at once
    poses = np.stack([r.poses3d_mm for r in results], 1)
    roots = np.stack([r.root_cam_mm for r in results], 1)
    assert poses.shape == (2, 200, 17, 3) and np.isnan(poses[1, 60]).all() and np.isfinite(poses[1, 61]).all()
    np.testing.assert_allclose(poses, whole.poses3d_mm, atol=0.01)  # mm: longer than the 81-frame window
    np.testing.assert_allclose(roots, whole.root_cam_mm, atol=0.1)
    assert np.nanmax(np.abs(whole.poses3d_mm[0, 100:] - whole.poses3d_mm[0, 99:-1])) > 5  # the person moves


def test_resampled_frame_rate_gives_the_last_frame_of_the_take_so_far(s8_keypoints, lifter):
    """At 30 frames/s the model's 50 frames/s samples are interpolated as frames arrive."""
    kp, intr = s8_keypoints
    stream = CausalLifter(lifter, intr, fps=30.0)
    streamed = [stream([0], kp[0, t:t + 1], None).poses3d_mm[0] for t in range(100)]
    for t in (0, 1, 2, 7, 60, 99):
        so_far = lifter(kp[0, :t + 1], None, intr, temporal=True, causal=True, fps=30.0).poses3d_mm[-1]
        np.testing.assert_allclose(streamed[t], so_far, atol=0.01)


def test_a_track_left_out_is_forgotten_and_starts_anew(s8_keypoints, lifter):
    kp, intr = s8_keypoints
    stream = CausalLifter(lifter, intr)
    for t in range(110):
        stream([1], kp[0, t:t + 1], None)
    assert len(stream([], np.zeros((0, 17, 2)), None).poses3d_mm) == 0
    again = stream([1], kp[0, 110:111], None).poses3d_mm[0]
    fresh = lifter(kp[0, 110:111], None, intr, temporal=True, causal=True).poses3d_mm[0]
    np.testing.assert_allclose(again, fresh, atol=0.01)
    with_history = lifter(kp[0, :111], None, intr, temporal=True, causal=True).poses3d_mm[-1]
    assert np.abs(again - with_history).max() > 5.0  # the past does change this pose (a gesture under way)
