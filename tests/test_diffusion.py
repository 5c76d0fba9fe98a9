"""The diffusion pose prior: numpy inference against PyTorch, sampling, guidance, completion, contract, CLI.

Accuracy tests use the shipped open-data prior (`prior_default.npz`) on
real Human3.6M S8 poses seen by its real cameras.
"""
import json
from dataclasses import replace

import numpy as np
import pytest

from monocap.cli import main
from monocap.io.h36m import load_h36m_cameras, load_h36m_poses
from monocap.lift.canonical import estimate_root
from monocap.lift.contract import lift_arrays, validate_lift_input
from monocap.lift.diffusion import (Evidence2D, HypothesisLifter, PosePrior, prior_path,
                                    sample_poses)
from monocap.lift.lifter import Lifter
from monocap.skeleton import H36M17, bone_lengths

M = 8


@pytest.fixture(scope="module")
def prior() -> PosePrior:
    return PosePrior.load("default")


@pytest.fixture(scope="module")
def s8(shared_data):
    """60 S8 poses (every 50th frame of 'Walking 1' and 'Sitting 1') seen by camera 1: (gt_cam_mm, px, intrinsics)."""
    root = shared_data / "h36m"
    seqs = {s.action: s for s in load_h36m_poses(root, ("S8",))}
    world = np.concatenate([seqs["Walking 1"].joints_world_mm[::50][:30], seqs["Sitting 1"].joints_world_mm[::50][:30]])
    camera = load_h36m_cameras(root)["S8"][0]
    gt = camera.world_to_camera(world.astype(np.float64))
    pinhole = replace(camera.intrinsics, dist=(0.0,) * 5)
    return gt, pinhole.project(gt), pinhole


def _p1(poses_mm, gt_cam_mm):
    """Mean per-joint error after aligning the pelvis, per pose (mm)."""
    return np.linalg.norm(poses_mm - (gt_cam_mm - gt_cam_mm[:, :1]), axis=-1).mean(-1)


def test_numpy_denoiser_matches_pytorch(tmp_path):
    torch = pytest.importorskip("torch")
    from monocap.train.diffusion import DenoiserNet, export_denoiser

    torch.manual_seed(0)
    net = DenoiserNet(width=64, blocks=2).eval()
    mean, std = np.linspace(-0.1, 0.1, 48).astype(np.float32), np.linspace(0.05, 0.3, 48).astype(np.float32)
    export_denoiser(net, mean, std, tmp_path / "p.npz", {"licence": "test only", "t_max": 0.995})
    numpy_prior = PosePrior.load(tmp_path / "p.npz")
    x = np.random.default_rng(0).standard_normal((5, 48)).astype(np.float32)
    for t in (0.05, 0.5, 0.95):
        with torch.no_grad():
            expected = net(torch.from_numpy(x), torch.full((5,), t)).numpy()
        np.testing.assert_allclose(numpy_prior.denoise_std(x, t), expected, atol=2e-2)  # float16 weights


def test_training_a_few_steps_exports_a_loadable_prior(shared_data, tmp_path):
    pytest.importorskip("torch")
    from monocap.train.diffusion import DiffusionConfig, DiffusionTrainer

    cfg = DiffusionConfig(data="h36m", out=tmp_path / "prior.npz", work_dir=tmp_path / "work",
                          data_root=shared_data, steps=4, batch=32, width=32, blocks=1, eval_every=2,
                          stats_poses=1000, val_poses=256)
    assert DiffusionTrainer(cfg, quiet=True).run(stop_after=2) is None  # checkpointed half way
    meta = DiffusionTrainer(cfg, quiet=True).run()  # resumes
    assert [r["step"] for r in meta["history"]] == [2, 4]
    loaded = PosePrior.load(cfg.out)
    assert loaded.config["data"] == "h36m" and "non-commercial" in loaded.licence
    assert sample_poses(loaded, 3, rng=np.random.default_rng(0)).shape == (3, 17, 3)


def test_unconditional_samples_have_human_bone_lengths(prior, s8):
    samples = sample_poses(prior, 300, rng=np.random.default_rng(1))
    assert np.isfinite(samples).all() and np.all(samples[:, 0] == 0)
    bones = bone_lengths(samples)
    real = bone_lengths(s8[0])
    # Each bone's median within 20% of a real person's, and limbs consistent across samples.
    np.testing.assert_allclose(np.median(bones, 0), np.median(real, 0), rtol=0.2)
    assert np.median(bones.std(0) / bones.mean(0)) < 0.1
    # Poses differ from each other: generation, not one memorised pose.
    assert np.linalg.norm(samples - samples.mean(0), axis=-1).mean() > 100


def _virtual_evidence(px, scores, intrinsics):
    """The evidence `HypothesisLifter` builds, for calling `sample_poses` directly."""
    from monocap.lift.canonical import canonicalize
    canon = canonicalize(intrinsics.pixels_to_normalized(px), scores)
    return Evidence2D(canon.features * canon.scale[:, None, None], canon.scores), canon.rotation


