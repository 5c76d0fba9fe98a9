"""Tracking on real motion: two Human3.6M walkers projected into one camera cross paths.

Person A is S1 "Walking" and person B is S5 "Walking", each over 4 s at
25 fps. B's walk is turned about the vertical and moved so that at the
middle frame B passes 1 m behind A, walking the other way: their boxes
overlap for about half a second, while B, the one behind, is not detected
(12 frames; an IoU-only tracker without motion prediction swaps the two
ids here). Detections get pixel noise, random scores and missed joints, A
is missed for 6 frames elsewhere and everybody in one frame, the order of the
detections is shuffled every frame, and two false people are added: a
short-lived one and a long but unsure one.
"""
from dataclasses import dataclass

import numpy as np
import pytest

from monocap.detect2d.base import Detections2D
from monocap.detect2d.tracking import PoseTracker, box_iou
from monocap.io.h36m import load_h36m_cameras, load_h36m_poses

STEP = 2  # 50 Hz → 25 fps, a common video rate with twice the motion per frame
T = 100
MID = T // 2
GAP_A = range(30, 36)  # A undetected for 6 frames
GAP_B = range(MID - 6, MID + 6)  # B, the one behind, hidden by A while they cross
NOBODY = (75,)  # a frame where the detector finds no one
SPURIOUS = range(80, 84)  # a false person for 4 frames
IMAGE_SIZE = (1000, 1002)


@dataclass
class Scene:
    """Detections per frame and the truth behind them.

    truth_px: (2, T, 17, 2) projected joints of A and B.
    detections: per frame, the shuffled Detections2D.
    who: per frame, (N,) which person each detection is: 0 = A, 1 = B,
        2 = the unsure one, 3 = the short-lived one.
    """

    truth_px: np.ndarray
    detections: list
    who: list


def _window(joints_world: np.ndarray, camera) -> np.ndarray:
    """The T-frame window (at STEP) whose middle has the fastest sideways pelvis motion in the image."""
    u = camera.project(joints_world[:, 0])[:, 0]
    speed = np.abs(np.convolve(np.diff(u), np.ones(25) / 25, "same"))
    half = T * STEP // 2
    mid = half + int(np.argmax(speed[half:len(u) - half]))
    return joints_world[mid - half:mid + half:STEP]


def _heading(pelvis: np.ndarray) -> np.ndarray:
    """Horizontal walking direction (Z-up world) around the middle frame, unit (2,)."""
    v = pelvis[MID + 3, :2] - pelvis[MID - 3, :2]
    return v / np.linalg.norm(v)


@pytest.fixture(scope="module")
def scene(shared_data) -> Scene:
    root = shared_data / "h36m"
    camera = load_h36m_cameras(root)["S1"][0]
    walk = {s.subject: s.joints_world_mm.astype(np.float64)
            for s in load_h36m_poses(root, ("S1", "S5")) if s.action == "Walking"}
    a = _window(walk["S1"], camera)
    b = _window(walk["S5"], camera)

    # Turn B about the vertical so it walks against A, and put it 1 m behind A at the middle frame.
    ha, hb = _heading(a[:, 0]), _heading(b[:, 0])
    angle = np.arctan2(-ha[1], -ha[0]) - np.arctan2(hb[1], hb[0])
    c, s = np.cos(angle), np.sin(angle)
    turn = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
    b = (b - b[MID, 0] * [1, 1, 0]) @ turn.T
    away = camera.R[2] * [1, 1, 0]
    b = b + a[MID, 0] * [1, 1, 0] + 1000.0 * away / np.linalg.norm(away)

    truth = np.stack([camera.project(a), camera.project(b)])
    # A third walker far to the side, seen all along but with unsure joints, and
    # a false person: A's pose from another moment, small, in the top-left corner.
    unsure = truth[0] + [380.0, -250.0]
    ghost = 0.4 * (truth[0, 10] - truth[0, 10, 0]) + [120.0, 150.0]

    rng = np.random.default_rng(3)
    detections, who = [], []
    for t in range(T):
        people = [p for p, gaps in ((0, GAP_A), (1, GAP_B)) if t not in gaps and t not in NOBODY]
        people += [2] if t not in NOBODY else []
        people += [3] if t in SPURIOUS else []
        people = list(rng.permutation(people))
        keypoints, scores = [], []
        for p in people:
            kp = (truth[p, t] if p < 2 else unsure[t] if p == 2 else ghost) + rng.normal(0, 2.0, (17, 2))
            sc = rng.uniform(0.6, 1.0, 17) if p != 2 else rng.uniform(0.1, 0.25, 17)
            missed = rng.random(17) < 0.05
            keypoints.append(np.where(missed[:, None], 0.0, kp))
            scores.append(np.where(missed, 0.0, sc))
        if people:
            detections.append(Detections2D.from_keypoints(np.array(keypoints), np.array(scores), "h36m17",
                                                          IMAGE_SIZE))
        else:
            detections.append(Detections2D.empty("h36m17", IMAGE_SIZE))
        who.append(np.array(people, int))
    return Scene(truth, detections, who)


def _boxes(points: np.ndarray) -> np.ndarray:
    return np.concatenate([points.min(-2), points.max(-2)], axis=-1)


