"""``monocap live``: a webcam (or a video file played in real time) → live overlay window, recording, latency."""
from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path

from .run import (_logging_to_stderr, add_camera_arguments, add_flip_test_argument, add_max_people_argument,
                  add_threads_argument, camera_spec)

log = logging.getLogger("monocap")

EXAMPLES = """Each frame goes through the 2D backend, tracking and the causal lifter (past frames only), and is
shown as the frame with 2D skeletons and ids beside a 3D view (q or Esc closes the window; Ctrl-C
stops too). When the work on a frame takes longer than the camera's frame interval, the frames in
between are skipped rather than queued, so the picture stays current. A video file given to
--camera plays at its own frame rate, as a camera would deliver it. At the end the latency per
frame, from capture to 3D result, is printed. The camera options are those of `monocap run` (a
calibration file is JSON with fx, fy, cx, cy in pixels; see `monocap run --help`).

examples:
  monocap live                                      # webcam 0, window
  monocap live --camera 1 --record take.mp4         # another camera; record the overlay (H.264)
  monocap live --camera clip.mp4 --no-window --record out.mp4   # a file as the camera, no display needed
  monocap live --skeleton                           # draw skeletons with bones of constant length
  monocap live --fov 70 --max-frames 600            # a wider lens; stop after 600 processed frames
"""


def add_parser(sub, parents):
    p = sub.add_parser("live", parents=parents, help="webcam → live 3D overlay window, recording and latency",
                       description="Live 3D motion capture from a webcam, with an overlay window.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--camera", default="0", metavar="N|VIDEO",
                   help="webcam number, or a video file played in real time as the camera (default: %(default)s)")
    p.add_argument("--record", type=Path, metavar="OUT.mp4", help="also write the overlay to this H.264 video")
    p.add_argument("--no-window", action="store_true", help="no window (also when there is no display)")
    p.add_argument("--max-frames", type=int, metavar="N", help="stop after N processed frames")
    p.add_argument("--backend", choices=("mediapipe", "rtmpose"), default="mediapipe",
                   help="2D keypoints: mediapipe (one person) or rtmpose (several) (default: %(default)s)")
    p.add_argument("--weights", type=Path, metavar="PATH", help="a local RTMO .onnx file for --backend rtmpose")
    p.add_argument("--model", default="default", metavar="default|h36m|PATH",
                   help="lifter: shipped model name or weight file (default: %(default)s)")
    add_threads_argument(p)
    add_max_people_argument(p)
    add_camera_arguments(p)
    p.add_argument("--single", action="store_true", help="lift each frame on its own (no temporal model)")
    p.add_argument("--no-smoothing", action="store_true", help="no One-Euro filter on the root positions")
    add_flip_test_argument(p)
    p.add_argument("--skeleton", action="store_true",
                   help="draw each person's live skeleton: bones of constant length, settled after one second "
                        "(monocap.fit.causal; about 3 ms per person and frame)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..run import Pipeline
    from ..run.live import has_display, run_live

    source = f"webcam:{args.camera}" if re.fullmatch(r"\d+", args.camera) else args.camera
    if args.max_frames is not None and args.max_frames < 1:
        raise ValueError(f"--max-frames must be at least 1, got {args.max_frames}")
    if args.record is not None and args.record.suffix.lower() != ".mp4":
        raise ValueError(f"{args.record}: the recording is an H.264 .mp4 file; give it that suffix")
    with _logging_to_stderr(args.quiet, "live"):
        window = not args.no_window and has_display()
        if not args.no_window and not window:
            log.info("no display: running without a window")
        pipeline = Pipeline(args.backend, args.model, camera=camera_spec(args), temporal=not args.single,
                            smoothing=not args.no_smoothing, weights=args.weights, threads=args.threads,
                            max_people=args.max_people, flip_test=not args.no_flip_test)
        stats = run_live(pipeline, source, record=args.record, window=window, max_frames=args.max_frames,
                         progress=not args.quiet, skeletons=args.skeleton)
    print(stats.summary() + (f"; recorded {args.record}" if args.record else ""))
    return 0
