"""`monocap score`: a run's and a lift's 3D poses against ground truth, on real mocap and Human3.6M."""
import json

import numpy as np
import pytest

from monocap.camera import Intrinsics
from monocap.cli import main
from monocap.eval.bench_lift import h36m_takes, look_at
from monocap.eval.metrics import mpjpe, pa_mpjpe
from monocap.io.mocap_dataset import load_clip
from monocap.io.results import RunResult
from monocap.lift.lifter import model_path
from monocap.skeleton import H36M17, mocap22_to_coco17

GAP = slice(50, 80)  # frames where the keypoint file has nobody: longer than the tracker bridges


@pytest.fixture(scope="module")
def walker(shared_data, tmp_path_factory):
    """CMU subject 7 walking (held out of the default's training) through a camera 4.5 m away: a COCO-17 keypoint
    file with nobody in `GAP`, its `monocap run` folder, and the true camera-frame joints as a ground-truth file."""
    if not model_path("default").is_file():
        pytest.skip("default weights not trained yet")
    folder = tmp_path_factory.mktemp("walker")
    clip = load_clip(shared_data / "mocap" / "cmu_bvh" / "iclone_subjects" / "007" / "007_01.bvh.gz", fps=50.0)
    world = clip.joints_world_mm[:150].astype(np.float64)
    intrinsics = Intrinsics.from_fov(1920, 1080, 60.0)
    target = world[:, 0].mean(0)
    eye = target + [0.0, 0.0, 4500.0]
    eye[1] = world[..., 1].min() + 1500.0
    cam = look_at(eye, target, intrinsics, "front").world_to_camera(world)
    scores = np.ones(cam.shape[:1] + (17,))
    scores[GAP] = 0.0
    np.savez(folder / "walker.npz", keypoints=mocap22_to_coco17(intrinsics.project(cam)), scores=scores,
             joint_format="coco17", image_size=[1920, 1080], focal=[intrinsics.fx, intrinsics.fy],
             center=[intrinsics.cx, intrinsics.cy], fps=50.0)
    np.savez(folder / "truth.npz", poses3d=cam[:, :17])
    assert main(["run", str(folder / "walker.npz"), "-o", str(folder / "out"), "--backend", "file", "--no-overlay",
                 "-q"]) == 0
    return folder, cam[:, :17]


