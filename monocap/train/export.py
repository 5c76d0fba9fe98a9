"""Export a trained `LiftNet` to the numpy weight file read by `monocap.lift.model.LiftModel`.

Batch norms are folded into the layer before them, so inference is a chain
of plain matrix products. Arrays are stored as float16 to keep the shipped
files small; the JSON ``config`` holds the architecture and training facts.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from .model import LiftNet


def _fold(layer: torch.nn.Module, bn: torch.nn.BatchNorm1d | None):
    """(W, b) of `layer` with `bn` folded in; W as (in, out), or (k, in, out) for convolutions."""
    W = layer.weight.detach().double()
    b = layer.bias.detach().double()
    if bn is not None:
        s = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
        W = W * s.reshape(-1, *([1] * (W.dim() - 1)))
        b = (b - bn.running_mean.double()) * s + bn.bias.detach().double()
    W = W.numpy()
    W = W.T if W.ndim == 2 else W.transpose(2, 1, 0)  # Linear (out,in) → (in,out); Conv1d (out,in,k) → (k,in,out)
    if W.ndim == 3 and W.shape[0] == 1:
        W = W[0]
    return W, b.numpy()


def export_weights(net: LiftNet, path: str | Path, meta: dict) -> None:
    """Write ``path`` (.npz) atomically: folded float16 weights + JSON config (architecture + `meta`)."""
    layers = {"fc_in": (net.fc_in, net.bn_in), "frame_head": (net.frame_head, None)}
    for i, blk in enumerate(net.blocks):
        layers[f"blocks.{i}.fc1"] = (blk.fc1, blk.bn1)
        layers[f"blocks.{i}.fc2"] = (blk.fc2, blk.bn2)
    for mode, head in net.heads.items():
        p = f"heads.{mode}"
        layers[p + ".inp"] = (head.inp, head.bn_in)
        layers[p + ".out"] = (head.out, None)
        for i in range(len(head.convs)):
            layers[f"{p}.convs.{i}"] = (head.convs[i], head.bns[i])
            layers[f"{p}.mixes.{i}"] = (head.mixes[i], head.bn_mixes[i])
    arrays = {}
    for name, (layer, bn) in layers.items():
        W, b = _fold(layer, bn)
        arrays[name + ".W"], arrays[name + ".b"] = W.astype(np.float16), b.astype(np.float16)
    save_weight_file(path, arrays, dict(net.config, **meta))


def save_weight_file(path: str | Path, arrays: dict[str, np.ndarray], config: dict) -> None:
    """Write ``path`` (.npz, compressed) atomically: the arrays plus ``config`` as a JSON string."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, config=np.array(json.dumps(config)), **arrays)
    os.replace(tmp, path)
