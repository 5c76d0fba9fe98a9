"""Frame sources: a video file, an image, a folder of images or a webcam, decoded on a background thread.

    source = open_source("clip.mp4")        # or "photo.jpg", "frames/", "webcam:0"
    source.info.image_size, source.info.fps, source.info.frame_count
    for frame in source:                    # Frame(index, rgb): rgb (H, W, 3) uint8
        ...

`open_source` checks the input before anything is done with it and raises
`SourceError` (a ValueError), one line that names the file: no such path,
an empty folder, a zero-byte file, a file that is not a readable video or
image. Problems found only while reading (a video that ends early because
the file was cut short, an image of another size than the first) raise the
same error from the loop.

Decoding runs on a background thread and hands frames over through a queue
of `PREFETCH` frames, so that it overlaps the work done on each frame
(OpenCV releases the GIL while it decodes) and only those few decoded
frames are ever held. Iterating again reads the source again from the start
(a webcam can be read once). `FrameSource.split` cuts a video file or an
image folder into stretches of consecutive frames that can be read at the
same time, each from its own position (a video seeks there).

A folder of images is one camera's frames in natural name order
(frame_2 before frame_10), so every image must have the same size; it plays
at ``fps`` (default 30), as does a single image.
"""
from __future__ import annotations

import hashlib
import os
import queue
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

import cv2
import numpy as np

from ..detect2d.files import _natural_key

PREFETCH = 4  # decoded frames queued ahead of their use: 21 MB at 1768x994
DEFAULT_FPS = 30.0  # for images, and for videos and webcams that do not say
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
WEBCAM = re.compile(r"webcam:(\d+)")
# A video may end this many frames (at least 2, or this fraction of its frame count) before the count its
# container declares: some containers estimate the count from the duration. Ending earlier means a damaged file.
TRUNCATION_SLACK_FRAMES = 2
TRUNCATION_SLACK_FRACTION = 0.02


# FFmpeg inside OpenCV logs its own lines about broken files ("moov atom not found") to stderr; problems are
# reported here as one SourceError instead. setdefault leaves a user's own choice alone.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


class SourceError(ValueError):
    """The input cannot be read; the message is one line that starts with the file's name."""


class SeekError(SourceError):
    """A source could not start reading at a frame, or found another frame there than reading through does."""


class Frame(NamedTuple):
    """One decoded frame: its index from 0 and the image, (H, W, 3) uint8 RGB."""

    index: int
    rgb: np.ndarray


@dataclass(frozen=True)
class SourceInfo:
    """What a source is, known before its first frame is used.

    name: the output name (the file or folder name without suffix, "webcam0").
    path: the input as given.
    kind: "video", "image", "images" (a folder) or "webcam".
    image_size: (width, height) in pixels, the same for every frame.
    fps: frames per second.
    frame_count: frames the source declares; None for a webcam.
    live: True when the source can be read only once (a webcam).
    """

    name: str
    path: str
    kind: str
    image_size: tuple[int, int]
    fps: float
    frame_count: int | None
    live: bool = False


