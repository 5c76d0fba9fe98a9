"""MediaPipe Pose (BlazePose) as a 2D backend: the offline default, one person per frame.

MediaPipe 0.10.21's wheel carries the BlazePose person detector and the
*full* landmark model (``model_complexity=1``), so this backend never
touches the network. The lite (0) and heavy (2) models are not in the wheel
and the legacy solution would download them on first use, which is why the
complexity is fixed here.
"""
from __future__ import annotations

import numpy as np

from .base import DetectorBase, Detections2D, boxes_around, check_frame

# A landmark whose visibility is below this is left out of the person's box:
# BlazePose still places occluded or out-of-frame landmarks, often far off.
BOX_MIN_VISIBILITY = 0.5


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
    """

    joint_format = "blazepose33"

    def __init__(self, static_image_mode: bool = False, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5, smooth_landmarks: bool = True):
        try:
            from mediapipe.python.solutions.pose import Pose
        except ImportError as err:
            raise ImportError(f"the mediapipe backend needs MediaPipe 0.10.21 ({err}); install it with "
                              "`pip install mediapipe==0.10.21`") from None
        self._pose = Pose(static_image_mode=static_image_mode, model_complexity=1,
                          smooth_landmarks=smooth_landmarks, enable_segmentation=False,
                          min_detection_confidence=min_detection_confidence,
                          min_tracking_confidence=min_tracking_confidence)

    def __call__(self, frame_rgb: np.ndarray) -> Detections2D:
        width, height = check_frame(frame_rgb)
        result = self._pose.process(frame_rgb)
        if result.pose_landmarks is None:
            return Detections2D.empty(self.joint_format, (width, height))
        values = np.array([(lm.x, lm.y, lm.visibility) for lm in result.pose_landmarks.landmark], np.float32)
        keypoints = (values[:, :2] * [width, height])[None]
        scores = np.clip(values[None, :, 2], 0, 1)
        box = boxes_around(keypoints, scores >= BOX_MIN_VISIBILITY)
        return Detections2D(keypoints, scores, box, scores.mean(axis=1), self.joint_format, (width, height))

    def close(self) -> None:
        self._pose.close()