def test_the_people_really_cross(scene):
    """The scene is a real test: A and B swap sides in the image and their boxes overlap heavily."""
    pelvis_u = scene.truth_px[:, :, 0, 0]
    assert np.sign(pelvis_u[0, 0] - pelvis_u[1, 0]) != np.sign(pelvis_u[0, -1] - pelvis_u[1, -1])
    overlap = [box_iou(_boxes(scene.truth_px[0, t])[None], _boxes(scene.truth_px[1, t])[None])[0, 0]
               for t in range(T)]
    assert max(overlap) > 0.4
    assert sum(o > 0.2 for o in overlap) >= 10


def test_ids_stay_stable_through_the_crossing_and_gaps(scene):
    tracker = PoseTracker(max_gap=15, min_length=10, min_mean_score=0.3)
    ids_of = {p: set() for p in range(4)}
    for t, (dets, who) in enumerate(zip(scene.detections, scene.who)):
        ids = tracker.update(t, dets)
        assert ids.shape == (len(dets),)
        for p, i in zip(who, ids):
            ids_of[p].add(int(i))
    # One id per person, all different, numbered in order of appearance.
    assert all(len(ids) == 1 for ids in ids_of.values())
    ids = {p: next(iter(v)) for p, v in ids_of.items()}
    assert sorted(ids[p] for p in (0, 1, 2)) == [0, 1, 2] and ids[3] == 3

    tracks = tracker.finish()
    assert [t.track_id for t in tracks] == sorted([ids[0], ids[1]])
    assert tracker.dropped == {"too_short": 1, "unsure": 1}
    assert "dropped 2 track(s): 1 shorter than 10 frames, 1 with mean joint score below 0.3" \
        == tracker.drop_summary()

    for person, gap in ((0, GAP_A), (1, GAP_B)):
        track = next(t for t in tracks if t.track_id == ids[person])
        missing = sorted(set(gap) | set(NOBODY))
        np.testing.assert_array_equal(track.frames, np.arange(T))
        np.testing.assert_array_equal(np.flatnonzero(~track.detected), missing)
        assert track.keypoints_px.shape == (T, 17, 2) and track.keypoints_px.dtype == np.float32
        assert track.scores.shape == (T, 17) and track.scores.dtype == np.float32
        # Bridged frames: interpolated close to the truth, with halved scores.
        error = np.linalg.norm(track.keypoints_px[missing] - scene.truth_px[person, missing], axis=-1)
        found = track.scores[missing] > 0
        assert np.median(error[found]) < 15.0, np.median(error[found])
        assert track.scores[missing].max() <= 0.5
        # Detected frames: the detections themselves.
        seen = track.detected & (track.scores > 0).all(-1)
        error = np.linalg.norm(track.keypoints_px[seen] - scene.truth_px[person, seen], axis=-1)
        assert error.max() < 15.0


def test_streaming_matches_offline(scene):
    """`step` reports every live track per frame; the finished tracks equal those of `update`."""
    offline = PoseTracker()
    for t, dets in enumerate(scene.detections):
        offline.update(t, dets)
    expected = offline.finish()

    tracker = PoseTracker()
    for t, dets in enumerate(scene.detections):
        live = tracker.step(t, dets)
        assert live.keypoints_px.shape == (len(live.track_ids), 17, 2)
        assert list(live.track_ids) == sorted(live.track_ids)
        if t == GAP_A[2]:
            # A (track 0 or 1) is held, not detected, with halved scores.
            held = ~live.detected
            assert held.sum() == 1 and live.scores[held].max() <= 0.5
        if t == SPURIOUS[-1]:
            # A and B are confirmed; the unsure one and the short-lived one (id 3) are not.
            assert live.confirmed.sum() == 2 and not live.confirmed[live.track_ids == 3].any()
    got = tracker.finish()
    assert [t.track_id for t in got] == [t.track_id for t in expected]
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a.keypoints_px, b.keypoints_px)
        np.testing.assert_array_equal(a.detected, b.detected)


def test_a_gap_longer_than_max_gap_starts_a_new_track(scene):
    tracker = PoseTracker(max_gap=15, min_length=5)
    for t in range(T):
        if 20 <= t < 40:  # 20 frames unseen: more than max_gap
            continue
        ids = tracker.update(t, Detections2D.from_keypoints(scene.truth_px[0, t][None], np.ones((1, 17)), "h36m17",
                                                            IMAGE_SIZE))
        assert ids[0] == (0 if t < 20 else 1)
    first, second = tracker.finish()
    assert (first.frames[0], first.frames[-1], second.frames[0], second.frames[-1]) == (0, 19, 40, T - 1)
    assert first.detected.all() and second.detected.all()


def test_empty_video():
    tracker = PoseTracker()
    assert tracker.finish() == []  # no frame at all
    for t in range(30):
        live = tracker.step(t, Detections2D.empty("coco17", (640, 480)))
        assert live.track_ids.shape == (0,) and live.keypoints_px.shape == (0, 17, 2)
    assert tracker.finish() == []
    assert tracker.dropped == {"too_short": 0, "unsure": 0}


def test_frames_must_increase_and_joints_must_match(scene):
    tracker = PoseTracker()
    tracker.update(5, scene.detections[0])
    with pytest.raises(ValueError, match="does not follow"):
        tracker.update(5, scene.detections[1])
    coco = Detections2D.from_keypoints(np.zeros((1, 17, 2)), np.ones((1, 17)), "coco17", IMAGE_SIZE)
    with pytest.raises(ValueError, match="coco17 detections in frame 6 after h36m17"):
        tracker.update(6, coco)
