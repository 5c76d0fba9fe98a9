"""``monocap run``: video, image, folder of images, webcam or keypoint file → 3D motion; see `monocap.run`."""
from __future__ import annotations

import argparse
import logging
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..camera import DEFAULT_HFOV_DEG
from .export import formats_argument

EXAMPLES = f"""INPUT: a video file, an image, a folder of images (one camera's frames, in name order, all
of one size), webcam:N, or with --backend file a keypoint file (COCO or OpenPose JSON, an
OpenPose output folder, a `monocap lift` input .npz).

writes OUTDIR/<input name>/:
  poses3d.npz   poses3d (P,T,17,3) mm, camera frame (x right, y down, z forward), pelvis-relative,
                H36M-17; root_cam_mm (P,T,3) mm; keypoints2d (P,T,17,2) px, COCO-17; scores (P,T,17);
                detected (P,T); track_ids (P,); fps; focal, center, image_size, dist; model, licence;
                with --skeleton the fitted joints and bone_lengths_mm (P,16).
                P people, T = every frame of the input; NaN where a person is absent.
  poses3d.json  the same per person per frame, with units and coordinate frames stated in it.
  overlay.mp4   the frames with 2D skeletons and track ids, beside a 3D view (H.264).
  viewer.html   the 3D skeletons to play, orbit and zoom in a browser, offline (`monocap view`).
  report.html   input, camera, people, confidence, joint angles, links to every file.
The folder appears only when complete. Camera: {DEFAULT_HFOV_DEG:g} degree horizontal field of view
unless --fov, --focal or --calibration says otherwise; a calibration file is JSON with fx, fy, cx, cy
(pixels), optional dist (OpenCV order k1, k2, p1, p2[, k3]) and optional width, height.

examples:
  monocap run clip.mp4 -o out                          # MediaPipe (offline), writes out/clip/
  monocap run clip.mp4 -o out --fov 70                 # a wider lens
  monocap run clip.mp4 -o out --calibration cam.json   # a calibrated camera
  monocap run clip.mp4 -o out --max-people 2           # MediaPipe following up to two people
  monocap run clip.mp4 -o out --backend rtmpose        # several people (RTMO, downloads its weights once)
  monocap run frames/ -o out --fps 25                  # a folder of frames
  monocap run webcam:0 -o out --max-frames 300         # live; Ctrl-C also stops and writes
  monocap run clip.mp4 -o out --export bvh,trc,c3d,csv # + per person BVH, TRC, C3D, joint angles (CSV, PNG)
  monocap run clip.mp4 -o out --hypotheses 10          # + 10 pose hypotheses per frame and their spread
  monocap run clip.mp4 -o out --skeleton               # poses fitted to one skeleton per person
  monocap run detections.json -o out --backend file --image-size 1920,1080

from Python:
  from monocap import Pipeline
  pipeline = Pipeline(backend="mediapipe")
  pipeline.run("clip.mp4", "out")                      # whole video, centred temporal lifting
  for frame in pipeline.stream("webcam:0"): ...        # per frame, causal lifting
"""


def add_parser(sub, parents):
    p = sub.add_parser("run", parents=parents, help="video, images or webcam → 3D skeletons for every person",
                       description="Find the people in a video, image, folder of images or webcam stream, "
                                   "and write their 3D motion in metric camera coordinates. The offline default "
                                   "follows one person; --max-people N or --backend rtmpose find more.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="INPUT", help="video, image, folder of images, webcam:N, or a keypoint file")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUTDIR",
                   help="folder to write OUTDIR/<input name>/ into")
    add_pipeline_arguments(p)
    p.set_defaults(func=run)


