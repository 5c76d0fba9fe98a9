"""Online multi-person tracking: stable person ids across the frames of a video.

Construct once, call once per frame, finish at the end::

    tracker = PoseTracker()
    for i, dets in enumerate(frames_detections):      # Detections2D per frame
        ids = tracker.update(i, dets)                 # (N,) id per detection, -1: none
    tracks = tracker.finish()                         # list[Track], gaps bridged
    log.info(tracker.drop_summary())

Each frame's detections are matched to the live tracks by one Hungarian
assignment (`scipy.optimize.linear_sum_assignment`). The similarity of a
track and a detection mixes box overlap (IoU), which is robust for small or
partly seen people, with an OKS-like keypoint similarity, which tells apart
people whose boxes overlap, as when they cross. The track side is predicted
to the current frame at its recent image velocity, so that two people
walking past each other are not swapped. Pairs below `min_similarity` are
never matched; unmatched detections start new tracks.

A streaming pipeline calls `step` instead of `update`: it also returns the
current keypoints of every live track (`LivePoses`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from .base import Detections2D

_FORBIDDEN = 1e6  # assignment cost of a gated pair, finite so that the solver always has a solution


@dataclass
class Track:
    """One person after tracking, over the consecutive frames from its first to its last detection.

    track_id: the id `PoseTracker.update` gave its detections.
    frames: (T,) int64 frame indices, consecutive.
    keypoints_px: (T, J, 2) float32 pixels; linearly interpolated on bridged frames.
    scores: (T, J) float32 in [0, 1], 0 where unknown; on bridged frames the
        smaller of the two neighbouring detections' scores, scaled down.
    detected: (T,) bool, False on bridged frames.
    points3d_mm: (T, J, 3) float32 mm or None: the backend's own 3D guesses
        (`Detections2D.points3d_mm`), NaN on bridged frames; None if it gave none.
    """

    track_id: int
    frames: np.ndarray
    keypoints_px: np.ndarray
    scores: np.ndarray
    detected: np.ndarray
    points3d_mm: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.frames)


@dataclass
class LivePoses:
    """The live tracks at one frame, in increasing id order, K tracks of J joints.

    track_ids: (K,) int64.
    keypoints_px: (K, J, 2) float32 pixels: this frame's detection, or the
        last one held while the track is in a gap.
    scores: (K, J) float32; scaled down while held.
    detected: (K,) bool, whether the track was detected in this frame.
    confirmed: (K,) bool, whether the track is already long and sure enough
        to survive `PoseTracker.finish` should it end now.
    """

    track_ids: np.ndarray
    keypoints_px: np.ndarray
    scores: np.ndarray
    detected: np.ndarray
    confirmed: np.ndarray


class _Rows:
    """An array that grows by rows at amortised O(1) cost, keeping memory O(rows)."""

    def __init__(self, row: np.ndarray):
        self._data = np.empty((16, *row.shape), row.dtype)
        self._n = 0
        self.append(row)

    def append(self, row: np.ndarray) -> None:
        if self._n == len(self._data):
            self._data = np.concatenate([self._data, np.empty_like(self._data)])
        self._data[self._n] = row
        self._n += 1

    @property
    def values(self) -> np.ndarray:
        return self._data[:self._n]


class _TrackState:
    """A track while the video runs: its detections so far and what prediction needs."""

    def __init__(self, track_id: int, frame: int, keypoints: np.ndarray, scores: np.ndarray, box: np.ndarray,
                 points3d: np.ndarray | None):
        self.track_id = track_id
        self.frames = _Rows(np.int64(frame))
        self.keypoints = _Rows(keypoints)
        self.scores = _Rows(scores)
        self.points3d = None if points3d is None else _Rows(points3d)
        self.box = box  # (4,) last detected box, px
        self.velocity = np.zeros(2)  # px per frame of the body's centre, smoothed
        self.found_score_sum = float(scores[scores > 0].sum())
        self.found_count = int((scores > 0).sum())

    @property
    def first_frame(self) -> int:
        return int(self.frames.values[0])

    @property
    def last_frame(self) -> int:
        return int(self.frames.values[-1])

    @property
    def mean_score(self) -> float:
        """Mean score of the joints found in its detections."""
        return self.found_score_sum / max(self.found_count, 1)

    def add(self, frame: int, keypoints: np.ndarray, scores: np.ndarray, box: np.ndarray,
            points3d: np.ndarray | None) -> None:
        last_kp, last_sc, last_frame = self.keypoints.values[-1], self.scores.values[-1], self.last_frame
        both = (scores > 0) & (last_sc > 0)
        if both.any():
            step = (keypoints[both].mean(0) - last_kp[both].mean(0)) / (frame - last_frame)
            # Halfway smoothing: detector jitter should not swing the prediction.
            self.velocity = 0.5 * (self.velocity + step)
        self.frames.append(np.int64(frame))
        self.keypoints.append(keypoints)
        self.scores.append(scores)
        if self.points3d is not None:  # a backend gives them for every detection or for none
            self.points3d.append(points3d)
        self.box = box
        self.found_score_sum += float(scores[scores > 0].sum())
        self.found_count += int((scores > 0).sum())

    def predicted(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints (J, 2) and box (4,) moved on to `frame` at the current velocity."""
        shift = self.velocity * (frame - self.last_frame)
        return self.keypoints.values[-1] + shift, self.box + np.tile(shift, 2)


