"""Export a trained `LiftNet` to the numpy weight file read by `monocap.lift.model.LiftModel`, and back.

Batch norms are folded into the layer before them, so inference is a chain
of plain matrix products. Arrays are stored as float16 to keep the shipped
files small; the JSON ``config`` holds the architecture and training facts.
`import_frame_weights` starts a new training run from such a file (``monocap
train --init``).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from ..lift.model import LiftModel
from .model import LiftNet


def _fold(layer: torch.nn.Module, bn: torch.nn.BatchNorm1d | None):
    """(W, b) of `layer` with `bn` folded in; W as (in, out), or (k, in, out) for convolutions."""
    W = layer.weight.detach().cpu().double()
    b = layer.bias.detach().cpu().double()
    if bn is not None:
        s = bn.weight.detach().cpu().double() / torch.sqrt(bn.running_var.cpu().double() + bn.eps)
        W = W * s.reshape(-1, *([1] * (W.dim() - 1)))
        b = (b - bn.running_mean.cpu().double()) * s + bn.bias.detach().cpu().double()
    W = W.numpy()
    W = W.T if W.ndim == 2 else W.transpose(2, 1, 0)  # Linear (out,in) → (in,out); Conv1d (out,in,k) → (k,in,out)
    if W.ndim == 3 and W.shape[0] == 1:
        W = W[0]
    return W, b.numpy()


def _frame_layers(net: LiftNet) -> dict[str, tuple[torch.nn.Module, torch.nn.BatchNorm1d | None]]:
    """The per-frame part of the network (trunk and frame head): weight-file name → (layer, its batch norm)."""
    layers = {"fc_in": (net.fc_in, net.bn_in), "frame_head": (net.frame_head, None)}
    for i, blk in enumerate(net.blocks):
        layers[f"blocks.{i}.fc1"] = (blk.fc1, blk.bn1)
        layers[f"blocks.{i}.fc2"] = (blk.fc2, blk.bn2)
    return layers


def export_weights(net: LiftNet, path: str | Path, meta: dict) -> None:
    """Write ``path`` (.npz) atomically: folded float16 weights + JSON config (architecture + `meta`)."""
    layers = _frame_layers(net)
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


@torch.no_grad()
def import_frame_weights(net: LiftNet, path: str | Path, inputs: torch.Tensor) -> None:
    """Load the per-frame part of ``net`` from an exported weight file (``path``, as `export_weights` writes).

    The file's layers have their batch norms folded in. Each batch norm here
    is set so that, in training mode on ``inputs`` (N, 3J), it passes its
    layer's output through unchanged: its scale and shift are the batch's
    standard deviation and mean. Training then starts from the file's
    function rather than from a re-normalised one. The temporal heads are
    left alone: stage 2 trains them anew.
    """
    source = LiftModel.load(path)
    for key in ("n_joints", "width", "blocks"):
        if source.config.get(key) != net.config[key]:
            raise ValueError(f"{path}: {key} is {source.config.get(key)}, the network to train has {net.config[key]}")

    def pass_through(bn: torch.nn.BatchNorm1d, args) -> None:
        # Runs just before the batch norm: it then maps its input to itself, so every later
        # batch norm is measured on the file's function, all in one forward pass.
        mean, var = args[0].mean(0), args[0].var(0, unbiased=False)
        bn.weight.copy_(torch.sqrt(var + bn.eps))
        bn.bias.copy_(mean)
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)

    hooks = []
    for name, (layer, bn) in _frame_layers(net).items():
        layer.weight.copy_(torch.from_numpy(source.w[name + ".W"]).T)
        layer.bias.copy_(torch.from_numpy(source.w[name + ".b"]))
        if bn is not None:
            hooks.append(bn.register_forward_pre_hook(pass_through))
    was_training = net.training
    net.eval()  # no dropout while measuring; each batch norm uses the running statistics just set
    net.trunk(inputs)
    net.train(was_training)
    for hook in hooks:
        hook.remove()


def save_weight_file(path: str | Path, arrays: dict[str, np.ndarray], config: dict) -> None:
    """Write ``path`` (.npz, compressed) atomically: the arrays plus ``config`` as a JSON string."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, config=np.array(json.dumps(config)), **arrays)
    os.replace(tmp, path)
