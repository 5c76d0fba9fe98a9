"""``monocap bench speed``: where the time of ``monocap run`` goes, and whether its memory stays flat.

One `Pipeline.run` over the input, timed per stage by the pipeline itself
(`RunSummary.seconds`), in milliseconds per frame:

- decode: the background thread's time decoding and converting frames;
  it overlaps the other stages, so it costs only through ``decode wait``
  (the first pass waiting for a frame) and through sharing the CPU;
- 2d, track, lift, root, write: on the critical path, one after the other;
- overlay: the second pass (decoding again, drawing, encoding);
- viewer: writing viewer.html and report.html.

End-to-end frames per second are the frames over the wall time of the
whole call, without and with the overlay. The "not 2D" share is the part of
the run without overlay not spent in the 2D backend, with and without the
one-off start of the backend ("start", about a second for MediaPipe).

Memory: the resident set size (RSS) at the start, after loading the
models, after each loop of ``--repeat N`` (the video read N times in a row
as one N times longer video, so a steady RSS across loops shows that memory
does not grow with the length of a video), at the end, and its peak.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the module itself must load without OpenCV, as `monocap bench` lists it
    from ..io.video import FrameSource

NAME = "speed"
HELP = "ms/frame per stage of `monocap run`, end-to-end fps, and memory (RSS) over a long video"
EXAMPLES = """examples:
  monocap bench speed                                   # ../shared/data/media/demo.mp4, MediaPipe
  monocap bench speed clip.mp4 --no-overlay
  monocap bench speed --repeat 10 --no-overlay          # demo.mp4 ten times over: RSS per loop
  monocap bench speed --backend rtmpose --json speed.json
"""
STAGES = ("start", "decode", "decode_wait", "2d", "track", "lift", "root", "write", "overlay", "viewer")


def add_arguments(p) -> None:
    from ..cli.run import add_max_people_argument, add_segments_argument, add_threads_argument

    p.add_argument("input", nargs="?", type=Path, help="a video (default: DATA_ROOT/media/demo.mp4)")
    p.add_argument("--backend", choices=("mediapipe", "rtmpose"), default="mediapipe",
                   help="2D backend (default: %(default)s)")
    p.add_argument("--weights", type=Path, metavar="PATH", help="a local RTMO .onnx file for --backend rtmpose")
    p.add_argument("--model", default="default", metavar="default|h36m|PATH", help="lifter (default: %(default)s)")
    add_threads_argument(p)
    add_max_people_argument(p)
    add_segments_argument(p)
    p.add_argument("--repeat", type=int, default=1, metavar="N",
                   help="read the video N times in a row, as one N times longer video (default: %(default)s)")
    p.add_argument("--no-overlay", action="store_true", help="leave out the overlay pass")


def run(args) -> dict:
    from ..io.video import open_source
    from ..run import Pipeline

    if args.repeat < 1:
        raise ValueError(f"--repeat must be at least 1, got {args.repeat}")
    path = args.input or args.data_root / "media" / "demo.mp4"
    rss = {"start": rss_mb()}
    source = open_source(path)
    pipeline = Pipeline(args.backend, args.model, weights=args.weights, threads=args.threads,
                        max_people=args.max_people, segments=args.segments)
    rss["models loaded"] = rss_mb()
    loops: list[float | None] = []

    def loop_done() -> None:
        if len(loops) < args.repeat:  # the overlay pass reads the loops again
            loops.append(rss_mb())

    looped = repeated(source, args.repeat, loop_done)
    with tempfile.TemporaryDirectory(prefix="monocap-bench-") as out:
        summary = pipeline.run(looped, out, overlay=not args.no_overlay, progress=not args.quiet)
    rss["end"] = rss_mb()
    rss["peak"] = rss_mb("VmHWM")

    frames = summary.frames
    per_frame_ms = {stage: 1000 * summary.seconds.get(stage, 0.0) / frames for stage in STAGES
                    if stage in summary.seconds}
    without_overlay = summary.wall_seconds - summary.seconds.get("overlay", 0.0)
    figures = {
        "input": str(path), "frames": frames, "image_size": list(source.info.image_size),
        "backend": args.backend, "model": str(args.model), "max_people": args.max_people,
        "repeat": args.repeat, "segments": summary.segments,
        "ms_per_frame": per_frame_ms,
        "fps_end_to_end": frames / without_overlay,
        "fps_with_overlay": None if args.no_overlay else frames / summary.wall_seconds,
        "not_2d_share": 1.0 - summary.seconds["2d"] / without_overlay,
        "not_2d_share_after_start": 1.0 - summary.seconds["2d"] / (without_overlay - summary.seconds["start"]),
        "overlay_codec": summary.overlay_codec,
        "rss_mb": dict(rss, loops=loops),
        "cpus": os.cpu_count(), "load_average_1min": os.getloadavg()[0],
    }
    _print(figures)
    return figures


def repeated(source: FrameSource, times: int, after_each) -> FrameSource:
    """``source`` read ``times`` times in a row as one source; ``after_each()`` runs when a reading ends.

    It seeks as ``source`` does, so that `Pipeline.run` can read it in segments too.
    """
    from ..io.video import FrameSource

    n = source.info.frame_count

    def read(start: int, stop: int | None):
        if n is None:  # not seekable: always read whole
            for _ in range(times):
                yield from source.read(0, None)
                after_each()
            return
        end = n * times if stop is None else stop
        for loop in range(start // n, -(-end // n)):
            first, last = max(start - loop * n, 0), min(end - loop * n, n)
            yield from source.read(first, None if last == n else last)
            if last == n:
                after_each()
    count = None if n is None else n * times
    return FrameSource(replace(source.info, frame_count=count), read, source.prefetch,
                       seekable=source.seekable and n is not None)


def rss_mb(field: str = "VmRSS") -> float | None:
    """This process's resident set size now (VmRSS) or at its peak (VmHWM), MB; None where /proc is missing."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _print(f: dict) -> None:
    width, height = f["image_size"]
    people = f" (up to {f['max_people']} people)" if f.get("max_people") else ""
    print(f"\n{f['input']}: {f['frames']} frames ({f['repeat']} x {f['frames'] // f['repeat']}), {width}x{height}, "
          f"backend {f['backend']}{people}, model {f['model']}, 2D in {f['segments']} segment(s); {f['cpus']} CPUs, "
          f"load average {f['load_average_1min']:.1f}")
    print("\n| stage | ms/frame |\n|---|---:|")
    for stage, ms in f["ms_per_frame"].items():
        note = {"start": " (building the 2D backend, once)", "decode": " (background thread, overlapped)",
                "decode_wait": " (first pass waiting for frames)",
                "overlay": f" (second pass, {f['overlay_codec']})",
                "viewer": " (viewer.html + report.html)"}.get(stage, "")
        print(f"| {stage}{note} | {ms:.2f} |")
    print(f"\nend to end: {f['fps_end_to_end']:.1f} frames/s without the overlay"
          + ("" if f["fps_with_overlay"] is None else f", {f['fps_with_overlay']:.1f} with it")
          + f"; not 2D: {100 * f['not_2d_share']:.1f} % of the run without overlay, "
          f"{100 * f['not_2d_share_after_start']:.1f} % after the 2D backend's start")
    rss = f["rss_mb"]

    def mb(value):
        return "n/a" if value is None else f"{value:.0f} MB"
    loops = ", ".join(mb(v) for v in rss["loops"])
    print(f"RSS: start {mb(rss['start'])}, models loaded {mb(rss['models loaded'])}, after each loop [{loops}], "
          f"end {mb(rss['end'])}, peak {mb(rss['peak'])}")
