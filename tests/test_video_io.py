"""Frame sources on real media: videos, images, folders, and every kind of bad input."""
from itertools import islice
from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from monocap.io.video import FrameSource, SourceError, SourceInfo, fingerprint, open_source  # noqa: E402


@pytest.fixture(scope="module")
def media(shared_data) -> Path:
    return shared_data / "media"


def test_video_frames_are_rgb_in_order_and_can_be_read_again(media):
    source = open_source(media / "short_5frames.mp4")
    assert source.info == SourceInfo("short_5frames", str(media / "short_5frames.mp4"), "video", (960, 540), 5.0, 5)
    frames = list(source)
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    assert all(f.rgb.shape == (540, 960, 3) and f.rgb.dtype == np.uint8 for f in frames)
    capture = cv2.VideoCapture(str(media / "short_5frames.mp4"))
    _, bgr = capture.read()
    np.testing.assert_array_equal(frames[0].rgb, bgr[..., ::-1])
    assert source.decode_seconds > 0
    again = list(source)
    np.testing.assert_array_equal(again[4].rgb, frames[4].rgb)


def test_stopping_early_ends_the_decoding_thread(media):
    source = open_source(media / "demo.mp4", prefetch=2)
    assert [f.index for f in islice(source, 3)] == [0, 1, 2]
    assert [f.index for f in islice(source, 2)] == [0, 1]


def test_a_single_image_is_one_frame(media):
    source = open_source(media / "coco" / "000000000785.jpg", fps=10)
    assert source.info.kind == "image" and source.info.image_size == (640, 425) and source.info.fps == 10
    assert [f.rgb.shape for f in source] == [(425, 640, 3)]


def test_a_folder_of_frames_plays_in_natural_order(media, tmp_path):
    capture = cv2.VideoCapture(str(media / "short_5frames.mp4"))
    for name in ("frame_10.png", "frame_2.png", "frame_1.png"):
        _, bgr = capture.read()
        bgr[0, 0] = int(name.split("_")[1].split(".")[0])  # a marker that survives PNG
        cv2.imwrite(str(tmp_path / name), bgr)
    (tmp_path / "notes.txt").write_text("not an image")
    source = open_source(tmp_path)
    assert source.info.kind == "images" and source.info.frame_count == 3 and source.info.fps == 30.0
    assert [int(f.rgb[0, 0, 0]) for f in source] == [1, 2, 10]


def test_images_of_mixed_size_are_refused_naming_the_image(media, tmp_path):
    for image in sorted((media / "coco").glob("*.jpg")):
        (tmp_path / image.name).symlink_to(image)
    source = open_source(tmp_path)
    with pytest.raises(SourceError, match=r"000000040083\.jpg: 500x333 pixels, but the first image "
                                          r"\(000000000785\.jpg\) is 640x425"):
        list(source)


def _bad_inputs(media: Path, tmp: Path) -> dict[str, tuple[Path, str]]:
    """Bad input → (path, what the error says), all made from real files."""
    (tmp / "empty").mkdir()
    (tmp / "zero.mp4").write_bytes(b"")
    (tmp / "text.mp4").write_text("this is not a video\n")
    data = (media / "short_5frames.mp4").read_bytes()
    (tmp / "half_short.mp4").write_bytes(data[:len(data) // 2])  # its index sits at the end: cut off
    return {
        "missing": (tmp / "missing.mp4", "no such file or folder"),
        "empty folder": (tmp / "empty", "no images in this folder"),
        "zero bytes": (tmp / "zero.mp4", r"empty file \(0 bytes\)"),
        "text": (tmp / "text.mp4", "not a readable video"),
        "truncated": (tmp / "half_short.mp4", "not a readable video"),
    }


@pytest.mark.parametrize("case", ["missing", "empty folder", "zero bytes", "text", "truncated"])
def test_bad_inputs_fail_when_opened(media, tmp_path, case):
    path, message = _bad_inputs(media, tmp_path)[case]
    with pytest.raises(SourceError, match=message) as err:
        open_source(path)
    assert str(err.value).startswith(f"{path}: ") and "\n" not in str(err.value)


def test_a_video_cut_short_fails_where_it_ends(media, tmp_path):
    data = (media / "demo.mp4").read_bytes()
    half = tmp_path / "half_demo.mp4"
    half.write_bytes(data[:len(data) // 2])  # its index is at the front, so it opens
    source = open_source(half)
    assert source.info.frame_count == 230
    with pytest.raises(SourceError, match=r"half_demo\.mp4: the video ends after \d+ of its 230 frames"):
        for _ in source:
            pass


def test_a_missing_webcam_fails_in_one_line():
    with pytest.raises(SourceError, match="^webcam:97: cannot open camera 97$"):
        open_source("webcam:97")


def test_errors_while_reading_reach_the_consumer():
    def read(start, stop):
        yield np.zeros((2, 2, 3), np.uint8)
        raise SourceError("clip.mp4: broken")

    source = FrameSource(SourceInfo("clip", "clip.mp4", "video", (2, 2), 30.0, 2), read)
    frames = iter(source)
    assert next(frames).index == 0
    with pytest.raises(SourceError, match="broken"):
        next(frames)


# --- reading in segments ----------------------------------------------------------------------

def test_segments_of_a_video_seek_to_the_frames_reading_through_finds(media):
    source = open_source(media / "demo.mp4")
    through = [fingerprint(f.rgb) for f in source]
    parts = source.split(3, min_frames=60)
    assert [(p.start, p.stop) for p in parts] == [(0, 78), (77, 154), (153, None)]
    for part in parts:
        frames = list(part)
        assert [f.index for f in frames] == list(range(part.start, part.stop or len(through)))
        assert [fingerprint(f.rgb) for f in frames] == through[part.start:part.stop]
    assert len(source.split(4, min_frames=100)) == 2, "each part at least min_frames long"
    assert [(p.start, p.stop) for p in source.split(2, stop=130, min_frames=60)] == [(0, 66), (65, 130)]
    assert source.split(2, stop=100, min_frames=60) == [source]


def test_image_folders_split_and_webcams_do_not(media, tmp_path):
    photo = cv2.imread(str(media / "coco" / "000000000785.jpg"))
    for i in range(5):
        cv2.imwrite(str(tmp_path / f"frame_{i}.png"), np.roll(photo, 40 * i, axis=1))
    source = open_source(tmp_path)
    through = [fingerprint(f.rgb) for f in source]
    first, second = source.split(2, min_frames=2)
    assert [f.index for f in first] == [0, 1, 2] and [f.index for f in second] == [2, 3, 4]
    assert [fingerprint(f.rgb) for f in list(first) + list(second)] == through[:3] + through[2:]
    live = FrameSource(SourceInfo("webcam0", "webcam:0", "webcam", (2, 2), 30.0, None, live=True), None)
    assert live.split(2) == [live]
