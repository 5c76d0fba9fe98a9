"""`Pipeline`: video, images or webcam → the 3D motion of every person in view.

Construct once (the lifter loads here), then for each input either::

    pipeline = Pipeline(backend="mediapipe", model="default")
    for result in pipeline.stream("webcam:0"):          # live: FrameResult per frame
        result.track_ids, result.poses3d_mm, result.root_cam_mm
    summary = pipeline.run("clip.mp4", "out")           # whole video → out/clip/

Per frame: decode (background thread) → 2D keypoints (the backend) →
tracking (`PoseTracker`). ``run`` cuts a video file or image folder into
``segments`` stretches of consecutive frames and detects them at the same
time, each on its own thread with its own backend instance (MediaPipe's
models run on one thread each, so on 2 cores two segments nearly double the
2D stage's speed); the tracker still takes the frames in order. Then:

- ``stream`` lifts each live track with the *causal* temporal lifter fed
  frame by frame (`monocap.lift.stream`), so a frame's pose never waits for
  later frames, and places its root by `fit_root_positions`, One-Euro filtered.
- ``run`` keeps only each track's keypoints (about 200 bytes per person and
  frame; decoded frames are dropped as soon as the 2D stage has seen them),
  and at the end lifts every track at once with the *centred* temporal
  lifter, fits its roots, and smooths them forwards and backwards (no lag).
  It writes ``poses3d.npz`` and ``poses3d.json`` (`monocap.io.results`),
  ``overlay.mp4``, ``viewer.html`` and ``report.html`` (`monocap.viz`) into
  ``OUTDIR/<name>/``, which appears only once everything is written; with
  ``export``, also every person fitted to a skeleton as BVH, TRC, C3D and
  joint angles (`monocap.export`).

The overlay is rendered in a second decoding pass: it shows the final
tracks (after gaps are bridged and short tracks dropped) and the centred
lifter's poses, which look about a second ahead, so neither exists while the
first pass runs. Drawing during that pass would mean holding that second of
decoded frames (over 200 MB at 1768x994) and still guessing which tracks
survive; decoding twice costs time instead of memory.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
from tqdm import tqdm

from ..camera import Intrinsics
from ..cpus import usable_cpus
from ..detect2d import Detections2D, KeypointTrack, create_detector, read_keypoint_file
from ..detect2d.mediapipe_backend import default_threads
from ..detect2d.tracking import LivePoses, PoseTracker, Track
from ..export import export_run
from ..fit import ROOT_FILTER, OneEuroFilter, place_roots
from ..fit.skeleton import fit_run, with_skeletons
from ..fit.causal import CausalSkeleton, LiveSkeletons
from ..io.results import RunResult, staged_folder
from ..io.video import DEFAULT_FPS, FrameSource, SeekError, SourceError, SourceInfo, fingerprint, open_source
from ..lift.contract import UNKNOWN_LICENCE
from ..lift.diffusion import HypothesisLifter
from ..lift.lifter import Lifter
from ..lift.stream import CausalLifter
from ..skeleton import COCO17, H36M17, coco17_to_h36m17, to_h36m17
from ..viz.overlay import OVERLAY_NAME, write_overlay
from ..viz.report import REPORT_NAME, write_report
from ..viz.scene import Scene
from ..viz.viewer import VIEWER_NAME, write_viewer
from .camera import CameraSpec

log = logging.getLogger(__name__)

BACKENDS = ("mediapipe", "rtmpose", "file")
KEYPOINT_FILE_SUFFIXES = (".json", ".npz")
MIN_TRACK_FRAMES = 10
# A segment's first frame goes through the person detector and the backend's smoothing starts afresh there,
# so segments are kept long: at least 2 s at 30 fps.
MIN_SEGMENT_FRAMES = 60
MAX_SEGMENTS = 4


@dataclass(frozen=True)
class FrameResult:
    """The people in one frame of a stream: K live tracks, in increasing id order.

    frame_index: from 0; time_s = frame_index / fps.
    track_ids: (K,) int64, stable across frames.
    keypoints_px: (K, 17, 2) float32 pixels, COCO-17; held from the last
        detection while a track is in a short gap.
    scores: (K, 17) float32 in [0, 1].
    poses3d_mm: (K, 17, 3) float32 mm, camera frame (x right, y down,
        z forward), H36M-17, relative to the pelvis; NaN where too few joints were seen.
    root_cam_mm: (K, 3) float32 mm, the pelvis in the camera frame; NaN where not estimated.
    detected: (K,) bool, found by the 2D stage in this frame.
    confirmed: (K,) bool, long and sure enough that `Pipeline.run` would keep it.
    image_rgb: the frame, (H, W, 3) uint8; None for keypoint files.
    skeletons: with ``stream(..., skeletons=True)``, the tracks fitted to skeletons from past frames
        (`monocap.fit.causal`): constant bone lengths and joint rotations; else None.
    """

    frame_index: int
    time_s: float
    track_ids: np.ndarray
    keypoints_px: np.ndarray
    scores: np.ndarray
    poses3d_mm: np.ndarray
    root_cam_mm: np.ndarray
    detected: np.ndarray
    confirmed: np.ndarray
    image_rgb: np.ndarray | None = field(default=None, repr=False)
    skeletons: LiveSkeletons | None = field(default=None, repr=False)

    @property
    def joints_cam_mm(self) -> np.ndarray:
        """(K, 17, 3) absolute joint positions in the camera frame, mm."""
        return self.poses3d_mm + self.root_cam_mm[:, None, :]


@dataclass(frozen=True)
class RunSummary:
    """What `Pipeline.run` did.

    folder: OUTDIR/<name>; files: what was written there.
    frames: frames processed; tracks: people in the output.
    overlay_codec: "H.264", None without an overlay.
    segments: stretches of frames the 2D stage read at the same time (1: in one pass).
    seconds: wall time per stage: "start" (building the 2D backend),
        "decode" (on the background threads, overlapping the others),
        "decode_wait" (the 2D stage waiting for frames; both summed over segments),
        "2d" (with segments: the first pass waiting for their detections), "track",
        "lift", "root", "write", "overlay" (the second pass: decoding,
        drawing, encoding), "export" (skeleton fitting and export files),
        "viewer" (viewer.html and report.html).
    wall_seconds: the whole call.
    """

    folder: Path
    files: tuple[Path, ...]
    frames: int
    tracks: int
    overlay_codec: str | None
    segments: int
    seconds: dict[str, float]
    wall_seconds: float


class StageClock:
    """Wall seconds per named stage, summed over calls: ``with clock("2d"): ...``."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - start


