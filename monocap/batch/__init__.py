"""``monocap batch``: many inputs through `monocap run`, on a local process pool or a Ray cluster, resumably.

    from monocap.batch import LocalPool, run_batch
    summary = run_batch(["corpus/"], "out", LocalPool(2), {"backend": "mediapipe"}, {"overlay": False})
    summary.counts, summary.failed

- `inputs`: which files the arguments name, and a unique, safe output folder for each.
- `manifest`: the SQLite record of every input (status, error, checksum, attempts, timings).
- `engines`: where inputs are processed (`LocalPool`, `RayPool`), one `Pipeline` per worker.
- `driver`: `run_batch`, which settles what an earlier (possibly killed) batch left and processes the rest.

Each input's output is exactly what ``monocap run`` writes (``OUTDIR/<key>/``).
"""
from .driver import BatchSummary, run_batch
from .engines import ENGINES, LocalPool, Outcome, RayPool, Task, WorkerStartError, create_engine
from .manifest import MANIFEST_NAME, Manifest

__all__ = ["BatchSummary", "ENGINES", "LocalPool", "MANIFEST_NAME", "Manifest", "Outcome", "RayPool", "Task",
           "WorkerStartError", "create_engine", "run_batch"]