def _reprojection_error(poses_virtual_mm, evidence):
    """Mean distance (normalised image units) between the keypoints and a pose fitted to them."""
    root = estimate_root(poses_virtual_mm, evidence.keypoints, evidence.weights)
    p = poses_virtual_mm + root[:, None]
    err = np.linalg.norm(p[..., :2] / p[..., 2:] - evidence.keypoints, axis=-1)
    return (err * evidence.weights).sum(-1) / evidence.weights.sum(-1)


def test_guidance_fits_the_keypoints_and_the_true_pose(prior, s8):
    gt, px, intr = s8
    evidence, rotation = _virtual_evidence(px, np.ones(px.shape[:-1]), intr)
    rng = np.random.default_rng(2)
    guided = sample_poses(prior, len(gt), evidence, rng=rng)
    free = sample_poses(prior, len(gt), rng=rng)
    assert np.median(_reprojection_error(guided, evidence)) < 0.2 * np.median(_reprojection_error(free, evidence))
    to_cam = lambda v: v @ rotation
    # From noise, the zero-shot open-data prior alone: far closer to the truth than without the 2D.
    assert _p1(to_cam(guided), gt).mean() < 0.6 * _p1(to_cam(free), gt).mean()


def test_hypotheses_from_the_lifter_contain_better_poses_than_the_lifter(prior, s8):
    gt, px, intr = s8
    lifter = Lifter("default")
    res = HypothesisLifter(prior, lifter)(px, None, intr, hypotheses=M, temporal=False)
    deterministic = _p1(lifter(px, None, intr, temporal=False).poses3d_mm, gt).mean()
    best_of_m = np.min([_p1(h, gt) for h in res.hypotheses_mm], axis=0).mean()
    assert best_of_m < 0.9 * deterministic
    assert _p1(res.poses3d_mm, gt).mean() < 1.1 * deterministic


def test_hypotheses_contract_shapes_mean_spread_and_seed(prior, s8):
    gt, px, intr = s8
    two_people = np.stack([px[:5], px[5:10]])
    scores = np.ones(two_people.shape[:-1])
    scores[1, 4] = 0  # nobody seen in that frame
    inp = validate_lift_input({"keypoints": two_people, "scores": scores, "joint_format": np.array("h36m17"),
                               "image_size": np.array([intr.width, intr.height]),
                               "focal": np.array([intr.fx, intr.fy]), "center": np.array([intr.cx, intr.cy])})
    lifter = Lifter("default")
    sampler = HypothesisLifter(prior, seed=5)
    out = lift_arrays(inp, lifter, temporal=False, hypotheses=M, sampler=sampler)
    assert out["hypotheses"].shape == (M, 2, 5, 17, 3) and out["hypotheses"].dtype == np.float32
    assert out["poses3d"].shape == (2, 5, 17, 3) and out["uncertainty_mm"].shape == (2, 5, 17)
    assert np.isnan(out["hypotheses"][:, 1, 4]).all() and np.isnan(out["uncertainty_mm"][1, 4]).all()
    assert np.isnan(out["poses3d"][1, 4]).all() and np.isnan(out["root_cam_mm"][1, 4]).all()
    seen = np.ones((2, 5), bool)
    seen[1, 4] = False
    np.testing.assert_allclose(out["poses3d"][seen], out["hypotheses"].mean(0)[seen], atol=1e-3)
    spread = np.sqrt(((out["hypotheses"] - out["poses3d"]) ** 2).sum(-1).mean(0))
    np.testing.assert_allclose(out["uncertainty_mm"][seen], spread[seen], atol=1e-2)
    unc = out["uncertainty_mm"][seen]
    assert np.all(unc[:, 0] == 0) and np.all(unc[:, 1:] > 0)
    assert str(out["prior"]) == "default" and "CMU" in str(out["prior_licence"])
    assert np.isfinite(out["root_cam_mm"][seen]).all()
    again = lift_arrays(inp, lifter, temporal=False, hypotheses=M, sampler=HypothesisLifter(prior, seed=5))
    np.testing.assert_array_equal(again["hypotheses"], out["hypotheses"])
    other = lift_arrays(inp, lifter, temporal=False, hypotheses=M, sampler=HypothesisLifter(prior, seed=6))
    assert np.nanmax(np.abs(other["hypotheses"] - out["hypotheses"])) > 1.0


