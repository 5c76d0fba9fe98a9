"""Pictures of results: the overlay video of ``monocap run``."""
from .overlay import OVERLAY_NAME, OverlayRenderer, VideoWriter, write_overlay

__all__ = ["OVERLAY_NAME", "OverlayRenderer", "VideoWriter", "write_overlay"]
