"""2D→3D training pairs for the lifters, made on the fly from 3D motion.

One call to `PairSampler.sample` runs this pipeline, vectorised over the batch:

1. Windows: a frame is chosen, uniformly or (``balance`` > 0) favouring rare
   poses (`pose_rarity_weights`), and a window of consecutive frames is cut
   from its sequence and resampled with a random playback speed
   (linear interpolation), so temporal models see a range of speeds.
2. Pose: optional uniform scaling of the whole body about its mean root
   (people differ in size; the mm targets scale with it).
3. Camera: one of the given real cameras, or a virtual camera placed anywhere
   around the subject (random FOV, image size, height, distance, aim, roll,
   lens distortion, optionally a slow pan). Because the virtual camera's
   azimuth is uniform, this *is* the random rotation of the pose about the
   vertical axis. Left-right mirroring is done in the camera frame (negate x,
   swap left/right joints): a reflected scene is as physical as the original,
   and unlike a mirror of the world it keeps the person where a real camera
   sees them.
4. Projection to pixels with `Intrinsics.project` (distortion included).
5. Detector model in pixel space (`AugmentConfig`): noise, per-joint bias,
   outliers, left-right swaps, missing joints, truncation, scores. For MOCAP22
   sequences the H36M17 input is optionally built the way a COCO detector's
   keypoints would give it (`coco17_to_h36m17` in pixel space).
6. `Intrinsics.pixels_to_normalized` → `canonicalize` → network input; the
   target is the true root-relative H36M17 pose rotated into the same virtual
   camera as the input.

Projection and undistortion go through the `Intrinsics` methods the inference
path uses, grouped by camera: the virtual items of a batch share a small pool
of fresh intrinsics (`VirtualCameraConfig.intrinsics_per_batch`) while every
item gets its own camera placement, so a batch costs a few dozen calls, not
one per item.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..camera import Camera, Intrinsics
from ..lift.canonical import CanonicalInput, canonicalize, to_virtual_frame
from ..skeleton import COCO17, JointSet, coco17_to_h36m17, flip_lr, joint_set, mocap22_to_coco17

MIN_DEPTH_MM = 500.0  # every joint of a virtual-camera window is at least this far in front
# Placement attempts per virtual camera: the first ones also require `min_visible`
# joints in the image; later ones only require the person in front of the camera.
_TRIES_VISIBLE, _TRIES_TOTAL = 20, 50
_MAX_REAL_CAMERA_TILT_DEG = 60.0  # between a real camera's image "up" and the world's +y
# The lens model counts as invertible where the radial derivative of
# r·(1 + k1 r² + k2 r⁴ + k3 r⁶) stays within 1 ± this: there the fixed-point
# undistortion of `Intrinsics` converges fast. Joints beyond it are not seen.
_LENS_DERIVATIVE_TOL = 0.5

# Pairs a detector confuses (left, right), padded with the no-op pair (pelvis, pelvis).
_SWAP_GROUPS = [
    [("l_knee", "r_knee")], [("l_ankle", "r_ankle")], [("l_knee", "r_knee"), ("l_ankle", "r_ankle")],
    [("l_elbow", "r_elbow")], [("l_wrist", "r_wrist")], [("l_elbow", "r_elbow"), ("l_wrist", "r_wrist")],
]
_LIMBS = [("l_elbow", "l_wrist"), ("r_elbow", "r_wrist"), ("l_knee", "l_ankle"), ("r_knee", "r_ankle")]
# What `AugmentConfig.joint_shift_std_mm` moves together: per group the joints of the right side (or of
# the midline), then the left side's, which mirror the offset.
_SHIFT_GROUPS = [
    ("hips", [("r_hip", "r_knee", "r_ankle"), ("l_hip", "l_knee", "l_ankle")]),
    ("shoulders", [("r_shoulder", "r_elbow", "r_wrist"), ("l_shoulder", "l_elbow", "l_wrist")]),
    ("spine", [("spine",)]),
    ("thorax", [("thorax",)]),
    ("neck", [("neck_nose",)]),
    ("head", [("head", "nose", "l_eye", "r_eye", "l_ear", "r_ear")]),
]


@dataclass(frozen=True)
class AugmentConfig:
    """Pose, time and 2D-detector augmentation.

    Ranges are (low, high), drawn uniformly. 2D magnitudes are fractions of
    the person's size: the diagonal D of the 2D bounding box of the true
    H36M17 projections in that frame (a standing person seen whole: D ≈ 1.1×
    their height in pixels).
    """

    mirror_prob: float = 0.5
    body_scale: tuple[float, float] = (0.9, 1.1)
    bone_scale_std: float = 0.0
    """Std of a per-bone log length factor, drawn per window and shared by left and right: new body
    proportions, so that a model trained on few people does not learn theirs."""
    joint_shift_std_mm: float = 0.0
    """Std per axis of offsets, drawn per window, that move the hips, shoulders, spine, thorax, neck and
    head in the torso's frame (each limb moves with its hip or shoulder; left and right mirror one
    offset): rigs and datasets place these joint centres differently, and a model should not learn
    one convention's."""
    speed: tuple[float, float] = (0.6, 1.4)
    """Playback-speed factor of a window (1 = real time)."""
    coco_input_share: float = 0.5
    """MOCAP22 only: share of items whose input is derived from COCO17 keypoints."""

    noise_std: tuple[float, float] = (0.005, 0.02)
    """Per-axis Gaussian jitter std, ×D, drawn per window."""
    noise_corr: tuple[float, float] = (0.0, 0.8)
    """Frame-to-frame correlation of the jitter (AR(1) coefficient), drawn per window."""
    outlier_prob: float = 0.02
    """Per joint and frame: probability of an extra, large displacement."""
    outlier_std: float = 0.08
    """Per-axis std of that displacement, ×D."""
    bias_std: float = 0.01
    """Per-axis std of a per-joint offset fixed over the window, ×D (systematic detector error)."""
    swap_prob: float = 0.03
    """Per frame: probability that one left/right pair (knees, ankles, legs, elbows, wrists, arms) swaps."""
    missing_prob: float = 0.25
    """Per frame: probability that 1..`max_missing` random joints are missing (score 0, coordinates 0)."""
    max_missing: int = 3
    limb_missing_prob: float = 0.03
    """Per window: probability that a whole limb (elbow+wrist or knee+ankle) is missing throughout."""
    truncation_prob: float = 0.05
    """Per window: probability of a forced cut, as by an image border, 15–50% into the person's
    extent from a random side; joints beyond it are missing. Joints outside the real image are
    always missing."""
    detector_scores: bool = True
    """Scores like a detector's, falling with the 2D error; False gives every visible joint 1."""
    min_score: float = 0.3
    score_err_scale: float = 0.08
    """A visible joint scores min_score + (1 - min_score)·exp(-error/(score_err_scale·D))·U(0.8, 1)."""

    @classmethod
    def detector(cls) -> "AugmentConfig":
        """Inputs as a real 2D detector gives them: for the default, open-data model.

        Mean 2D error ≈ 2.3% of D (≈ 6 px for a person 250 px tall), median
        score ≈ 0.8, about 5% of joints missing (3% at random, the rest whole
        limbs and truncation), 3% of frames with a left/right swap.
        """
        return cls()

    @classmethod
    def clean(cls) -> "AugmentConfig":
        """Ground-truth 2D with ~0.5 px of jitter and scores of 1: the research protocol."""
        return cls(body_scale=(1.0, 1.0), speed=(0.8, 1.2), coco_input_share=0.0,
                   noise_std=(0.0005, 0.0015), noise_corr=(0.0, 0.0), outlier_prob=0.0, bias_std=0.0,
                   swap_prob=0.0, missing_prob=0.0, limb_missing_prob=0.0, truncation_prob=0.0,
                   detector_scores=False)

    @classmethod
    def none(cls) -> "AugmentConfig":
        """No augmentation at all: exact projections of the unaltered poses (validation, tests)."""
        return replace(cls.clean(), mirror_prob=0.0, speed=(1.0, 1.0), noise_std=(0.0, 0.0))