def add_pipeline_arguments(p) -> None:
    """The options that say how one input is processed; ``monocap batch`` takes the same ones.

    `pipeline_options` and `run_options` turn them into `Pipeline` and `Pipeline.run` arguments.
    """
    p.add_argument("--backend", choices=("mediapipe", "rtmpose", "file"), default="mediapipe",
                   help="2D keypoints: mediapipe (offline, one person unless --max-people), rtmpose (several "
                        "people), file (precomputed) (default: %(default)s)")
    p.add_argument("--weights", type=Path, metavar="PATH", help="a local RTMO .onnx file for --backend rtmpose")
    p.add_argument("--model", default="default", metavar="default|h36m|PATH",
                   help="lifter: shipped model name or weight file (default: %(default)s; h36m is research only)")
    add_threads_argument(p)
    add_max_people_argument(p)
    add_segments_argument(p)
    add_camera_arguments(p)
    p.add_argument("--single", action="store_true", help="lift each frame on its own (no temporal model)")
    p.add_argument("--no-smoothing", action="store_true", help="no One-Euro filter on the root positions")
    p.add_argument("--fps", type=float, help="frame rate of images and keypoint files (default 30), "
                                             "or instead of the one a video declares")
    p.add_argument("--image-size", type=_floats(2, 2), metavar="W,H",
                   help="frame size in pixels for a keypoint file that lacks it (overrides the file's)")
    p.add_argument("--max-frames", type=int, metavar="N", help="stop after N frames")
    p.add_argument("--min-track-frames", type=int, metavar="N",
                   help="drop people tracked for fewer frames (default: 10, or the whole input if shorter)")
    p.add_argument("--no-overlay", action="store_true", help="do not write overlay.mp4")
    p.add_argument("--export", type=formats_argument, default=(), metavar="LIST",
                   help="also fit every person to a skeleton and write these of bvh,trc,c3d,csv into the "
                        "folder, as `monocap export` does (see its --help)")
    p.add_argument("--hypotheses", type=int, default=0, metavar="M",
                   help="draw M poses per frame from the diffusion prior guided by the keypoints: poses3d "
                        "becomes their mean, the output gains hypotheses and uncertainty_mm (default: 0)")
    p.add_argument("--skeleton", action="store_true",
                   help="fit every person to one skeleton (constant bone lengths, joint limits, smooth motion, "
                        "feet on the floor) and write the fitted joints; about 100-200 frames/s per person")
    add_flip_test_argument(p)


def add_flip_test_argument(p) -> None:
    p.add_argument("--no-flip-test", action="store_true",
                   help="lift each track once, not also its mirror image (the average of both is about 1 mm "
                        "more accurate and doubles the lifter's time, a small share of the whole: under 1 %% of a run, "
                        "about 1 ms per person and frame live)")


def pipeline_options(args) -> dict:
    """`Pipeline` keyword arguments from the options of `add_pipeline_arguments` (picklable, for batch workers)."""
    camera = camera_spec(args)
    image_size = None if args.image_size is None else tuple(int(v) for v in args.image_size)
    tracking = {} if args.min_track_frames is None else {"min_track_frames": args.min_track_frames}
    return dict(backend=args.backend, model=args.model, camera=camera, temporal=not args.single,
                smoothing=not args.no_smoothing, fps=args.fps, image_size=image_size, weights=args.weights,
                threads=args.threads, max_people=args.max_people, segments=args.segments,
                hypotheses=args.hypotheses, flip_test=not args.no_flip_test, skeleton=args.skeleton, **tracking)


def camera_spec(args):
    """The `CameraSpec` of the --fov, --focal and --calibration options (``monocap live`` takes them too)."""
    from ..run import CameraSpec

    if args.calibration is not None:
        return CameraSpec.from_calibration(args.calibration)
    if args.focal is not None:
        return CameraSpec(focal=(args.focal[0], args.focal[-1]), source="--focal")
    return CameraSpec(hfov_deg=DEFAULT_HFOV_DEG if args.fov is None else args.fov, source="--fov")


