"""MediaPipe Pose (BlazePose) as a 2D backend: the offline default, one person per frame unless asked for more.

MediaPipe 0.10.21's wheel carries the BlazePose person detector and the
*full* landmark model (``model_complexity=1``), so this backend never
touches the network. The lite (0) and heavy (2) models are not in the wheel
and the legacy solution would download them on first use, which is why the
complexity is fixed here.

BlazePose's person detector sees the whole frame at 224x224, so people who
fill little of a wide frame are often missed: on every frame of demo.mp4
taken as a separate image it found someone in 136 of 230. When it finds no
one, `MediaPipePose` looks again in two overlapping halves of the frame
(side by side for a landscape frame, one above the other for a portrait
one), which brought that to 227 of 230 (in video mode 222 → 227), for about 40 ms per
missed frame.

MediaPipe runs its TFLite models through XNNPACK on one thread on desktop
Linux unless a graph says otherwise; `MediaPipePose` sets the thread count in
the graph's inference nodes (``num_threads``, default `default_threads`). On
the 2-core development machine two threads took the landmark model from 25.1
to 19.4 ms/frame on pre-decoded frames of demo.mp4, with identical landmarks.

BlazePose follows one person. For more (``max_people``), each further person
has a model instance of its own, which is shown the frame with the people
found before it painted out: a model cannot find, or drift onto, someone
another instance holds. An instance that holds nobody looks again every
`SEARCH_EVERY` frames of a video, so an empty place costs little. On demo.mp4
(two people; the second walks in at frame 40) ``max_people=2`` found both in
143 of 230 frames where one instance found one person in 227, at about 1.8
times the 2D time.
"""
from __future__ import annotations

import numpy as np

from ..cpus import usable_cpus
from .base import DetectorBase, Detections2D, boxes_around, check_frame

# A landmark whose visibility is below this is left out of the person's box:
# BlazePose still places occluded or out-of-frame landmarks, often far off.
BOX_MIN_VISIBILITY = 0.5
TILE_OVERLAP = 0.25  # of a half's width: someone standing on the seam is whole in one of the halves
# With several people: how far beyond a person's box (as a share of its size) the paint goes, so that
# the next instance sees no stray hand or foot of that person...
MASK_MARGIN = 0.15
# ...and how much of a box may lie on paint before the person is a shadow of one painted out.
MAX_PAINTED_SHARE = 0.5
SEARCH_EVERY = 5  # video frames between looks for another person by an instance that holds nobody


class MediaPipePose(DetectorBase):
    """BlazePose through MediaPipe's legacy ``mp.solutions.pose.Pose``.

    Returns at most ``max_people`` people (default 1), on the 33 BlazePose landmarks in pixels.
    ``scores`` are the landmarks' *visibility*: the model's estimate that the
    landmark is in the frame and not occluded. (The legacy solution leaves
    the landmarks' *presence* field at 0, so visibility is the only
    per-landmark confidence it gives.) The box surrounds
    the landmarks with visibility >= 0.5 and its score is the mean visibility.

    static_image_mode: False for video (the detector runs only when tracking
    is lost, and landmarks are smoothed over time); True for unrelated
    images (the detector runs on every call).
    retry_halves: when an instance finds nobody in the frame, look in its
        two overlapping halves (see the module docstring); the model
        instance this needs is built on the first miss.
    max_people: people per frame, each followed by its own model instance
        (see the module docstring); each costs about as much time as the first.
    num_threads: XNNPACK threads per model; None: `default_threads`.
    """

    joint_format = "blazepose33"

    def __init__(self, static_image_mode: bool = False, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5, smooth_landmarks: bool = True, retry_halves: bool = True,
                 max_people: int = 1, num_threads: int | None = None):
        try:
            import mediapipe.python.solutions.pose  # noqa: F401  (fail here, with the fix, if it is missing)
        except ImportError as err:
            raise ImportError(f"the mediapipe backend needs MediaPipe 0.10.21 ({err}); install it with "
                              "`pip install mediapipe==0.10.21`") from None
        self.num_threads = default_threads() if num_threads is None else num_threads
        if self.num_threads < 1:
            raise ValueError(f"num_threads must be at least 1, got {num_threads}")
        if max_people < 1:
            raise ValueError(f"max_people must be at least 1, got {max_people}")
        self.static_image_mode = static_image_mode
        self._new_pose = lambda: _threaded_pose(
            self.num_threads, static_image_mode=static_image_mode, smooth_landmarks=smooth_landmarks,
            min_detection_confidence=min_detection_confidence, min_tracking_confidence=min_tracking_confidence)
        # One instance per person, built when first needed; the first now, so that a broken install fails here.
        self._poses = [self._new_pose()] + [None] * (max_people - 1)
        # Frames since each instance last found someone (0: in the previous frame).
        self._frames_without = [0] * max_people
        # Halves are unrelated images to the model: a tracking instance would carry one half's ROI into the next.
        self._halves = (lambda: _threaded_pose(self.num_threads, static_image_mode=True,
                                               min_detection_confidence=min_detection_confidence)) \
            if retry_halves else None
        self._halves_pose = None

    @property
    def max_people(self) -> int:
        return len(self._poses)

    def __call__(self, frame_rgb: np.ndarray) -> Detections2D:
        width, height = check_frame(frame_rgb)
        people, painted = [], []  # landmarks found; boxes painted out for the instances after
        image = frame_rgb
        for k in range(self.max_people):
            if not self._due(k):
                self._frames_without[k] += 1
                continue
            self._poses[k] = self._poses[k] or self._new_pose()
            found = self._find(self._poses[k], image)
            if found is not None and painted and _painted_share(_box(found), painted) > MAX_PAINTED_SHARE:
                found = None  # a pose guessed on the paint over someone found before
            self._frames_without[k] = 0 if found is not None else self._frames_without[k] + 1
            if found is None:
                if self.static_image_mode:
                    break  # the next instance would see the same image
                continue
            people.append(found)
            if k + 1 < self.max_people:
                box = _box(found, MASK_MARGIN)
                painted.append(box)
                image = image.copy() if image is frame_rgb else image
                x0, y0, x1, y1 = np.clip(np.round(box), 0, [width, height, width, height]).astype(int)
                image[y0:y1, x0:x1] = 0
        if not people:
            return Detections2D.empty(self.joint_format, (width, height))
        found = np.stack(people)
        keypoints, scores, world_mm = found[:, :, :2], found[:, :, 2], found[:, :, 3:] * 1000.0
        boxes = boxes_around(keypoints, scores >= BOX_MIN_VISIBILITY)
        return Detections2D(keypoints, scores, boxes, scores.mean(axis=1), self.joint_format, (width, height),
                            world_mm)

    def _due(self, k: int) -> bool:
        """Whether instance ``k`` looks at this frame: the first always; another while it holds someone,
        on every image, and every `SEARCH_EVERY` video frames while it holds nobody."""
        return k == 0 or self.static_image_mode or self._frames_without[k] % SEARCH_EVERY == 0

    def _find(self, pose, image_rgb: np.ndarray) -> np.ndarray | None:
        """One person's landmarks (`_landmarks`) from ``pose``, or from the halves of the image if it finds nobody."""
        found = _landmarks(pose, image_rgb)
        if found is None and self._halves is not None:
            self._halves_pose = self._halves_pose or self._halves()
            height, width = image_rgb.shape[:2]
            for x0, y0, x1, y1 in halves(width, height):
                found = _landmarks(self._halves_pose, np.ascontiguousarray(image_rgb[y0:y1, x0:x1]), (x0, y0))
                if found is not None:
                    break
        return found

    def close(self) -> None:
        for pose in self._poses:
            if pose is not None:
                pose.close()
        if self._halves_pose is not None:
            self._halves_pose.close()