@dataclass(frozen=True)
class VirtualCameraConfig:
    """The distribution of virtual cameras. Angles in degrees, distances in metres."""

    fov_deg: tuple[float, float] = (20.0, 120.0)
    """Field of view across the image's long side (= horizontal FOV for landscape and square images)."""
    long_side_px: tuple[int, int] = (480, 4000)
    """Image long side, drawn log-uniformly."""
    aspect_ratios: tuple[float, ...] = (1.0, 4 / 3, 3 / 2, 16 / 9)
    portrait_prob: float = 0.5
    distance_m: tuple[float, float] = (2.0, 10.0)
    """Horizontal distance to the subject, drawn log-uniformly (near cameras give the strong
    perspective a lifter must learn). The near end is raised, up to the far end, so that
    the window's motion fits into `max_fill` of the image's short side."""
    max_fill: float = 0.9
    height_m: tuple[float, float] = (0.2, 2.5)
    """Camera height above the floor (the lowest joint of the window)."""
    aim_offset: float = 0.7
    """The subject's mean root lands within this fraction of the half-image from the centre."""
    roll_deg: float = 15.0
    """Roll: normal with std roll_deg/2, clipped to ±roll_deg (most footage is near level)."""
    pan_prob: float = 0.3
    pan_deg_per_s: float = 10.0
    """Panning cameras turn about the vertical at up to this rate during a window."""
    distortion_prob: float = 0.3
    k1_normal: float = 0.1
    """Normal lenses: k1 uniform in ±k1_normal, limited to ±max_corner_distortion at the corner."""
    max_corner_distortion: float = 0.05
    wide_fov_deg: float = 80.0
    wide_corner_barrel: tuple[float, float] = (0.03, 0.15)
    """Lenses with fov ≥ wide_fov_deg: barrel distortion, this fractional shrink at the image corner."""
    intrinsics_per_batch: int = 16
    min_visible: int = 8
    """Re-place the camera while fewer H36M17 joints than this fall inside the image in some frame."""


