"""``monocap bench batch``: throughput of ``monocap batch`` with 1, 2, ... local workers, and memory per worker.

N copies of one video (hard links where the file system allows, so the
inputs are distinct files without using space) are processed from scratch
by `run_batch` with each worker count in turn, into a fresh temporary
OUTDIR. Per worker count: the wall time of the whole batch (worker start-up
included), videos per hour and frames per second over that time, the mean
seconds one video spends in a worker, and each worker process's peak
resident memory (the largest `Outcome.peak_rss_mb` it reported).
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

NAME = "batch"
HELP = "videos/hour and frames/s of `monocap batch` with 1 and 2 local workers, and memory per worker"
EXAMPLES = """examples:
  monocap bench batch                                   # 4 copies of ../shared/data/media/demo.mp4, 1 and 2 workers
  monocap bench batch clip.mp4 --copies 8 --workers 1,2,4
  monocap bench batch --no-overlay --json batch.json
"""


def add_arguments(p) -> None:
    p.add_argument("input", nargs="?", type=Path, help="a video (default: DATA_ROOT/media/demo.mp4)")
    p.add_argument("--copies", type=int, default=4, metavar="N", help="videos in the batch (default: %(default)s)")
    p.add_argument("--workers", type=_counts, default=[1, 2], metavar="N[,N...]",
                   help="worker counts to measure, one batch each (default: 1,2)")
    p.add_argument("--model", default="default", metavar="default|h36m|PATH", help="lifter (default: %(default)s)")
    p.add_argument("--no-overlay", action="store_true", help="leave out overlay.mp4")


def run(args) -> dict:
    from ..batch import LocalPool, run_batch
    from ..batch.engines import peak_rss_mb

    if args.copies < 1:
        raise ValueError(f"--copies must be at least 1, got {args.copies}")
    video = args.input or args.data_root / "media" / "demo.mp4"
    if not video.is_file():
        raise FileNotFoundError(f"{video}: no such video")
    figures = {"input": str(video), "copies": args.copies, "model": str(args.model),
               "overlay": not args.no_overlay, "cpus": os.cpu_count(),
               "load_average_1min_before": os.getloadavg()[0], "runs": []}
    with tempfile.TemporaryDirectory(prefix="monocap-bench-batch-") as tmp:
        inputs = Path(tmp) / "in"
        inputs.mkdir()
        for i in range(args.copies):
            _link_or_copy(video, inputs / f"copy{i:03d}{video.suffix}")
        for workers in args.workers:
            summary = run_batch([str(inputs)], Path(tmp) / f"out{workers}", LocalPool(workers),
                                {"backend": "mediapipe", "model": args.model}, {"overlay": not args.no_overlay},
                                progress=not args.quiet)
            failed = [error for _, _, error in summary.failed]
            if failed:
                raise ValueError(f"{video}: the batch failed: {failed[0]}")
            frames = sum(o.frames for o in summary.outcomes)
            per_worker: dict[str, float] = {}
            for outcome in summary.outcomes:
                per_worker[outcome.worker] = max(per_worker.get(outcome.worker, 0.0), outcome.peak_rss_mb)
            figures["runs"].append({
                "workers": workers, "wall_s": summary.wall_seconds, "frames": frames,
                "videos_per_hour": 3600 * args.copies / summary.wall_seconds,
                "frames_per_s": frames / summary.wall_seconds,
                "seconds_per_video_in_worker": sum(o.seconds for o in summary.outcomes) / len(summary.outcomes),
                "peak_rss_mb_per_worker": sorted(per_worker.values()),
            })
    figures["load_average_1min_after"] = os.getloadavg()[0]
    figures["driver_peak_rss_mb"] = peak_rss_mb()
    _print(figures)
    return figures


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system, or one without hard links
        shutil.copyfile(source, target)


def _counts(text: str) -> list[int]:
    try:
        counts = [int(v) for v in text.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"expected worker counts such as 1,2, got {text!r}")
    return counts


def _print(f: dict) -> None:
    print(f"\n{f['input']} x {f['copies']}, model {f['model']}, overlay {'on' if f['overlay'] else 'off'}; "
          f"{f['cpus']} CPUs, load average {f['load_average_1min_before']:.1f} before, "
          f"{f['load_average_1min_after']:.1f} after")
    print("\n| workers | wall s | videos/hour | frames/s | s per video in a worker | peak RSS per worker, MB |")
    print("|---:|---:|---:|---:|---:|---|")
    for r in f["runs"]:
        rss = ", ".join(f"{v:.0f}" for v in r["peak_rss_mb_per_worker"])
        print(f"| {r['workers']} | {r['wall_s']:.1f} | {r['videos_per_hour']:.0f} | {r['frames_per_s']:.1f} | "
              f"{r['seconds_per_video_in_worker']:.1f} | {rss} |")
    print(f"driver peak RSS {f['driver_peak_rss_mb']:.0f} MB")
