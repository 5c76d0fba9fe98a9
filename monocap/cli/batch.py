"""``monocap batch``: many videos or images through ``monocap run``, resumably, locally or on Ray (`monocap.batch`)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..batch.engines import INPUTS_PER_WORKER
from .run import _logging_to_stderr, add_pipeline_arguments, pipeline_options, run_options

EXAMPLES = """INPUTS: files, folders (searched recursively for videos and images), quoted globs
('videos/**/*.mp4'), or list files (.txt, .list, .lst: one file, folder or glob per line,
relative to the list's folder; # starts a comment).

writes, per input, exactly what `monocap run` writes, into OUTDIR/<key>/: <key> is the input's
path below the folder or glob it was found by (without suffix), or its name for a file given
alone; .. and absolute paths are dropped, and a name taken twice gets -<8 hex digits>.
OUTDIR/batch.sqlite records every input: status (ok, empty = nobody tracked, failed), the error,
the SHA-256 of poses3d.npz, attempts, timings. Run the same command again to resume: finished
inputs are skipped, failed ones too (--retry-failed redoes them). Exit status 0 when no input
failed, 1 when some did, 2 when the batch itself could not run.

examples:
  monocap batch corpus/ -o out                          # every video and image below corpus/
  monocap batch 'archive/**/*.mp4' -o out --workers 2   # a glob, two worker processes
  monocap batch videos.txt -o out --no-overlay          # a list file; any `monocap run` option
  monocap batch corpus/ -o out --retry-failed           # resume, and try the failed inputs again
  monocap batch corpus/ -o out --engine ray             # Ray: a local instance ...
  monocap batch corpus/ -o out --engine ray --address 10.0.0.5:6379   # ... or a cluster

  sqlite3 out/batch.sqlite "select source, error from inputs where status = 'failed'"
"""


def add_parser(sub, parents):
    p = sub.add_parser("batch", parents=parents, help="many videos or images → 3D skeletons, resumable, local or Ray",
                       description="Run `monocap run` on every input of an archive, on a local process pool or "
                                   "a Ray cluster; a manifest makes it resumable and records every error.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="a file, folder, glob or list file")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUTDIR",
                   help="folder for the outputs and the manifest (batch.sqlite)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="worker processes (local: default one per CPU; Ray: default one per CPU of the cluster)")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local process pool or Ray (default: %(default)s)")
    p.add_argument("--address", metavar="ADDR", help="a running Ray cluster (host:port or 'auto'); "
                                                     "without it --engine ray starts a local Ray instance")
    p.add_argument("--retry-failed", action="store_true", help="process inputs that failed before again")
    p.add_argument("--inputs-per-worker", type=int, default=INPUTS_PER_WORKER, metavar="N",
                   help="replace a worker process after N inputs, bounding slow memory growth (default: %(default)s)")
    add_pipeline_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..batch import create_engine, run_batch

    engine = create_engine(args.engine, args.workers, args.address, args.inputs_per_worker)
    with _logging_to_stderr(args.quiet, "batch"):
        try:
            summary = run_batch(args.inputs, args.output, engine, pipeline_options(args), run_options(args),
                                retry_failed=args.retry_failed, progress=not args.quiet)
        except KeyboardInterrupt:
            print(f"monocap batch: interrupted; run the same command again to resume ({args.output})",
                  file=sys.stderr)
            return 130
    for _, _, error in summary.failed:
        print(f"monocap batch: failed: {error}", file=sys.stderr)
    if not args.quiet:
        counts = summary.counts
        print(f"{summary.outdir}: {summary.inputs} input(s): {counts.get('ok', 0)} ok, {counts.get('empty', 0)} "
              f"empty (nobody tracked), {counts.get('failed', 0)} failed; {len(summary.outcomes)} processed now, "
              f"{summary.skipped} done before, {summary.adopted} recorded from an interrupted batch; "
              f"{summary.wall_seconds:.1f} s; manifest {summary.manifest}")
    return 1 if summary.failed else 0