@dataclass
class Batch:
    """One batch of B windows of W frames.

    inputs: (B, W, 51) float32 network input (`CanonicalInput.as_vector`).
    targets: (B, W, 17, 3) float32 root-relative H36M17 pose in the virtual camera, mm.
    canonical: the `CanonicalInput` behind `inputs` (rotation (B, W, 3, 3), scale (B, W)).
    keypoints_px: (B, W, 17, 2) H36M17 2D input in pixels after augmentation, 0 where missing.
    scores: (B, W, 17) its scores, 0 = missing.
    keypoints_true_px: (B, W, 17, 2) the same input built from exact projections, no detector model.
    poses_cam_mm: (B, W, 17, 3) the true pose in the (real or virtual) camera frame, mm.
    intrinsics: B `Intrinsics`, one per item.
    camera_index: (B,) index into the sampler's real cameras, -1 for a virtual camera.
    sequence_index: (B,) source sequence; frame_positions: (B, W) its (fractional) frames.
    mirrored, coco_input: (B,) bool, which items were mirrored / given COCO-derived input.
    """

    inputs: np.ndarray
    targets: np.ndarray
    canonical: CanonicalInput
    keypoints_px: np.ndarray
    scores: np.ndarray
    keypoints_true_px: np.ndarray
    poses_cam_mm: np.ndarray
    intrinsics: list[Intrinsics]
    camera_index: np.ndarray
    sequence_index: np.ndarray
    frame_positions: np.ndarray
    mirrored: np.ndarray
    coco_input: np.ndarray


