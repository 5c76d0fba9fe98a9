"""`monocap export` and `monocap run --export` on a real short run: every format, consistent with each other."""
import csv
import shutil

import numpy as np
import pytest

pytest.importorskip("mediapipe")

from monocap import Pipeline  # noqa: E402
from monocap.cli import main  # noqa: E402
from monocap.fit.angles import ANGLE_NAMES, joint_angles  # noqa: E402
from monocap.io.bvh import read_bvh  # noqa: E402
from monocap.io.motion import forward_kinematics  # noqa: E402
from monocap.io.results import RunResult  # noqa: E402
from monocap.skeleton import H36M17  # noqa: E402


@pytest.fixture(scope="module")
def run_folder(shared_data, tmp_path_factory):
    """`monocap run` on the first 40 frames of demo.mp4 (30 fps), default model, no overlay."""
    out = tmp_path_factory.mktemp("run")
    return Pipeline("mediapipe", "default").run(shared_data / "media" / "demo.mp4", out, overlay=False,
                                                max_frames=40).folder


def read_trc(path):
    """(frame numbers, times, positions (T, M, 3), marker names) with numpy, from the standard layout."""
    labels = path.read_text().split("\n")[3].split("\t")
    table = np.genfromtxt(path, delimiter="\t", skip_header=6)
    return table[:, 0].astype(int), table[:, 1], table[:, 2:].reshape(len(table), -1, 3), [n for n in labels[2:] if n]


def test_export_writes_every_format_consistently(run_folder, tmp_path, capsys):
    dest = tmp_path / "exports"
    assert main(["export", str(run_folder), "-o", str(dest), "-q"]) == 0
    assert capsys.readouterr().out == ""
    result = RunResult.load(run_folder)
    track = int(result.track_ids[0])
    stem = f"person{track}"
    assert sorted(p.name for p in dest.iterdir()) == sorted(
        [f"{stem}.bvh", f"{stem}.trc", f"{stem}.c3d", f"{stem}_angles.csv", f"{stem}_angles.png"])

    frames, times, markers, names = read_trc(dest / f"{stem}.trc")
    present = np.flatnonzero(result.present[0])
    assert names == list(H36M17.joints)
    assert frames[0] == present[0] + 1 and frames[-1] == present[-1] + 1, "TRC frames count from 1 over the video"
    np.testing.assert_allclose(times, (frames - 1) / result.fps, atol=1e-6)
    assert np.isfinite(markers).all()
    assert np.percentile(markers[:, :, 1], 1) > -150.0, "Y up, the person on the floor at y = 0"

    # The BVH's forward kinematics is where the TRC puts the joints (end sites: ankles, wrists, head).
    motion = read_bvh(dest / f"{stem}.bvh", unit="mm")
    assert motion.fps == pytest.approx(result.fps, rel=1e-6) and motion.num_frames == len(frames)
    positions, _ = forward_kinematics(motion)
    for j, name in enumerate(H36M17.joints):
        key = name if name in motion.joint_names else f"{H36M17.joints[H36M17.parents[j]]}_end"
        np.testing.assert_allclose(positions[:, motion.index(key)], markers[:, j], atol=0.5, err_msg=name)

    ezc3d = pytest.importorskip("ezc3d")
    c3d = ezc3d.c3d(str(dest / f"{stem}.c3d"))
    np.testing.assert_allclose(c3d["data"]["points"][:3].transpose(2, 1, 0), markers, atol=0.01)
    assert c3d["header"]["points"]["first_frame"] == frames[0] - 1

    with open(dest / f"{stem}_angles.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][:2] == ["frame", "time_s"] and len(rows) == len(frames) + 1
    assert [int(r[0]) for r in rows[1:]] == (frames - 1).tolist()
    table = np.genfromtxt(dest / f"{stem}_angles.csv", delimiter=",", skip_header=1)
    np.testing.assert_allclose(table[:, 2:], joint_angles(markers, result.fps).degrees, atol=0.01, equal_nan=True)
    assert np.isfinite(table[:, 2 + ANGLE_NAMES.index("r_knee_flexion")]).all()


def test_export_defaults_to_the_run_folder_and_chosen_formats(run_folder, tmp_path):
    folder = shutil.copytree(run_folder, tmp_path / "run")
    before = {p.name for p in folder.iterdir()}
    assert main(["export", str(folder), "--formats", "bvh, CSV", "-q"]) == 0
    added = sorted({p.name for p in folder.iterdir()} - before)
    track = int(RunResult.load(folder).track_ids[0])
    assert added == [f"person{track}.bvh", f"person{track}_angles.csv", f"person{track}_angles.png"]


def test_run_with_export(shared_data, tmp_path):
    assert main(["run", str(shared_data / "media" / "short_5frames.mp4"), "-o", str(tmp_path), "--no-overlay",
                 "--export", "trc,c3d", "-q"]) == 0
    folder = tmp_path / "short_5frames"
    assert {"person0.trc", "person0.c3d", "poses3d.npz"} <= {p.name for p in folder.iterdir()}
    assert not list(folder.glob("person0.bvh")) and not list(folder.glob("*.csv"))
    frames, _, markers, _ = read_trc(folder / "person0.trc")
    assert frames.tolist() == [1, 2, 3, 4, 5] and np.isfinite(markers).all()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary folders left"


def test_export_bad_input_is_one_line_and_writes_nothing(run_folder, tmp_path, capsys):
    dest = tmp_path / "dest"
    cases = [(tmp_path / "missing", "no such folder"), (tmp_path, "poses3d.npz: no such file")]
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "poses3d.npz").write_bytes(b"not a zip file")
    cases.append((broken, "not an .npz file"))
    for folder, message in cases:
        assert main(["export", str(folder), "-o", str(dest)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("monocap export: error: ") and message in err and "\n" not in err, err
    assert not dest.exists(), "nothing written"
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(run_folder), "--formats", "bvh,fbx", "-o", str(dest)])
    assert exit_info.value.code == 2 and "'fbx'" in capsys.readouterr().err
    assert not dest.exists()
