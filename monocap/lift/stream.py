"""Live lifting: the causal temporal lifter fed one frame at a time.

The causal lifter gives each frame a pose from that frame and the 80 before
it (its receptive field at the model's 50 frames/s). Re-running it on the
latest window for every new frame repeats the per-frame network on frames it
has already seen: 20–25 ms per person and frame on the 2-core development
machine. Each frame's part of the network (`LiftModel.features`) depends on
that frame alone, so `CausalLifter` keeps it per track, and a new frame
costs the per-frame network on that frame plus the causal head on the kept
window.

The pose of a frame is the one `Lifter` gives the last frame of the track so
far (``temporal=True, causal=True``; to float precision). At a frame rate
the model resamples (`needs_resampling`), the track's model-rate samples are
interpolated as its frames arrive, on the grid that starts at its first frame.

    stream = CausalLifter(Lifter("default"), intrinsics, fps=30.0)
    for frame in frames:
        result = stream(track_ids, keypoints_px, scores, "coco17")   # (K, 17, 3) poses, (K, 3) roots
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from ..camera import Intrinsics
from ..skeleton import to_h36m17
from .canonical import mirror_pose
from .lifter import MODEL_FPS, LiftResult, Lifter, needs_resampling, network_input
from .model import receptive_field


@dataclass
class _Track:
    """One person's state: per view (the person, and with the flip test its mirror image), per-frame features at
    model times, newest last."""

    views: list[deque]
    frames: int = 0  # frames seen
    samples: int = 0  # model-rate samples made
    last_inputs: np.ndarray | None = None  # (views, 3J) the previous frame's inputs
    last_pose: np.ndarray | None = None  # (17, 3) mm, virtual camera: the newest sample's pose


class CausalLifter:
    """`Lifter`'s causal temporal lifting for live tracks, one call per frame."""

    def __init__(self, lifter: Lifter, intrinsics: Intrinsics, fps: float | None = None, flip_test: bool = False):
        """``fps``: the frame rate of the calls (None: the model's); ``flip_test`` as in `Lifter`."""
        self.lifter, self.intrinsics, self.flip_test = lifter, intrinsics, flip_test
        self.fps = fps or MODEL_FPS
        self.resample = needs_resampling(fps)
        self.receptive_field = receptive_field(lifter.model.dilations)
        self._tracks: dict[int, _Track] = {}

    def __call__(self, track_ids, keypoints_px: np.ndarray, scores: np.ndarray | None,
                 joint_format: str = "h36m17") -> LiftResult:
        """keypoints_px (K, J, 2) pixels and scores (K, J) of this frame's K tracks → poses (K, 17, 3) and
        roots (K, 3) in mm, camera frame. A track left out of a call is forgotten."""
        ids = [int(i) for i in track_ids]
        for gone in self._tracks.keys() - set(ids):
            del self._tracks[gone]
        if not ids:
            return LiftResult(np.zeros((0, 17, 3), np.float32), np.zeros((0, 3), np.float32))
        kp = np.asarray(keypoints_px, dtype=np.float64).reshape(len(ids), -1, 2)
        sc = np.ones(kp.shape[:-1]) if scores is None else np.asarray(scores, dtype=np.float64).reshape(kp.shape[:-1])
        canon, kp_norm, sc = network_input(*to_h36m17(kp, sc, joint_format), self.intrinsics)
        views = [canon.as_vector()] + ([canon.mirrored().as_vector()] if self.flip_test else [])
        inputs = np.stack(views, 1)  # (K, views, 3J)

        tracks = [self._tracks.setdefault(i, _Track([deque(maxlen=self.receptive_field) for _ in views]))
                  for i in ids]
        new = [self._new_samples(track, x) for track, x in zip(tracks, inputs)]
        counts = [len(n) for n in new]
        if sum(counts):  # one call of the per-frame network for every new sample of every track
            feats = self.lifter.model.features(np.concatenate(new).reshape(-1, inputs.shape[-1]))
            feats = feats.reshape(-1, len(views), feats.shape[-1])
            for track, part in zip(tracks, np.split(feats, np.cumsum(counts)[:-1])):
                for kept, view_feats in zip(track.views, part.swapaxes(0, 1)):
                    kept.extend(view_feats)
        updated = [track for track, n in zip(tracks, counts) if n]
        if updated:
            windows = np.stack([self._window(kept) for track in updated for kept in track.views])
            last = self.lifter.model.temporal_from_features(windows, causal=True)[:, -1]
            for track, pose in zip(updated, last.reshape(len(updated), len(views), -1, 3)):
                track.last_pose = pose[0] if len(views) == 1 else 0.5 * (pose[0] + mirror_pose(pose[1]))
        return self.lifter.result(np.stack([t.last_pose for t in tracks]), canon, kp_norm, sc)

    def _new_samples(self, track: _Track, inputs: np.ndarray) -> np.ndarray:
        """(n, views, 3J) inputs at the model times this frame reaches, interpolated from the previous frame's."""
        previous, track.last_inputs = track.last_inputs, inputs
        track.frames += 1
        if not self.resample or previous is None:
            track.samples += 1
            return inputs[None]
        t_now = (track.frames - 1) / self.fps
        times = np.arange(track.samples, np.floor(t_now * MODEL_FPS + 1e-9) + 1) / MODEL_FPS
        track.samples += len(times)
        w = ((times - (t_now - 1 / self.fps)) * self.fps)[:, None, None]
        return (1 - w) * previous + w * inputs

    def _window(self, features: deque) -> np.ndarray:
        """(receptive field, width): the kept features, the oldest repeated in front as the head pads a sequence."""
        kept = list(features)
        return np.stack([kept[0]] * (self.receptive_field - len(kept)) + kept)
