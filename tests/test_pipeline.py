"""`monocap run` and `Pipeline` end to end on real video: outputs, bad inputs, streaming, camera options.

The lifter here has throwaway random weights (shapes only): these tests
check what is written and how, not how accurate it is.
"""
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")
pytest.importorskip("mediapipe")

from monocap import Pipeline  # noqa: E402
from monocap.cli import main  # noqa: E402
from monocap.eval.bench_speed import repeated  # noqa: E402
from monocap.eval.metrics import mpjpe  # noqa: E402
from monocap.io.results import RunResult, staged_folder  # noqa: E402
from monocap.io.video import FrameSource, SeekError, fingerprint, open_source  # noqa: E402
from monocap.lift.lifter import Lifter  # noqa: E402
from monocap.run import CameraSpec  # noqa: E402
from monocap.skeleton import COCO17, H36M17, bone_lengths  # noqa: E402

# The `monocap lift` output contract, which poses3d.npz extends.
LIFT_CONTRACT_KEYS = {"poses3d", "joint_names", "root_cam_mm", "focal", "center", "image_size", "model", "licence",
                      "temporal", "causal", "flip_test", "fps"}
RUN_KEYS = {"keypoints2d", "scores", "detected", "keypoint_names", "track_ids", "dist", "smoothed", "source",
            "backend"}


@pytest.fixture(scope="module")
def media(shared_data) -> Path:
    return shared_data / "media"


@pytest.fixture(scope="module")
def demo_cut(media, tmp_path_factory) -> Path:
    """The first 30 frames of demo.mp4 (1768x994, 30 fps), cut with OpenCV."""
    path = tmp_path_factory.mktemp("cut") / "demo30.mp4"
    _write_video(path, [frame for _, frame in zip(range(30), _frames(media / "demo.mp4"))], 30.0)
    return path


@pytest.fixture(scope="module")
def demo_run(demo_cut, random_weights, tmp_path_factory):
    """`Pipeline.run` on the 30-frame cut: (summary, output folder)."""
    summary = Pipeline("mediapipe", random_weights).run(demo_cut, tmp_path_factory.mktemp("out"))
    return summary


def _frames(path: Path):
    capture = cv2.VideoCapture(str(path))
    while True:
        ok, bgr = capture.read()
        if not ok:
            return
        yield bgr


