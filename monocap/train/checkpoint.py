"""Resumable training: the step loop every trainer runs, and its checkpoints in ``<work_dir>/checkpoint.pt``.

A trainer subclasses `Resumable`, provides ``_train_step`` (one optimiser
step, returns the loss) and ``evaluate`` (validation figures), and says what
else belongs in its checkpoint (`_checkpoint_state`, `_restore_checkpoint`:
network, optimiser, schedule, step). Saved with it, here: the validation
history, the training wall time so far, and the random states of the pair
sampler and of PyTorch, so that a resumed run continues exactly as an
uninterrupted one would.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch


@dataclass
class RunConfig:
    """What every training run is told: its data, where it writes, and how often it evaluates and checkpoints."""

    data: str  # "open" (CMU + HDM05 mocap, virtual cameras) or "h36m" (Human3.6M, its 4 cameras)
    out: Path  # exported weights (.npz)
    work_dir: Path  # checkpoints
    data_root: Path = Path("../shared/data")
    holdout: bool = True  # h36m: keep S8 out of training for model selection
    seed: int = 0
    threads: int = 2
    eval_every: int = 2000
    checkpoint_every: int = 500
    command: str = field(default_factory=lambda: " ".join(["monocap"] + sys.argv[1:]))


class Resumable:
    """Mixin; needs ``self.cfg`` (``work_dir``, ``eval_every``, ``checkpoint_every``), ``self.quiet``,
    ``self.train_sampler`` (a `PairSampler`), ``self.history`` and ``self.step``."""

    elapsed_s: float = 0.0

    def _train_step(self) -> float:
        raise NotImplementedError

    def evaluate(self) -> dict:
        raise NotImplementedError

    def _checkpoint_state(self) -> dict:
        raise NotImplementedError

    def _restore_checkpoint(self, state: dict) -> None:
        raise NotImplementedError

    @property
    def checkpoint_path(self) -> Path:
        return Path(self.cfg.work_dir) / "checkpoint.pt"

    def start_clock(self) -> None:
        self._clock = time.time()

    def save_checkpoint(self) -> None:
        now = time.time()
        self.elapsed_s += now - self._clock
        self._clock = now
        state = dict(self._checkpoint_state(), history=self.history, elapsed_s=self.elapsed_s,
                     sampler_rng=self.train_sampler.rng.bit_generator.state, torch_rng=torch.get_rng_state(),
                     cuda_rng=torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None)
        path = self.checkpoint_path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(path)

    def train_until(self, total: int, desc: str, budget: int | None, loss_name: str, **record) -> int | None:
        """Take steps until ``self.step`` reaches ``total``; return how many this call took.

        A progress bar; every ``cfg.eval_every`` steps and at the end, `evaluate`
        into ``history`` (with ``record``'s fields); a checkpoint every
        ``cfg.checkpoint_every`` steps and at the end. With a ``budget`` of steps
        that runs out first: checkpoint and return None.
        """
        from tqdm import tqdm
        bar = tqdm(total=total, initial=self.step, desc=desc, disable=self.quiet, file=sys.stderr, smoothing=0.05)
        taken = 0
        try:
            while self.step < total:
                if budget is not None and taken >= budget:
                    self.save_checkpoint()
                    return None
                loss = self._train_step()
                self.step += 1
                taken += 1
                bar.update(1)
                bar.set_postfix({loss_name: f"{loss:.3g}"})
                if self.step % self.cfg.eval_every == 0 or self.step == total:
                    entry = dict(record, step=self.step, **{loss_name: round(loss, 4)}, **self.evaluate())
                    self.history.append(entry)
                    if not self.quiet:
                        bar.write(str(entry))
                if self.step % self.cfg.checkpoint_every == 0 or self.step == total:
                    self.save_checkpoint()
            return taken
        finally:
            bar.close()

    def load_checkpoint(self) -> bool:
        """Restore the last checkpoint; False when there is none."""
        if not self.checkpoint_path.exists():
            return False
        # Our own file, written by save_checkpoint; onto the CPU first (`_restore_checkpoint` copies into the network).
        state = torch.load(self.checkpoint_path, weights_only=False, map_location="cpu")
        self._restore_checkpoint(state)
        self.history, self.elapsed_s = state["history"], state["elapsed_s"]
        self.train_sampler.rng.bit_generator.state = state["sampler_rng"]
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") is not None:  # dropout masks drawn on a GPU
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        return True
