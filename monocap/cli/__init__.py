"""The ``monocap`` command line: one subcommand per job.

Each subcommand lives in its own module with ``add_parser(subparsers)``,
which registers its arguments and sets ``func`` to the function that runs
it. Errors the user can fix (bad input files, missing data) are raised as
`UserError` and printed as one line, with exit status 2.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys

from ..detect2d.weights import WeightsError
from . import batch, bench, export, lift, live, run, sample, score, train, view

SUBCOMMANDS = (lift, train, bench, run, export, batch, view, live, sample, score)

EPILOG = """examples:
  monocap run clip.mp4 -o out                       # video → out/clip/poses3d.npz, .json, overlay.mp4
  monocap batch corpus/ -o out --workers 2          # every video below corpus/, resumable (batch.sqlite)
  monocap view out/clip                             # the 3D viewer of a run, in the browser
  monocap live --camera 0 --record take.mp4         # webcam → live 3D overlay window, recorded
  monocap export out/clip                           # its people as BVH, TRC, C3D, joint angles
  monocap lift keypoints.npz poses3d.npz            # 2D keypoints (pixels) → 3D (mm), default model
  monocap lift keypoints.npz poses3d.npz --single   # frame by frame, no temporal context
  monocap lift keypoints.npz poses3d.npz --hypotheses 10   # 10 plausible poses per frame + spread
  monocap sample 100 -o poses.npz                   # generate 3D poses from the pose prior
  monocap train --data open --out default.npz       # retrain the default (open-data) lifter
  monocap bench lift                                # accuracy and speed tables
  monocap score out/clip truth.npz                  # a run against your own ground-truth 3D
"""


class UserError(Exception):
    """A problem with the user's input: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="monocap", description="Markerless 3D motion capture from one camera.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bars or log lines")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.add_parser(sub, [common])
    return parser


@contextlib.contextmanager
def native_stderr_silenced():
    """Point file descriptor 2 at /dev/null for the block, while Python's own stderr still reaches the terminal.

    MediaPipe's C++ side (TFLite, absl) writes its log lines straight to descriptor 2 before any logging
    setting of ours could apply (environment variables such as GLOG_minloglevel do not reach it), so `-q`
    can only quieten it at the descriptor.
    """
    try:
        python_writes_fd2 = sys.stderr.fileno() == 2
    except (AttributeError, io.UnsupportedOperation):  # already redirected in Python (e.g. pytest's capture)
        python_writes_fd2 = False
    sys.stderr.flush()
    saved_fd = os.dup(2)
    saved_stream = sys.stderr
    if python_writes_fd2:
        sys.stderr = open(os.dup(saved_fd), "w", buffering=1, encoding=saved_stream.encoding,
                          errors=saved_stream.errors)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    try:
        yield
    finally:
        if python_writes_fd2:
            sys.stderr.close()
            sys.stderr = saved_stream
        os.dup2(saved_fd, 2)
        os.close(saved_fd)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with native_stderr_silenced() if args.quiet else contextlib.nullcontext():
            return args.func(args) or 0
    # WeightsError: 2D weights missing, undownloadable or damaged; its message says what to do.
    except (UserError, FileNotFoundError, ValueError, WeightsError) as exc:
        print(f"monocap {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
