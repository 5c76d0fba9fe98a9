"""monocap: markerless 3D human motion capture from a single camera."""
from .lift import Lifter, LiftResult, lift_file

__version__ = "0.1.0"
__all__ = ["Lifter", "LiftResult", "Pipeline", "lift_file"]


def __getattr__(name: str):
    # Pipeline pulls in OpenCV and the 2D backends: loaded on first use, so that `import monocap` stays light.
    if name == "Pipeline":
        from .run import Pipeline
        return Pipeline
    raise AttributeError(f"module 'monocap' has no attribute {name!r}")
