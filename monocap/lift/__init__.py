"""2D keypoints → 3D poses: the `Lifter` and the ``monocap lift`` file contract (`lift_file`)."""
from .contract import lift_file
from .lifter import Lifter, LiftResult

__all__ = ["Lifter", "LiftResult", "lift_file"]
