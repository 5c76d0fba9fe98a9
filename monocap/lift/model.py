"""The lifting network's forward pass without PyTorch: onnxruntime for the per-frame network, numpy for the rest.

Mirrors `monocap.train.model.LiftNet` with batch norms folded into the
preceding layers at export time (`monocap.train.export`). Weights live in an
``.npz``: float16 arrays named after the layers plus a JSON ``config`` string.
The per-frame trunk and head (most of the arithmetic) run as an ONNX graph
built from those arrays (`onnx_graph`); the temporal heads' dilated
convolutions run in numpy.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort

from .onnx_graph import frame_network_onnx

OUTPUT_SCALE_MM = 1000.0  # the network predicts metres
# Frames per call of the per-frame network: large enough to keep both cores
# busy, small enough that the activations stay in cache (fastest of 512–4096
# on the 2-core development machine).
CHUNK = 2048


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0, out=x)


class LiftModel:
    """Root-relative 3D poses (mm, virtual camera frame) from canonical input vectors."""

    def __init__(self, weights: dict[str, np.ndarray], config: dict, threads: int | None = None):
        """``threads``: onnxruntime's threads for the per-frame network; None: one per CPU this process may use."""
        self.w = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items()}
        self.config = config
        self.n_joints = int(config["n_joints"])
        self.dilations = [int(d) for d in config["dilations"]]
        options = ort.SessionOptions()
        # Set even by default: onnxruntime's own default ran the network at 52,000 poses/s on the
        # 2-core development machine, against 64,000 with the two threads set explicitly.
        self.threads = threads or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                                   else os.cpu_count() or 1)
        options.intra_op_num_threads = self.threads
        # Idle threads sleep rather than spin: the lifter shares the CPU with the 2D detector (live
        # use lifts every frame) and spinning did not make it faster here.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._frame_network = ort.InferenceSession(frame_network_onnx(self.w, int(config["blocks"])), options,
                                                   providers=["CPUExecutionProvider"])

    @classmethod
    def load(cls, path: str | Path, threads: int | None = None) -> "LiftModel":
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                config = json.loads(str(data["config"]))
                weights = {k: data[k] for k in data.files if k != "config"}
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f"{path}: not a monocap lifter weight file ({exc})") from None
        return cls(weights, config, threads)

    def _linear(self, name: str, x: np.ndarray) -> np.ndarray:
        y = x @ self.w[name + ".W"]
        y += self.w[name + ".b"]
        return y

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
            block = np.ascontiguousarray(flat[i:i + CHUNK])
            out[i:i + CHUNK] = self._to_mm(self._frame_network.run(["pose"], {"inputs": block})[0])
        return out.reshape(*x.shape[:-1], self.n_joints, 3)

    def temporal(self, inputs: np.ndarray, causal: bool = False) -> np.ndarray:
        """(B, T, 3J) or (T, 3J) sequences → (..., T, J, 3) mm using neighbouring frames.

        ``causal`` uses past frames only, so a frame's pose never changes once computed.
        """
        x = np.asarray(inputs, dtype=np.float32)
        squeeze = x.ndim == 2
        x = x[None] if squeeze else x
        B, T, _ = x.shape
        # A few sequences at a time, so that the heads' activations stay in cache (1.3x faster on
        # 50 sequences of 2000 frames than all at once).
        group = max(1, CHUNK // max(T, 1))
        out = np.zeros((B, T, self.n_joints, 3), np.float32)
        for b in range(0, B if T else 0, group):
            out[b:b + group] = self._temporal_group(x[b:b + group], causal)
        return out[0] if squeeze else out

    def _temporal_group(self, x: np.ndarray, causal: bool) -> np.ndarray:
        """`temporal` on (B, T, 3J), T > 0."""
        B, T, _ = x.shape
        h, pose = self._frame_network.run(["hidden", "pose"],
                                          {"inputs": np.ascontiguousarray(x.reshape(B * T, x.shape[-1]))})
        pose = pose.reshape(B, T, -1)
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
        return self._to_mm(pose)