def test_score_a_run_counts_the_missed_frames_and_scores_the_found_ones(walker, capsys):
    folder, truth = walker
    out = folder / "score.json"
    assert main(["score", str(folder / "out" / "walker"), str(folder / "truth.npz"), "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    run = RunResult.load(folder / "out" / "walker")
    present = run.present.any(0)
    assert not present[GAP].any() and len(run.track_ids) == 2  # the gap split the walk into two tracks
    assert figures["person_frames"] == len(truth) and figures["found"] == present.sum()
    # the same figures from the run's arrays directly: each frame's one tracked person
    person = run.present.argmax(0)[present]
    frames = np.flatnonzero(present)
    pred = run.poses3d_mm[person, frames].astype(np.float64)
    assert figures["p1_mm"] == pytest.approx(mpjpe(pred, truth[frames], root=0, reduce=True))
    assert figures["p2_mm"] == pytest.approx(pa_mpjpe(pred, truth[frames], reduce=True))
    assert 10 < figures["p2_mm"] < figures["p1_mm"] < 150 and figures["pck150_pct"] > 50
    root = run.root_cam_mm[person, frames]
    assert figures["root_err_median_mm"] == pytest.approx(np.median(np.linalg.norm(root - truth[frames, 0], axis=1)))
    assert f"found {present.sum()} ({100 * present.mean():.1f} %" in capsys.readouterr().out


@pytest.fixture(scope="module")
def s8_lift(shared_data, tmp_path_factory):
    """A Human3.6M S8 take (100 frames, ground-truth 2D) through `monocap lift`: (take, the lift's file)."""
    folder = tmp_path_factory.mktemp("s8")
    take = next(t for t in h36m_takes(shared_data / "h36m", 100) if t.label.startswith("S8/Walking 1 camera"))
    np.savez(folder / "kp.npz", **take.contract_arrays())
    assert main(["lift", str(folder / "kp.npz"), str(folder / "lifted.npz"), "-q"]) == 0
    return take, folder / "lifted.npz"


def test_score_matches_each_true_person_to_the_prediction_in_its_direction(s8_lift, tmp_path):
    """A second true person 30 degrees to the side of the lifted one is missed."""
    take, lifted_npz = s8_lift
    turn = np.radians(30.0)
    about_y = np.array([[np.cos(turn), 0, np.sin(turn)], [0, 1, 0], [-np.sin(turn), 0, np.cos(turn)]])
    np.savez(tmp_path / "truth.npz", poses3d=np.stack([take.gt_cam_mm, take.gt_cam_mm @ about_y.T]))
    out = tmp_path / "score.json"
    assert main(["score", str(lifted_npz), str(tmp_path / "truth.npz"), "--json", str(out), "-q"]) == 0
    figures = json.loads(out.read_text())
    first, second = figures["per_person"]
    assert first["found"] == first["person_frames"] == 100 and second["found"] == 0
    assert figures["found_pct"] == 50.0 and figures["p1_mm"] == first["p1_mm"]
    lifted = np.load(lifted_npz)
    assert first["p1_mm"] == pytest.approx(mpjpe(lifted["poses3d"].astype(np.float64), take.gt_cam_mm, root=0,
                                                 reduce=True))
    # a cone wide enough for both: the one prediction still goes to one true person a frame, the nearer
    assert main(["score", str(lifted_npz), str(tmp_path / "truth.npz"), "--max-angle", "60",
                 "--json", str(out), "-q"]) == 0
    assert json.loads(out.read_text())["found"] == 100


def test_score_reads_mpi_inf_3dhp_test_joints(s8_lift, tmp_path):
    """The same truth in MPI-INF-3DHP's test order (head_top, neck, right arm, ..., pelvis, spine, head)."""
    take, lifted_npz = s8_lift
    h36m = {name: take.gt_cam_mm[:, H36M17.index(name)] for name in H36M17.joints}
    as_3dhp = ["head", "thorax", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist",
               "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "pelvis", "spine", "neck_nose"]
    np.savez(tmp_path / "h36m.npz", poses3d=take.gt_cam_mm)
    np.savez(tmp_path / "3dhp.npz", poses3d=np.stack([h36m[name] for name in as_3dhp], axis=1))
    figures = {}
    for name, joints in (("h36m", "h36m17"), ("3dhp", "mpi_inf_3dhp17")):
        out = tmp_path / f"{name}.json"
        assert main(["score", str(lifted_npz), str(tmp_path / f"{name}.npz"), "--truth-joints", joints,
                     "--json", str(out), "-q"]) == 0
        figures[name] = {k: v for k, v in json.loads(out.read_text()).items() if k != "truth"}
    assert figures["3dhp"] == figures["h36m"]
    # read as H36M-17, the reordered truth is a jumble of joints: far from any lifted pose
    assert main(["score", str(lifted_npz), str(tmp_path / "3dhp.npz"), "--max-angle", "20", "--json",
                 str(tmp_path / "x.json"), "-q"]) == 0
    assert json.loads((tmp_path / "x.json").read_text())["p1_mm"] > 3 * figures["h36m"]["p1_mm"]


@pytest.mark.parametrize("truth, problem", [
    ({"joints": np.ones((5, 17, 3))}, "no poses3d in it"),
    ({"poses3d": np.ones((5, 16, 3))}, "not (T, 17, 3)"),
    ({"poses3d": np.zeros((5, 17, 3))}, "not pelvis-relative ones"),
    ({"poses3d": np.full((5, 17, 3), 3000.0), "frames": np.arange(5) + 1000}, "the prediction has"),
])
def test_score_rejects_bad_ground_truth_in_one_line(walker, tmp_path, capsys, truth, problem):
    folder, _ = walker
    np.savez(tmp_path / "truth.npz", **truth)
    assert main(["score", str(folder / "out" / "walker"), str(tmp_path / "truth.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(tmp_path / "truth.npz") in err and problem in err


def test_score_folders_pools_recordings_and_counts_a_missing_run_as_missed(walker, tmp_path, capsys):
    folder, truth = walker
    truths = tmp_path / "truths"
    truths.mkdir()
    for name in ("walker", "no_run"):
        np.savez(truths / f"{name}.npz", poses3d=truth)
    assert main(["score", str(folder / "out" / "walker"), str(folder / "truth.npz"), "--json",
                 str(tmp_path / "one.json"), "-q"]) == 0
    assert main(["score", str(folder / "out"), str(truths), "--json", str(tmp_path / "all.json")]) == 0
    one, every = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("one", "all"))
    assert every["recordings"] == 2 and every["missing_runs"] == ["no_run"]
    alone = {k: v for k, v in one.items() if k not in ("per_person", "max_angle_deg", "prediction", "pose_source", "truth")}
    assert every["per_recording"]["walker"] == alone
    assert every["per_recording"]["no_run"]["found"] == 0
    assert every["person_frames"] == 2 * len(truth) and every["found"] == one["found"]
    assert every["p1_mm"] == one["p1_mm"] and every["mean_over_recordings"]["found_pct"] == one["found_pct"] / 2
    assert "no run for 1 recording(s), counted as missed: no_run" in capsys.readouterr().out
    assert main(["score", str(folder / "out" / "walker"), str(truths)]) == 2
    assert "give the folder of their runs" in capsys.readouterr().err