def test_completion_fills_hidden_joints_from_the_prior(prior, s8):
    gt, px, intr = s8
    hidden = list(H36M17.indices(("l_knee", "r_elbow")))
    scores = np.ones(px.shape[:-1])
    scores[:, hidden] = 0
    px_hidden = px.copy()
    px_hidden[:, hidden] = 0  # no 2D at all for the hidden joints
    res = HypothesisLifter(prior, Lifter("default"))(px_hidden, scores, intr, hypotheses=M, temporal=False)
    assert np.isfinite(res.hypotheses_mm).all()
    err = np.linalg.norm(res.poses3d_mm - (gt - gt[:, :1]), axis=-1)
    # Placed from the joints around them: far nearer the truth than a pose drawn without any 2D.
    free = sample_poses(prior, len(gt), rng=np.random.default_rng(0)) @ _virtual_evidence(px, scores, intr)[1]
    free_err = np.linalg.norm(free - (gt - gt[:, :1]), axis=-1)
    assert err[:, hidden].mean() < 0.6 * free_err[:, hidden].mean()
    # ... and less sure there than at the joints that were seen.
    seen = [j for j in range(1, 17) if j not in hidden]
    assert res.uncertainty_mm[:, hidden].mean() > res.uncertainty_mm[:, seen].mean()
    np.testing.assert_allclose(np.median(bone_lengths(res.poses3d_mm), 0), np.median(bone_lengths(gt), 0),
                               rtol=0.25)


def test_lift_and_sample_commands(prior, s8, tmp_path, capsys):
    gt, px, intr = s8
    inp = tmp_path / "kp.npz"
    np.savez(inp, keypoints=px[:6], joint_format="h36m17", image_size=[intr.width, intr.height],
             focal=[intr.fx, intr.fy], center=[intr.cx, intr.cy])
    assert main(["lift", str(inp), str(tmp_path / "out.npz"), "--hypotheses", "4", "--single", "-q"]) == 0
    with np.load(tmp_path / "out.npz") as out:
        assert out["hypotheses"].shape == (4, 6, 17, 3) and out["uncertainty_mm"].shape == (6, 17)
    assert main(["sample", "7", "-o", str(tmp_path / "gen.npz"), "--seed", "1", "-q"]) == 0
    with np.load(tmp_path / "gen.npz") as gen:
        assert gen["poses3d"].shape == (7, 17, 3) and list(gen["joint_names"]) == list(H36M17.joints)


@pytest.mark.parametrize("args, message", [
    (["lift", "{kp}", "{out}", "--hypotheses", "-1"], "--hypotheses must be 0 or more"),
    (["lift", "{kp}", "{out}", "--prior", "h36m"], "--prior needs --hypotheses"),
    (["lift", "{kp}", "{out}", "--hypotheses", "2", "--prior", "{missing}"], "missing.npz: no such prior"),
    (["lift", "{kp}", "{out}", "--hypotheses", "2", "--prior", "{lifter}"], "not a monocap pose-prior weight file"),
    (["sample", "0", "-o", "{out}"], "N and --steps must be positive"),
    (["sample", "3", "-o", "{nofolder}"], "does not exist"),
])
def test_bad_input_fails_in_one_line(s8, tmp_path, capsys, args, message):
    gt, px, intr = s8
    kp = tmp_path / "kp.npz"
    np.savez(kp, keypoints=px[:3], joint_format="h36m17", image_size=[intr.width, intr.height])
    paths = {"kp": kp, "out": tmp_path / "out.npz", "missing": tmp_path / "missing.npz",
             "lifter": prior_path("default").with_name("default.npz"), "nofolder": tmp_path / "no" / "x.npz"}
    assert main([a.format(**paths) for a in args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out.npz").exists()


def test_run_with_hypotheses_writes_uncertainty(shared_data, tmp_path):
    from monocap import Pipeline
    from monocap.camera import Intrinsics
    from monocap.eval.bench_lift import look_at
    from monocap.io.mocap_dataset import load_clip
    from monocap.io.results import RunResult
    from monocap.skeleton import mocap22_to_coco17

    # CMU 02_01 (walking) seen from the front as COCO-17 keypoints, like a detector's file.
    joints = load_clip(shared_data / "mocap" / "cmu_asfamc" / "02" / "02_01.amc.gz").joints_world_mm[:40:2]
    target = joints[:, 0].mean(0)
    camera = look_at(target + [0.0, 200.0, 4000.0], target, Intrinsics.from_fov(1280, 720, 55.0), "front")
    px = camera.intrinsics.project(camera.world_to_camera(mocap22_to_coco17(joints).astype(np.float64)))
    kp = tmp_path / "walk.npz"
    np.savez(kp, keypoints=px, joint_format="coco17", image_size=[1280, 720], fps=60.0)
    summary = Pipeline("file", "default", hypotheses=3, min_track_frames=1).run(kp, tmp_path / "out")
    result = RunResult.load(summary.folder)
    assert result.hypotheses_mm.shape == (3, 1, 20, 17, 3) and result.uncertainty_mm.shape == (1, 20, 17)
    np.testing.assert_allclose(result.poses3d_mm, result.hypotheses_mm.mean(0), atol=1e-3)
    doc = json.loads((summary.folder / "poses3d.json").read_text())
    assert doc["hypotheses"] == 3 and "uncertainty_mm" in doc["units"]
    frame = doc["people"][0]["frames"][0]
    assert len(frame["uncertainty_mm"]) == 17 and frame["uncertainty_mm"][0] == 0
