"""TRC, C3D and joint-angle CSV/PNG writers, read back with readers that are not ours (numpy, ezc3d, matplotlib)."""
import csv

import numpy as np
import pytest

from monocap.export.angles_table import _PANELS, plot_angles, write_angles_csv
from monocap.export.markers import write_c3d, write_trc
from monocap.fit.angles import ANGLE_NAMES, joint_angles
from monocap.io.h36m import Z_UP_TO_Y_UP, load_h36m_poses
from monocap.skeleton import H36M17

NAMES = list(H36M17.joints)


@pytest.fixture(scope="module")
def walking(shared_data) -> np.ndarray:
    """Human3.6M S1 "Walking 1", 150 frames from frame 300, mm, Y-up world, with one joint missing in frame 7."""
    sequence = next(s for s in load_h36m_poses(shared_data / "h36m", ("S1",)) if s.action == "Walking 1")
    positions = (sequence.joints_world_mm[300:450] @ Z_UP_TO_Y_UP.T).astype(np.float64)
    positions[7, H36M17.index("l_wrist")] = np.nan
    return positions


def test_trc_reads_back_with_numpy(walking, tmp_path):
    path = write_trc(tmp_path / "walk.trc", NAMES, walking, fps=50.0, first_frame=300)
    lines = path.read_text().split("\n")
    assert lines[0].split("\t")[:3] == ["PathFileType", "4", "(X/Y/Z)"]
    header = dict(zip(lines[1].split("\t"), lines[2].split("\t")))
    assert header == {"DataRate": "50", "CameraRate": "50", "NumFrames": "150", "NumMarkers": "17", "Units": "mm",
                      "OrigDataRate": "50", "OrigDataStartFrame": "301", "OrigNumFrames": "150"}
    labels = lines[3].split("\t")
    assert labels[:2] == ["Frame#", "Time"] and [v for v in labels[2:] if v] == NAMES
    assert labels.index("r_hip") - labels.index("pelvis") == 3, "each name over its three columns"
    assert lines[4].split("\t")[2:5] == ["X1", "Y1", "Z1"] and lines[4].split("\t")[-1] == "Z17"
    assert lines[5] == ""

    table = np.genfromtxt(path, delimiter="\t", skip_header=6)
    assert table.shape == (150, 2 + 3 * 17)
    np.testing.assert_array_equal(table[:, 0], np.arange(301, 451))
    np.testing.assert_allclose(table[:, 1], np.arange(300, 450) / 50.0, atol=1e-6)
    np.testing.assert_allclose(table[:, 2:].reshape(150, 17, 3), walking, atol=0.0005, equal_nan=True)
    assert np.isnan(table[7, 2:].reshape(17, 3)[H36M17.index("l_wrist")]).all(), "the gap is empty fields"


def test_c3d_reads_back_with_ezc3d(walking, tmp_path):
    ezc3d = pytest.importorskip("ezc3d", reason="ezc3d (the test extra) reads the C3D files back")
    path = write_c3d(tmp_path / "walk.c3d", NAMES, walking, fps=50.0, first_frame=300)
    c3d = ezc3d.c3d(str(path))
    point = c3d["parameters"]["POINT"]
    assert point["LABELS"]["value"] == NAMES and point["UNITS"]["value"] == ["mm"]
    assert point["RATE"]["value"][0] == pytest.approx(50.0)
    assert (point["X_SCREEN"]["value"], point["Y_SCREEN"]["value"]) == (["+X"], ["+Y"])
    assert c3d["header"]["points"]["first_frame"] == 300  # ezc3d counts from 0; the file says frame 301
    points = c3d["data"]["points"]  # (4, markers, frames), homogeneous
    assert points.shape == (4, 17, 150)
    # 32-bit floats: about 0.0003 mm at 5 m.
    np.testing.assert_allclose(points[:3].transpose(2, 1, 0), walking, atol=0.001, equal_nan=True)
    residuals = c3d["data"]["meta_points"]["residuals"][0]
    assert residuals[H36M17.index("l_wrist"), 7] < 0 and (np.delete(residuals, 7, axis=1) >= 0).all()


def test_marker_writers_refuse_bad_input_and_leave_nothing(walking, tmp_path):
    with pytest.raises(ValueError, match=r"\(T, 16, 3\)"):
        write_trc(tmp_path / "bad.trc", NAMES[:16], walking, fps=50.0)
    with pytest.raises(ValueError, match="fps"):
        write_c3d(tmp_path / "bad.c3d", NAMES, walking, fps=0.0)
    with pytest.raises(ValueError, match="spaces"):
        write_trc(tmp_path / "bad.trc", ["left wrist"] + NAMES[1:], walking, fps=50.0)
    assert list(tmp_path.iterdir()) == []


def test_angles_csv_and_plot(walking, tmp_path):
    angles = joint_angles(walking, fps=50.0, first_frame=300)
    path = write_angles_csv(angles, tmp_path / "angles.csv")
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["frame", "time_s"] + [f"{n}_deg" for n in ANGLE_NAMES]
    table = np.genfromtxt(path, delimiter=",", skip_header=1)
    assert table.shape == (150, 2 + len(ANGLE_NAMES))
    np.testing.assert_array_equal(table[:, 0], np.arange(300, 450))
    np.testing.assert_allclose(table[:, 1], np.arange(300, 450) / 50.0, atol=1e-6)
    np.testing.assert_allclose(table[:, 2:], angles.degrees, atol=0.005, equal_nan=True)
    assert np.isnan(table[7, 2 + ANGLE_NAMES.index("l_elbow_flexion")]), "undefined is an empty field"

    assert sorted(n for _, names in _PANELS for n in names) == sorted(ANGLE_NAMES), "every angle is plotted"
    image = pytest.importorskip("matplotlib.image").imread(plot_angles(angles, tmp_path / "angles.png", "S1"))
    assert image.shape[0] > 400 and image.shape[1] > 800
    assert image[..., :3].std() > 0.05, "not a blank picture"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["angles.csv", "angles.png"], "no temporary files left"
