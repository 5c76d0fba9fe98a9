"""monocap: markerless 3D human motion capture from a single camera."""
from .lift import Lifter, LiftResult, lift_file

__version__ = "0.1.0"
__all__ = ["Lifter", "LiftResult", "lift_file"]
