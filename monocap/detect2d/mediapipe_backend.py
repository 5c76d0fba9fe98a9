"""MediaPipe Pose (BlazePose) as a 2D backend: the offline default, one person per frame.

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
"""
from __future__ import annotations

import numpy as np

from ..cpus import usable_cpus
from .base import DetectorBase, Detections2D, boxes_around, check_frame

# A landmark whose visibility is below this is left out of the person's box:
# BlazePose still places occluded or out-of-frame landmarks, often far off.
BOX_MIN_VISIBILITY = 0.5
TILE_OVERLAP = 0.25  # of a half's width: someone standing on the seam is whole in one of the halves


class MediaPipePose(DetectorBase):
    """BlazePose through MediaPipe's legacy ``mp.solutions.pose.Pose``.

    Returns at most one person, on the 33 BlazePose landmarks in pixels.
    ``scores`` are the landmarks' *visibility*: the model's estimate that the
    landmark is in the frame and not occluded. (The legacy solution leaves
    the landmarks' *presence* field at 0, so visibility is the only
    per-landmark confidence it gives.) The box surrounds
    the landmarks with visibility >= 0.5 and its score is the mean visibility.

    static_image_mode: False for video (the detector runs only when tracking
    is lost, and landmarks are smoothed over time); True for unrelated
    images (the detector runs on every call).
    retry_halves: when nobody is found in the frame, look in its two
        overlapping halves (see the module docstring); the second model
        instance this needs is built on the first miss.
    num_threads: XNNPACK threads per model; None: `default_threads`.
    """

    joint_format = "blazepose33"

    def __init__(self, static_image_mode: bool = False, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5, smooth_landmarks: bool = True, retry_halves: bool = True,
                 num_threads: int | None = None):
        try:
            import mediapipe.python.solutions.pose  # noqa: F401  (fail here, with the fix, if it is missing)
        except ImportError as err:
            raise ImportError(f"the mediapipe backend needs MediaPipe 0.10.21 ({err}); install it with "
                              "`pip install mediapipe==0.10.21`") from None
        self.num_threads = default_threads() if num_threads is None else num_threads
        if self.num_threads < 1:
            raise ValueError(f"num_threads must be at least 1, got {num_threads}")
        self._pose = _threaded_pose(self.num_threads, static_image_mode=static_image_mode,
                                    smooth_landmarks=smooth_landmarks, min_detection_confidence=min_detection_confidence,
                                    min_tracking_confidence=min_tracking_confidence)
        # Halves are unrelated images to the model: a tracking instance would carry one half's ROI into the next.
        self._halves = (lambda: _threaded_pose(self.num_threads, static_image_mode=True,
                                               min_detection_confidence=min_detection_confidence)) \
            if retry_halves else None
        self._halves_pose = None

    def __call__(self, frame_rgb: np.ndarray) -> Detections2D:
        width, height = check_frame(frame_rgb)
        found = _landmarks(self._pose, frame_rgb)
        if found is None and self._halves is not None:
            self._halves_pose = self._halves_pose or self._halves()
            for x0, y0, x1, y1 in halves(width, height):
                found = _landmarks(self._halves_pose, np.ascontiguousarray(frame_rgb[y0:y1, x0:x1]), (x0, y0))
                if found is not None:
                    break
        if found is None:
            return Detections2D.empty(self.joint_format, (width, height))
        keypoints, scores = found[None, :, :2], found[None, :, 2]
        box = boxes_around(keypoints, scores >= BOX_MIN_VISIBILITY)
        return Detections2D(keypoints, scores, box, scores.mean(axis=1), self.joint_format, (width, height))

    def close(self) -> None:
        self._pose.close()
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
    """(33, 3) x, y in pixels of the frame the image was cut from (at ``offset_px``) and visibility; None: nobody."""
    result = pose.process(image_rgb)
    if result.pose_landmarks is None:
        return None
    height, width = image_rgb.shape[:2]
    values = np.array([(lm.x, lm.y, lm.visibility) for lm in result.pose_landmarks.landmark], np.float32)
    values[:, :2] = values[:, :2] * [width, height] + offset_px
    values[:, 2] = np.clip(values[:, 2], 0, 1)
    return values
