"""Training of the 3D pose prior: a denoising diffusion model over single poses (PyTorch).

The prior never sees 2D. It learns the distribution of root-relative
H36M-17 poses *as the lifter's virtual camera sees them* (the targets of
`PairSampler`: the camera turned to look straight at the pelvis), because
guidance by 2D keypoints happens in that camera at inference
(`monocap.lift.diffusion`). The virtual cameras' random placement is the
rotation augmentation; mirroring and body-size scaling come from the same
sampler.

Model: a residual MLP that predicts the clean pose x0 from a noised one
x_t = sqrt(ᾱ(t))·x0 + sqrt(1-ᾱ(t))·ε, with a cosine schedule ᾱ over a
continuous time t ∈ [0, 1] given as a sinusoidal embedding. Poses are the
16 non-root joints in metres, standardised per coordinate. The loss is the
x0 error weighted by min(SNR + 1, 5) (the v-prediction weight, truncated so
that nearly clean inputs do not dominate).

Export: float16 ``.npz`` (layer arrays + JSON ``config``) read by
`monocap.lift.diffusion.PosePrior` in numpy.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from ..lift.diffusion import N_JOINTS, T_MAX, TIME_FREQS, alpha_bar, time_features
from .checkpoint import Resumable, RunConfig
from .export import save_weight_file
from .loop import LICENCES, TrainConfig, build_samplers, warmup_cosine

POSE_DIM = 3 * (N_JOINTS - 1)  # the root is the origin: not modelled
LOSS_WEIGHT_CAP = 5.0




class DenoiserBlock(nn.Module):
    """Pre-norm residual block; the time embedding enters as a per-channel shift."""

    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1, self.fc2 = nn.Linear(width, width), nn.Linear(width, width)
        self.time = nn.Linear(width, width)

    def forward(self, h, emb):
        y = F.silu(self.fc1(self.norm(h)) + self.time(emb))
        return h + self.fc2(y)


class DenoiserNet(nn.Module):
    """(x_t (N, 48) standardised, t (N,)) → predicted x0 (N, 48) standardised."""

    def __init__(self, width: int = 512, blocks: int = 3):
        super().__init__()
        self.config = dict(kind="diffusion", n_joints=N_JOINTS, width=width, blocks=blocks, time_freqs=TIME_FREQS)
        self.time_in = nn.Linear(2 * TIME_FREQS, width)
        self.time_hidden = nn.Linear(width, width)
        self.fc_in = nn.Linear(POSE_DIM, width)
        self.blocks = nn.ModuleList(DenoiserBlock(width) for _ in range(blocks))
        self.norm_out = nn.LayerNorm(width)
        self.fc_out = nn.Linear(width, POSE_DIM)

    def forward(self, x_t, t):
        emb = F.silu(self.time_hidden(F.silu(self.time_in(torch.from_numpy(time_features(t.numpy()))))))
        h = self.fc_in(x_t)
        for block in self.blocks:
            h = block(h, emb)
        return self.fc_out(F.silu(self.norm_out(h)))


@dataclass
class DiffusionConfig(RunConfig):
    steps: int = 3000
    batch: int = 512
    lr: float = 1e-3
    weight_decay: float = 1e-4
    width: int = 512
    blocks: int = 3
    threads: int = 1
    eval_every: int = 1000
    stats_poses: int = 20000  # training poses the standardisation is measured on
    val_poses: int = 4096


def poses_to_vectors(targets_mm: np.ndarray) -> np.ndarray:
    """(N, 17, 3) root-relative mm → (N, 48) metres, root dropped."""
    return (targets_mm[:, 1:].reshape(len(targets_mm), -1) / 1000.0).astype(np.float32)


class DiffusionTrainer(Resumable):
    """Trains `DenoiserNet` on sampler poses; resumes from ``<work_dir>/checkpoint.pt``."""

    def __init__(self, cfg: DiffusionConfig, quiet: bool = False):
        self.cfg, self.quiet = cfg, quiet
        torch.manual_seed(cfg.seed)
        torch.set_num_threads(cfg.threads)
        self.net = DenoiserNet(cfg.width, cfg.blocks)
        # The lifter's samplers give exactly the poses the lifter is trained to output.
        self.train_sampler, self.val_sampler = build_samplers(TrainConfig(
            data=cfg.data, out=cfg.out, work_dir=cfg.work_dir, data_root=cfg.data_root, holdout=cfg.holdout,
            seed=cfg.seed))
        # Standardisation from a fixed draw of training poses, so it is the same on resume.
        training_rng, self.train_sampler.rng = self.train_sampler.rng, np.random.default_rng(cfg.seed + 1)
        stats = poses_to_vectors(self.train_sampler.sample(cfg.stats_poses, 1).targets[:, 0])
        self.train_sampler.rng = training_rng
        self.mean, self.std = stats.mean(0), stats.std(0) + 1e-3
        val = poses_to_vectors(self.val_sampler.sample(cfg.val_poses, 1).targets[:, 0])
        self.val_x0 = torch.from_numpy((val - self.mean) / self.std)
        g = torch.Generator().manual_seed(999)
        self.val_t = torch.rand(len(val), generator=g) * T_MAX
        self.val_noise = torch.randn(self.val_x0.shape, generator=g)
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.sched = warmup_cosine(self.opt, cfg.steps)
        self.step, self.history, self.elapsed_s = 0, [], 0.0

    def loss(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(weighted training loss, per-item x0 error in metres averaged over joints)."""
        ab = torch.from_numpy(alpha_bar(t.numpy())).float()[:, None]
        pred = self.net(ab.sqrt() * x0 + (1 - ab).sqrt() * noise, t)
        weight = torch.clamp(ab / (1 - ab) + 1, max=LOSS_WEIGHT_CAP)
        loss = (weight * (pred - x0) ** 2).mean()
        std = torch.from_numpy(self.std)
        err_m = ((pred - x0) * std).reshape(len(x0), -1, 3).norm(dim=-1).mean(-1)
        return loss, err_m

    def _train_step(self) -> float:
        x0 = poses_to_vectors(self.train_sampler.sample(self.cfg.batch, 1).targets[:, 0])
        x0 = torch.from_numpy((x0 - self.mean) / self.std)
        t = torch.rand(len(x0)) * T_MAX
        loss, _ = self.loss(x0, t, torch.randn_like(x0))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.sched.step()
        return loss.item()

    @torch.no_grad()
    def evaluate(self) -> dict:
        """Validation x0 error (mm per joint) at low, middle and high noise, and overall."""
        self.net.eval()
        loss, err_m = self.loss(self.val_x0, self.val_t, self.val_noise)
        self.net.train()
        out = {"val_loss": round(loss.item(), 4), "val_x0_mm": round(err_m.mean().item() * 1000, 1)}
        for name, lo, hi in (("low", 0.0, 0.3), ("mid", 0.3, 0.7), ("high", 0.7, 1.0)):
            sel = (self.val_t >= lo) & (self.val_t < hi)
            out[f"val_x0_{name}_noise_mm"] = round(err_m[sel].mean().item() * 1000, 1)
        return out

    # -- checkpoints (`Resumable`) ------------------------------------------------
    def _checkpoint_state(self) -> dict:
        return dict(net=self.net.state_dict(), opt=self.opt.state_dict(), sched=self.sched.state_dict(),
                    step=self.step)

    def _restore_checkpoint(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])
        self.sched.load_state_dict(state["sched"])
        self.step = state["step"]

    def run(self, stop_after: int | None = None) -> dict | None:
        """Train to the end and export (returns the weight file's metadata), or, with
        `stop_after`, checkpoint and return None after that many steps of this call."""
        cfg = self.cfg
        if self.load_checkpoint() and not self.quiet:
            print(f"resuming at step {self.step}", file=sys.stderr)
        self.start_clock()
        self.net.train()
        if self.train_until(cfg.steps, f"train diffusion {cfg.data}", stop_after, "loss") is None:
            return None
        meta = dict(data=cfg.data, licence=LICENCES[cfg.data], command=cfg.command,
                    train_wall_time_s=round(self.elapsed_s), holdout=cfg.holdout, seed=cfg.seed, steps=cfg.steps,
                    batch=cfg.batch, t_max=T_MAX, history=self.history, **self.evaluate())
        export_denoiser(self.net, self.mean, self.std, cfg.out, meta)
        return meta


def export_denoiser(net: DenoiserNet, mean: np.ndarray, std: np.ndarray, path: str | Path, meta: dict) -> None:
    """Write ``path`` (.npz) atomically: float16 layers (W as (in, out)), LayerNorm gains and biases,
    the data standardisation (float32) and a JSON config (architecture + `meta`)."""
    arrays = {"data_mean": mean.astype(np.float32), "data_std": std.astype(np.float32)}
    for name, module in net.named_modules():
        if isinstance(module, nn.Linear):
            arrays[name + ".W"] = module.weight.detach().numpy().T.astype(np.float16)
            arrays[name + ".b"] = module.bias.detach().numpy().astype(np.float16)
        elif isinstance(module, nn.LayerNorm):
            arrays[name + ".g"] = module.weight.detach().numpy().astype(np.float16)
            arrays[name + ".b"] = module.bias.detach().numpy().astype(np.float16)
    save_weight_file(path, arrays, dict(net.config, **meta))
