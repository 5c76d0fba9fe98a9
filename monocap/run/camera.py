"""The camera of a run: a field of view, a focal length or a calibration file.

`CameraSpec` turns into `Intrinsics` once the image size of the input is known.

A calibration file is a small JSON object, pixels throughout::

    {"fx": 1450.0, "fy": 1450.0, "cx": 884.0, "cy": 497.0,
     "dist": [-0.12, 0.05, 0.0, 0.0, 0.0],
     "width": 1768, "height": 994}

``fx``, ``fy``, ``cx``, ``cy`` are required. ``dist`` (optional) is the lens
distortion in OpenCV's order, k1, k2, p1, p2[, k3], as ``cv2.calibrateCamera``
returns it. ``width`` and ``height`` (optional, both or neither) are the
image size the camera was calibrated at; an input of another size is
refused, since the intrinsics would not fit it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..camera import DEFAULT_HFOV_DEG, Intrinsics


@dataclass(frozen=True)
class CameraSpec:
    """How the intrinsics of a run are chosen.

    hfov_deg: horizontal field of view in degrees, used when ``focal`` is None.
    focal: (fx, fy) in pixels.
    center: (cx, cy) in pixels; None: the image centre.
    dist: distortion k1, k2, k3, p1, p2 in monocap's order (`monocap.camera`).
    calibrated_size: (width, height) the focal length and centre belong to; None: any size.
    source: where the values came from, for messages.
    """

    hfov_deg: float = DEFAULT_HFOV_DEG
    focal: tuple[float, float] | None = None
    center: tuple[float, float] | None = None
    dist: tuple[float, float, float, float, float] = (0.0, 0.0, 0.0, 0.0, 0.0)
    calibrated_size: tuple[int, int] | None = None
    source: str = "default"

    def __post_init__(self):
        if not 0 < self.hfov_deg < 180:
            raise ValueError(f"the horizontal field of view must lie between 0 and 180 degrees, got {self.hfov_deg}")
        if self.focal is not None and not all(np.isfinite(f) and f > 0 for f in self.focal):
            raise ValueError(f"the focal length must be positive pixels, got {self.focal}")

    def intrinsics(self, image_size: tuple[int, int]) -> Intrinsics:
        """The intrinsics for images of (width, height) pixels."""
        width, height = (int(v) for v in image_size)
        if self.calibrated_size is not None and self.calibrated_size != (width, height):
            raise ValueError(f"{self.source}: calibrated for {self.calibrated_size[0]}x{self.calibrated_size[1]} "
                             f"images, but the input is {width}x{height}")
        base = Intrinsics.from_fov(width, height, self.hfov_deg)
        fx, fy = (base.fx, base.fy) if self.focal is None else self.focal
        cx, cy = (base.cx, base.cy) if self.center is None else self.center
        return Intrinsics(float(fx), float(fy), float(cx), float(cy), width, height, tuple(self.dist))

    @classmethod
    def from_calibration(cls, path: str | Path) -> "CameraSpec":
        """Read a calibration file (see the module docstring); problems raise a one-line ValueError naming it."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"{path}: no such calibration file")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{path}: not valid JSON ({err})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a calibration file holds one JSON object with fx, fy, cx, cy")
        fx, fy, cx, cy = (_number(path, data, key) for key in ("fx", "fy", "cx", "cy"))
        dist = _opencv_dist(path, data.get("dist", []))
        size = None
        if "width" in data or "height" in data:
            width, height = (_number(path, data, key) for key in ("width", "height"))
            size = (int(width), int(height))
        return cls(focal=(fx, fy), center=(cx, cy), dist=dist, calibrated_size=size, source=str(path))


def _number(path: Path, data: dict, key: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise ValueError(f"{path}: {key!r} must be a number, got {value!r}")
    if key != "cx" and key != "cy" and value <= 0:
        raise ValueError(f"{path}: {key!r} must be positive, got {value!r}")
    return float(value)


def _opencv_dist(path: Path, values) -> tuple[float, float, float, float, float]:
    """OpenCV's k1, k2, p1, p2[, k3] → monocap's k1, k2, k3, p1, p2."""
    ok = isinstance(values, list) and len(values) in (0, 4, 5) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in values)
    if not ok:
        raise ValueError(f"{path}: 'dist' must be 4 or 5 numbers in OpenCV's order k1, k2, p1, p2[, k3], "
                         f"got {values!r}")
    k1, k2, p1, p2, k3 = (list(map(float, values)) + [0.0] * 5)[:5]
    return k1, k2, k3, p1, p2
