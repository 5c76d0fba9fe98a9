"""Camera models: intrinsics with lens distortion, and extrinsics.

Conventions used throughout monocap:
- camera frame: x right, y down, z forward (OpenCV), millimetres;
- pixel coordinates: u right, v down, origin at the top-left pixel corner;
- normalised image coordinates: (x/z, y/z) of the undistorted ray.
Distortion follows the Brown–Conrady model as OpenCV writes it:
radial k1, k2, k3 and tangential p1, p2.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

DEFAULT_HFOV_DEG = 55.0


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels plus optional distortion (k1, k2, k3, p1, p2)."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    dist: tuple[float, float, float, float, float] = (0.0, 0.0, 0.0, 0.0, 0.0)

    @classmethod
    def from_fov(cls, width: int, height: int, hfov_deg: float = DEFAULT_HFOV_DEG) -> "Intrinsics":
        """Square pixels, principal point at the image centre, horizontal field of view in degrees."""
        f = 0.5 * width / np.tan(np.radians(hfov_deg) / 2)
        return cls(f, f, width / 2, height / 2, int(width), int(height))

    @classmethod
    def from_contract(cls, image_size, focal=None, center=None) -> "Intrinsics":
        """Build from the lift file contract: (width, height), optional (fx, fy) and (cx, cy)."""
        w, h = (float(v) for v in np.asarray(image_size).reshape(2))
        base = cls.from_fov(w, h)
        fx, fy = (base.fx, base.fy) if focal is None else (float(v) for v in np.asarray(focal).reshape(2))
        cx, cy = (base.cx, base.cy) if center is None else (float(v) for v in np.asarray(center).reshape(2))
        return cls(fx, fy, cx, cy, int(w), int(h))

    @property
    def has_distortion(self) -> bool:
        return any(self.dist)

    @property
    def matrix(self) -> np.ndarray:
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1.0]])

    def _lens(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """At undistorted normalised (x, y): the radial factor and the tangential shifts in x and y."""
        k1, k2, k3, p1, p2 = self.dist
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        xy2 = 2 * x * y
        return radial, p1 * xy2 + p2 * (r2 + 2 * x * x), p1 * (r2 + 2 * y * y) + p2 * xy2

    def distort(self, xy: np.ndarray) -> np.ndarray:
        """Normalised undistorted coordinates (...,2) → normalised distorted coordinates."""
        if not self.has_distortion:
            return xy
        x, y = xy[..., 0], xy[..., 1]
        radial, dx, dy = self._lens(x, y)
        return np.stack([x * radial + dx, y * radial + dy], axis=-1)

    def undistort(self, xy_distorted: np.ndarray, iterations: int = 6) -> np.ndarray:
        """Inverse of `distort`: x = (x_d - tangential(x)) / radial(x), iterated from x = x_d.

        Over Human3.6M's whole images the error is under 1e-5 px after 5
        iterations (8 of the plain fixed point x += x_d - distort(x) reached
        1e-7 px for four times the time: this runs on every lifted pose).
        """
        if not self.has_distortion:
            return xy_distorted
        xd, yd = xy_distorted[..., 0], xy_distorted[..., 1]
        x, y = xd, yd
        for _ in range(iterations):
            radial, dx, dy = self._lens(x, y)
            x, y = (xd - dx) / radial, (yd - dy) / radial
        return np.stack([x, y], axis=-1)

    def project(self, points_cam_mm: np.ndarray) -> np.ndarray:
        """Camera-frame points (...,3) → pixels (...,2), with distortion."""
        z = points_cam_mm[..., 2:3]
        xy = self.distort(points_cam_mm[..., :2] / z)
        return xy * [self.fx, self.fy] + [self.cx, self.cy]

    def pixels_to_normalized(self, keypoints_px: np.ndarray) -> np.ndarray:
        """Pixels (...,2) → undistorted normalised image coordinates (...,2)."""
        xy = (np.asarray(keypoints_px, dtype=np.float64) - [self.cx, self.cy]) / [self.fx, self.fy]
        return self.undistort(xy)


@dataclass(frozen=True)
class Camera:
    """Intrinsics plus world→camera extrinsics: ``x_cam = R @ x_world + t`` (mm)."""

    intrinsics: Intrinsics
    R: np.ndarray = field(default_factory=lambda: np.eye(3))
    t: np.ndarray = field(default_factory=lambda: np.zeros(3))
    name: str = ""

    def world_to_camera(self, points_world_mm: np.ndarray) -> np.ndarray:
        return points_world_mm @ self.R.T + self.t

    def project(self, points_world_mm: np.ndarray) -> np.ndarray:
        return self.intrinsics.project(self.world_to_camera(points_world_mm))
