"""Temporal smoothing: the causal One-Euro filter, and an offline least-squares smoother.

The One-Euro filter (Casiez, Roussel and Vogel, CHI 2012) is a first-order low-pass whose cutoff rises with the signal's speed: slow
motion is smoothed hard (jitter goes), fast motion barely (little lag).
Construct once, call once per frame::

    smooth = OneEuroFilter(fps=30, min_cutoff=1.0, beta=0.01)
    for pose in poses:                  # any array shape, e.g. (17, 3) mm
        pose_smooth = smooth(pose)

Every element of the array is filtered on its own. A NaN sample is a missing
one: its output is NaN and that element's state is held, so the next real
sample continues from the last real one, over the longer time step.

`whittaker_smooth` smooths a whole recorded sequence at once, with no lag
and no end effects: the least-squares trade-off between staying close to
the samples and small second differences (Whittaker 1923).
"""
from __future__ import annotations

import numpy as np


class OneEuroFilter:
    """Per-element One-Euro filter of arrays of a fixed shape.

    min_cutoff: Hz, the cutoff at rest; lower is smoother and slower.
    beta: how much the cutoff rises per unit of speed, in 1 / (signal unit);
        e.g. for millimetres, 0.01 adds 1 Hz per 100 mm/s.
    d_cutoff: Hz, cutoff of the low-pass on the speed estimate.
    fps: frames per second; the time of a sample defaults to the previous
        one's plus 1 / fps.
    """

    def __init__(self, fps: float, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0):
        if fps <= 0 or min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError("OneEuroFilter needs fps, min_cutoff, d_cutoff > 0 and beta >= 0")
        self.fps = float(fps)
        self.min_cutoff = float(min_cutoff)
        self.beta = float(beta)
        self.d_cutoff = float(d_cutoff)
        self._time: float | None = None
        # Per element: last filtered value, filtered speed, time of the last real sample.
        self._value: np.ndarray | None = None
        self._speed: np.ndarray | None = None
        self._seen_at: np.ndarray | None = None

    def __call__(self, value: np.ndarray, time_s: float | None = None) -> np.ndarray:
        """Filter one sample (any shape, NaN = missing) taken at ``time_s`` seconds; returns float64."""
        x = np.asarray(value, dtype=np.float64)
        self._time = (0.0 if self._time is None else self._time + 1.0 / self.fps) if time_s is None \
            else float(time_s)
        if self._value is None:
            self._value = np.full(x.shape, np.nan)
            self._speed = np.zeros(x.shape)
            self._seen_at = np.full(x.shape, np.nan)
        elif x.shape != self._value.shape:
            raise ValueError(f"OneEuroFilter: sample shape {x.shape} differs from the first one's "
                             f"{self._value.shape}")

        present = ~np.isnan(x)
        first = present & np.isnan(self._value)
        update = present & ~first
        # Repeated or backwards times would divide by zero; treat them as one frame.
        dt = np.where(update, self._time - np.nan_to_num(self._seen_at), 1.0)
        dt = np.where(dt > 0, dt, 1.0 / self.fps)

        speed = (np.where(update, x, 0.0) - np.nan_to_num(self._value)) / dt
        speed = self._speed + _alpha(self.d_cutoff, dt) * (speed - self._speed)
        cutoff = self.min_cutoff + self.beta * np.abs(speed)
        filtered = self._value + _alpha(cutoff, dt) * (x - self._value)

        self._value = np.where(first, x, np.where(update, filtered, self._value))
        self._speed = np.where(update, speed, self._speed)
        self._seen_at = np.where(present, self._time, self._seen_at)
        return np.where(present, self._value, np.nan)

    def reset(self) -> None:
        """Forget everything: the next sample starts a new signal."""
        self._time = self._value = self._speed = self._seen_at = None


def _alpha(cutoff_hz: np.ndarray | float, dt_s: np.ndarray) -> np.ndarray:
    """Smoothing factor of an exponential low-pass with this cutoff, sampled every dt."""
    tau = 1.0 / (2.0 * np.pi * np.asarray(cutoff_hz))
    return 1.0 / (1.0 + tau / dt_s)


def filter_sequence(values: np.ndarray, fps: float, min_cutoff: float = 1.0, beta: float = 0.0,
                    d_cutoff: float = 1.0) -> np.ndarray:
    """One-Euro filter a whole sequence (T, ...) frame by frame (causally); returns (T, ...) float64."""
    smooth = OneEuroFilter(fps, min_cutoff, beta, d_cutoff)
    values = np.asarray(values)
    return np.stack([smooth(v) for v in values]) if len(values) else values.astype(np.float64)


def whittaker_smooth(values: np.ndarray, fps: float, cutoff_hz: float) -> np.ndarray:
    """(T, ...) → (T, ...) float64 minimising |x - values|² + lam |second differences of x|² along axis 0.

    Its gain is 1 / (1 + lam (2 - 2 cos w)²) at w radians per frame, so
    ``lam = (fps / (2 pi cutoff_hz))**4`` halves frequencies near ``cutoff_hz``
    and keeps slower ones. A straight line passes unchanged. NaN-free input.
    """
    from scipy.linalg import solveh_banded

    y = np.asarray(values, dtype=np.float64)
    T = len(y)
    if T < 3:
        return y.copy()
    lam = (fps / (2.0 * np.pi * cutoff_hz))**4
    # I + lam D'D for the (T-2, T) second-difference matrix D, in upper banded form (pentadiagonal):
    # diagonal k of D'D sums the products of the difference weights k apart over the rows covering it.
    weights, rows = np.array([1.0, -2.0, 1.0]), np.ones(T - 2)
    bands = np.zeros((3, T))
    for k in range(3):
        bands[2 - k, k:] = lam * np.convolve(rows, weights[:3 - k] * weights[k:])
    bands[2] += 1.0
    return solveh_banded(bands, y.reshape(T, -1)).reshape(y.shape)
