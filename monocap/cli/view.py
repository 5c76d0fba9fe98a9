"""``monocap view OUTDIR``: open a run's viewer.html in the web browser (rebuilt from poses3d.npz if missing)."""
from __future__ import annotations

import argparse
import webbrowser
from pathlib import Path

EXAMPLES = """OUTDIR is a `monocap run` output folder (the one holding poses3d.npz), e.g. out/clip.
viewer.html plays the 3D skeletons offline: space plays/pauses, the slider or the arrow keys step
frames, dragging orbits, the wheel zooms. When the folder has no viewer.html (a run from an older
version, or a deleted page) it is written from poses3d.npz first.

examples:
  monocap view out/clip                 # open it in the default browser
  monocap view out/clip --no-open       # only print the page's path (rebuilding it if missing)
"""


def add_parser(sub, parents):
    p = sub.add_parser("view", parents=parents, help="open a run's 3D viewer (viewer.html) in the browser",
                       description="Open the interactive 3D viewer of a `monocap run` output folder.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("outdir", type=Path, metavar="OUTDIR", help="a run folder, e.g. out/clip")
    p.add_argument("--no-open", action="store_true", help="print the path of viewer.html instead of opening it")
    p.add_argument("--rebuild", action="store_true", help="write viewer.html again from poses3d.npz")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..io.results import NPZ_NAME
    from ..viz.scene import Scene
    from ..viz.viewer import VIEWER_NAME, write_viewer

    folder = args.outdir
    if not (folder / NPZ_NAME).is_file():
        raise FileNotFoundError(f"{folder}: not a `monocap run` output folder (no {NPZ_NAME} in it)")
    page = folder / VIEWER_NAME
    if args.rebuild or not page.is_file():
        write_viewer(Scene.load(folder), page)
    page = page.resolve()
    if args.no_open:
        print(page)
    elif not webbrowser.open(page.as_uri()):
        print(f"no web browser found here; open {page}")
    return 0
