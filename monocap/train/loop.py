"""Training of the lifters: data choice, two-stage schedule, checkpoints, export.

Stage 1 trains the per-frame trunk and frame head on single frames. Stage 2
freezes them and trains the two temporal heads (centred and causal) on
windows of frames, so the single-frame model stays exactly what stage 1
made. Training resumes from ``<work_dir>/checkpoint.pt`` when it exists
(written every `checkpoint_every` steps), and is deterministic for a seed.
"""
from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from ..io.h36m import (SUBJECT_HOLDOUT, SUBJECTS_TRAIN, Z_UP_TO_Y_UP, camera_for_y_up_world, load_h36m_cameras,
                       load_h36m_poses)
from ..lift.lifter import model_path
from .checkpoint import Resumable, RunConfig
from .batches import StepBatches, step_batches
from .export import export_weights, import_frame_weights
from .model import LiftNet
from .pairs import AugmentConfig, PairSampler

LICENCES = {
    "open": "trained on CMU Graphics Lab mocap (free for any use) and HDM05 (CC BY-SA 3.0)",
    "h36m": "trained on Human3.6M: non-commercial research use only",
}
INIT_BATCH = 4096  # training inputs that set the batch norms of an imported network (`import_frame_weights`)


@dataclass
class TrainConfig(RunConfig):
    steps_single: int = 20000
    steps_temporal: int = 3000
    batch_single: int = 1024
    batch_temporal: int = 32
    window: int = 81
    lr: float = 1e-3
    weight_decay: float = 1e-4
    width: int = 512
    blocks: int = 2
    temporal_channels: int = 128
    dilations: tuple[int, ...] = (1, 3, 9, 27)  # of the temporal heads: receptive field 1 + 2 * sum
    dropout: float = 0.1
    temporal_input: str = "features"  # the heads read the trunk's "features" or the 2D "inputs" (`LiftNet`)
    head_share: float = 1.0  # "inputs" heads: their share of the temporal pose at inference (`LiftModel`)
    bone_scale_std: float = 0.0  # per-bone length augmentation (`AugmentConfig.bone_scale_std`)
    joint_shift_std_mm: float = 0.0  # joint-centre augmentation (`AugmentConfig.joint_shift_std_mm`)
    balance: float = 0.0  # rare poses drawn more often (`PairSampler`'s ``balance``)
    init: str | None = None  # start the per-frame network from this lifter ("default", "h36m" or a .npz)
    device: str = "cpu"  # where PyTorch trains: "cpu" or "cuda" (batches are made on the CPU either way)
    workers: int = 0  # processes making batches ahead (`batches`); 0: in this process, from one random stream


def build_samplers(cfg: TrainConfig) -> tuple[PairSampler, PairSampler]:
    """(training sampler, validation sampler) for the configured data."""
    root = Path(cfg.data_root)
    if cfg.data == "h36m":
        cams = {subject: [camera_for_y_up_world(c) for c in cs]
                for subject, cs in load_h36m_cameras(root / "h36m").items()}
        val_subjects = (SUBJECT_HOLDOUT,) if cfg.holdout else ()
        train_subjects = tuple(s for s in SUBJECTS_TRAIN if s not in val_subjects)
        # Validation always reports S8: honest when held out, a fit check otherwise.
        def split(subjects):
            seqs = load_h36m_poses(root / "h36m", subjects)
            return [s.joints_world_mm @ Z_UP_TO_Y_UP.T for s in seqs], [cams[s.subject] for s in seqs]
        tr_seqs, tr_cams = split(train_subjects)
        va_seqs, va_cams = split((SUBJECT_HOLDOUT,))
        augment = replace(AugmentConfig.clean(), bone_scale_std=cfg.bone_scale_std,
                          joint_shift_std_mm=cfg.joint_shift_std_mm)
        train = PairSampler(tr_seqs, "h36m17", cameras=tr_cams, real_camera_share=0.8, augment=augment,
                            seed=cfg.seed, balance=cfg.balance)
        val = PairSampler(va_seqs, "h36m17", cameras=va_cams, real_camera_share=1.0,
                          augment=AugmentConfig.none(), seed=12345)
    elif cfg.data == "open":
        from ..io.mocap_dataset import load_open_mocap
        tr = [c.joints_world_mm for c in load_open_mocap(root / "mocap", "train")]
        va = [c.joints_world_mm for c in load_open_mocap(root / "mocap", "test")]
        augment = replace(AugmentConfig.detector(), bone_scale_std=cfg.bone_scale_std,
                          joint_shift_std_mm=cfg.joint_shift_std_mm)
        train = PairSampler(tr, "mocap22", augment=augment, seed=cfg.seed, balance=cfg.balance)
        val = PairSampler(va, "mocap22", augment=AugmentConfig.none(), seed=12345)
    else:
        raise ValueError(f"unknown training data {cfg.data!r}: use 'open' or 'h36m'")
    return train, val


