"""The lifting network in PyTorch (training only; inference runs `monocap.lift.model` in numpy).

One network serves single-frame and temporal lifting:

    inputs (B, T, 51) ─ trunk: residual MLP per frame ─ h (B, T, width)
        ├─ frame_head: Linear ──────────────────────────────► pose per frame
        └─ temporal head: dilated residual 1-D convolutions over time,
           added to the frame pose as a correction ────────► pose per frame

There are two temporal heads: ``centered`` looks at past and future frames
(offline video), ``causal`` only at past frames (live use). Sequence ends are
padded by repeating the edge frame, so any length works, including 1.
Outputs are root-relative joints in metres in the virtual camera frame.

With ``temporal_input="inputs"`` the heads read the 2D input windows instead
of the trunk's features and predict the whole pose, not a correction: a
temporal convolutional network in the style of VideoPose3D, trained end to
end. It trains *strided* (``forward(..., strided=True)``): on windows of
exactly the receptive field, each convolution steps by its three taps, and
only the target frame's pose is computed. The same weights then run dilated
over whole sequences.
"""
from __future__ import annotations

from torch import nn
import torch.nn.functional as F

from ..lift.model import receptive_field


class ResidualBlock(nn.Module):
    def __init__(self, width: int, dropout: float):
        super().__init__()
        self.fc1, self.bn1 = nn.Linear(width, width), nn.BatchNorm1d(width)
        self.fc2, self.bn2 = nn.Linear(width, width), nn.BatchNorm1d(width)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        y = self.drop(F.relu(self.bn1(self.fc1(x))))
        return x + self.drop(F.relu(self.bn2(self.fc2(y))))


class TemporalHead(nn.Module):
    def __init__(self, width: int, channels: int, dilations: tuple[int, ...], causal: bool, n_out: int,
                 dropout: float):
        super().__init__()
        self.causal, self.dilations = causal, dilations
        self.inp, self.bn_in = nn.Conv1d(width, channels, 1), nn.BatchNorm1d(channels)
        self.convs = nn.ModuleList(nn.Conv1d(channels, channels, 3, dilation=d) for d in dilations)
        self.bns = nn.ModuleList(nn.BatchNorm1d(channels) for _ in dilations)
        self.mixes = nn.ModuleList(nn.Conv1d(channels, channels, 1) for _ in dilations)
        self.bn_mixes = nn.ModuleList(nn.BatchNorm1d(channels) for _ in dilations)
        self.out = nn.Conv1d(channels, n_out, 1)
        self.drop = nn.Dropout(dropout)
        self.start_as_no_correction()

    def start_as_no_correction(self):
        """Zero the output layer, so the temporal model begins exactly where the frame model is."""
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, h, strided: bool = False):
        """h: (B, width, T) → (B, n_out, T); ``strided``: T is the receptive field, output (B, n_out, 1)."""
        z = self.drop(F.relu(self.bn_in(self.inp(h))))
        for d, conv, bn, mix, bn_mix in zip(self.dilations, self.convs, self.bns, self.mixes, self.bn_mixes):
            if strided:  # each output from three consecutive inputs; the residual is the tap at its frame
                y = F.conv1d(z, conv.weight, conv.bias, stride=3)
                z = z[:, :, 2 if self.causal else 1::3]
            else:
                y = conv(F.pad(z, (2 * d, 0) if self.causal else (d, d), mode="replicate"))
            z = z + self.drop(F.relu(bn_mix(mix(self.drop(F.relu(bn(y)))))))
        return self.out(z)


class LiftNet(nn.Module):
    def __init__(self, n_joints: int = 17, width: int = 512, blocks: int = 2, temporal_channels: int = 128,
                 dilations: tuple[int, ...] = (1, 3, 9, 27), dropout: float = 0.1, temporal_input: str = "features"):
        super().__init__()
        if temporal_input not in ("features", "inputs"):
            raise ValueError(f"unknown temporal_input {temporal_input!r}: use 'features' or 'inputs'")
        if temporal_input == "inputs" and list(dilations) != [3 ** i for i in range(len(dilations))]:
            raise ValueError(f"heads on the inputs train strided, which needs dilations 1, 3, 9, ...; got {dilations}")
        self.config = dict(n_joints=n_joints, width=width, blocks=blocks, temporal_channels=temporal_channels,
                           dilations=list(dilations), dropout=dropout, temporal_input=temporal_input)
        self.on_inputs = temporal_input == "inputs"
        self.n_joints = n_joints
        n_in, n_out = 3 * n_joints, 3 * n_joints
        self.fc_in, self.bn_in = nn.Linear(n_in, width), nn.BatchNorm1d(width)
        self.blocks = nn.ModuleList(ResidualBlock(width, dropout) for _ in range(blocks))
        self.frame_head = nn.Linear(width, n_out)
        self.heads = nn.ModuleDict({
            mode: TemporalHead(n_in if self.on_inputs else width, temporal_channels, tuple(dilations),
                               mode == "causal", n_out, dropout)
            for mode in ("centered", "causal")})
        self.drop = nn.Dropout(dropout)

    def trunk(self, x):  # x: (N, 51) → (N, width)
        h = self.drop(F.relu(self.bn_in(self.fc_in(x))))
        for block in self.blocks:
            h = block(h)
        return h

    @property
    def receptive_field(self) -> int:
        """Frames a temporal head sees: the window length of strided training."""
        return receptive_field(self.config["dilations"])

    def forward(self, x, mode: str = "single", strided: bool = False):
        """x: (B, T, 3J) → (B, T, J, 3) metres; mode is "single", "centered" or "causal".

        ``strided`` (heads on the inputs only): T is the receptive field and the output (B, 1, J, 3) is the pose
        of its middle frame (centred) or last frame (causal)."""
        B, T, _ = x.shape
        if strided and not (self.on_inputs and mode != "single"):
            raise ValueError("only temporal heads on the inputs run strided")
        if mode != "single" and self.on_inputs:
            return self.heads[mode](x.transpose(1, 2), strided).transpose(1, 2).reshape(B, -1, self.n_joints, 3)
        h = self.trunk(x.reshape(B * T, -1))
        pose = self.frame_head(h).reshape(B, T, -1)
        if mode != "single":
            h_t = h.reshape(B, T, -1).transpose(1, 2)
            pose = pose + self.heads[mode](h_t).transpose(1, 2)
        return pose.reshape(B, T, -1, 3)