def add_threads_argument(p) -> None:
    """--threads: the 2D backend's CPU threads (`Pipeline` ``threads``)."""
    p.add_argument("--threads", type=int, metavar="N",
                   help="CPU threads of the 2D backend (default: mediapipe half the CPUs, at most 4; rtmpose "
                        "every CPU; monocap batch 1 per worker). MediaPipe's threads spin while they wait for "
                        "one another: more threads than idle cores slows it down many times over")


def add_max_people_argument(p) -> None:
    """--max-people: people MediaPipe follows per frame (`Pipeline` ``max_people``)."""
    p.add_argument("--max-people", type=int, metavar="N",
                   help="--backend mediapipe: follow up to N people per frame, each with its own model instance "
                        "that sees the people found before it painted out; each costs about as much 2D time as "
                        "the first (default: 1)")


def add_segments_argument(p) -> None:
    """--segments: stretches of a video read at the same time by the 2D stage (`Pipeline` ``segments``)."""
    p.add_argument("--segments", type=int, metavar="N",
                   help="read a video file or image folder in N stretches of frames at the same time, each "
                        "with its own 2D backend (default: mediapipe as many as the CPUs hold backends of "
                        "--threads threads, at most 4; rtmpose 1; monocap batch 1 per worker). With several "
                        "people in view MediaPipe, which follows one, may pick another at a stretch's start")


def add_camera_arguments(p) -> None:
    """--fov, --focal, --calibration: how the camera's intrinsics are chosen (read by `camera_spec`)."""
    camera = p.add_mutually_exclusive_group()
    camera.add_argument("--fov", type=float, metavar="DEG",
                        help=f"horizontal field of view in degrees (default: {DEFAULT_HFOV_DEG:g})")
    camera.add_argument("--focal", type=_floats(1, 2), metavar="FX[,FY]", help="focal length in pixels")
    camera.add_argument("--calibration", type=Path, metavar="FILE", help="camera calibration JSON (see below)")


def run_options(args) -> dict:
    """`Pipeline.run` keyword arguments (other than the input, OUTDIR and progress) from the same options."""
    return dict(overlay=not args.no_overlay, max_frames=args.max_frames, export=tuple(args.export))


def run(args) -> int:
    from ..run import Pipeline

    with _logging_to_stderr(args.quiet):
        pipeline = Pipeline(**pipeline_options(args))
        summary = pipeline.run(args.input, args.output, progress=not args.quiet, **run_options(args))
    if not args.quiet:
        files = ", ".join(f.name + (f" ({summary.overlay_codec})" if f.suffix == ".mp4" else "")
                          for f in summary.files)
        print(f"{summary.folder}: {files}; {summary.tracks} person(s), {summary.frames} frames in "
              f"{summary.wall_seconds:.1f} s ({summary.frames / summary.wall_seconds:.1f} frames/s)")
    return 0


class _Formatter(logging.Formatter):
    """``monocap <command>: message``, with ``warning:`` before warnings and errors."""

    def __init__(self, command: str):
        super().__init__()
        self.command = command

    def format(self, record: logging.LogRecord) -> str:
        prefix = "warning: " if record.levelno >= logging.WARNING else ""
        return f"monocap {self.command}: {prefix}{record.getMessage()}"


@contextmanager
def _logging_to_stderr(quiet: bool, command: str = "run") -> Iterator[None]:
    """monocap's log lines on stderr for the duration of the command: warnings always, the rest unless quiet."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(command))
    logger = logging.getLogger("monocap")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _floats(least: int, most: int):
    """An argparse type: ``least`` to ``most`` comma-separated positive numbers."""
    def parse(text: str) -> list[float]:
        try:
            values = [float(v) for v in text.replace("x", ",").split(",")]
        except ValueError:
            values = []
        if not least <= len(values) <= most or not all(v > 0 for v in values):
            raise argparse.ArgumentTypeError(f"expected {least if least == most else f'{least} or {most}'} "
                                             f"positive numbers separated by commas, got {text!r}")
        return values
    return parse
