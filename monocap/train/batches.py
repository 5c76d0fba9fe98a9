"""Training batches made ahead of the optimiser by worker processes (`monocap train --workers N`).

Making a batch of training pairs takes the CPU 0.08–0.13 s for 512 windows
of 27 frames, while a GPU takes its step in milliseconds; one process would
leave the GPU waiting. Here a PyTorch `DataLoader` over step numbers has the
batches made by a pool of processes, a few steps ahead.

Batch k of a stage is drawn with its own generator, seeded by (seed, stage,
k), not from one random stream: the batches are the same whichever number
of workers makes them, and a resumed run goes on with the batch it would
have drawn next. (Without workers, `Trainer` keeps drawing from the
sampler's one stream, as the shipped weights were trained.)
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from torch.utils.data import DataLoader, Dataset

from .pairs import PairSampler

STAGES = ("single", "temporal")  # the lifter's; their positions seed the generators: append, never reorder


class StepBatches(Dataset):
    """Item k: step k's (inputs (B, W, 3J) float32, targets (B, W, J, 3) float32 mm) as tensors."""

    def __init__(self, sampler: PairSampler, batch_size: int, window: int, seed: int, stage: str):
        self.sampler, self.batch_size, self.window = sampler, batch_size, window
        self.seed, self.stage_id = seed, STAGES.index(stage)

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        # Each worker process has its own copy of the sampler, so replacing its generator touches no other.
        self.sampler.rng = np.random.default_rng([self.seed, self.stage_id, step])
        batch = self.sampler.sample(self.batch_size, self.window)
        return torch.from_numpy(batch.inputs), torch.from_numpy(batch.targets)


def _one_thread_each(worker_id: int) -> None:
    # numpy's BLAS would otherwise start a thread per core in every worker, all competing for the same cores.
    threadpool_limits(1)


def step_batches(batches: StepBatches, first_step: int, end_step: int, workers: int,
                 pin_memory: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Steps ``first_step`` … ``end_step - 1``'s batches in order, made by ``workers`` (≥ 1) processes."""
    if workers < 1:
        raise ValueError(f"workers must be 1 or more, got {workers}")
    # Forked workers share the sampler's arrays instead of copying them. The loader's own generator: by default
    # it would draw its workers' seed from PyTorch's global one, whose state (dropout) a resumed run must find
    # as the uninterrupted run did.
    loader = DataLoader(batches, batch_size=None, sampler=range(first_step, end_step), num_workers=workers,
                        prefetch_factor=4, pin_memory=pin_memory, worker_init_fn=_one_thread_each,
                        multiprocessing_context="fork", generator=torch.Generator())
    return iter(loader)