def _write_video(path: Path, frames_bgr, fps: float) -> None:
    height, width = frames_bgr[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for frame in frames_bgr:
        writer.write(frame)
    writer.release()


def check_output(folder: Path, n_frames: int, overlay: bool = True) -> dict:
    """Everything `monocap run` promises about OUTDIR/<name>/; returns the npz arrays."""
    with np.load(folder / "poses3d.npz") as data:
        npz = {k: data[k] for k in data.files}
    assert LIFT_CONTRACT_KEYS | RUN_KEYS <= npz.keys()
    P = len(npz["track_ids"])
    assert npz["poses3d"].shape == (P, n_frames, 17, 3) and npz["poses3d"].dtype == np.float32
    assert npz["root_cam_mm"].shape == (P, n_frames, 3)
    assert npz["keypoints2d"].shape == (P, n_frames, 17, 2) and npz["scores"].shape == (P, n_frames, 17)
    assert npz["detected"].shape == (P, n_frames)
    assert tuple(npz["joint_names"]) == H36M17.joints and tuple(npz["keypoint_names"]) == COCO17.joints
    assert not npz["causal"] and npz["fps"] > 0
    assert bool(npz["flip_test"]) == ("hypotheses" not in npz)  # `run` averages in the mirror image by default
    present = np.isfinite(npz["keypoints2d"]).all(axis=(-2, -1))
    assert not np.isfinite(npz["poses3d"][~present]).any() and not np.isfinite(npz["root_cam_mm"][~present]).any()
    assert (npz["scores"][~present] == 0).all() and not (npz["detected"] & ~present).any()
    assert present.any(axis=1).all(), "every track is present somewhere"

    doc = json.loads((folder / "poses3d.json").read_text())
    assert doc["format"] == "monocap.poses3d" and doc["frame_count"] == n_frames
    assert doc["flip_test"] == bool(npz["flip_test"])
    assert doc["joint_names"] == list(H36M17.joints)
    assert "x right, y down, z forward" in doc["coordinate_frames"]["camera"]
    assert doc["camera"]["fx"] == pytest.approx(npz["focal"][0]) and doc["fps"] == pytest.approx(float(npz["fps"]))
    assert [p["track_id"] for p in doc["people"]] == npz["track_ids"].tolist()
    for p, person in enumerate(doc["people"]):
        assert [f["frame"] for f in person["frames"]] == np.flatnonzero(present[p]).tolist()
        for entry in person["frames"]:
            t = entry["frame"]
            np.testing.assert_allclose(entry["keypoints_px"], npz["keypoints2d"][p, t], atol=0.006)
            np.testing.assert_allclose(entry["scores"], npz["scores"][p, t], atol=0.0006)
            assert entry["detected"] == bool(npz["detected"][p, t])
            for key, npz_key in (("poses3d_mm", "poses3d"), ("root_cam_mm", "root_cam_mm")):
                if entry[key] is None:
                    assert not np.isfinite(npz[npz_key][p, t]).all()
                else:
                    np.testing.assert_allclose(entry[key], npz[npz_key][p, t], atol=0.051)

    assert (folder / "overlay.mp4").exists() == overlay
    if overlay:
        assert sum(1 for _ in _frames(folder / "overlay.mp4")) == n_frames
    assert sorted(p.name for p in folder.iterdir()) == sorted(["poses3d.npz", "poses3d.json", "viewer.html",
                                                             "report.html"] + ["overlay.mp4"] * overlay)
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")], "no temporary folders left"
    return npz


# --- whole videos ---------------------------------------------------------------------------------

def test_run_on_five_frames_writes_the_contract(media, random_weights, tmp_path, capsys):
    assert main(["run", str(media / "short_5frames.mp4"), "-o", str(tmp_path), "--model", str(random_weights),
                 "-q"]) == 0
    npz = check_output(tmp_path / "short_5frames", 5)
    assert len(npz["track_ids"]) == 1, "one person in the clip, kept although the clip is shorter than 10 frames"
    assert npz["detected"].all() and npz["fps"] == 5.0
    assert tuple(npz["image_size"]) == (960, 540) and str(npz["backend"]) == "mediapipe"
    assert capsys.readouterr().out == ""


def test_run_on_a_demo_cut_tracks_the_person_found(demo_run):
    npz = check_output(demo_run.folder, 30)
    assert demo_run.frames == 30 and demo_run.tracks == len(npz["track_ids"]) >= 1
    assert demo_run.overlay_codec in ("H.264", "MPEG-4 Part 2 (mp4v)")
    # MediaPipe misses a few of the first frames of this clip; the person is found in most.
    assert npz["detected"].any(axis=0).mean() > 0.6
    lifted = np.isfinite(npz["poses3d"]).all(axis=(-2, -1))
    assert lifted[npz["detected"]].mean() > 0.9
    assert np.isfinite(npz["root_cam_mm"][lifted]).all()
    assert {"decode", "2d", "track", "lift", "root", "write", "overlay"} <= demo_run.seconds.keys()


def test_max_people_tracks_both_people_of_the_demo(media, random_weights, tmp_path, capsys):
    """demo.mp4's first 90 frames: the walker comes in at about frame 40 and gets a track beside the jumper's."""
    assert main(["run", str(media / "demo.mp4"), "-o", str(tmp_path), "--model", str(random_weights),
                 "--max-people", "2", "--max-frames", "90", "--no-overlay", "-q"]) == 0
    npz = check_output(tmp_path / "demo", 90, overlay=False)
    together = npz["detected"].sum(axis=0)
    assert together.max() == 2 and (together[50:] == 2).mean() > 0.9, together
    assert main(["run", str(media / "demo.mp4"), "-o", str(tmp_path / "rtmo"), "--backend", "rtmpose",
                 "--max-people", "2", "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert "max_people is for the mediapipe backend" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "rtmo").exists()


def test_skeleton_writes_fitted_joints_and_exports_the_same_fit(media, tmp_path):
    """--skeleton on demo.mp4's first 40 frames with the shipped model: constant bones in npz and json, one fit."""
    assert main(["run", str(media / "demo.mp4"), "-o", str(tmp_path), "--skeleton", "--export", "bvh",
                 "--max-frames", "40", "--no-overlay", "-q"]) == 0
    folder = tmp_path / "demo"
    result = RunResult.load(folder)
    assert result.skeleton and result.bone_lengths_mm.shape == (len(result.track_ids), 16)
    for p in range(len(result.track_ids)):
        lifted = np.isfinite(result.poses3d_mm[p]).all(axis=(-2, -1))
        assert lifted.sum() > 10 and np.all(result.poses3d_mm[p, lifted, 0] == 0)
        lengths = bone_lengths(result.poses3d_mm[p, lifted].astype(np.float64))
        np.testing.assert_allclose(lengths, np.broadcast_to(result.bone_lengths_mm[p], lengths.shape), atol=0.05)
    doc = json.loads((folder / "poses3d.json").read_text())
    assert doc["skeleton"] is True
    np.testing.assert_allclose([person["bone_lengths_mm"] for person in doc["people"]], result.bone_lengths_mm,
                               atol=0.051)
    assert sorted(path.suffix for path in folder.glob("*.bvh")) == [".bvh"] * len(result.track_ids)
    with pytest.raises(ValueError, match="skeleton and hypotheses exclude each other"):
        Pipeline(skeleton=True, hypotheses=3)


def test_a_second_run_replaces_the_first(media, random_weights, tmp_path):
    pipeline = Pipeline("mediapipe", random_weights)
    first = pipeline.run(media / "short_5frames.mp4", tmp_path)
    second = pipeline.run(media / "short_5frames.mp4", tmp_path, overlay=False, max_frames=3)
    assert second.folder == first.folder and second.files == tuple(
        first.folder / name for name in ("poses3d.npz", "poses3d.json", "viewer.html", "report.html"))
    check_output(second.folder, 3, overlay=False)


def test_nobody_in_view_gives_zero_tracks_and_a_warning(random_weights, tmp_path, capsys):
    clip = tmp_path / "grey.mp4"
    _write_video(clip, [np.full((240, 320, 3), 128, np.uint8)] * 15, 15.0)
    assert main(["run", str(clip), "-o", str(tmp_path / "out"), "--model", str(random_weights)]) == 0
    npz = check_output(tmp_path / "out" / "grey", 15)
    assert npz["poses3d"].shape == (0, 15, 17, 3)
    err = capsys.readouterr().err
    assert "monocap run: warning:" in err and "nobody found in 15 frame(s)" in err


# --- reading in segments --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_one_pass(media, random_weights, tmp_path_factory):
    """`Pipeline.run` on demo.mp4's first 130 frames in one pass: (summary, keypoints per frame (130, 17, 2))."""
    summary = Pipeline("mediapipe", random_weights, segments=1).run(
        media / "demo.mp4", tmp_path_factory.mktemp("one_pass"), overlay=False, max_frames=130)
    return summary, _keypoints_per_frame(summary.folder)


def _keypoints_per_frame(folder: Path) -> np.ndarray:
    """MediaPipe finds one person per frame: that person's keypoints, whichever track holds them (NaN: nobody)."""
    with np.load(folder / "poses3d.npz") as npz:
        keypoints = npz["keypoints2d"]
    per_frame = np.full(keypoints.shape[1:], np.nan, np.float32)
    for track in keypoints:
        present = np.isfinite(track).all(axis=(1, 2))
        assert not np.isfinite(per_frame[present]).any(), "one person per frame"
        per_frame[present] = track[present]
    return per_frame


def test_run_in_segments_matches_one_pass_up_to_the_cut(demo_one_pass, media, random_weights, tmp_path):
    one_pass, expected = demo_one_pass
    summary = Pipeline("mediapipe", random_weights, segments=2).run(media / "demo.mp4", tmp_path, overlay=False,
                                                                    max_frames=130)
    assert (one_pass.segments, summary.segments) == (1, 2) and summary.frames == 130
    check_output(summary.folder, 130, overlay=False)
    keypoints = _keypoints_per_frame(summary.folder)
    # Frames 0-64 went through the same detector calls; from frame 65 on, a second instance started afresh.
    np.testing.assert_array_equal(keypoints[:65], expected[:65])
    found = np.isfinite(keypoints).all(axis=(1, 2))
    assert found[65:].mean() > 0.9 and found[65:].sum() >= np.isfinite(expected[65:]).all(axis=(1, 2)).sum() - 3


def _refuse_to_seek(start: int):
    raise SeekError(f"clip.mp4: cannot seek to frame {start}")
    yield


@pytest.mark.parametrize("seek, message", [
    ("one frame too far", "seeking to frame 65 found another frame than reading through does"),
    ("refused", "clip.mp4: cannot seek to frame 65")])
def test_a_seek_that_fails_is_read_again_in_one_pass(seek, message, demo_one_pass, media, random_weights, tmp_path,
                                                     caplog):
    video = open_source(media / "demo.mp4")

    def read(start, stop):
        if not start:
            return video.read(start, stop)
        # As a video with irregular timestamps might seek, or one that cannot seek at all.
        return video.read(start + 1, stop) if seek == "one frame too far" else _refuse_to_seek(start)

    source = FrameSource(video.info, read, seekable=True)
    with caplog.at_level(logging.INFO, logger="monocap.run.pipeline"):
        summary = Pipeline("mediapipe", random_weights, segments=2).run(source, tmp_path, overlay=False,
                                                                        max_frames=130)
    assert f"{message}; reading it again in one pass" in caplog.text
    assert summary.segments == 1 and summary.frames == 130
    np.testing.assert_array_equal(_keypoints_per_frame(summary.folder), demo_one_pass[1])


def test_repeated_video_of_bench_speed_seeks_like_the_video(media):
    loops = []
    looped = repeated(open_source(media / "short_5frames.mp4"), 3, lambda: loops.append(1))
    through = [fingerprint(f.rgb) for f in looped]
    assert len(through) == 15 and through[5:10] == through[:5] and len(loops) == 3
    parts = looped.split(2, min_frames=5)
    assert [(p.start, p.stop) for p in parts] == [(0, 9), (8, None)]
    assert [fingerprint(f.rgb) for p in parts for f in p] == through[:9] + through[8:]


# --- bad inputs -----------------------------------------------------------------------------------

def _bad_input(case: str, media: Path, tmp: Path) -> Path:
    if case == "missing":
        return tmp / "missing.mp4"
    if case == "empty folder":
        (tmp / "empty").mkdir()
        return tmp / "empty"
    if case == "zero bytes":
        (tmp / "zero.mp4").write_bytes(b"")
        return tmp / "zero.mp4"
    if case == "text":
        (tmp / "notes.mp4").write_text("not a video\n")
        return tmp / "notes.mp4"
    if case == "mixed sizes":
        (tmp / "photos").mkdir()
        for image in (media / "coco").glob("*.jpg"):
            (tmp / "photos" / image.name).symlink_to(image)
        return tmp / "photos"
    name = "short_5frames.mp4" if case == "truncated index" else "demo.mp4"
    data = (media / name).read_bytes()
    (tmp / f"half_{name}").write_bytes(data[:len(data) // 2])
    return tmp / f"half_{name}"


@pytest.mark.parametrize("case", ["missing", "empty folder", "zero bytes", "text", "mixed sizes", "truncated index",
                                  "truncated frames"])
def test_bad_input_fails_in_one_line_and_leaves_no_output(case, media, random_weights, tmp_path, capsys):
    bad = _bad_input(case, media, tmp_path)
    out = tmp_path / "out"
    assert main(["run", str(bad), "-o", str(out), "--model", str(random_weights), "-q"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    lines = [line for line in lines if line.startswith("monocap")]  # MediaPipe logs its own start-up lines
    assert len(lines) == 1 and lines[0].startswith("monocap run: error: ")
    named = bad / "000000040083.jpg" if case == "mixed sizes" else bad
    assert f"{named}: " in lines[0]
    assert not out.exists()


def test_rtmpose_without_weights_or_network_fails_in_one_line(media, random_weights, tmp_path, monkeypatch, capsys):
    """The weights' error reaches the user as the one line it was written to be, not as a traceback."""
    import dataclasses
    import socket

    from monocap.detect2d import weights as weights_mod

    with socket.socket() as s:  # a port that was just free: nothing listens there, as offline
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/rtmo.zip"
    monkeypatch.setitem(weights_mod.REGISTRY, "rtmo-s", dataclasses.replace(weights_mod.REGISTRY["rtmo-s"], url=url))
    monkeypatch.setenv(weights_mod.CACHE_ENV, str(tmp_path / "cache"))
    out = tmp_path / "out"
    common = [str(media / "short_5frames.mp4"), "-o", str(out), "--model", str(random_weights), "--backend", "rtmpose",
              "-q"]
    for extra, expected in (([], "Without network access use `--backend mediapipe`"),
                            (["--weights", str(tmp_path / "missing.onnx")], "missing.onnx: no such file")):
        assert main(["run", *common, *extra]) == 2
        lines = [line for line in capsys.readouterr().err.strip().splitlines() if line.startswith("monocap")]
        assert len(lines) == 1 and lines[0].startswith("monocap run: error: ") and expected in lines[0]
        assert not out.exists()


def test_quiet_silences_mediapipe_but_not_errors(media, random_weights, tmp_path):
    """MediaPipe's C++ side logs to descriptor 2 directly: -q must still leave a clean terminal, errors excepted."""
    command = [sys.executable, "-m", "monocap", "run", "-o", str(tmp_path / "out"), "--model", str(random_weights),
               "--no-overlay", "-q"]
    ok = subprocess.run(command + [str(media / "short_5frames.mp4")], capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert (ok.stdout, ok.stderr) == ("", "")
    assert (tmp_path / "out" / "short_5frames" / "poses3d.npz").is_file()
    bad = _bad_input("truncated frames", media, tmp_path)  # MediaPipe runs on the first half, then decoding fails
    failed = subprocess.run(command + [str(bad)], capture_output=True, text=True, timeout=300)
    assert failed.returncode == 2
    assert failed.stderr.startswith("monocap run: error: ") and len(failed.stderr.strip().splitlines()) == 1

# --- precomputed keypoints ------------------------------------------------------------------------

def test_file_backend_on_coco_photos(media, random_weights, tmp_path, capsys):
    coco = media / "coco" / "test_coco.json"
    args = ["run", str(coco), "--backend", "file", "-o", str(tmp_path), "--model", str(random_weights), "-q"]
    assert main(args) == 2
    assert "test_coco.json: frame 40083 is 500x333 pixels but frame 785 is 640x425" in capsys.readouterr().err
    assert not (tmp_path / "test_coco").exists()

    assert main(args + ["--image-size", "640,480", "--min-track-frames", "1"]) == 0
    npz = check_output(tmp_path / "test_coco", 4, overlay=False)
    annotated = json.loads(coco.read_text())["annotations"]
    assert npz["detected"].sum() == sum(a["num_keypoints"] > 0 for a in annotated)
    assert tuple(npz["image_size"]) == (640, 480) and str(npz["backend"]) == "file"


def test_file_backend_reproduces_the_keypoints_of_a_run(demo_run, random_weights, tmp_path):
    with np.load(demo_run.folder / "poses3d.npz") as data:
        keypoints, scores, size, fps = data["keypoints2d"], data["scores"], data["image_size"], data["fps"]
    lift_input = tmp_path / "demo_keypoints.npz"
    np.savez(lift_input, keypoints=np.nan_to_num(keypoints), scores=scores, joint_format="coco17",
             image_size=size, fps=fps)
    summary = Pipeline("file", random_weights).run(lift_input, tmp_path / "out")
    npz = check_output(summary.folder, 30, overlay=False)
    assert len(npz["track_ids"]) == len(keypoints) and "detector_poses3d" not in npz  # keypoint files have no 3D
    np.testing.assert_allclose(npz["keypoints2d"], keypoints, atol=1e-4)


# --- streaming ------------------------------------------------------------------------------------

def test_stream_yields_one_result_per_frame(media, random_weights):
    results = list(Pipeline("mediapipe", random_weights).stream(media / "short_5frames.mp4"))
    assert [r.frame_index for r in results] == [0, 1, 2, 3, 4]
    assert [r.time_s for r in results] == pytest.approx([0, 0.2, 0.4, 0.6, 0.8])
    for r in results:
        K = len(r.track_ids)
        assert r.keypoints_px.shape == (K, 17, 2) and r.poses3d_mm.shape == (K, 17, 3) and r.root_cam_mm.shape == (K, 3)
        assert r.image_rgb.shape == (540, 960, 3) and r.joints_cam_mm.shape == (K, 17, 3)
    assert all(len(r.track_ids) == 1 for r in results) and len({int(r.track_ids[0]) for r in results}) == 1
    assert np.isfinite(np.stack([r.poses3d_mm for r in results])).all()


def test_streamed_poses_equal_causal_lifting_of_the_whole_track(demo_run, random_weights, tmp_path):
    """Windows slide and are padded at the start, yet each pose is what the causal lifter gives with all the past."""
    with np.load(demo_run.folder / "poses3d.npz") as data:
        track = np.flatnonzero(np.isfinite(data["keypoints2d"]).all(axis=(-2, -1)).all(axis=1))[0]
        kp, sc, size = data["keypoints2d"][track], data["scores"][track], data["image_size"]
    # Back and forth to 150 frames, longer than the window; at 50 fps the lifter needs no resampling.
    # From frame 5: MediaPipe's tracking settles over its first frames (the keypoints jump by ~90 px),
    # and the jump, played back and forth, would start new tracks, which this test is not about.
    order = np.concatenate([np.arange(5, 30), np.arange(29, 4, -1)] * 3)[:150]
    keypoints = tmp_path / "long.npz"
    np.savez(keypoints, keypoints=kp[order], scores=sc[order], joint_format="coco17", image_size=size,
             fps=np.array(50.0))
    pipeline = Pipeline("file", random_weights, smoothing=False)
    results = list(pipeline.stream(keypoints))
    assert len(results) == 150 and all(r.track_ids.tolist() == [0] for r in results)

    streamed_kp = np.stack([r.keypoints_px[0] for r in results])
    streamed_sc = np.stack([r.scores[0] for r in results])
    whole = Lifter(random_weights)(streamed_kp, streamed_sc, pipeline.camera.intrinsics(tuple(size.astype(int))),
                                   "coco17", temporal=True, causal=True, fps=50.0, flip_test=pipeline.flip_test)
    np.testing.assert_allclose(np.stack([r.poses3d_mm[0] for r in results]), whole.poses3d_mm, atol=0.05)
    assert all(r.skeletons is None for r in results)

    # With skeletons: the same poses, and each frame's skeleton from past frames (monocap.fit.causal).
    fitted = list(pipeline.stream(keypoints, skeletons=True))
    np.testing.assert_array_equal(np.stack([r.poses3d_mm for r in fitted]), np.stack([r.poses3d_mm for r in results]))
    joints = np.stack([r.skeletons.joints_cam_mm[0] for r in fitted])
    assert np.isfinite(joints).all()
    np.testing.assert_allclose(joints[:, 0], np.stack([r.joints_cam_mm[0, 0] for r in fitted]), atol=1e-3)
    settled = np.array([r.skeletons.settled[0] for r in fitted])
    assert not settled[:49].any() and settled[49:].all()  # one second at 50 fps
    lengths = bone_lengths(joints)
    assert lengths[49:].std(axis=0).max() < 1e-6 and lengths[:49].std(axis=0).max() > 0.1


# --- camera and output folder ---------------------------------------------------------------------

def test_calibration_file_sets_intrinsics_with_opencv_distortion_order(tmp_path):
    calib = tmp_path / "cam.json"
    calib.write_text(json.dumps({"fx": 1500, "fy": 1490, "cx": 880.5, "cy": 500,
                                 "dist": [-0.1, 0.02, 0.001, 0.002, 0.003], "width": 1768, "height": 994}))
    intr = CameraSpec.from_calibration(calib).intrinsics((1768, 994))
    assert (intr.fx, intr.fy, intr.cx, intr.cy) == (1500, 1490, 880.5, 500)
    assert intr.dist == (-0.1, 0.02, 0.003, 0.001, 0.002)  # monocap: k1, k2, k3, p1, p2
    with pytest.raises(ValueError, match="calibrated for 1768x994 images, but the input is 960x540"):
        CameraSpec.from_calibration(calib).intrinsics((960, 540))
    calib.write_text(json.dumps({"fx": 1500, "fy": 1490, "cx": 880.5}))
    with pytest.raises(ValueError, match="'cy' must be a number"):
        CameraSpec.from_calibration(calib)


def test_fov_and_focal_options_reach_the_output(media, random_weights, tmp_path):
    clip = str(media / "short_5frames.mp4")
    common = ["-o", str(tmp_path), "--model", str(random_weights), "--no-overlay", "-q"]
    assert main(["run", clip, *common, "--focal", "800,810"]) == 0
    with np.load(tmp_path / "short_5frames" / "poses3d.npz") as data:
        assert tuple(data["focal"]) == (800, 810) and tuple(data["center"]) == (480, 270)
    assert main(["run", clip, *common, "--fov", "90"]) == 0
    with np.load(tmp_path / "short_5frames" / "poses3d.npz") as data:
        assert data["focal"][0] == pytest.approx(480.0)  # half the width at 45 degrees


def test_staged_folder_appears_complete_or_not_at_all(tmp_path):
    final = tmp_path / "out" / "clip"
    with pytest.raises(RuntimeError):
        with staged_folder(final) as stage:
            (stage / "poses3d.npz").write_bytes(b"partial")
            raise RuntimeError("failed half way")
    assert not (tmp_path / "out").exists()
    with staged_folder(final) as stage:
        (stage / "a.txt").write_text("first")
    with staged_folder(final) as stage:
        (stage / "b.txt").write_text("second")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["clip"]
    assert [p.name for p in final.iterdir()] == ["b.txt"]


def test_bench_speed_times_every_stage_over_repeated_loops(media, random_weights, tmp_path, capsys):
    out = tmp_path / "speed.json"
    assert main(["bench", "speed", str(media / "short_5frames.mp4"), "--model", str(random_weights),
                 "--repeat", "3", "--json", str(out), "-q"]) == 0
    figures = json.loads(out.read_text())
    assert figures["frames"] == 15 and len(figures["rss_mb"]["loops"]) == 3
    assert {"decode", "2d", "track", "lift", "root", "write", "overlay"} <= figures["ms_per_frame"].keys()
    assert figures["fps_end_to_end"] > figures["fps_with_overlay"] > 0
    assert "| 2d |" in capsys.readouterr().out


def test_a_mediapipe_run_keeps_mediapipes_own_3d_to_compare_with(demo_run, tmp_path):
    with np.load(demo_run.folder / "poses3d.npz") as data:
        detector, lifted, roots, detected = (data[k] for k in ("detector_poses3d", "poses3d", "root_cam_mm",
                                                               "detected"))
    given = np.isfinite(detector).all(axis=(-2, -1))
    assert detector.shape == lifted.shape and given.any()
    assert (given == detected).all(), "MediaPipe's world landmarks on the frames it detected, none on bridged ones"
    np.testing.assert_array_equal(detector[given][:, 0], 0.0)  # pelvis-relative, like poses3d
    thighs = np.linalg.norm(detector[given][:, 2] - detector[given][:, 1], axis=-1)  # r_hip → r_knee
    assert 250 < np.median(thighs) < 600  # mm: a person's, so metres were made millimetres
    # `monocap score --poses detector` scores these at the run's roots: against themselves, no error
    truth = np.where(given[..., None, None], detector + roots[..., None, :], np.nan)[0]
    np.savez(tmp_path / "truth.npz", poses3d=truth)
    for poses in ("detector", "lifter"):
        out = tmp_path / f"{poses}.json"
        assert main(["score", str(demo_run.folder), str(tmp_path / "truth.npz"), "--poses", poses,
                     "--json", str(out), "-q"]) == 0
        figures = json.loads(out.read_text())
        assert figures["found"] == given[0].sum()
        both = given[0] & np.isfinite(lifted[0]).all(axis=(-2, -1))
        expected = 0.0 if poses == "detector" else mpjpe(lifted[0][both], detector[0][both], root=0, reduce=True)
        assert figures["p1_mm"] == pytest.approx(expected, abs=1e-3)


def test_run_result_loads_back_what_the_run_wrote(demo_run, tmp_path):
    loaded = RunResult.load(demo_run.folder)
    with np.load(demo_run.folder / "poses3d.npz") as npz:
        for key, value in loaded.arrays().items():
            np.testing.assert_array_equal(value, npz[key], err_msg=key)
    (tmp_path / "poses3d.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="poses3d.npz: not an .npz file"):
        RunResult.load(tmp_path)
