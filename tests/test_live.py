"""`monocap live` with a real video file as the camera: real-time pacing, frame skipping, recording, latency."""
from __future__ import annotations

import re
import time
from dataclasses import replace

import numpy as np
import pytest

av = pytest.importorskip("av")
pytest.importorskip("cv2")
pytest.importorskip("mediapipe")

from monocap.cli import main  # noqa: E402
from monocap.io.video import open_source  # noqa: E402
from monocap.run import Pipeline  # noqa: E402
from monocap.run.live import LiveRenderer, LiveSource  # noqa: E402
from monocap.viz.overlay import Canvas  # noqa: E402


@pytest.fixture(scope="module")
def clip(shared_data):
    return shared_data / "media" / "short_5frames.mp4"  # 5 frames at 5 fps, 960x540, one person


def test_a_file_plays_at_its_frame_rate(clip):
    live = LiveSource(open_source(clip))
    start = time.perf_counter()
    frames = [(frame.index, live.captured_at[frame.index]) for frame in live]
    assert [index for index, _ in frames] == [0, 1, 2, 3, 4] and live.skipped == 0
    # Frame i is captured i / 5 s after the first, never earlier (the grabbing thread sleeps until then).
    offsets = np.array([captured for _, captured in frames]) - frames[0][1]
    # Never earlier; later only by what decoding on a busy machine costs (not a frame interval per frame).
    assert (offsets >= np.arange(5) * 0.2 - 1e-3).all() and offsets[-1] < 0.8 + 0.5
    assert frames[0][1] - start < 2.0
    with pytest.raises(ValueError, match="read only once"):
        iter(live)


def test_a_slow_consumer_gets_the_newest_frame_and_skips_the_rest(clip):
    live = LiveSource(open_source(clip))
    indices = []
    for frame in live:
        indices.append(frame.index)
        time.sleep(0.45)  # slower than the 0.2 s between frames
    assert indices[0] == 0 and indices[-1] == 4 and len(indices) < 5, "the last frame is never dropped"
    assert indices == sorted(set(indices)), indices
    assert live.skipped == 5 - len(indices)


def test_skeleton_option_draws_the_live_skeletons_in_the_3d_view(clip, random_weights, capsys):
    last = list(Pipeline("mediapipe", random_weights).stream(clip, skeletons=True))[-1]
    assert last.skeletons is not None and np.isfinite(last.skeletons.joints_cam_mm).all()
    canvases = [LiveRenderer((960, 540), 5.0)(r).copy() for r in (last, replace(last, skeletons=None))]
    split = canvases[0].shape[1] // 2
    np.testing.assert_array_equal(canvases[0][:, :split], canvases[1][:, :split])  # the frame and its 2D
    assert np.abs(canvases[0][:, split:].astype(int) - canvases[1][:, split:]).sum() > 0  # another 3D pose
    assert main(["live", "--camera", str(clip), "--no-window", "--skeleton", "--model", str(random_weights),
                 "-q"]) == 0
    assert "frames processed" in capsys.readouterr().out


def test_live_records_h264_and_prints_the_latency(clip, random_weights, tmp_path, capsys):
    record = tmp_path / "take.mp4"
    assert main(["live", "--camera", str(clip), "--no-window", "--record", str(record), "--model",
                 str(random_weights), "-q"]) == 0
    out = capsys.readouterr().out
    found = re.search(r"(\d+) frames processed, (\d+) skipped.*latency capture → 3D: first frame (\d+) ms", out)
    assert found, out
    processed, skipped = int(found.group(1)), int(found.group(2))
    assert processed >= 1 and processed + skipped == 5
    with av.open(str(record)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = list(container.decode(stream))
    assert len(frames) == processed and (frames[0].width, frames[0].height) == Canvas.for_image((960, 540)).size
    # Each picture is shown at its capture time: the last one processed is the clip's last frame, at 0.8 s.
    assert frames[-1].time == pytest.approx(0.8, abs=0.01)
    assert [p.name for p in tmp_path.iterdir()] == ["take.mp4"], "no temporary file left"


@pytest.mark.parametrize("args, message", [
    (["--camera", "missing.mp4"], "missing.mp4: no such file or folder"),
    (["--camera", "7"], "webcam:7: cannot open camera 7"),
    (["--record", "take.avi"], "take.avi: the recording is an H.264 .mp4 file; give it that suffix"),
])
def test_bad_input_is_one_line(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["live", "--no-window", "-q", *args]) == 2
    lines = [line for line in capsys.readouterr().err.strip().splitlines() if line.startswith("monocap")]
    assert lines == [f"monocap live: error: {message}"]
    assert list(tmp_path.iterdir()) == []
