"""The lifting network's forward pass in numpy (inference needs no PyTorch).

Mirrors `monocap.train.model.LiftNet` with batch norms folded into the
preceding layers at export time (`monocap.train.export`). Weights live in an
``.npz``: float16 arrays named after the layers plus a JSON ``config`` string.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

OUTPUT_SCALE_MM = 1000.0  # the network predicts metres
# Frames per matrix product: large enough for BLAS, small enough that the
# activations stay in cache (measured fastest on a 2-core laptop-class CPU).
CHUNK = 4096


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0, out=x)


class LiftModel:
    """Root-relative 3D poses (mm, virtual camera frame) from canonical input vectors."""

    def __init__(self, weights: dict[str, np.ndarray], config: dict):
        self.w = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items()}
        self.config = config
        self.n_joints = int(config["n_joints"])
        self.dilations = [int(d) for d in config["dilations"]]

    @classmethod
    def load(cls, path: str | Path) -> "LiftModel":
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                config = json.loads(str(data["config"]))
                weights = {k: data[k] for k in data.files if k != "config"}
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f"{path}: not a monocap lifter weight file ({exc})") from None
        return cls(weights, config)

    def _linear(self, name: str, x: np.ndarray) -> np.ndarray:
        y = x @ self.w[name + ".W"]
        y += self.w[name + ".b"]
        return y

    def _trunk(self, x: np.ndarray) -> np.ndarray:
        h = _relu(self._linear("fc_in", x))
        for i in range(int(self.config["blocks"])):
            y = _relu(self._linear(f"blocks.{i}.fc1", h))
            h = h + _relu(self._linear(f"blocks.{i}.fc2", y))
        return h

    def _to_mm(self, pose: np.ndarray) -> np.ndarray:
        out = pose.reshape(*pose.shape[:-1], self.n_joints, 3) * OUTPUT_SCALE_MM
        out[..., 0, :] = 0.0  # the root is the origin by definition
        return out

    def single(self, inputs: np.ndarray) -> np.ndarray:
        """(..., 3J) inputs → (..., J, 3) mm, each frame on its own."""
        x = np.asarray(inputs, dtype=np.float32)
        flat = x.reshape(-1, x.shape[-1])
        out = np.empty((len(flat), self.n_joints, 3), dtype=np.float32)
        for i in range(0, len(flat), CHUNK):
            out[i:i + CHUNK] = self._to_mm(self._linear("frame_head", self._trunk(flat[i:i + CHUNK])))
        return out.reshape(*x.shape[:-1], self.n_joints, 3)

    def temporal(self, inputs: np.ndarray, causal: bool = False) -> np.ndarray:
        """(B, T, 3J) or (T, 3J) sequences → (..., T, J, 3) mm using neighbouring frames.

        ``causal`` uses past frames only, so a frame's pose never changes once computed.
        """
        x = np.asarray(inputs, dtype=np.float32)
        squeeze = x.ndim == 2
        x = x[None] if squeeze else x
        B, T, _ = x.shape
        h = self._trunk(x.reshape(B * T, -1))
        pose = self._linear("frame_head", h).reshape(B, T, -1)
        head = "heads.causal" if causal else "heads.centered"
        z = _relu(self._linear(head + ".inp", h)).reshape(B, T, -1)
        for i, d in enumerate(self.dilations):
            left, right = (2 * d, 0) if causal else (d, d)
            zp = np.concatenate([np.repeat(z[:, :1], left, 1), z, np.repeat(z[:, -1:], right, 1)], axis=1)
            W = self.w[f"{head}.convs.{i}.W"]  # (3, C_in, C_out): one matrix per tap
            y = zp[:, :T] @ W[0] + zp[:, d:d + T] @ W[1] + zp[:, 2 * d:2 * d + T] @ W[2]
            y = _relu(y + self.w[f"{head}.convs.{i}.b"])
            z = z + _relu(self._linear(f"{head}.mixes.{i}", y))
        pose = pose + self._linear(head + ".out", z)
        out = self._to_mm(pose)
        return out[0] if squeeze else out
