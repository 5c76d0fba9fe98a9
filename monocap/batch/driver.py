"""`run_batch`: every input of a batch processed once into OUTDIR, resumably, recorded in the manifest.

The driver is the only process that touches the manifest. In order:

1. It takes OUTDIR's lock (``OUTDIR/.batch.lock``, released by the kernel
   even when the driver is killed), so that two batches never share an
   OUTDIR; whatever an earlier batch left half done, it left dead.
2. It finds the inputs and gives each new one a unique output folder.
3. It settles what earlier batches left (`_settle`): their staging folders
   are deleted; a finished input whose output is there with the recorded
   checksum is skipped, one whose output is gone or changed is redone; an
   input left ``running`` by a killed batch is adopted when its complete
   output is there and newer than the attempt (the worker finished, the
   driver died before recording it), else redone; a failed input is
   skipped (``retry_failed`` redoes it).
4. It hands the rest to the engine one at a time as workers become free,
   marking each ``running`` (one more attempt) just before, and records
   each outcome as it comes. Interrupted (Ctrl-C), it stops the workers and
   settles the inputs they had as in 3.

Outputs themselves appear atomically (`monocap.io.results.staged_folder`).
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import time
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Iterator

from tqdm import tqdm

from ..detect2d.weights import sha256_of
from ..io.results import NPZ_NAME, RunResult, leftover_stages
from .engines import Outcome, Task
from .inputs import assign_keys, find_inputs, media_suffixes
from .manifest import DONE, MANIFEST_NAME, Manifest, Row

log = logging.getLogger(__name__)

LOCK_NAME = ".batch.lock"
# The manifest's files, which no output folder may be named like.
RESERVED_NAMES = (MANIFEST_NAME, f"{MANIFEST_NAME}-journal", f"{MANIFEST_NAME}-wal", f"{MANIFEST_NAME}-shm")


@dataclass
class BatchSummary:
    """What a batch did, for the inputs it was given.

    outdir, manifest: the absolute OUTDIR and the manifest's path; inputs: how many inputs were named.
    counts: inputs per final status ("ok", "empty", "failed"; "pending" only if interrupted).
    skipped: inputs finished (or failed) by an earlier batch and not processed again.
    adopted: inputs whose output a killed batch had finished, recorded now.
    outcomes: what this batch's workers reported, in the order they finished.
    failed: (output key, input, error) of every failed input.
    warnings: arguments that named no input.
    wall_seconds: the whole call.
    """

    outdir: Path
    manifest: Path
    inputs: int
    counts: dict[str, int]
    skipped: int
    adopted: int
    outcomes: list[Outcome] = field(default_factory=list)
    failed: list[tuple[str, str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0


def run_batch(arguments: list[str], outdir: str | Path, engine, pipeline_options: dict, run_options: dict, *,
              retry_failed: bool = False, progress: bool = False) -> BatchSummary:
    """Process the inputs named by ``arguments`` (files, folders, globs, list files) into ``outdir``.

    engine: a `LocalPool` or `RayPool`. pipeline_options, run_options: keyword arguments of `Pipeline`
    and `Pipeline.run`, the same for every input. Raises ValueError for a problem with the batch
    itself (no inputs, another batch on OUTDIR, other options than before); a bad input only fails itself.
    """
    start = time.perf_counter()
    outdir = Path(os.path.abspath(outdir))
    pipeline_options = _portable(pipeline_options)
    found = find_inputs(arguments, media_suffixes(pipeline_options.get("backend", "mediapipe")), exclude=outdir)
    for warning in found.warnings:
        log.warning("%s", warning)
    if not found.inputs:
        raise ValueError(f"no inputs found in {' '.join(arguments)}")
    outdir.mkdir(parents=True, exist_ok=True)
    with _exclusive(outdir):
        manifest = Manifest.open(outdir / MANIFEST_NAME)
        try:
            manifest.check_options(_options_json(pipeline_options, run_options))
            keys = assign_keys(found.inputs, manifest.keys_by_source(), RESERVED_NAMES)
            manifest.add(keys)
            ours = set(keys.values())
            skipped, adopted = _settle(manifest, outdir, ours, retry_failed)
            todo = [row.key for row in manifest.rows("pending") if row.key in ours]
            summary = BatchSummary(outdir, manifest.path, len(ours), {}, skipped, adopted, warnings=found.warnings)
            _process(manifest, outdir, todo, engine, pipeline_options, run_options, summary, progress)
            _remove_empty_folders(outdir, [row.key for row in manifest.rows("failed") if row.key in ours])
            rows = [row for row in manifest.rows() if row.key in ours]
        finally:
            manifest.close()
    for row in rows:
        summary.counts[row.status] = summary.counts.get(row.status, 0) + 1
    summary.failed = [(row.key, row.source, row.error or "") for row in rows if row.status == "failed"]
    summary.wall_seconds = time.perf_counter() - start
    return summary


def _process(manifest: Manifest, outdir: Path, todo: list[str], engine, pipeline_options: dict, run_options: dict,
             summary: BatchSummary, progress: bool) -> None:
    """Hand the ``todo`` inputs to the engine and record every outcome."""
    if not todo:
        return
    counts = {"ok": 0, "empty": 0, "failed": 0}
    todo_keys = set(todo)

    def claimed() -> Iterator[Task]:
        # A generator: each input is marked running only when a worker is free to take it.
        for key in todo:
            manifest.claim(key)
            yield Task(key, manifest.row(key).source, str(outdir))

    bar = tqdm(total=len(todo), disable=not progress, unit="input", desc="batch")
    try:
        # closing(): the engine's workers are stopped as soon as the loop ends, also on Ctrl-C.
        with bar, closing(engine.process(claimed(), pipeline_options, run_options)) as outcomes:
            for outcome in outcomes:
                manifest.finish(outcome.key, outcome.status, error=outcome.error, warning=outcome.warning,
                                frames=outcome.frames, tracks=outcome.tracks, checksum=outcome.checksum,
                                seconds=outcome.seconds, worker=outcome.worker, peak_rss_mb=outcome.peak_rss_mb)
                summary.outcomes.append(outcome)
                counts[outcome.status] += 1
                bar.set_postfix(counts, refresh=False)
                bar.update()
    finally:
        # Interrupted (Ctrl-C, an engine that could not start): settled as a killed batch's would be,
        # since a worker may have finished its input while it was being stopped.
        for row in manifest.rows("running"):
            if row.key in todo_keys:
                _recover(manifest, outdir / row.key, row)


def _settle(manifest: Manifest, outdir: Path, ours: set[str], retry_failed: bool) -> tuple[int, int]:
    """Make the manifest and OUTDIR agree after earlier batches (module docstring); returns (skipped, adopted)."""
    skipped = adopted = 0
    for row in manifest.rows():
        folder = outdir / row.key
        for stage in leftover_stages(folder):
            shutil.rmtree(stage, ignore_errors=True)
        if row.status == "running":  # its batch was killed: we hold the lock, so it is dead
            if _recover(manifest, folder, row) and row.key in ours:
                adopted += 1
        elif row.status in DONE and row.key in ours:
            npz = folder / NPZ_NAME
            if npz.is_file() and sha256_of(npz) == row.checksum:
                skipped += 1
            else:
                log.warning("%s: the output is missing or changed since it was written; processing it again",
                            folder)
                manifest.reset(row.key)
        elif row.status == "failed" and row.key in ours:
            if retry_failed:
                manifest.reset(row.key)
            else:
                skipped += 1
    return skipped, adopted


def _recover(manifest: Manifest, folder: Path, row: Row) -> bool:
    """An input left running by a batch that stopped: recorded if its worker finished it (True), else pending."""
    result = _finished_output(folder, row.started_at)
    if result is None:
        manifest.reset(row.key)
        return False
    manifest.finish(row.key, "ok" if len(result.track_ids) else "empty", frames=result.frame_count,
                    tracks=len(result.track_ids), checksum=sha256_of(folder / NPZ_NAME))
    log.info("%s: finished by a batch that was stopped before it recorded it; recorded now", folder)
    return True


def _finished_output(folder: Path, started_at: float | None) -> RunResult | None:
    """The output in ``folder`` if it is complete and was written after ``started_at``, else None."""
    npz = folder / NPZ_NAME
    try:
        if started_at is None or npz.stat().st_mtime < started_at:
            return None
        return RunResult.load(folder)
    except (OSError, ValueError):
        return None


def _remove_empty_folders(outdir: Path, keys: list[str]) -> None:
    """Parent folders that workers made for inputs that then failed, if nothing else went into them."""
    for key in keys:
        folder = (outdir / key).parent
        while folder != outdir and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
            folder = folder.parent


@contextmanager
def _exclusive(outdir: Path) -> Iterator[None]:
    """Hold OUTDIR's lock file for the duration (the kernel releases it when the process dies)."""
    with open(outdir / LOCK_NAME, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(f"{outdir}: another monocap batch is running on this OUTDIR") from None
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _portable(pipeline_options: dict) -> dict:
    """Paths made absolute, for workers whose working folder is not ours (Ray, on another machine)."""
    options = dict(pipeline_options)
    for name in ("model", "weights"):
        value = options.get(name)
        if value is not None and Path(value).exists():
            options[name] = os.path.abspath(value)
    return options


def _options_json(pipeline_options: dict, run_options: dict) -> str:
    """The options as canonical JSON, for `Manifest.check_options`."""
    def plain(value):
        if is_dataclass(value):
            return plain(asdict(value))
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value if value is None or isinstance(value, (bool, int, float)) else str(value)
    return json.dumps({"pipeline": plain(pipeline_options), "run": plain(run_options)}, sort_keys=True)
