"""Pictures of results: the overlay video, the 3D viewer page and the report page of ``monocap run``."""
from .overlay import OVERLAY_NAME, OverlayRenderer, VideoWriter, write_overlay
from .report import REPORT_NAME, write_report
from .scene import Scene
from .viewer import VIEWER_NAME, write_viewer

__all__ = ["OVERLAY_NAME", "REPORT_NAME", "VIEWER_NAME", "OverlayRenderer", "Scene", "VideoWriter", "write_overlay",
           "write_report", "write_viewer"]
