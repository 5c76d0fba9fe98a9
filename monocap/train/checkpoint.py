"""Resumable training: what every trainer saves to and restores from ``<work_dir>/checkpoint.pt``.

A trainer subclasses `Resumable` and says what else belongs in its
checkpoint (`_checkpoint_state`, `_restore_checkpoint`: network, optimiser,
schedule, step). Saved with it, here: the validation history, the training
wall time so far, and the random states of the pair sampler and of PyTorch,
so that a resumed run continues exactly as an uninterrupted one would.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch


class Resumable:
    """Mixin; needs ``self.cfg.work_dir``, ``self.train_sampler`` (a `PairSampler`) and ``self.history``."""

    elapsed_s: float = 0.0

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
                     sampler_rng=self.train_sampler.rng.bit_generator.state, torch_rng=torch.get_rng_state())
        path = self.checkpoint_path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(path)

    def load_checkpoint(self) -> bool:
        """Restore the last checkpoint; False when there is none."""
        if not self.checkpoint_path.exists():
            return False
        state = torch.load(self.checkpoint_path, weights_only=False)  # our own file, written by save_checkpoint
        self._restore_checkpoint(state)
        self.history, self.elapsed_s = state["history"], state["elapsed_s"]
        self.train_sampler.rng.bit_generator.state = state["sampler_rng"]
        torch.set_rng_state(state["torch_rng"])
        return True