@dataclass(frozen=True)
class _Input:
    """An opened input: what it is, and its frames (images) or its keypoints (a keypoint file)."""

    info: SourceInfo
    frames: FrameSource | None = None
    keypoints: KeypointTrack | None = None


@dataclass(frozen=True)
class _Observation:
    """One frame after the 2D stage: its index, image (None for keypoint files) and COCO-17 detections."""

    index: int
    image_rgb: np.ndarray | None  # None for keypoint files and for frames read in segments
    detections: Detections2D


class Pipeline:
    """Video, images or webcam → per-person 3D poses; see the module docstring.

    backend: "mediapipe" (offline default, one person unless ``max_people``), "rtmpose"
        (multi-person, ONNX weights downloaded once or ``weights``), or
        "file" (precomputed keypoints: COCO or OpenPose JSON, lift-contract npz).
    model: the lifter, "default", "h36m" (research only) or a weight file.
    camera: how the intrinsics are chosen (default: 55° horizontal field of view).
    temporal: lift with neighbouring frames (``run``: centred over the
        whole track; ``stream``: causal); False lifts each frame alone.
    smoothing: One-Euro filter on the root positions.
    fps: frame rate of image folders and keypoint files (default 30), or
        the rate to assume for a video instead of the one it declares.
    image_size: (width, height) of the frames of a keypoint file, where the
        file does not say or should be overridden.
    min_track_frames: tracks spanning fewer frames are dropped by ``run``
        (never more than the input is long, so a short clip or a single image
        keeps its people).
    weights, detector_options: passed to the 2D backend.
    threads: the 2D backend's CPU threads (its ``num_threads``; None: the backend's default).
    max_people: MediaPipe follows this many people per frame (default 1;
        `MediaPipePose`), each at about the cost of the first; rtmpose finds everyone.
    segments: ``run`` reads a video file or image folder in this many
        stretches of consecutive frames at the same time (each at least
        `MIN_SEGMENT_FRAMES` long; see the module docstring). None: as many as
        the CPUs hold backend instances of ``threads`` threads, at most
        `MAX_SEGMENTS`, for MediaPipe; 1 for rtmpose, whose onnxruntime uses
        every CPU already. Where seeking does not find the frame that reading
        through finds (irregular timestamps), ``run`` reads again in one pass.
    hypotheses: ``run`` draws this many poses per frame from the diffusion
        prior matching the lifter (`HypothesisLifter.matching`), guided by the
        keypoints; poses3d becomes their mean and the output gains their
        per-joint spread (0: the deterministic lifter alone; ``stream`` always is).
    flip_test: ``run`` also lifts each track's mirror image and averages the
        two (`Lifter.__call__`); ``stream`` does not, for latency.
    skeleton: ``run`` fits every track to one skeleton (`monocap.fit.skeleton`)
        and writes the fitted joints (``stream`` has its own ``skeletons``).
    """

    def __init__(self, backend: str = "mediapipe", model: str | Path = "default", *,
                 camera: CameraSpec | None = None, temporal: bool = True, smoothing: bool = True,
                 fps: float | None = None, image_size: tuple[int, int] | None = None,
                 min_track_frames: int = MIN_TRACK_FRAMES, weights: str | Path | None = None,
                 detector_options: dict | None = None, threads: int | None = None, max_people: int | None = None,
                 segments: int | None = None, hypotheses: int = 0, flip_test: bool = True, skeleton: bool = False):
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
        if min_track_frames < 1:
            raise ValueError(f"min_track_frames must be at least 1, got {min_track_frames}")
        self.backend = backend
        self.camera = camera or CameraSpec()
        self.temporal = temporal
        self.smoothing = smoothing
        self.fps = fps
        self.image_size = image_size
        self.min_track_frames = min_track_frames
        self.detector_options = dict(detector_options or {})
        if weights is not None:
            self.detector_options["weights"] = weights
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        if threads is not None and backend != "file":
            self.detector_options["num_threads"] = threads
        if max_people is not None and backend != "mediapipe":
            raise ValueError(f"max_people is for the mediapipe backend; {backend} finds every person it can")
        if max_people is not None:
            self.detector_options["max_people"] = max_people
        if segments is not None and segments < 1:
            raise ValueError(f"segments must be at least 1, got {segments}")
        if segments is None:
            instance_threads = threads or default_threads()
            segments = max(1, min(MAX_SEGMENTS, usable_cpus() // instance_threads)) if backend == "mediapipe" else 1
        self.segments = segments
        self.lifter = Lifter(model)
        if hypotheses < 0:
            raise ValueError(f"hypotheses must be 0 or more, got {hypotheses}")
        if skeleton and hypotheses:
            raise ValueError("skeleton and hypotheses exclude each other (a skeleton is fitted to one pose per frame)")
        self.skeleton = skeleton
        self.hypotheses = hypotheses
        self.flip_test = flip_test and not hypotheses  # hypotheses replace the lifted poses
        self.sampler = HypothesisLifter.matching(self.lifter) if hypotheses else None

    # --- streaming ------------------------------------------------------------------------------

    def stream(self, source: str | Path | FrameSource, max_frames: int | None = None,
               skeletons: bool = False) -> Iterator[FrameResult]:
        """Yield a `FrameResult` for every frame of ``source`` as soon as it is processed (causal lifting).

        ``skeletons``: also fit every track to a skeleton from past frames (`FrameResult.skeletons`;
        about 3 ms per person and frame on the 2-core development machine).
        """
        inp = self._open(source)
        info = inp.info
        intrinsics = self.camera.intrinsics(info.image_size)
        tracker = PoseTracker(min_length=self._min_length(info))
        lift = _CausalLift(self.lifter, intrinsics, info.fps, self.temporal, self.smoothing, self.flip_test)
        fit = CausalSkeleton(info.fps) if skeletons else None
        with closing(self._observe(inp, StageClock(), max_frames)) as observations:
            for obs in observations:
                live = tracker.step(obs.index, obs.detections)
                poses, roots = lift(live)
                fitted = None
                if fit is not None:
                    scores_h36m = to_h36m17(live.keypoints_px, live.scores, COCO17.name)[1]
                    fitted = fit(live.track_ids, poses, roots, scores_h36m)
                yield FrameResult(obs.index, obs.index / info.fps, live.track_ids, live.keypoints_px, live.scores,
                                  poses, roots, live.detected, live.confirmed, obs.image_rgb, fitted)

    # --- whole videos ---------------------------------------------------------------------------

    def run(self, source: str | Path | FrameSource, outdir: str | Path, *, overlay: bool = True,
            progress: bool = False, max_frames: int | None = None, name: str | None = None,
            export: Iterable[str] = ()) -> RunSummary:
        """Process a whole input and write ``OUTDIR/<name>/`` (see the module docstring).

        An input that cannot be read raises `SourceError` (a ValueError)
        before anything is written; a failure later leaves no output folder.
        A webcam runs until ``max_frames`` or Ctrl-C, then writes what it saw.
        ``name``: the output folder's name instead of the input's (``monocap
        batch`` names outputs so that two inputs never share a folder).
        ``export``: formats of `monocap.export` ("bvh", "trc", "c3d", "csv")
        to write for every person, fitted to a skeleton, into the folder too.
        """
        start = time.perf_counter()
        if max_frames is not None and max_frames < 1:
            raise ValueError(f"max_frames must be at least 1, got {max_frames}")
        inp = self._open(source)
        info = inp.info
        intrinsics = self.camera.intrinsics(info.image_size)
        clock = StageClock()
        folder = Path(outdir) / (name or info.name)
        with staged_folder(folder) as stage:
            try:
                tracks, n_frames, segments = self._detect_and_track(inp, clock, progress, max_frames, self.segments)
            except SeekError as exc:
                log.info("%s; reading it again in one pass", exc)
                tracks, n_frames, segments = self._detect_and_track(inp, clock, progress, max_frames, 1)
            result = self._lift_tracks(tracks, n_frames, intrinsics, info, clock)
            people = None
            if self.skeleton:
                with clock("fit"):
                    people = fit_run(result)
                    result = with_skeletons(result, people)
            with clock("write"):
                written = result.write(stage)
            if export:
                with clock("export"):
                    written += export_run(result, stage, export, people=people)
            # The pictures show what was written, read back (with whatever else the npz holds, e.g. uncertainty).
            scene = Scene.load(stage)
            codec = None
            if overlay:
                codec = self._overlay(inp, scene, stage, clock, progress)
                if codec:
                    written.append(stage / OVERLAY_NAME)
            with clock("viewer"):
                written.append(write_viewer(scene, stage / VIEWER_NAME))
                written.append(write_report(scene, stage / REPORT_NAME))  # last: it links every file written
        return RunSummary(folder, tuple(folder / p.name for p in written), n_frames, len(tracks), codec, segments,
                          dict(clock.seconds), time.perf_counter() - start)

    def _detect_and_track(self, inp: _Input, clock: StageClock, progress: bool, max_frames: int | None,
                          segments: int) -> tuple[list[Track], int, int]:
        """The first pass: every frame through the 2D stage and the tracker.

        Returns the finished tracks, the frames seen and the segments read.
        """
        info = inp.info
        tracker = PoseTracker(min_length=self._min_length(info))
        total = info.frame_count if max_frames is None or info.frame_count is None else \
            min(max_frames, info.frame_count)
        n_frames = 0
        parts = [] if inp.frames is None else inp.frames.split(segments, max_frames, MIN_SEGMENT_FRAMES)
        bar = tqdm(total=total, disable=not progress, unit="frame", desc=f"{info.name}: 2D + tracking")
        lock = threading.Lock()  # segments report their progress from their own threads

        def detected() -> None:
            with lock:
                bar.update()
        with bar, closing(self._observe(inp, clock, max_frames, parts, detected)) as observations:
            try:
                for obs in observations:
                    with clock("track"):
                        tracker.update(obs.index, obs.detections)
                    n_frames += 1
            except KeyboardInterrupt:
                if not info.live:
                    raise
                log.info("%s: stopped after %d frames", info.path, n_frames)
        with clock("track"):
            tracks = tracker.finish()
        dropped = sum(tracker.dropped.values())
        if tracks and dropped:
            log.info("%s: %s", info.path, tracker.drop_summary())
        elif not tracks:
            why = f"nobody tracked for long enough ({tracker.drop_summary()})" if dropped else "nobody found"
            log.warning("%s: %s in %d frame(s); the output has zero tracks", info.path, why, n_frames)
        return tracks, n_frames, max(1, len(parts))

    def _lift_tracks(self, tracks: list[Track], n_frames: int, intrinsics: Intrinsics, info: SourceInfo,
                     clock: StageClock) -> RunResult:
        """Every whole track lifted (centred temporal lifter), rooted and smoothed, on the frames of the input;
        the backend's own 3D guesses, where it gives them, kept beside on H36M-17."""
        P, J2, J3 = len(tracks), len(COCO17), len(H36M17)
        poses = np.full((P, n_frames, J3, 3), np.nan, np.float32)
        roots = np.full((P, n_frames, 3), np.nan, np.float32)
        keypoints = np.full((P, n_frames, J2, 2), np.nan, np.float32)
        scores = np.zeros((P, n_frames, J2), np.float32)
        detected = np.zeros((P, n_frames), bool)
        hypotheses = np.full((self.hypotheses, P, n_frames, J3, 3), np.nan, np.float32) if self.sampler else None
        uncertainty = np.full((P, n_frames, J3), np.nan, np.float32) if self.sampler else None
        for p, track in enumerate(tracks):
            with clock("lift"):
                if self.sampler is not None:
                    lifted = self.sampler(track.keypoints_px, track.scores, intrinsics, COCO17.name,
                                          hypotheses=self.hypotheses, temporal=self.temporal, fps=info.fps)
                    hypotheses[:, p, track.frames], uncertainty[p, track.frames] = \
                        lifted.hypotheses_mm, lifted.uncertainty_mm
                else:
                    lifted = self.lifter(track.keypoints_px, track.scores, intrinsics, COCO17.name,
                                         temporal=self.temporal, fps=info.fps, flip_test=self.flip_test)
            with clock("root"):
                root = place_roots(lifted.poses3d_mm, track.keypoints_px, track.scores, intrinsics, COCO17.name,
                                   info.fps if self.smoothing else None)
            t = track.frames
            poses[p, t], roots[p, t] = lifted.poses3d_mm, root
            keypoints[p, t], scores[p, t], detected[p, t] = track.keypoints_px, track.scores, track.detected
        return RunResult(poses, roots, keypoints, scores, detected, np.array([t.track_id for t in tracks], np.int64),
                         info.fps, intrinsics, self.lifter.model_name,
                         str(self.lifter.info.get("licence", UNKNOWN_LICENCE)), self.temporal, self.smoothing,
                         info.path, self.backend, hypotheses, uncertainty, self.flip_test,
                         detector_poses3d_mm=_detector_poses(tracks, n_frames))

    def _overlay(self, inp: _Input, scene: Scene, stage: Path, clock: StageClock,
                 progress: bool) -> str | None:
        info = inp.info
        if inp.frames is None:
            log.info("%s: no overlay, keypoint files have no images", info.path)
            return None
        if info.live:
            log.info("%s: no overlay, a live source cannot be read a second time", info.path)
            return None
        with clock("overlay"):
            return write_overlay(inp.frames, scene, stage / OVERLAY_NAME, progress)

    # --- shared by both modes -------------------------------------------------------------------

    def _open(self, source: str | Path | FrameSource) -> _Input:
        """Open and check an input; raises `SourceError` (a ValueError) for one that cannot be used."""
        if isinstance(source, FrameSource):
            return _Input(source.info, frames=source)
        path = Path(source)
        if self.backend == "file":
            keypoints = read_keypoint_file(path, self.image_size)
            return _Input(_keypoint_file_info(path, keypoints, self.fps), keypoints=keypoints)
        if path.suffix.lower() in KEYPOINT_FILE_SUFFIXES and path.is_file():
            raise SourceError(f"{path}: looks like a keypoint file; read it with the file backend (--backend file)")
        frames = open_source(source, fps=self.fps)
        return _Input(frames.info, frames=frames)

    def _observe(self, inp: _Input, clock: StageClock, max_frames: int | None,
                 parts: list[FrameSource] | None = None, detected=lambda: None) -> Iterator[_Observation]:
        """Each frame's COCO-17 detections in order, from the 2D backend or the keypoint file.

        ``parts``: the source in segments (`FrameSource.split`) to detect at the
        same time; the frames then come without their images.
        ``detected()`` is called once per frame as soon as its detections exist
        (from the segments' threads, out of frame order).
        """
        if inp.keypoints is not None:
            for index, dets in islice(enumerate(inp.keypoints), max_frames):
                detected()
                yield _Observation(index, None, dets.to_coco17())
            return
        parts = parts or [inp.frames]
        # A source passed in may have been read before: count this pass only.
        before = sum(p.decode_seconds for p in parts), sum(p.wait_seconds for p in parts)
        with clock("start"):
            detectors = [create_detector(self.backend, **self.detector_options) for _ in parts]
        try:
            if len(parts) == 1:
                for frame in islice(inp.frames, max_frames):
                    with clock("2d"):
                        dets = detectors[0](frame.rgb).to_coco17()
                    detected()
                    yield _Observation(frame.index, frame.rgb, dets)
            else:
                yield from _detect_segments(parts, detectors, clock, detected)
        finally:
            for detector in detectors:
                detector.close()
            clock.seconds["decode"] += sum(p.decode_seconds for p in parts) - before[0]
            clock.seconds["decode_wait"] += sum(p.wait_seconds for p in parts) - before[1]

    def _min_length(self, info: SourceInfo) -> int:
        return min(self.min_track_frames, info.frame_count or self.min_track_frames)


def _detect_segments(parts: list[FrameSource], detectors: list, clock: StageClock,
                     detected) -> Iterator[_Observation]:
    """The frames of each part through its own detector on its own thread; their detections in frame order.

    Every part but the last ends with the next part's first frame, which is
    not detected, only compared (`fingerprint`) with that part's first frame:
    `SeekError` if they differ. Each part's thread calls ``detected()`` after each of its detections.
    """
    done = object()
    stop = threading.Event()
    results = [queue.Queue() for _ in parts]  # unbounded: detections are small, and each part runs at full speed

    def work(part: FrameSource, detect, out: queue.Queue) -> None:
        try:
            with closing(iter(part)) as frames:
                for frame in frames:
                    if stop.is_set():
                        return
                    last = part.stop is not None and part is not parts[-1] and frame.index == part.stop - 1
                    first = frame.index == part.start and part is not parts[0]
                    digest = fingerprint(frame.rgb) if first or last else None
                    out.put((frame.index, digest, None if last else detect(frame.rgb).to_coco17()))
                    if not last:
                        detected()
            out.put(done)
        except BaseException as exc:  # handed to the consumer, who raises it
            out.put(exc)

    threads = [threading.Thread(target=work, args=args, name=f"monocap-2d-{k}", daemon=True)
               for k, args in enumerate(zip(parts, detectors, results))]
    for thread in threads:
        thread.start()
    try:
        expected = None  # the fingerprint of the next part's first frame, as reading through found it
        for part, out in zip(parts, results):
            while True:
                with clock("2d"):
                    item = out.get()
                if item is done:
                    break
                if isinstance(item, BaseException):
                    raise item
                index, digest, dets = item
                if dets is None:
                    expected = digest
                    continue
                if index == part.start and part is not parts[0] and digest != expected:
                    raise SeekError(f"{part.info.path}: seeking to frame {index} found another frame than reading "
                                    "through does")
                yield _Observation(index, None, dets)
    finally:
        stop.set()
        for thread in threads:
            thread.join()


class _CausalLift:
    """Every live track lifted each frame from past frames (`CausalLifter`, or frame by frame with
    ``temporal`` False), its root placed in the camera and, with ``smoothing``, filtered forwards."""

    def __init__(self, lifter: Lifter, intrinsics: Intrinsics, fps: float, temporal: bool, smoothing: bool,
                 flip_test: bool):
        self.lifter = lifter
        self.intrinsics = intrinsics
        self.fps = fps
        self.smoothing = smoothing
        self.flip_test = flip_test
        self.stream = CausalLifter(lifter, intrinsics, fps, flip_test) if temporal else None
        self._filters: dict[int, OneEuroFilter] = {}

    def __call__(self, live: LivePoses) -> tuple[np.ndarray, np.ndarray]:
        """(K, 17, 3) poses and (K, 3) roots, mm, of the live tracks."""
        ids = live.track_ids.tolist()
        for gone in self._filters.keys() - set(ids):
            del self._filters[gone]
        if self.stream is not None:
            poses = self.stream(ids, live.keypoints_px, live.scores, COCO17.name).poses3d_mm
        else:
            poses = self.lifter(live.keypoints_px, live.scores, self.intrinsics, COCO17.name, temporal=False,
                                flip_test=self.flip_test).poses3d_mm
        if not ids:
            return np.zeros((0, len(H36M17), 3), np.float32), np.zeros((0, 3), np.float32)
        roots = place_roots(poses, live.keypoints_px, live.scores, self.intrinsics, COCO17.name)
        if self.smoothing:
            roots = np.stack([self._filters.setdefault(track_id, OneEuroFilter(self.fps, **ROOT_FILTER))(root)
                              for track_id, root in zip(ids, roots)])
        return poses.astype(np.float32), roots.astype(np.float32)


def _detector_poses(tracks: list[Track], n_frames: int) -> np.ndarray | None:
    """(P, T, 17, 3) mm, H36M-17, pelvis-relative: the backend's 3D guesses per track; None if it gave none."""
    if not tracks or tracks[0].points3d_mm is None:
        return None
    coco = np.full((len(tracks), n_frames, len(COCO17), 3), np.nan, np.float32)
    for p, track in enumerate(tracks):
        coco[p, track.frames] = track.points3d_mm
    poses, _ = coco17_to_h36m17(coco)
    return poses - poses[..., :1, :]


def _keypoint_file_info(path: Path, track: KeypointTrack, fps: float | None) -> SourceInfo:
    """A keypoint file as an input: one camera, so every frame must have the same image size."""
    if not len(track):
        raise SourceError(f"{path}: no frames in this keypoint file")
    sizes = {dets.image_size for dets in track}
    if len(sizes) > 1:
        first = track[0].image_size
        index = next(i for i, dets in enumerate(track) if dets.image_size != first)
        raise SourceError(f"{path}: frame {track.frame_names[index]} is {track[index].image_size[0]}x"
                          f"{track[index].image_size[1]} pixels but frame {track.frame_names[0]} is "
                          f"{first[0]}x{first[1]}; one input is one camera, so pass one image size "
                          "(--image-size W,H) or split the file")
    width, height = track[0].image_size
    return SourceInfo(path.stem if path.is_file() else path.resolve().name, str(path), "keypoints", (width, height),
                      fps or track.fps or DEFAULT_FPS, len(track))