class FrameSource:
    """Frames of one source, decoded ahead on a background thread; iterate for `Frame`s.

    read: ``read(start, stop)`` returns a fresh iterator over the frames from
        index ``start`` to before ``stop`` (None: to the end) as RGB arrays;
        it runs on the background thread, once per iteration of the source.
    seekable: ``read`` can start at any frame (a video file, images); a
        webcam starts where it is.
    start, stop: the frames this source covers (`split` makes sources of part of the frames).
    decode_seconds: time the background thread has spent in ``read``'s
        iterators so far (decoding and colour conversion).
    wait_seconds: time the consumer has spent waiting for a decoded frame.
    """

    def __init__(self, info: SourceInfo, read: Callable[[int, int | None], Iterator[np.ndarray]],
                 prefetch: int = PREFETCH, seekable: bool = False, start: int = 0, stop: int | None = None):
        self.info = info
        self.read = read
        self.prefetch = prefetch
        self.seekable = seekable
        self.start = start
        self.stop = stop
        self.decode_seconds = 0.0
        self.wait_seconds = 0.0
        self._reads = 0

    def __iter__(self) -> Iterator[Frame]:
        if self.info.live and self._reads:
            raise SourceError(f"{self.info.path}: a live source can be read only once")
        self._reads += 1
        return (Frame(self.start + i, rgb) for i, rgb in enumerate(self._prefetched()))

    def split(self, parts: int, stop: int | None = None, min_frames: int = 1) -> list["FrameSource"]:
        """Up to ``parts`` sources over consecutive stretches of frames 0 to before ``stop`` (None: the end).

        Each stretch gets at least ``min_frames``; where the source cannot seek
        or does not know its length, the answer is ``[self]`` (all frames, ``stop``
        not applied). Every stretch but the last also reads the next one's first
        frame, so that a caller can check that seeking found the frame that
        reading through finds there (`fingerprint`): a video with irregular
        timestamps may number its frames differently when it seeks.
        """
        count = self.info.frame_count
        total = count if stop is None or count is None else min(stop, count)
        if not self.seekable or total is None or self.start or self.stop is not None:
            return [self]
        n = max(1, min(parts, total // max(min_frames, 1)))
        if n == 1:
            return [self]
        edges = [round(total * i / n) for i in range(n + 1)]
        return [FrameSource(self.info, self.read, self.prefetch, True, edges[i], edges[i + 1] + 1)
                for i in range(n - 1)] + [FrameSource(self.info, self.read, self.prefetch, True, edges[-2], stop)]

    def _prefetched(self) -> Iterator[np.ndarray]:
        """``read``'s frames through a bounded queue filled by a background thread."""
        handover: queue.Queue = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()
        end = object()

        def put(item) -> None:
            # Time out now and then so that a consumer who stops early never leaves the thread blocked.
            while not stop.is_set():
                try:
                    handover.put(item, timeout=0.1)
                    return
                except queue.Full:
                    continue

        def work() -> None:
            frames = self.read(self.start, self.stop)
            try:
                while not stop.is_set():
                    start = time.perf_counter()
                    try:
                        rgb = next(frames)
                    except StopIteration:
                        break
                    finally:
                        self.decode_seconds += time.perf_counter() - start
                    put(rgb)
                put(end)
            except Exception as exc:  # handed to the consumer, who raises it
                put(exc)
            finally:
                close = getattr(frames, "close", None)
                if close is not None:
                    close()

        thread = threading.Thread(target=work, name="monocap-decode", daemon=True)
        thread.start()
        try:
            while True:
                start = time.perf_counter()
                item = handover.get()
                self.wait_seconds += time.perf_counter() - start
                if item is end:
                    return
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            stop.set()
            thread.join()


def open_source(spec: str | Path, fps: float | None = None, prefetch: int = PREFETCH) -> FrameSource:
    """The `FrameSource` for a video file, an image, a folder of images or ``"webcam:N"``.

    fps: the frame rate of images (default 30); for a video or webcam it
    replaces the rate the source declares. Raises `SourceError` for an input
    that cannot be read.
    """
    if fps is not None and not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    text = str(spec)
    webcam = WEBCAM.fullmatch(text)
    if webcam:
        return _open_webcam(int(webcam.group(1)), fps, prefetch)
    path = Path(spec)
    if path.is_dir():
        return _open_folder(path, fps, prefetch)
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    if not path.is_file():
        raise SourceError(f"{path}: not a file or folder")
    if path.stat().st_size == 0:
        raise SourceError(f"{path}: empty file (0 bytes)")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return _open_image(path, fps, prefetch)
    return _open_video(path, fps, prefetch)


# --- video files and webcams -------------------------------------------------------------------

def _open_video(path: Path, fps: float | None, prefetch: int) -> FrameSource:
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise SourceError(f"{path}: not a readable video (unknown format, or a damaged or truncated file)")
        ok, first = capture.read()
        if not ok:
            raise SourceError(f"{path}: no frame could be decoded (damaged or truncated file)")
        declared_fps = capture.get(cv2.CAP_PROP_FPS)
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()
    height, width = first.shape[:2]
    info = SourceInfo(path.stem, str(path), "video", (width, height), fps or _valid_fps(declared_fps),
                      count if count > 0 else None)

    def read(start: int, stop: int | None) -> Iterator[np.ndarray]:
        capture = cv2.VideoCapture(str(path))
        # OpenCV seeks by timestamp and decodes on from the keyframe before: exact where frames are evenly timed.
        if start and not capture.set(cv2.CAP_PROP_POS_FRAMES, start):
            capture.release()
            raise SeekError(f"{path}: cannot seek to frame {start}")
        index = start
        try:
            while stop is None or index < stop:
                ok, bgr = capture.read()
                if not ok:
                    break
                _check_size(path, bgr, info.image_size, f"frame {index}")
                index += 1
                yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        finally:
            capture.release()
        if info.frame_count is not None:
            slack = max(TRUNCATION_SLACK_FRAMES, int(TRUNCATION_SLACK_FRACTION * info.frame_count))
            if index < min(info.frame_count - slack, stop if stop is not None else info.frame_count):
                raise SourceError(f"{path}: the video ends after {index} of its {info.frame_count} frames "
                                  "(truncated or damaged file)")

    return FrameSource(info, read, prefetch, seekable=True)


def _open_webcam(device: int, fps: float | None, prefetch: int) -> FrameSource:
    spec = f"webcam:{device}"
    # OpenCV logs a failed camera open itself; the SourceError below says it in one line.
    level = cv2.getLogLevel()
    cv2.setLogLevel(0)  # silent
    try:
        capture = cv2.VideoCapture(device)
    finally:
        cv2.setLogLevel(level)
    if not capture.isOpened():
        capture.release()
        raise SourceError(f"{spec}: cannot open camera {device}")
    ok, first = capture.read()
    if not ok:
        capture.release()
        raise SourceError(f"{spec}: camera {device} gives no frames")
    height, width = first.shape[:2]
    info = SourceInfo(f"webcam{device}", spec, "webcam", (width, height),
                      fps or _valid_fps(capture.get(cv2.CAP_PROP_FPS)), None, live=True)

    def read(start: int, stop: int | None) -> Iterator[np.ndarray]:
        # The capture stays open from the check to the reading: reopening a camera is slow and may fail.
        try:
            yield cv2.cvtColor(first, cv2.COLOR_BGR2RGB)
            while True:
                ok, bgr = capture.read()
                if not ok:
                    return
                yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        finally:
            capture.release()

    return FrameSource(info, read, prefetch)


def _valid_fps(declared: float) -> float:
    return float(declared) if np.isfinite(declared) and 0 < declared < 1000 else DEFAULT_FPS


# --- images ------------------------------------------------------------------------------------

def _open_image(path: Path, fps: float | None, prefetch: int) -> FrameSource:
    first = _read_image(path)
    info = SourceInfo(path.stem, str(path), "image", (first.shape[1], first.shape[0]), fps or DEFAULT_FPS, 1)
    return FrameSource(info, lambda start, stop: iter([cv2.cvtColor(_read_image(path), cv2.COLOR_BGR2RGB)]),
                       prefetch)


def _open_folder(folder: Path, fps: float | None, prefetch: int) -> FrameSource:
    files = sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
                   key=lambda p: _natural_key(p.name))
    if not files:
        raise SourceError(f"{folder}: no images in this folder (looked for {', '.join(IMAGE_SUFFIXES)})")
    first = _read_image(files[0])
    size = (first.shape[1], first.shape[0])
    info = SourceInfo(folder.resolve().name, str(folder), "images", size, fps or DEFAULT_FPS, len(files))

    def read(start: int, stop: int | None) -> Iterator[np.ndarray]:
        for file in files[start:stop]:
            bgr = _read_image(file)
            _check_size(file, bgr, size, f"the first image ({files[0].name})")
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    return FrameSource(info, read, prefetch, seekable=True)


def _read_image(path: Path) -> np.ndarray:
    if path.stat().st_size == 0:
        raise SourceError(f"{path}: empty file (0 bytes)")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SourceError(f"{path}: not a readable image")
    return bgr


def _check_size(path: Path, image: np.ndarray, size: tuple[int, int], reference: str) -> None:
    height, width = image.shape[:2]
    if (width, height) != size:
        raise SourceError(f"{path}: {width}x{height} pixels, but {reference} is {size[0]}x{size[1]}; the frames "
                          "of one input come from one camera and must all have the same size")


def fingerprint(rgb: np.ndarray) -> bytes:
    """A short digest of a frame's pixels (every 8th row and column): equal for the same decoded frame."""
    return hashlib.blake2b(np.ascontiguousarray(rgb[::8, ::8]).tobytes(), digest_size=16).digest()
