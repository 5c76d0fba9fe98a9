"""monocap: markerless 3D human motion capture from a single camera."""
__version__ = "0.1.0"