def default_threads() -> int:
    """XNNPACK threads when none are asked for: half the CPUs this process may use, at most 4 (1 on 2 CPUs).

    XNNPACK's threads spin while they wait for one another, so they slow down
    many times over when they must share a core with other busy threads. On
    the 2-core development machine, demo.mp4 through `monocap run` with two
    threads: 30 frames/s on average on the otherwise idle machine (28 with
    one), but 4–14 beside one busy process (25–28 with one); two batch
    workers with two threads each took 11 times as long as with one.
    """
    return max(1, min(4, usable_cpus() // 2))


def _threaded_pose(threads: int, **options):
    """MediaPipe's legacy Pose solution (full model, no segmentation) with ``threads`` XNNPACK threads per model."""
    from mediapipe.calculators.tensor.inference_calculator_pb2 import InferenceCalculatorOptions
    from mediapipe.python.solutions.pose import Pose

    class ThreadedPose(Pose):
        def _modify_calculator_options(self, graph_config, calculator_params) -> None:
            super()._modify_calculator_options(graph_config, calculator_params)
            for node in graph_config.node:  # the graph with its subgraphs expanded
                if node.calculator.startswith("InferenceCalculator"):
                    node.options.Extensions[InferenceCalculatorOptions.ext].delegate.xnnpack.num_threads = threads

    return ThreadedPose(model_complexity=1, enable_segmentation=False, **options)


def halves(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """Two overlapping halves of a frame, (x0, y0, x1, y1) pixels: side by side if it is wider than tall."""
    long_side = max(width, height)
    size = int(np.ceil(long_side / (2 - TILE_OVERLAP)))
    spans = [(0, size), (long_side - size, long_side)]
    if width >= height:
        return [(a, 0, b, height) for a, b in spans]
    return [(0, a, width, b) for a, b in spans]


def _landmarks(pose, image_rgb: np.ndarray, offset_px: tuple[int, int] = (0, 0)) -> np.ndarray | None:
    """(33, 6): x, y in pixels of the frame the image was cut from (at ``offset_px``), visibility, then the
    world landmark's x, y, z in metres (origin between the hips; NaN if MediaPipe gave none); None: nobody."""
    result = pose.process(image_rgb)
    if result.pose_landmarks is None:
        return None
    height, width = image_rgb.shape[:2]
    values = np.full((len(result.pose_landmarks.landmark), 6), np.nan, np.float32)
    values[:, :3] = [(lm.x, lm.y, lm.visibility) for lm in result.pose_landmarks.landmark]
    values[:, :2] = values[:, :2] * [width, height] + offset_px
    values[:, 2] = np.clip(values[:, 2], 0, 1)
    if result.pose_world_landmarks is not None:
        values[:, 3:] = [(lm.x, lm.y, lm.z) for lm in result.pose_world_landmarks.landmark]
    return values


def _box(landmarks: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """(4,) x0, y0, x1, y1 pixels around a person's visible landmarks, widened by ``margin`` of its size each side."""
    box = boxes_around(landmarks[None, :, :2], landmarks[None, :, 2] >= BOX_MIN_VISIBILITY)[0]
    size = box[2:] - box[:2]
    return np.concatenate([box[:2] - margin * size, box[2:] + margin * size])


def _painted_share(box: np.ndarray, painted: list[np.ndarray]) -> float:
    """The largest share of ``box``'s area that lies inside one of the ``painted`` boxes."""
    area = max(float(np.prod(box[2:] - box[:2])), 1e-6)
    overlaps = [np.prod(np.clip(np.minimum(box[2:], p[2:]) - np.maximum(box[:2], p[:2]), 0, None)) for p in painted]
    return float(max(overlaps)) / area