class PairSampler:
    """Random (2D input, 3D target) pairs from world-frame 3D sequences.

    sequences: each (T, J, 3) world frame, **Y-up**, mm, at `fps` Hz; J = 22
        (MOCAP22) or 17 (H36M17), as `joint_set` says. They are copied into
        one float32 array.
    cameras: real cameras in the *same* world frame as the sequences, either
        one list for all sequences or one list per sequence (H36M: the
        subject's four cameras through `io.h36m.camera_for_y_up_world`).
        An item uses one of them with probability `real_camera_share`, else
        a virtual camera. Real cameras see the poses unrotated, as recorded
        (mirroring still applies).
    virtual_camera: the distribution of virtual cameras.
    model_fps: the frame rate of the sampled windows.
    balance: 0 draws every frame equally often; > 0 draws frame i ∝
        `pose_rarity_weights` ** balance, so rare poses (sitting, crouching,
        lying) are seen more often than their share of the recordings.
    Without balance, a window starts anywhere in the drawn frame's sequence
    that keeps it inside; with balance, it is centred on the drawn frame where
    it fits, else moved inside. A window longer than its sequence repeats the
    last frame.
    The random state is the public `rng` (save and restore its
    ``bit_generator.state`` to resume deterministically).
    """

    def __init__(self, sequences: list[np.ndarray], joint_set: str = "mocap22",
                 cameras: list[Camera] | list[list[Camera]] | None = None, real_camera_share: float = 1.0,
                 augment: AugmentConfig = AugmentConfig.detector(), fps: float = 50.0, seed: int = 0,
                 virtual_camera: VirtualCameraConfig = VirtualCameraConfig(), model_fps: float = 50.0,
                 balance: float = 0.0):
        self.joints: JointSet = _joint_set(joint_set)
        if not sequences:
            raise ValueError("no sequences to sample from")
        if balance < 0:
            raise ValueError(f"balance must be 0 or more (a negative power would favour common poses), got {balance}")
        for i, s in enumerate(sequences):
            if s.ndim != 3 or s.shape[1:] != (len(self.joints), 3) or len(s) == 0:
                raise ValueError(f"sequence {i} has shape {s.shape}; expected (T, {len(self.joints)}, 3)")
        self.lengths = np.array([len(s) for s in sequences])
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)])
        self.frames = np.concatenate(sequences).astype(np.float32)
        self._frame_cdf = None  # uniform over frames
        if balance > 0:
            weights = pose_rarity_weights(self.frames, self.joints) ** balance
            self._frame_cdf = np.cumsum(weights / weights.sum())
        self.augment, self.camera_config = augment, virtual_camera
        self.fps, self.model_fps = float(fps), float(model_fps)
        self.rng = np.random.default_rng(seed)
        self._set_cameras(cameras, len(sequences))
        self.real_camera_share = real_camera_share if self.cameras else 0.0

        # Joint tables used by the detector model, in the sequences' joint order.
        idx = self.joints.index
        self._swap_left = np.array([[idx(l) for l, _ in g] + [0] * (2 - len(g)) for g in _SWAP_GROUPS])
        self._swap_right = np.array([[idx(r) for _, r in g] + [0] * (2 - len(g)) for g in _SWAP_GROUPS])
        self._limb_mask = np.zeros((len(_LIMBS), len(self.joints)), dtype=bool)
        for i, limb in enumerate(_LIMBS):
            self._limb_mask[i, self.joints.indices(limb)] = True
        # Bone c (the bone ending at joint c) and its mirror image share one length factor.
        pair_of = {}
        for c in range(len(self.joints)):
            pair_of.setdefault(min(c, self.joints.flip_perm[c]), len(pair_of))
        self._bone_pair = np.array([pair_of[min(c, self.joints.flip_perm[c])] for c in range(len(self.joints))])
        self._n_bone_pairs = len(pair_of)
        # Joints a detector reports, per input kind: H36M17 directly, or COCO17.
        self._reported_h36m = np.zeros(len(self.joints), dtype=bool)
        self._reported_h36m[:17] = True
        self._reported_coco = np.zeros(len(self.joints), dtype=bool)
        if self.joints.name == "mocap22":
            self._reported_coco[self.joints.indices(COCO17.joints)] = True

    def _set_cameras(self, cameras, n_sequences: int):
        """Flatten the real cameras; `_seq_cameras[s]` lists sequence s's camera indices (-1 padded)."""
        if not cameras:
            self.cameras: list[Camera] = []
            self._real_intrinsics: list[Intrinsics] = []
            return
        per_sequence = cameras if isinstance(cameras[0], (list, tuple)) else [cameras] * n_sequences
        if len(per_sequence) != n_sequences:
            raise ValueError(f"{len(per_sequence)} camera lists for {n_sequences} sequences")
        self.cameras, ids = [], {}
        for cams in per_sequence:
            for c in cams:
                if id(c) not in ids:
                    ids[id(c)] = len(self.cameras)
                    self.cameras.append(c)
        width = max(len(c) for c in per_sequence)
        self._seq_cameras = np.array([[ids[id(c)] for c in cams] + [-1] * (width - len(cams))
                                      for cams in per_sequence])
        self._n_seq_cameras = np.array([len(c) for c in per_sequence])
        self._real_R = np.stack([np.asarray(c.R, dtype=np.float64) for c in self.cameras])
        self._real_t = np.stack([np.asarray(c.t, dtype=np.float64).reshape(3) for c in self.cameras])
        # Filming cameras are near upright; one whose image "up" is far from +y almost surely
        # belongs to another world frame (typically H36M's Z-up) and would give nonsense pairs.
        tilt = np.degrees(np.arccos(np.clip(-self._real_R[:, 1, 1], -1, 1)))
        if np.any(tilt > _MAX_REAL_CAMERA_TILT_DEG):
            c = self.cameras[int(np.argmax(tilt))]
            raise ValueError(f"camera {c.name!r} is tilted {tilt.max():.0f}° from upright in a Y-up world: "
                             "cameras must map the sequences' Y-up world (H36M: camera_for_y_up_world)")
        # Distinct intrinsics (H36M: 4 for 20 cameras): each costs a projection call per batch.
        self._real_intrinsics = list(dict.fromkeys(c.intrinsics for c in self.cameras))
        self._real_intr_id = np.array([self._real_intrinsics.index(c.intrinsics) for c in self.cameras])

    # -- the pipeline ------------------------------------------------------------
    def sample(self, batch_size: int, window: int = 1) -> Batch:
        """`batch_size` windows of `window` consecutive frames at `model_fps`."""
        rng, aug = self.rng, self.augment
        B, W = batch_size, window
        seq, positions, world = self._sample_windows(B, W)
        world = _scale_bodies(world, rng.uniform(*aug.body_scale, size=B))
        if aug.bone_scale_std > 0:
            world = self._rescale_bones(world, np.exp(aug.bone_scale_std * rng.standard_normal((B, self._n_bone_pairs))))
        if aug.joint_shift_std_mm > 0:
            world = self._shift_joints(world, aug.joint_shift_std_mm * rng.standard_normal((B, len(_SHIFT_GROUPS), 3)))

        cam_index, intrinsics, intr_id, R, t = self._choose_cameras(seq, world)
        pose_cam = world @ np.swapaxes(R, -1, -2) + t[:, :, None, :]
        if np.any(pose_cam[cam_index >= 0][..., 2] <= 0):
            raise ValueError("a pose lies behind a real camera: cameras and sequences must share "
                             "one world frame, in mm")
        mirrored = rng.random(B) < aug.mirror_prob
        pose_cam[mirrored] = flip_lr(pose_cam[mirrored], self.joints, axis=0)

        true_px = _per_camera(intrinsics, intr_id, pose_cam, Intrinsics.project)
        seen = _in_image(true_px, intrinsics, intr_id) & _lens_invertible(pose_cam, intrinsics, intr_id)
        size = _bbox_diagonal(true_px[..., :17, :])
        coco = np.zeros(B, dtype=bool)
        if self.joints.name == "mocap22":
            coco = rng.random(B) < aug.coco_input_share
        reported = np.where(coco[:, None], self._reported_coco, self._reported_h36m)
        px, scores = self._detector(true_px, size, reported)
        scores = np.where(seen, scores, 0.0)  # what lies outside the image (or lens) is never seen

        px, scores = self._to_h36m17(px, scores, coco)
        true_px17, _ = self._to_h36m17(true_px, np.ones(true_px.shape[:-1]), coco)
        scores = np.where(_in_image(px, intrinsics, intr_id), scores, 0.0)  # derived joints can leave it
        px = np.where(scores[..., None] > 0, px, 0.0)

        canonical = canonicalize(_per_camera(intrinsics, intr_id, px, Intrinsics.pixels_to_normalized), scores)
        pose17 = pose_cam[..., :17, :]
        targets = to_virtual_frame(pose17 - pose17[..., :1, :], canonical.rotation)
        return Batch(
            inputs=canonical.as_vector(), targets=targets.astype(np.float32), canonical=canonical,
            keypoints_px=px, scores=scores, keypoints_true_px=true_px17, poses_cam_mm=pose17,
            intrinsics=[intrinsics[i] for i in intr_id], camera_index=cam_index, sequence_index=seq,
            frame_positions=positions, mirrored=mirrored, coco_input=coco)

    def _sample_windows(self, B: int, W: int):
        """Sequence index (B,), source frame positions (B, W) and interpolated world poses (B, W, J, 3)."""
        rng = self.rng
        if self._frame_cdf is None:
            frame = rng.integers(self.offsets[-1], size=B)
        else:
            frame = np.minimum(np.searchsorted(self._frame_cdf, rng.random(B), side="right"), self.offsets[-1] - 1)
        seq = np.searchsorted(self.offsets[1:], frame, side="right")
        step = rng.uniform(*self.augment.speed, size=B) * self.fps / self.model_fps
        length = self.lengths[seq]
        n_starts = np.maximum(np.floor(length - 1 - step * (W - 1)), 0) + 1
        if self._frame_cdf is None:  # (the draws of the shipped models' training: keep them reproducible)
            start = np.floor(rng.random(B) * n_starts)
        else:
            start = np.clip(np.floor(frame - self.offsets[seq] - step * (W - 1) / 2), 0, n_starts - 1)
        positions = np.minimum(start[:, None] + step[:, None] * np.arange(W), (length - 1)[:, None])
        i0 = np.floor(positions).astype(np.int64)
        i1 = np.minimum(i0 + 1, (length - 1)[:, None])
        frac = (positions - i0)[..., None, None]
        base = self.offsets[seq][:, None]
        world = (1 - frac) * self.frames[base + i0] + frac * self.frames[base + i1]
        return seq, positions, world

    def _rescale_bones(self, world: np.ndarray, factors: np.ndarray) -> np.ndarray:
        """Multiply each bone of (B, W, J, 3) poses by its pair's factor (B, pairs), keeping bone directions."""
        out = world.copy()
        for c, p in enumerate(self.joints.parents):
            if p >= 0:
                f = factors[:, self._bone_pair[c], None, None]
                out[:, :, c] = out[:, :, p] + f * (world[:, :, c] - world[:, :, p])
        return out

    def _shift_joints(self, world: np.ndarray, offsets_mm: np.ndarray) -> np.ndarray:
        """Move the `_SHIFT_GROUPS` of (B, W, J, 3) poses by offsets (B, groups, 3) given in each frame's
        torso axes (towards the left hip, up the spine, forward); left sides take the lateral part negated."""
        idx = self.joints.index
        pelvis, l_hip, r_hip, thorax = (world[:, :, idx(n)] for n in ("pelvis", "l_hip", "r_hip", "thorax"))
        lateral = l_hip - r_hip
        lateral /= np.maximum(np.linalg.norm(lateral, axis=-1, keepdims=True), 1e-9)
        up = thorax - pelvis
        up -= (up * lateral).sum(-1, keepdims=True) * lateral
        up /= np.maximum(np.linalg.norm(up, axis=-1, keepdims=True), 1e-9)
        axes = np.stack([lateral, up, np.cross(lateral, up)], axis=-2)  # (B, W, 3 axes, 3)
        out = world.copy()
        for g, (_, members) in enumerate(_SHIFT_GROUPS):
            for side, names in zip((1.0, -1.0), members):
                local = offsets_mm[:, g] * [side, 1.0, 1.0]
                moved = [idx(n) for n in names if n in self.joints.joints]
                out[:, :, moved] += np.einsum("bk,bwkd->bwd", local, axes)[:, :, None]
        return out

    def _choose_cameras(self, seq: np.ndarray, world: np.ndarray):
        """Real or virtual camera per item.

        Returns camera_index (B,) (-1 = virtual), the list of distinct
        intrinsics, each item's index into it (B,), and per-frame world→camera
        R (B, W, 3, 3), t (B, W, 3).
        """
        rng, B, W = self.rng, world.shape[0], world.shape[1]
        cam_index = np.full(B, -1)
        intr_id = np.full(B, -1)
        R = np.empty((B, W, 3, 3))
        t = np.empty((B, W, 3))
        if self.cameras:
            real = rng.random(B) < self.real_camera_share
            pick = np.floor(rng.random(B) * self._n_seq_cameras[seq]).astype(np.int64)
            cam_index[real] = self._seq_cameras[seq, pick][real]
            R[real] = self._real_R[cam_index[real], None]
            t[real] = self._real_t[cam_index[real], None]
            intr_id[real] = self._real_intr_id[cam_index[real]]

        intrinsics = list(self._real_intrinsics)
        virtual = np.flatnonzero(cam_index < 0)
        if virtual.size:
            pool = _virtual_intrinsics(self.camera_config, rng, min(self.camera_config.intrinsics_per_batch,
                                                                     virtual.size))
            group = rng.integers(len(pool), size=virtual.size)
            intr_id[virtual] = len(intrinsics) + group
            intrinsics = intrinsics + pool
            R[virtual], t[virtual] = self._place_virtual_cameras(world[virtual], [pool[g] for g in group])
        return cam_index, intrinsics, intr_id, R, t

    def _place_virtual_cameras(self, world: np.ndarray, intrinsics: list[Intrinsics]):
        """World→camera R (n, W, 3, 3), t (n, W, 3) for n windows, one camera each around its subject."""
        n = world.shape[0]
        f = np.array([i.fx for i in intrinsics])
        size = np.array([[i.width, i.height] for i in intrinsics], dtype=np.float64)
        R = np.empty(world.shape[:2] + (3, 3))
        t = np.empty(world.shape[:2] + (3,))
        todo = np.arange(n)
        for attempt in range(_TRIES_TOTAL):
            R[todo], t[todo] = _virtual_extrinsics(self.camera_config, self.rng, world[todo], f[todo],
                                                   size[todo], self.model_fps)
            cam = world[todo] @ np.swapaxes(R[todo], -1, -2) + t[todo][:, :, None, :]
            ok = np.all(cam[..., 2] > MIN_DEPTH_MM, axis=(1, 2))
            if attempt < _TRIES_VISIBLE:
                # Pinhole suffices here: this only keeps most of the person in view.
                half = size[todo, None, None] / 2
                u = cam[..., :17, 0] / cam[..., :17, 2] * f[todo, None, None]
                v = cam[..., :17, 1] / cam[..., :17, 2] * f[todo, None, None]
                inside = (np.abs(u) < half[..., 0]) & (np.abs(v) < half[..., 1])
                ok &= np.all(inside.sum(-1) >= self.camera_config.min_visible, axis=1)
            todo = todo[~ok]
            if not todo.size:
                return R, t
        raise RuntimeError(f"could not place virtual cameras in front of {todo.size} windows")

    def _detector(self, true_px: np.ndarray, size: np.ndarray, reported: np.ndarray):
        """Keypoints (B, W, J, 2) px and scores (B, W, J) as a 2D detector would report them.

        size: (B, W) person size D in px; reported: (B, J) joints the detector gives.
        """
        rng, aug = self.rng, self.augment
        B, W, J = true_px.shape[:3]
        err = np.zeros(true_px.shape)  # in units of D
        if aug.noise_std[1] > 0:
            white = rng.standard_normal(err.shape)
            # AR(1) over time keeps the std while neighbouring frames share part of the error,
            # like a detector's jitter on a slowly changing image.
            rho = rng.uniform(*aug.noise_corr, size=B)[:, None, None]
            jitter = white  # filtered in place: frame k still holds its white noise when reached
            for k in range(1, W):
                jitter[:, k] = rho * jitter[:, k - 1] + np.sqrt(1 - rho ** 2) * white[:, k]
            err += rng.uniform(*aug.noise_std, size=B)[:, None, None, None] * jitter
        if aug.outlier_prob > 0:
            outlier = np.nonzero(rng.random((B, W, J)) < aug.outlier_prob)
            err[outlier] += aug.outlier_std * rng.standard_normal((outlier[0].size, 2))
        if aug.bias_std > 0:
            err += aug.bias_std * rng.standard_normal((B, 1, J, 2))
        px = true_px + err * size[..., None, None]

        if aug.swap_prob > 0:
            swapped = np.nonzero(rng.random((B, W)) < aug.swap_prob)  # (item, frame) pairs
            n = swapped[0].size
            group = rng.integers(len(_SWAP_GROUPS), size=n)
            left, right = self._swap_left[group], self._swap_right[group]
            perm = np.broadcast_to(np.arange(J), (n, J)).copy()
            rows = np.arange(n)[:, None]
            perm[rows, left], perm[rows, right] = right, left
            px[swapped] = np.take_along_axis(px[swapped], perm[..., None], axis=1)

        if aug.detector_scores:
            error = np.hypot(*np.moveaxis(px - true_px, -1, 0)) / size[..., None]
            scores = aug.min_score + (1 - aug.min_score) * np.exp(-error / aug.score_err_scale) \
                * rng.uniform(0.8, 1.0, size=(B, W, J))
        else:
            scores = np.ones((B, W, J))
        missing = self._missing(true_px, reported)
        return px, np.where(missing | ~reported[:, None, :], 0.0, scores)

    def _missing(self, true_px: np.ndarray, reported: np.ndarray) -> np.ndarray:
        """(B, W, J) bool: joints the detector drops (random joints, whole limbs, forced truncation)."""
        rng, aug = self.rng, self.augment
        B, W, J = true_px.shape[:3]
        missing = np.zeros((B, W, J), dtype=bool)
        if aug.missing_prob > 0:
            count = np.where(rng.random((B, W)) < aug.missing_prob,
                             rng.integers(1, aug.max_missing + 1, size=(B, W)), 0)
            # The `count` reported joints with the smallest random keys go missing.
            keys = np.where(reported[:, None, :], rng.random((B, W, J)), 2.0)
            lowest = np.argsort(keys, axis=-1)[..., :aug.max_missing]
            np.put_along_axis(missing, lowest, np.arange(aug.max_missing) < count[..., None], axis=-1)
        if aug.limb_missing_prob > 0:
            limb = rng.random(B) < aug.limb_missing_prob
            missing |= (self._limb_mask[rng.integers(len(_LIMBS), size=B)] & limb[:, None])[:, None, :]
        if aug.truncation_prob > 0:
            cut = rng.random(B) < aug.truncation_prob
            side = rng.integers(4, size=B)  # side % 2: the axis (u or v); side < 2: cut at its high end
            coord = np.where((side % 2 == 0)[:, None, None], true_px[..., 0], true_px[..., 1])
            coord = np.where((side < 2)[:, None, None], coord, -coord)
            hi, lo = coord.max(axis=(1, 2)), coord.min(axis=(1, 2))
            line = hi - rng.uniform(0.15, 0.5, size=B) * (hi - lo)
            missing |= cut[:, None, None] & (coord > line[:, None, None])
        return missing

    def _to_h36m17(self, px: np.ndarray, scores: np.ndarray, coco: np.ndarray):
        """Source-joint keypoints → H36M17 input: first 17 joints, or via COCO17 for `coco` items."""
        out_px, out_scores = px[..., :17, :].copy(), scores[..., :17].copy()
        if np.any(coco):
            coco_scores = mocap22_to_coco17(scores[coco, ..., None])[..., 0]  # it selects along axis -2
            out_px[coco], out_scores[coco] = coco17_to_h36m17(mocap22_to_coco17(px[coco]), coco_scores)
        return out_px, out_scores


