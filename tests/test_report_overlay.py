"""overlay.mp4 (H.264, frame beside a 3D view) and report.html of a real run; the display world they share."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")
cv2 = pytest.importorskip("cv2")

from monocap import Pipeline  # noqa: E402
from monocap.io.results import NPZ_NAME, RunResult  # noqa: E402
from monocap.skeleton import H36M17  # noqa: E402
from monocap.viz.overlay import PANEL_BACKGROUND, Canvas, track_color  # noqa: E402
from monocap.viz.report import REPORT_NAME, report_html  # noqa: E402
from monocap.viz.scene import ANKLE_HEIGHT_MM, UNCERTAINTY_KEY, Scene, camera_marker_world_mm  # noqa: E402


@pytest.fixture(scope="module")
def run(shared_data, tmp_path_factory):
    """`Pipeline.run` on the 5-frame clip (960x540, one person), with its overlay; the shipped lifter, whose
    poses are human (the display world's checks need a head above the feet)."""
    return Pipeline("mediapipe", "default").run(shared_data / "media" / "short_5frames.mp4",
                                                tmp_path_factory.mktemp("out"))


def decoded_frames(path: Path) -> tuple[str, str, list[np.ndarray]]:
    """(codec name, pixel format, RGB frames) of a video, decoded with PyAV."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        codec, pix_fmt = stream.codec_context.name, stream.codec_context.pix_fmt
        return codec, pix_fmt, [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]


def test_overlay_is_h264_with_the_frame_beside_a_3d_view(run, shared_data):
    codec, pix_fmt, frames = decoded_frames(run.folder / "overlay.mp4")
    assert (codec, pix_fmt, run.overlay_codec) == ("h264", "yuv420p", "H.264")
    assert len(frames) == 5
    canvas = Canvas.for_image((960, 540))
    assert (canvas.frame_size, canvas.panel_size) == ((960, 540), (540, 540))
    assert frames[0].shape == (540, 960 + 540, 3)
    assert Canvas.for_image((1080, 1920)).panel_size == Canvas.for_image((1080, 1920)).frame_size, "portrait: as wide"
    assert Canvas.for_image((1768, 994)).size == (1598, 574), "demo.mp4 fits in 1600 x 900"
    width = canvas.frame_size[0]

    capture = cv2.VideoCapture(str(shared_data / "media" / "short_5frames.mp4"))
    sources = [cv2.cvtColor(capture.read()[1], cv2.COLOR_BGR2RGB).astype(int) for _ in range(5)]
    capture.release()
    left = frames[0][:, :width].astype(int)
    # The left part is the frame itself (skeleton lines cover only a few per cent of it).
    assert np.median(np.abs(left - sources[0]).max(axis=-1)) < 12
    # Each frame of the overlay shows its own video frame (drawing runs ahead of encoding on a thread):
    # 2.4-2.9 grey levels off on average, against 23-33 for any other frame of the clip.
    difference = np.array([[np.abs(frame[:, :width] - source).mean() for source in sources] for frame in frames])
    assert (difference.argmin(axis=1) == np.arange(5)).all() and difference.diagonal().max() < 6

    result = RunResult.load(run.folder)
    color = np.array(track_color(result.track_ids[0]))
    panel = frames[0][:, width:].astype(int)
    background = (np.abs(panel - PANEL_BACKGROUND).max(axis=-1) < 12).mean()
    skeleton = (np.abs(panel - color).max(axis=-1) < 40).sum()
    assert background > 0.6, "the 3D view is mostly its dark background"
    assert skeleton > 150, "with the person's skeleton drawn in the track's colour"


def test_display_world_is_y_up_with_the_floor_under_the_feet(run):
    scene = Scene.load(run.folder)
    result = scene.result
    lifted = np.isfinite(scene.positions_world_mm).all(axis=(-2, -1))
    joints = scene.positions_world_mm[lifted]
    ankles = joints[:, H36M17.indices(("l_ankle", "r_ankle")), 1]
    head = joints[:, H36M17.index("head"), 1]
    # 5 frames are too few to estimate the floor from the feet: the camera is taken as level.
    assert scene.floor_source == "level camera"
    assert np.percentile(ankles, 2) == pytest.approx(ANKLE_HEIGHT_MM, abs=1.0)
    assert (head > ankles.max(axis=1) + 800).all(), "Y up: the head well above the feet"
    np.testing.assert_allclose(scene.world_from_cam[:3, :3], np.diag([1.0, -1.0, -1.0]), atol=1e-12)
    # The camera looks along -Z: everyone in front of it has a smaller Z; it stands on the floor's vertical axis.
    camera = camera_marker_world_mm(scene.world_from_cam)[0]
    assert (joints[..., 2] < camera[2]).all() and camera[[0, 2]].tolist() == [0, 0]
    # The transform is rigid: distances are kept.
    cam = (result.poses3d_mm + result.root_cam_mm[..., None, :])[lifted]
    np.testing.assert_allclose(np.linalg.norm(joints[:, 1:] - joints[:, :1], axis=-1),
                               np.linalg.norm(cam[:, 1:] - cam[:, :1], axis=-1), rtol=1e-5)


def test_a_tilted_camera_still_shows_a_level_floor(shared_data):
    """Real walking (H36M S1) seen by a camera pitched 20 degrees down: the floor comes from the feet."""
    from monocap.camera import Intrinsics
    from monocap.io.h36m import Z_UP_TO_Y_UP

    with np.load(shared_data / "h36m" / "poses3d_world_mm.npz") as f:
        walk = f["S1/Walking 1"][:200:2].astype(np.float64)  # 100 frames at 25 fps, world Z up, mm
    y_up = walk @ Z_UP_TO_Y_UP.T
    pitch = np.radians(20.0)
    # Camera 1.6 m high, 4 m behind the walk's middle, looking along +z and down by `pitch`.
    centre = y_up[:, 0].mean(axis=0)
    eye = np.array([centre[0], 1600.0, centre[2] - 4000.0])
    down = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
    cam = ((y_up - eye) * [-1, -1, 1]) @ down.T  # a level camera (x right, y down), then pitched down
    P, T = 1, len(cam)
    poses = (cam - cam[:, :1])[None].astype(np.float32)
    result = RunResult(poses, cam[None, :, 0].astype(np.float32), np.zeros((P, T, 17, 2), np.float32),
                       np.ones((P, T, 17), np.float32), np.ones((P, T), bool), np.array([0]), 25.0,
                       Intrinsics.from_fov(1000, 1000), "test", "", True, True, "tilted", "none")
    scene = Scene.from_result(result)
    assert scene.floor_source in ("plane", "line")
    ankles = scene.positions_world_mm[0][:, H36M17.indices(("l_ankle", "r_ankle")), 1]
    truth = y_up[:, H36M17.indices(("l_ankle", "r_ankle")), 1]
    # The ankles keep their true heights above the floor (H36M's floor is at Z = 0) within a few centimetres
    # (here 32 mm median); taking the camera as level would put them 29 cm off (median), tilted by 20 degrees.
    assert np.abs(np.median(ankles - truth)) < 40 and np.percentile(np.abs(ankles - truth), 90) < 80
    assert scene.camera_height_mm == pytest.approx(1600.0, abs=60)


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs, self.sources = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a":
            self.hrefs.append(attrs["href"])
        if tag in ("video", "script", "img", "link") and attrs.get("src"):
            self.sources.append(attrs["src"])


def test_report_states_the_input_people_and_links_every_file(run):
    page = (run.folder / REPORT_NAME).read_text()
    assert "960 &times; 540 px" in page and "5.000 frames/s" in page and "5 (1.00 s)" in page
    assert "55.0&deg; horizontal" in page, "the assumed field of view"
    assert "People (1)" in page and "id 0" in page
    links = _Links()
    links.feed(page)
    files = sorted(p.name for p in run.folder.iterdir())
    assert files == sorted(["poses3d.npz", "poses3d.json", "overlay.mp4", "viewer.html", REPORT_NAME])
    assert sorted(links.hrefs) == files, "a link to every file of the folder, and only to those"
    assert links.sources == ["overlay.mp4"], "nothing loaded from outside the folder"
    assert "http://" not in page and "https://" not in page
    # Mean 2D score in the people table equals the npz's, and the joint-angle plots are drawn.
    result = RunResult.load(run.folder)
    assert f"<td>{result.scores[0][result.detected[0]].mean():.2f}</td>" in page
    assert "Joint angles" in page and "knee flexion" in page
    assert len(re.findall(r"<polyline ", page)) >= 2 + 2 * 4, "distance, score and the angle curves"
    assert "no per-joint uncertainty" in page


def test_report_and_viewer_show_uncertainty_when_the_run_has_it(run, tmp_path):
    with np.load(run.folder / NPZ_NAME) as f:
        arrays = {k: f[k] for k in f.files}
    spread = np.where(np.isfinite(arrays["poses3d"][..., 0]), 37.0, np.nan).astype(np.float32)
    np.savez(tmp_path / NPZ_NAME, **arrays, **{UNCERTAINTY_KEY: spread})
    scene = Scene.load(tmp_path)
    assert scene.uncertainty_mm is not None
    page = report_html(scene, run.folder)
    assert "uncertainty mean / max" in page and "<td>37 / 37 mm</td>" in page
    arrays[UNCERTAINTY_KEY] = spread[..., :5]
    np.savez(tmp_path / NPZ_NAME, **arrays)
    with pytest.raises(ValueError, match=r"poses3d.npz: uncertainty_mm has shape \(1, 5, 5\)"):
        Scene.load(tmp_path)


def test_camera_marker_turns_with_a_tilted_camera():
    """A camera pitched 20 degrees down: its marker looks 20 degrees below the horizon, its top edge up."""
    from monocap.fit.ground import Ground
    from monocap.fit.skeleton import world_from_camera
    pitch = np.radians(20.0)
    up_cam = np.array([0.0, -np.cos(pitch), -np.sin(pitch)])  # the world's up, seen by a camera looking down
    marker = camera_marker_world_mm(world_from_camera(Ground(up_cam, -1500.0, "plane"), np.zeros(3)))
    camera, corners = marker[0], marker[1:]
    look = corners.mean(axis=0) - camera
    look /= np.linalg.norm(look)
    assert look[1] == pytest.approx(-np.sin(pitch), abs=1e-9) and look[2] < 0  # down, and away from +Z
    assert corners[0, 1] > corners[3, 1] and corners[1, 1] > corners[2, 1]  # the image's top edge is higher
    assert camera[1] == pytest.approx(1500.0)  # the camera stands 1.5 m above the floor