class PoseTracker:
    """Gives each person a stable id across frames; see the module notes.

    max_gap: longest run of frames a track may go undetected and still
        continue; `finish` bridges such gaps by interpolation.
    min_length: tracks spanning fewer frames are dropped by `finish`.
    min_mean_score: tracks whose found joints score lower on average are dropped.
    min_similarity: the weakest track-detection similarity (in [0, 1]) that may be matched.
    iou_weight: share of box IoU in the similarity; the rest is keypoint similarity.
    keypoint_sigma: keypoint distance scale as a fraction of the track's box
        diagonal; it widens by `gap_growth` per missed frame because a
        prediction over a gap is less certain.
    bridge_score_scale: factor on the scores of bridged (and held) frames.
    """

    def __init__(self, max_gap: int = 15, min_length: int = 10, min_mean_score: float = 0.3,
                 min_similarity: float = 0.2, iou_weight: float = 0.3, keypoint_sigma: float = 0.1,
                 gap_growth: float = 0.1, bridge_score_scale: float = 0.5):
        self.max_gap = max_gap
        self.min_length = min_length
        self.min_mean_score = min_mean_score
        self.min_similarity = min_similarity
        self.iou_weight = iou_weight
        self.keypoint_sigma = keypoint_sigma
        self.gap_growth = gap_growth
        self.bridge_score_scale = bridge_score_scale
        self.dropped: dict[str, int] = {"too_short": 0, "unsure": 0}
        self._live: list[_TrackState] = []
        self._closed: list[_TrackState] = []
        self._next_id = 0
        self._frame: int | None = None
        self._joint_format: str | None = None

    def update(self, frame_index: int, detections: Detections2D) -> np.ndarray:
        """Match one frame's detections to the tracks; returns (N,) int64 track id per detection, -1 if none.

        Frame indices must increase; a skipped index counts as a frame
        without detections. A detection without any found joint gets -1.
        """
        if self._frame is not None and frame_index <= self._frame:
            raise ValueError(f"PoseTracker: frame {frame_index} does not follow frame {self._frame}")
        self._frame = frame_index
        if len(detections):
            if self._joint_format not in (None, detections.joint_format):
                raise ValueError(f"PoseTracker: {detections.joint_format} detections in frame {frame_index} "
                                 f"after {self._joint_format} ones")
            self._joint_format = detections.joint_format
        self._close_stale(frame_index)

        keypoints = detections.keypoints_px.astype(np.float32)
        scores = detections.scores.astype(np.float32)
        boxes = detections.boxes_px.astype(np.float64)
        ids = np.full(len(detections), -1, np.int64)
        usable = np.flatnonzero((scores > 0).any(axis=1))

        points3d = [None] * len(detections) if detections.points3d_mm is None else detections.points3d_mm
        rows, cols = self._assign(frame_index, keypoints[usable], scores[usable], boxes[usable])
        for r, c in zip(rows, cols):
            d = usable[c]
            self._live[r].add(frame_index, keypoints[d], scores[d], boxes[d], points3d[d])
            ids[d] = self._live[r].track_id
        for c in np.setdiff1d(np.arange(len(usable)), cols):
            d = usable[c]
            self._live.append(_TrackState(self._next_id, frame_index, keypoints[d], scores[d], boxes[d],
                                          points3d[d]))
            ids[d] = self._next_id
            self._next_id += 1
        return ids

    def step(self, frame_index: int, detections: Detections2D) -> LivePoses:
        """`update`, then the current keypoints of every live track: one call per frame when streaming."""
        self.update(frame_index, detections)
        tracks = sorted(self._live, key=lambda t: t.track_id)
        n_joints = detections.keypoints_px.shape[1]
        detected = np.array([t.last_frame == frame_index for t in tracks], bool)
        scale = np.where(detected, 1.0, self.bridge_score_scale).astype(np.float32)
        return LivePoses(
            track_ids=np.array([t.track_id for t in tracks], np.int64),
            keypoints_px=np.array([t.keypoints.values[-1] for t in tracks], np.float32).reshape(-1, n_joints, 2),
            scores=np.array([t.scores.values[-1] for t in tracks], np.float32).reshape(-1, n_joints) * scale[:, None],
            detected=detected,
            confirmed=np.array([t.last_frame - t.first_frame + 1 >= self.min_length
                                and t.mean_score >= self.min_mean_score for t in tracks], bool),
        )

    def finish(self) -> list[Track]:
        """End the video: every track with its gaps bridged, in id order, minus the dropped ones.

        `dropped` then counts the tracks left out by reason ("too_short",
        "unsure"; a track failing both counts as too short). The tracker is
        emptied and can start another video with ids from 0.
        """
        states = sorted(self._closed + self._live, key=lambda t: t.track_id)
        self._live, self._closed, self._next_id, self._frame, self._joint_format = [], [], 0, None, None
        self.dropped = {"too_short": 0, "unsure": 0}
        tracks = []
        for state in states:
            if state.last_frame - state.first_frame + 1 < self.min_length:
                self.dropped["too_short"] += 1
            elif state.mean_score < self.min_mean_score:
                self.dropped["unsure"] += 1
            else:
                tracks.append(self._bridged(state))
        return tracks

    def drop_summary(self) -> str:
        """One line for the log about the tracks the last `finish` dropped."""
        short, unsure = self.dropped["too_short"], self.dropped["unsure"]
        return (f"dropped {short + unsure} track(s): {short} shorter than {self.min_length} frames, "
                f"{unsure} with mean joint score below {self.min_mean_score}")

    def _close_stale(self, frame_index: int) -> None:
        """Move tracks unseen for more than max_gap frames out of the matching."""
        stale = [t for t in self._live if frame_index - t.last_frame - 1 > self.max_gap]
        self._closed += stale
        self._live = [t for t in self._live if t not in stale]

    def _assign(self, frame_index: int, keypoints: np.ndarray, scores: np.ndarray,
                boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Hungarian matching of live tracks (rows) to detections (columns); gated pairs are left out."""
        if not self._live or not len(keypoints):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        predicted = [t.predicted(frame_index) for t in self._live]
        track_kp = np.array([p[0] for p in predicted])  # (K, J, 2)
        track_boxes = np.array([p[1] for p in predicted])  # (K, 4)
        track_scores = np.array([t.scores.values[-1] for t in self._live])  # (K, J)
        gaps = np.array([frame_index - t.last_frame - 1 for t in self._live])

        iou = box_iou(track_boxes, boxes)
        diagonal = np.hypot(track_boxes[:, 2] - track_boxes[:, 0], track_boxes[:, 3] - track_boxes[:, 1])
        sigma = self.keypoint_sigma * np.maximum(diagonal, 1.0) * (1.0 + self.gap_growth * gaps)
        oks = keypoint_similarity(track_kp, track_scores, keypoints, scores, sigma)
        similarity = self.iou_weight * iou + (1.0 - self.iou_weight) * oks

        cost = np.where(similarity >= self.min_similarity, 1.0 - similarity, _FORBIDDEN)
        rows, cols = linear_sum_assignment(cost)
        keep = cost[rows, cols] < _FORBIDDEN
        return rows[keep], cols[keep]

    def _bridged(self, state: _TrackState) -> Track:
        """The track on every frame from its first to its last, gaps filled by linear interpolation."""
        seen = state.frames.values
        keypoints, scores = state.keypoints.values, state.scores.values
        frames = np.arange(seen[0], seen[-1] + 1)
        before = np.searchsorted(seen, frames, side="right") - 1
        after = np.minimum(before + 1, len(seen) - 1)
        detected = seen[before] == frames
        span = np.maximum(seen[after] - seen[before], 1)
        w = np.where(detected, 0.0, (frames - seen[before]) / span)[:, None, None]
        bridged_kp = (1 - w) * keypoints[before] + w * keypoints[after]
        # A bridged joint is only as known as the less sure of its two ends.
        bridged_scores = self.bridge_score_scale * np.minimum(scores[before], scores[after])
        points3d = None
        if state.points3d is not None:  # a guess of the backend's, not to be made up where it made none
            points3d = np.where(detected[:, None, None], state.points3d.values[before], np.nan).astype(np.float32)
        return Track(
            track_id=state.track_id,
            frames=frames.astype(np.int64),
            keypoints_px=bridged_kp.astype(np.float32),
            scores=np.where(detected[:, None], scores[before], bridged_scores).astype(np.float32),
            detected=detected,
            points3d_mm=points3d,
        )


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of boxes a (K, 4) and b (N, 4), x0 y0 x1 y1 → (K, N)."""
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=-1)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=-1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def keypoint_similarity(kp_a: np.ndarray, scores_a: np.ndarray, kp_b: np.ndarray, scores_b: np.ndarray,
                        sigma_a: np.ndarray) -> np.ndarray:
    """OKS-like similarity in [0, 1] of poses a (K, J, 2) and b (N, J, 2) → (K, N).

    Each joint scores exp(-d^2 / (2 sigma^2)) for its distance d in pixels,
    sigma (K,) per pose of a; joints are averaged with weights min(score_a,
    score_b), so that a joint either side missed does not count. 0 where no
    joint is found on both sides.
    """
    d2 = ((kp_a[:, None] - kp_b[None]) ** 2).sum(-1)  # (K, N, J)
    per_joint = np.exp(-d2 / (2.0 * sigma_a[:, None, None] ** 2))
    weight = np.minimum(scores_a[:, None], scores_b[None])
    total = weight.sum(-1)
    return np.where(total > 0, (weight * per_joint).sum(-1) / np.maximum(total, 1e-12), 0.0)