# -- helpers without sampler state -------------------------------------------------
def pose_rarity_weights(frames: np.ndarray, joints: JointSet, radius_mm: float = 100.0, reference: int = 10000,
                        seed: int = 0) -> np.ndarray:
    """(T,) weights, one per frame of (T, J, 3) Y-up poses, mean 1: high for poses few other frames share.

    Recorded mocap is mostly standing and walking. A frame's weight is 1 /
    (1 + the number of frames, among a random `reference` sample, whose pose
    lies within `radius_mm` of it, as root-mean-square distance over the
    first 17 joints). Poses are compared by their shape only: root-relative,
    turned about the vertical so that the hips face one way. (A count within
    a fixed radius, not k-means clusters: k-means places its centres where the
    frames are dense, so all clusters come out about the same size.)
    """
    shapes = _pose_shapes(frames, joints)
    rng = np.random.default_rng(seed)
    ref = shapes[rng.choice(len(shapes), min(reference, len(shapes)), replace=False)]
    ref_sq = (ref ** 2).sum(1)
    limit = radius_mm ** 2 * 17  # squared distance over 17 joints at that RMS
    counts = np.concatenate([
        ((chunk ** 2).sum(1)[:, None] + ref_sq[None] - 2 * chunk @ ref.T < limit).sum(1)
        for chunk in np.array_split(shapes, max(1, len(shapes) // 4096))])
    weights = 1.0 / (1.0 + counts)
    return weights * (len(weights) / weights.sum())


def _pose_shapes(frames: np.ndarray, joints: JointSet) -> np.ndarray:
    """(T, 51) root-relative H36M17 joints (mm) turned about +y so that the hip line points along +x."""
    body = frames[:, :17] - frames[:, :1]
    hips = body[:, joints.index("l_hip")] - body[:, joints.index("r_hip")]
    yaw = np.arctan2(hips[:, 2], hips[:, 0])
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    x, z = body[..., 0], body[..., 2]
    turned = np.stack([c * x + s * z, body[..., 1], -s * x + c * z], axis=-1)
    return turned.reshape(len(frames), -1).astype(np.float32)


def _joint_set(name: str) -> JointSet:
    js = joint_set(name)
    if js.name not in ("mocap22", "h36m17"):
        raise ValueError(f"sequences must be 'mocap22' or 'h36m17', not {name!r}")
    return js


def _scale_bodies(world: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Scale each window (B, W, J, 3) about its mean root position by scale (B,)."""
    pivot = world[:, :, :1, :].mean(axis=1, keepdims=True)
    return pivot + scale[:, None, None, None] * (world - pivot)


def _per_camera(intrinsics: list[Intrinsics], intr_id: np.ndarray, points: np.ndarray, method) -> np.ndarray:
    """Apply an `Intrinsics` method to each item's points (B, ...) with that item's intrinsics."""
    out = np.empty(points.shape[:-1] + (2,))
    for i in np.unique(intr_id):
        sel = intr_id == i
        out[sel] = method(intrinsics[i], points[sel])
    return out


def _in_image(px: np.ndarray, intrinsics: list[Intrinsics], intr_id: np.ndarray) -> np.ndarray:
    """(B, W, J) bool: pixel coordinates (B, W, J, 2) inside each item's image."""
    # Component-wise: numpy reduces slowly over a last axis of length 2.
    w = np.array([i.width for i in intrinsics], dtype=np.float64)[intr_id][:, None, None]
    h = np.array([i.height for i in intrinsics], dtype=np.float64)[intr_id][:, None, None]
    u, v = px[..., 0], px[..., 1]
    return (u >= 0) & (u < w) & (v >= 0) & (v < h)


def _lens_invertible(pose_cam: np.ndarray, intrinsics: list[Intrinsics], intr_id: np.ndarray) -> np.ndarray:
    """(B, W, J) bool: joints where each item's radial distortion can be undone reliably.

    Beyond that zone a strong barrel lens folds back, so points far outside
    the field of view could otherwise land inside the image.
    """
    k = np.array([i.dist[:3] for i in intrinsics])[intr_id][:, None, None]
    r2 = (pose_cam[..., 0] ** 2 + pose_cam[..., 1] ** 2) / pose_cam[..., 2] ** 2
    slope = r2 * (3 * k[..., 0] + r2 * (5 * k[..., 1] + r2 * 7 * k[..., 2]))  # d(r·radial)/dr - 1
    return np.abs(slope) < _LENS_DERIVATIVE_TOL


def _bbox_diagonal(px: np.ndarray) -> np.ndarray:
    """(..., J, 2) → (...) diagonal of the 2D bounding box, at least 1 px."""
    u, v = px[..., 0], px[..., 1]
    return np.maximum(np.hypot(u.max(-1) - u.min(-1), v.max(-1) - v.min(-1)), 1.0)


def _virtual_intrinsics(cfg: VirtualCameraConfig, rng: np.random.Generator, n: int) -> list[Intrinsics]:
    """n random virtual cameras' intrinsics: square pixels, principal point at the centre.

    The centred principal point makes the mirror augmentation map the image onto itself.
    """
    out = []
    for _ in range(n):
        fov = np.radians(rng.uniform(*cfg.fov_deg))
        long = np.exp(rng.uniform(*np.log(cfg.long_side_px)))
        short = long / cfg.aspect_ratios[rng.integers(len(cfg.aspect_ratios))]
        w, h = (round(short), round(long)) if rng.random() < cfg.portrait_prob else (round(long), round(short))
        f = 0.5 * max(w, h) / np.tan(fov / 2)
        k1 = 0.0
        if rng.random() < cfg.distortion_prob:
            corner_r2 = (w * w + h * h) / (4 * f * f)  # squared normalised radius of the image corner
            if np.degrees(fov) >= cfg.wide_fov_deg:
                k1 = -rng.uniform(*cfg.wide_corner_barrel) / corner_r2
            else:
                limit = min(cfg.k1_normal, cfg.max_corner_distortion / corner_r2)
                k1 = rng.uniform(-limit, limit)
        out.append(Intrinsics(f, f, w / 2, h / 2, w, h, (k1, 0.0, 0.0, 0.0, 0.0)))
    return out


def _virtual_extrinsics(cfg: VirtualCameraConfig, rng: np.random.Generator, world: np.ndarray, f: np.ndarray,
                        size: np.ndarray, fps: float):
    """One virtual camera per window, placed around its subject.

    world: (n, W, J, 3) Y-up, mm; f: (n,) focal length px; size: (n, 2)
    image (width, height) px. Returns world→camera R (n, W, 3, 3), t (n, W, 3):
    per frame, since a panning camera turns during the window.
    """
    n, W = world.shape[:2]
    root = world[:, :, 0, :]
    centre = root.mean(axis=1)
    floor = world[..., 1].min(axis=(1, 2))
    extent = np.max([np.ptp(world[..., c].reshape(n, -1), axis=1) for c in range(3)], axis=0)
    tan_half = size / (2 * f[:, None])  # tangents of the half FOVs (horizontal, vertical)

    lo_m, hi_m = cfg.distance_m
    near = np.clip(extent / 1000 / (2 * cfg.max_fill * tan_half.min(axis=1)), lo_m, hi_m)
    distance = 1000 * np.exp(rng.uniform(np.log(near), np.log(hi_m)))
    azimuth = rng.uniform(0, 2 * np.pi, size=n)
    position = np.stack([centre[:, 0] + distance * np.sin(azimuth),
                         floor + 1000 * rng.uniform(*cfg.height_m, size=n),
                         centre[:, 2] + distance * np.cos(azimuth)], axis=-1)

    to_subject = centre - position
    yaw = np.arctan2(to_subject[:, 0], to_subject[:, 2])
    pitch = np.arctan2(to_subject[:, 1], np.hypot(to_subject[:, 0], to_subject[:, 2]))
    # Turning the optical axis by atan(a·tan(half FOV)) puts the subject a fraction a off centre.
    aim = rng.uniform(-cfg.aim_offset, cfg.aim_offset, size=(n, 2))
    yaw = yaw + np.arctan(aim[:, 0] * tan_half[:, 0])
    pitch = pitch + np.arctan(aim[:, 1] * tan_half[:, 1])
    roll = np.radians(np.clip(rng.normal(0, cfg.roll_deg / 2, size=n), -cfg.roll_deg, cfg.roll_deg))
    pan = np.where(rng.random(n) < cfg.pan_prob, rng.uniform(-1, 1, size=n), 0.0) * np.radians(cfg.pan_deg_per_s)

    yaw = yaw[:, None] + pan[:, None] * (np.arange(W) - (W - 1) / 2) / fps  # (n, W)
    R = _look_rotation(yaw, np.broadcast_to(pitch[:, None], yaw.shape), np.broadcast_to(roll[:, None], yaw.shape))
    t = -(R @ position[:, None, :, None])[..., 0]
    return R, t


def _look_rotation(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """World (Y-up) → camera (x right, y down, z forward) rotations (..., 3, 3).

    The camera looks along (cos p sin y, sin p, cos p cos y); roll turns it about that axis.
    """
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    forward = np.stack([cp * sy, sp, cp * cy], axis=-1)
    right = np.stack([-cy, np.zeros_like(cy), sy], axis=-1)  # horizontal
    down = np.stack([sp * sy, -cp, sp * cy], axis=-1)  # forward × right
    cr, sr = np.cos(roll)[..., None], np.sin(roll)[..., None]
    return np.stack([cr * right + sr * down, cr * down - sr * right, forward], axis=-2)
