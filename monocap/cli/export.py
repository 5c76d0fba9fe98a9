"""``monocap export OUTDIR``: a run's people as BVH, TRC, C3D and joint-angle CSV/PNG; see `monocap.export`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXAMPLES = """OUTDIR is a `monocap run` output folder (the one holding poses3d.npz), e.g. out/clip. Every
person is fitted to a skeleton whose bones keep their length (monocap.fit.skeleton), in a Y-up world
with the floor at y = 0, millimetres, then written per person with track id ID:

  personID.bvh         skeletal motion: H36M-17 joint tree, root position + ZXY Euler angles (degrees),
                       mm, Y up, Frame Time = 1 / the video's frame rate (bvh)
  personID.trc         the 17 fitted joints as markers for OpenSim, mm, Y up (trc)
  personID.c3d         the same markers as C3D, 32-bit floats (c3d)
  personID_angles.csv  joint angles per frame in degrees, unwrapped, ISB-style axes (csv)
  personID_angles.png  a plot of those curves (csv)

The files start at the person's first frame in the video: TRC and C3D number frames from 1 over the
whole video, the CSV gives each row's 0-based frame and time. Each file appears complete or not at all.

examples:
  monocap export out/clip                          # all formats, written into out/clip/
  monocap export out/clip --formats bvh            # only the BVH files
  monocap export out/clip --formats trc,csv -o opensim/   # elsewhere
  monocap run clip.mp4 -o out --export bvh,csv     # the same, straight after a run
"""


def formats_argument(text: str) -> tuple[str, ...]:
    """An argparse type: comma-separated export formats."""
    from ..export import parse_formats

    try:
        return parse_formats(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_parser(sub, parents):
    p = sub.add_parser("export", parents=parents, help="a run's people as BVH, TRC, C3D and joint-angle CSV/PNG",
                       description="Fit every person of a `monocap run` output to a skeleton and write it for "
                                   "animation (BVH) and biomechanics (TRC, C3D, joint angles) tools.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("outdir", type=Path, metavar="OUTDIR", help="a run folder, e.g. out/clip")
    p.add_argument("--formats", type=formats_argument, default="bvh,trc,c3d,csv", metavar="LIST",
                   help="comma-separated, any of bvh,trc,c3d,csv (default: %(default)s)")
    p.add_argument("-o", "--output", type=Path, metavar="DEST", help="folder to write into (default: OUTDIR)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..export import export_run
    from ..io.results import RunResult

    if not args.outdir.exists():
        raise FileNotFoundError(f"{args.outdir}: no such folder")
    result = RunResult.load(args.outdir)
    dest = args.output or (args.outdir if args.outdir.is_dir() else args.outdir.parent)
    written = export_run(result, dest, args.formats, progress=not args.quiet)
    if not written:
        print(f"monocap export: warning: {args.outdir}: nobody to export (the run has no tracked person)",
              file=sys.stderr)
    elif not args.quiet:
        print(f"{dest}: {', '.join(p.name for p in written)}")
    return 0
