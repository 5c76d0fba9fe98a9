"""2D keypoint stage: pose backends behind one small interface, and precomputed keypoint files.

Backends (construct once, call per frame, close or use as a context manager):
``create_detector("mediapipe")`` — BlazePose via MediaPipe, single person,
offline; ``create_detector("rtmpose")`` — RTMO via onnxruntime, multi-person,
weights downloaded once (or ``weights=PATH``). Precomputed keypoints:
`read_keypoint_file`. Every one yields `Detections2D` per frame.
"""
from .base import BACKENDS, Detections2D, PoseDetector, create_detector
from .files import KeypointTrack, read_keypoint_file
from .weights import WeightsError

__all__ = ["BACKENDS", "Detections2D", "KeypointTrack", "PoseDetector", "WeightsError", "create_detector",
           "read_keypoint_file"]
