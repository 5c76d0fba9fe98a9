"""``monocap run`` as a Python API: `Pipeline` turns a video, images or a webcam into per-person 3D poses."""
from .camera import CameraSpec
from .pipeline import FrameResult, Pipeline, RunSummary

__all__ = ["CameraSpec", "FrameResult", "Pipeline", "RunSummary"]
