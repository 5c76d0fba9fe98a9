"""The lifting network's forward pass without PyTorch, in onnxruntime.

Mirrors `monocap.train.model.LiftNet` with batch norms folded into the
preceding layers at export time (`monocap.train.export`). Weights live in an
``.npz``: float16 arrays named after the layers plus a JSON ``config`` string;
the network runs as an ONNX graph built from those arrays (`onnx_graph`).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ..cpus import usable_cpus
from .onnx_graph import lift_network_onnx

OUTPUT_SCALE_MM = 1000.0  # the network predicts metres
# Frames per call of the network: large enough to keep both cores busy, small
# enough that the activations stay in cache (fastest of 512–4096 on the 2-core
# development machine).
CHUNK = 2048


def receptive_field(dilations) -> int:
    """Frames a temporal head with these dilations sees: three taps per dilated layer."""
    return 1 + 2 * sum(int(d) for d in dilations)


class LiftModel:
    """Root-relative 3D poses (mm, virtual camera frame) from canonical input vectors."""

    def __init__(self, weights: dict[str, np.ndarray], config: dict, threads: int | None = None):
        """``threads``: onnxruntime's threads; None: one per CPU this process may use."""
        self.w = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items()}
        self.config = config
        self.n_joints = int(config["n_joints"])
        self.dilations = [int(d) for d in config["dilations"]]
        # Heads that read the inputs (`LiftNet`'s temporal_input="inputs") rather than the per-frame features.
        self.heads_on_inputs = config.get("temporal_input", "features") == "inputs"
        # Such a head's share of the temporal pose, the rest the frame network's (`monocap train --head-share`).
        self.head_share = float(config.get("head_share", 1.0))
        # Set even by default: onnxruntime's own default ran the network at 52,000 poses/s on the
        # 2-core development machine, against 64,000 with the two threads set explicitly.
        self.threads = threads or usable_cpus()
        self._sessions: dict[tuple[str | None, str], ort.InferenceSession] = {}

    def _run(self, head: str | None, inputs: np.ndarray, part: str = "all") -> np.ndarray:
        """The network (``part`` of it, see `lift_network_onnx`) on (B, T, n) float32 inputs: frame by
        frame (``head`` None) or with a temporal head."""
        key = (head, part)
        if key not in self._sessions:  # built on first use: most callers need one or two graphs
            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            # Idle threads sleep rather than spin: the lifter shares the CPU with the 2D detector (live
            # use lifts every frame) and spinning did not make it faster here.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            graph = lift_network_onnx(self.w, int(self.config["blocks"]), self.dilations, head, part,
                                      self.heads_on_inputs, self.head_share)
            self._sessions[key] = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        name_in = "features" if part == "top" else "inputs"
        name_out = "features" if part == "trunk" else "pose"
        return self._sessions[key].run([name_out], {name_in: np.ascontiguousarray(inputs)})[0]

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
            out[i:i + CHUNK] = self._to_mm(self._run(None, flat[None, i:i + CHUNK])[0])
        return out.reshape(*x.shape[:-1], self.n_joints, 3)

    def temporal(self, inputs: np.ndarray, causal: bool = False) -> np.ndarray:
        """(B, T, 3J) or (T, 3J) sequences → (..., T, J, 3) mm using neighbouring frames.

        ``causal`` uses past frames only, so a frame's pose never changes once computed.
        """
        x = np.asarray(inputs, dtype=np.float32)
        squeeze = x.ndim == 2
        x = x[None] if squeeze else x
        B, T, _ = x.shape
        # A few sequences at a time, so that the activations stay in cache (1.3x faster on
        # 50 sequences of 2000 frames than all at once).
        group = max(1, CHUNK // max(T, 1))
        out = np.zeros((B, T, self.n_joints, 3), np.float32)
        head = "causal" if causal else "centered"
        for b in range(0, B if T else 0, group):
            out[b:b + group] = self._to_mm(self._run(head, x[b:b + group]))
        return out[0] if squeeze else out

    def features(self, inputs: np.ndarray) -> np.ndarray:
        """(N, 3J) inputs → (N, width) float32 per-frame features, the temporal heads' input (the inputs
        themselves where the heads read those).

        Each frame's features depend on that frame alone, so live lifting computes them once per
        frame and keeps them (`temporal_from_features`)."""
        x = np.asarray(inputs, dtype=np.float32)
        return x.copy() if self.heads_on_inputs else self._run(None, x[None], "trunk")[0]

    def temporal_from_features(self, features: np.ndarray, causal: bool = False) -> np.ndarray:
        """(B, T, width) per-frame features → (B, T, J, 3) mm: what `temporal` gives for their inputs."""
        return self._to_mm(self._run("causal" if causal else "centered", np.asarray(features, np.float32), "top"))