def warmup_cosine(optimizer: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over min(500, total/10) steps, then a cosine decay to 1% of the rate at `total_steps`."""
    warmup = min(500, total_steps // 10 + 1)

    def factor(step: int) -> float:
        cosine = 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / total_steps))
        return min(1.0, (step + 1) / warmup) * (0.01 + 0.99 * cosine)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def mpjpe_m(pred: torch.Tensor, target_m: torch.Tensor) -> torch.Tensor:
    return (pred - target_m).norm(dim=-1).mean()


def training_device(name: str) -> torch.device:
    """The PyTorch device called ``name``, if this machine has it."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}: use cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r}: PyTorch sees no GPU here (a CPU-only build, or no driver)")
    return device


class Trainer(Resumable):
    def __init__(self, cfg: TrainConfig, quiet: bool = False):
        self.cfg, self.quiet = cfg, quiet
        if cfg.workers < 0:
            raise ValueError(f"workers must be 0 or more, got {cfg.workers}")
        if not 0.0 < cfg.head_share <= 1.0 or (cfg.head_share != 1.0 and cfg.temporal_input != "inputs"):
            raise ValueError(f"head share {cfg.head_share}: give a share in (0, 1], below 1 only for heads on "
                             "the inputs (--temporal-input inputs)")
        torch.manual_seed(cfg.seed)
        torch.set_num_threads(cfg.threads)
        self.net = LiftNet(17, cfg.width, cfg.blocks, cfg.temporal_channels, tuple(cfg.dilations), cfg.dropout,
                           temporal_input=cfg.temporal_input)
        init_path = model_path(cfg.init) if cfg.init else None  # a wrong name fails before the data loads
        self.train_sampler, self.val_sampler = build_samplers(cfg)
        if init_path is not None:
            inputs = self.train_sampler.sample(INIT_BATCH, 1).inputs
            import_frame_weights(self.net, init_path, torch.from_numpy(inputs.reshape(len(inputs), -1)))
        self.device = training_device(cfg.device)
        self.net.to(self.device)
        # Fixed validation sets: drawn once so every evaluation compares like with like.
        self.val_single = self.val_sampler.sample(4096, 1)
        self.val_temporal = self.val_sampler.sample(24, cfg.window)
        self.stage, self.step = "single", 0
        self._batches = None  # the workers' batches for the rest of the stage (`_next_batch`)
        self.history: list[dict] = []
        self.elapsed_s = 0.0
        self._new_optimizer()

    # -- optimisation ---------------------------------------------------------
    def _trainable(self):
        if self.stage == "single":
            return [p for n, p in self.net.named_parameters() if not n.startswith("heads.")]
        return list(self.net.heads.parameters())

    @property
    def _stage_steps(self) -> int:
        return self.cfg.steps_single if self.stage == "single" else self.cfg.steps_temporal

    def _new_optimizer(self):
        total = max(1, self._stage_steps)
        self.opt = torch.optim.AdamW(self._trainable(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)
        self.sched = warmup_cosine(self.opt, total)

    def _set_modes(self):
        self.net.train()
        if self.stage == "temporal":  # frozen trunk: no gradients, batch-norm statistics fixed
            for m in (self.net.fc_in, self.net.bn_in, self.net.blocks, self.net.frame_head, self.net.drop):
                m.eval()
                m.requires_grad_(False)

    def _next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """This step's (inputs, targets in mm), from the workers or made here."""
        cfg = self.cfg
        if self.stage == "single":
            size, window = cfg.batch_single, 1
        elif self.net.on_inputs:  # one window of the receptive field per item, one target frame per head
            size, window = cfg.batch_temporal, self.net.receptive_field
        else:
            size, window = cfg.batch_temporal, cfg.window
        if not cfg.workers:
            batch = self.train_sampler.sample(size, window)
            return torch.from_numpy(batch.inputs), torch.from_numpy(batch.targets)
        if self._batches is None:  # a stage begins or resumes here
            self._batches = step_batches(StepBatches(self.train_sampler, size, window, cfg.seed, self.stage),
                                         self.step, self._stage_steps, cfg.workers,
                                         pin_memory=self.device.type == "cuda")
        return next(self._batches)

    def _train_step(self) -> float:
        inputs, targets_mm = self._next_batch()
        x = inputs.to(self.device, non_blocking=True)
        y = targets_mm.to(self.device, non_blocking=True) / 1000.0
        if self.stage == "single":
            loss = mpjpe_m(self.net(x, "single"), y)
        elif self.net.on_inputs:
            middle = self.net.receptive_field // 2
            loss = (mpjpe_m(self.net(x, "centered", strided=True), y[:, middle:middle + 1])
                    + mpjpe_m(self.net(x, "causal", strided=True), y[:, -1:]))
        else:
            loss = mpjpe_m(self.net(x, "centered"), y) + mpjpe_m(self.net(x, "causal"), y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.sched.step()
        return loss.item() * 1000.0

    @torch.no_grad()
    def evaluate(self) -> dict:
        """P1 (mm, root-relative MPJPE) on the fixed validation sets; the heads only once stage 2 has begun.

        The temporal heads are scored on whole windows, which are other frames than the single-frame set:
        ``val_p1_single_windows_mm`` is the frame model on the windows' frames, the figure to compare them with.
        With a ``head_share`` below 1 the heads' figures are those of the mixed poses, as the weight file lifts."""
        self.net.eval()
        out = {}
        scored = [("single", "single", self.val_single)]
        if self.stage == "temporal":
            scored += [("single_windows", "single", self.val_temporal), ("centered", "centered", self.val_temporal),
                       ("causal", "causal", self.val_temporal)]
        share = self.cfg.head_share
        for key, mode, batch in scored:
            x = torch.from_numpy(batch.inputs).to(self.device)
            pred = self.net(x, mode)
            if mode != "single" and share != 1.0:  # the temporal pose the weight file will give (`LiftModel`)
                pred = share * pred + (1.0 - share) * self.net(x, "single")
            target_m = torch.from_numpy(batch.targets / 1000.0).float().to(self.device)
            out[f"val_p1_{key}_mm"] = round(mpjpe_m(pred, target_m).item() * 1000, 2)
        self._set_modes()  # back to training, with the stage's frozen parts
        return out

    # -- checkpoints (`Resumable`) ------------------------------------------------
    def _checkpoint_state(self) -> dict:
        return dict(net=self.net.state_dict(), opt=self.opt.state_dict(), sched=self.sched.state_dict(),
                    stage=self.stage, step=self.step, config={k: str(v) for k, v in asdict(self.cfg).items()})

    def _restore_checkpoint(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        self.stage, self.step = state["stage"], state["step"]
        self._new_optimizer()
        self.opt.load_state_dict(state["opt"])
        self.sched.load_state_dict(state["sched"])

    # -- the run ----------------------------------------------------------------
    def run(self, stop_after: int | None = None) -> dict | None:
        """Train to the end and export (returns the weight file's metadata), or, with
        `stop_after`, checkpoint and return None after that many steps of this call."""
        cfg = self.cfg
        if self.load_checkpoint() and not self.quiet:
            print(f"resuming {self.stage} stage at step {self.step}", file=sys.stderr)
        budget = stop_after
        self.start_clock()
        for stage, total in (("single", cfg.steps_single), ("temporal", cfg.steps_temporal)):
            if stage == "single" and self.stage == "temporal":
                continue
            if stage != self.stage:
                self.stage, self.step, self._batches = stage, 0, None
                for head in self.net.heads.values():
                    head.start_as_no_correction()
                self._new_optimizer()
            self._set_modes()
            taken = self.train_until(total, f"train {cfg.data} {stage}", budget, "loss_mm", stage=stage)
            if taken is None:
                return None
            budget = None if budget is None else budget - taken
        final = self.evaluate()
        meta = dict(data=cfg.data, licence=LICENCES[cfg.data], command=cfg.command,
                    train_wall_time_s=round(self.elapsed_s), holdout=cfg.holdout, seed=cfg.seed,
                    steps_single=cfg.steps_single, steps_temporal=cfg.steps_temporal, head_share=cfg.head_share,
                    **final)
        export_weights(self.net, cfg.out, meta)
        return meta
