"""Mocap readers (BVH, ASF/AMC), forward kinematics, rig mapping and the open-mocap split."""
import gzip
import os
import shutil
from collections import defaultdict

import numpy as np
import pytest

from monocap.io import mocap_dataset
from monocap.io.asfamc import read_amc, read_asf
from monocap.io.bvh import guess_unit, read_bvh
from monocap.io.mocap_dataset import load_clip, load_open_mocap, resample
from monocap.io.motion import euler_to_matrix, file_stem, forward_kinematics
from monocap.io.rigs import H36M_REFERENCE, detect_rig, to_mocap22
from monocap.skeleton import H36M17, MOCAP22, bone_lengths


def rot(axis: str, degrees: float) -> np.ndarray:
    c, s = np.cos(np.deg2rad(degrees)), np.sin(np.deg2rad(degrees))
    return {"x": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
            "y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
            "z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])}[axis]


CHAIN_BVH = """HIERARCHY
ROOT hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation
  JOINT knee
  {
    OFFSET 0 10 0
    CHANNELS 3 Zrotation Yrotation Xrotation
    JOINT ankle
    {
      OFFSET 0 10 0
      CHANNELS 3 Xrotation Zrotation Yrotation
      End Site
      {
        OFFSET 5 0 0
      }
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.04
1 2 3 0 0 0 0 0 0 0 0 0
1 2 3 0 0 0 90 0 0 90 90 0
"""


def write(path, text: str, gz: bool = False):
    data = text.encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


# --- BVH and forward kinematics -----------------------------------------------------------------

def test_bvh_chain_known_positions(tmp_path):
    motion = read_bvh(write(tmp_path / "chain.bvh", CHAIN_BVH), unit="cm")
    assert motion.joint_names == ["hips", "knee", "ankle", "ankle_end"]
    assert motion.fps == pytest.approx(25.0)
    positions, rotations = forward_kinematics(motion)
    # Rest frame: straight up the y axis, in mm.
    np.testing.assert_allclose(positions[0], [[10, 20, 30], [10, 120, 30], [10, 220, 30], [60, 220, 30]],
                               atol=1e-9)
    # Frame 1: the knee turns 90 degrees about z, so the shin points along -x;
    # the ankle's "X Z Y" channels (90, 90, 0) give Rx(90) @ Rz(90), which takes
    # the end site's +x offset to +z (the reverse order would give +y).
    np.testing.assert_allclose(positions[1, 2], [10 - 100, 120, 30], atol=1e-9)
    ankle_global = rot("z", 90) @ rot("x", 90) @ rot("z", 90)
    np.testing.assert_allclose(rotations[1, 2], ankle_global, atol=1e-12)
    np.testing.assert_allclose(positions[1, 3], positions[1, 2] + ankle_global @ [50, 0, 0], atol=1e-9)
    np.testing.assert_allclose(rot("x", 90) @ rot("z", 90) @ [1, 0, 0], [0, 0, 1], atol=1e-12)


def test_bvh_units_gzip_and_fps_override(tmp_path):
    plain = read_bvh(write(tmp_path / "chain.bvh", CHAIN_BVH), unit="cm")
    metres = read_bvh(tmp_path / "chain.bvh", unit="m")
    zipped = read_bvh(write(tmp_path / "chain.bvh.gz", CHAIN_BVH, gz=True), unit="cm", fps=60)
    np.testing.assert_allclose(forward_kinematics(metres)[0], 100 * forward_kinematics(plain)[0])
    np.testing.assert_allclose(forward_kinematics(zipped)[0], forward_kinematics(plain)[0])
    assert zipped.name == "chain" and zipped.fps == 60


def test_bvh_position_channels_on_a_child_replace_its_offset(tmp_path):
    text = CHAIN_BVH.replace("CHANNELS 3 Zrotation Yrotation Xrotation",
                             "CHANNELS 4 Zrotation Yposition Yrotation Xrotation")
    text = text.replace("1 2 3 0 0 0 0 0 0 0 0 0", "1 2 3 0 0 0 0 7 0 0 0 0 0")
    text = text.replace("1 2 3 0 0 0 90 0 0 90 90 0", "1 2 3 0 0 0 0 7 0 0 0 0 0")
    positions, _ = forward_kinematics(read_bvh(write(tmp_path / "moving.bvh", text), unit="cm"))
    np.testing.assert_allclose(positions[:, 1], [[10, 90, 30]] * 2)  # offset y 10 -> 7 cm


def test_guess_unit_from_skeleton_size():
    parents = np.array([-1, 0, 1, 2, 0, 4, 5])  # two 3-bone limbs: a 6-bone path
    bone = np.array([0.0, -0.28, 0.0])
    for scale, unit in ((1.0, "m"), (100.0, "cm"), (1000.0, "mm")):
        assert guess_unit(parents, np.tile(bone * scale, (7, 1))) == unit


def test_euler_orders_match_matrix_products():
    angles = np.array([30.0, -50.0, 120.0])
    for order in ("xyz", "zxy", "yzx", "zyx"):
        expected = rot(order[0], angles[0]) @ rot(order[1], angles[1]) @ rot(order[2], angles[2])
        np.testing.assert_allclose(euler_to_matrix(np.deg2rad(angles), order.upper()), expected, atol=1e-12)


# --- ASF / AMC ------------------------------------------------------------------------------------

ASF = """# test skeleton
:version 1.10
:name test
:units
  mass 1.0
  length 0.5
  angle deg
:root
  order TX TY TZ RX RY RZ
  axis XYZ
  position 0 0 0
  orientation 0 0 0
:bonedata
  begin
    id 1
    name upper
    direction 1 0 0
    length 10
    axis 0 0 90 XYZ
    dof rx
    limits (-180 180)
  end
  begin
    id 2
    name lower
    direction 1 0 0
    length 5
    axis 0 0 0 XYZ
    dof rz
  end
:hierarchy
  begin
    root upper
    upper lower
  end
"""

AMC = """#!OML:ASF test.asf
:FULLY-SPECIFIED
:DEGREES
1
root 1 2 3 0 0 0
upper 90
lower 90
"""


def test_asf_amc_known_positions(tmp_path):
    skeleton = read_asf(write(tmp_path / "test.asf", ASF), length_unit_mm=10.0)
    assert skeleton.mm_per_unit == pytest.approx(20.0)  # length 0.5: 1 unit = 2 cm
    motion = read_amc(write(tmp_path / "test_01.amc.gz", AMC, gz=True), skeleton, fps=100)
    assert motion.joint_names == ["root", "upper", "lower", "lower_end"]
    positions, _ = forward_kinematics(motion)
    # upper: axis C = Rz(90) and rx = 90, so its rotation is C Rx(90) C^-1 = a
    # quarter turn about C x = y: Ry(90), taking its direction +x to -z.
    # lower: Ry(90) @ Rz(90) takes +x to +y.
    root = np.array([1, 2, 3]) * 20.0
    upper_end = root + 20.0 * 10 * np.array([0, 0, -1])
    lower_end = upper_end + 20.0 * 5 * np.array([0, 1, 0])
    np.testing.assert_allclose(positions[0], [root, root, upper_end, lower_end], atol=1e-9)


# --- malformed input ------------------------------------------------------------------------------

@pytest.mark.parametrize("broken", [
    CHAIN_BVH.replace("Frames: 2", "Frames: 3"),                           # truncated motion
    CHAIN_BVH.replace("1 2 3 0 0 0 90 0 0 90 90 0", "1 2 3 0 0 0 90 0 0 90 90"),  # short row
    CHAIN_BVH.replace("1 2 3 0 0 0 0 0 0 0 0 0\n1", "1 2 3 0 0 0 0 0 0 0 0 0 0\n1"),  # long row
    CHAIN_BVH.replace("CHANNELS 3 Xrotation", "CHANNELS 2 Xrotation"),      # wrong channel count
    CHAIN_BVH.replace("Zrotation Yrotation Xrotation\n  JOINT", "Zrotation Yrotation Wrotation\n  JOINT"),
    CHAIN_BVH.replace("OFFSET 5 0 0", "OFFSET 5 0 zero"),
    CHAIN_BVH.split("MOTION")[0],
    CHAIN_BVH.replace("Frame Time: 0.04", "Frame Time: none"),
    CHAIN_BVH.replace("1 2 3 0 0 0 90", "1 2 3 0 0 0 x90"),
])
def test_malformed_bvh_names_the_file(tmp_path, broken):
    with pytest.raises(ValueError, match="broken.bvh"):
        read_bvh(write(tmp_path / "broken.bvh", broken), unit="cm")


def test_truncated_gzip_names_the_file(tmp_path):
    data = gzip.compress(CHAIN_BVH.encode())
    (tmp_path / "cut.bvh.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut.bvh.gz"):
        read_bvh(tmp_path / "cut.bvh.gz", unit="cm")


@pytest.mark.parametrize("asf, amc", [
    (ASF, AMC.replace("upper 90", "upper 90 10")),                  # too many values
    (ASF, AMC + "2\nroot 1 2 3 0 0 0\nupper 90\n"),                 # bone missing in frame 2
    (ASF, AMC.replace("lower 90", "elbow 90")),                     # unknown bone
    (ASF, AMC.replace("upper 90", "upper ninety")),
    (ASF.replace("length 0.5", "length half"), AMC),
    (ASF.replace(":hierarchy", ":nothing"), AMC),
    (ASF.replace("axis 0 0 0 XYZ", "axis 0 0 0 XXZ"), AMC),
    (ASF.replace("    root upper", "    root shoulder"), AMC),
])
def test_malformed_asf_amc_names_the_file(tmp_path, asf, amc):
    asf_path, amc_path = write(tmp_path / "bad.asf", asf), write(tmp_path / "bad_01.amc", amc)
    with pytest.raises(ValueError, match="bad"):
        read_amc(amc_path, read_asf(asf_path))


def test_unknown_rig_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown rig"):
        to_mocap22(read_bvh(write(tmp_path / "chain.bvh", CHAIN_BVH), unit="cm"))


def test_resample_interpolates_linearly():
    x = np.arange(13, dtype=np.float32)[:, None] * np.array([1.0, 2.0], np.float32)  # 120 Hz ramp
    y = resample(x, 120.0, 50.0)
    assert y.dtype == np.float32 and len(y) == 6  # 0.1 s: 0, 20, ... 100 ms
    np.testing.assert_allclose(y[:, 1], [0, 4.8, 9.6, 14.4, 19.2, 24], atol=1e-5)


# --- real data ------------------------------------------------------------------------------------

def _asf_motion(shared_data, name="02_01"):
    folder = shared_data / "mocap" / "cmu_asfamc" / "02"
    return read_amc(folder / f"{name}.amc.gz", read_asf(folder / "02.asf"))


def test_cmu_asf_units_give_human_sizes(shared_data):
    skeleton = read_asf(shared_data / "mocap" / "cmu_asfamc" / "02" / "02.asf")
    femur = skeleton.lengths_mm[skeleton.bone_names.index("lfemur")]
    assert 380 < femur < 480  # 7.59 units / 0.45 * 25.4 mm = 428 mm


def test_rig_eyes_match_the_rigs_own_eye_joints(shared_data):
    """The virtual eyes (head orientation + fixed offsets) land on the eye joints of rigs that have them."""
    for rel, eyes in (("salsa/01.bvh.gz", ("leftEye", "rightEye")),
                      ("iclone_subjects/006/006_01.bvh.gz", ("CC_Base_L_Eye", "CC_Base_R_Eye"))):
        motion = read_bvh(shared_data / "mocap" / "cmu_bvh" / rel)
        joints = to_mocap22(motion)
        positions, _ = forward_kinematics(motion)
        for ours, theirs in zip(("l_eye", "r_eye"), eyes):
            err = np.linalg.norm(joints[:, MOCAP22.index(ours)] - positions[:, motion.index(theirs)], axis=-1)
            assert np.median(err) < 15, (rel, ours, np.median(err))


def test_nose_points_where_the_toes_point(shared_data):
    """In an upright walk, the face (ears -> nose) and the feet (ankle -> toe) face the same way."""
    for motion, toes in ((_asf_motion(shared_data), ("ltoes", "rtoes")),
                         (read_bvh(shared_data / "mocap" / "cmu_bvh" / "salsa" / "01.bvh.gz"), ("lFoot_end", "rFoot_end")),
                         (read_bvh(shared_data / "mocap" / "cmu_bvh" / "iclone_subjects" / "006" / "006_01.bvh.gz"),
                          ("CC_Base_L_ToeBase", "CC_Base_R_ToeBase"))):
        joints = to_mocap22(motion)
        positions, _ = forward_kinematics(motion)
        ankles = positions[:, [motion.index(detect_rig(motion).limbs[f"{s}_ankle"]) for s in "lr"]]
        feet = (positions[:, [motion.index(t) for t in toes]] - ankles).sum(axis=1)
        ears = 0.5 * (joints[:, MOCAP22.index("l_ear")] + joints[:, MOCAP22.index("r_ear")])
        face = joints[:, MOCAP22.index("nose")] - ears
        feet[:, 1] = face[:, 1] = 0
        cos = (feet * face).sum(-1) / np.linalg.norm(feet, axis=-1) / np.linalg.norm(face, axis=-1)
        assert np.median(cos) > np.cos(np.deg2rad(35)), motion.name


def test_z_up_world_is_turned_y_up(shared_data):
    motion = _asf_motion(shared_data)
    y_up = to_mocap22(motion)
    to_z_up = rot("x", 90)
    motion.local_rotations[:, 0] = to_z_up @ motion.local_rotations[:, 0]
    motion.root_positions_mm = motion.root_positions_mm @ to_z_up.T
    np.testing.assert_allclose(to_mocap22(motion), y_up, atol=0.05)


def test_iclone_frame_rate_matches_the_asf_takes(shared_data):
    """iclone 002_NN and ASF 02_NN are the same takes: equal durations prove the 60 Hz rate."""
    for take in ("01", "05"):
        bvh = load_clip(shared_data / "mocap" / "cmu_bvh" / "iclone_subjects" / "002" / f"002_{take}.bvh.gz")
        amc = load_clip(shared_data / "mocap" / "cmu_asfamc" / "02" / f"02_{take}.amc.gz")
        assert bvh.fps == 60 and amc.fps == 120
        assert len(bvh.joints_world_mm) / bvh.fps == pytest.approx(len(amc.joints_world_mm) / amc.fps, abs=0.02)
        assert bvh.subject == amc.subject == "2"


def _check_human(joints: np.ndarray, name: str) -> tuple[int, int]:
    """Bone lengths, symmetry, height and face orientation of one clip (T, 22, 3), Y-up, mm.

    Returns (upright frames with the nose ahead of the ears, upright frames).
    """
    assert np.isfinite(joints).all(), name
    x = joints.astype(np.float64)
    bones = {b: length for b, length in zip(H36M17.bones, np.median(bone_lengths(x[:, :17]), axis=0))}

    def pair(a, b):
        return [bones[(H36M17.index(f"{s}_{a}"), H36M17.index(f"{s}_{b}"))] for s in "lr"]

    # HDM05 actor bk's skeleton has forearms of 334 and 295 mm: 13% apart.
    for (a, b), (low, high) in {("hip", "knee"): (300, 550), ("knee", "ankle"): (300, 550),
                                ("shoulder", "elbow"): (220, 380), ("elbow", "wrist"): (180, 340)}.items():
        left, right = pair(a, b)
        assert low < left < high and low < right < high, (name, a, b, left, right)
        assert max(left, right) / min(left, right) < 1.15, (name, a, b, left, right)

    j = MOCAP22.index
    torso = x[:, j("thorax")] - x[:, j("pelvis")]
    upright = torso[:, 1] > 0.9 * np.linalg.norm(torso, axis=-1)
    if upright.mean() > 0.5:
        # The H36M head sits below the crown and the ankles above the floor:
        # head-to-ankle is ~15 cm short of the standing height (1.5-2 m).
        height = x[upright, j("head"), 1] - np.minimum(x[upright, j("l_ankle"), 1], x[upright, j("r_ankle"), 1])
        assert 1200 < np.percentile(height, 90) < 1900, (name, np.percentile(height, 90))
    left = x[:, j("l_hip")] - x[:, j("r_hip")]
    facing = np.cross(left, [0.0, 1.0, 0.0])
    face = x[:, j("nose")] - 0.5 * (x[:, j("l_ear")] + x[:, j("r_ear")])
    nose_ahead = (face * facing).sum(-1) > 0
    # Only upright frames: lying down, "facing" from the hips is meaningless. A
    # spinning dancer's head can trail the hips by more than 90 degrees.
    if upright.any():
        assert nose_ahead[upright].mean() > 0.6, name
    eye_left = ((x[:, j("l_eye")] - x[:, j("r_eye")]) * left).sum(-1) > 0
    assert eye_left.mean() > 0.9, name
    return int(nose_ahead[upright].sum()), int(upright.sum())


@pytest.mark.slow
def test_every_shared_clip_maps_to_a_plausible_human(shared_data):
    root = shared_data / "mocap"
    clips = load_open_mocap(root, "all")  # cached in ~/.cache/monocap/mocap after the first run
    files = mocap_dataset._clip_files(root)
    assert {p.relative_to(root).parts[0] for p in files} == {"cmu_bvh", "cmu_asfamc", "hdm05"}
    # salsa 06 has its head upside down throughout: nothing of it is kept.
    missing = {f"{p.parent.name}/{file_stem(p)}" for p in files} - {c.name.split("#")[0] for c in clips}
    assert missing == {"salsa/06"}
    counts = []
    for clip in clips:
        assert clip.fps == 50.0 and clip.joints_world_mm.dtype == np.float32
        counts.append(_check_human(clip.joints_world_mm, clip.name))
    # The iclone copy of subject 2 is not in the open set: check it directly.
    for path in sorted((root / "cmu_bvh" / "iclone_subjects" / "002").glob("*.bvh.gz")):
        for piece in mocap_dataset.fault_free_pieces(load_clip(path)):
            counts.append(_check_human(piece.joints_world_mm, piece.name))
    ahead, upright = np.sum(counts, axis=0)
    assert ahead / upright > 0.99


@pytest.mark.slow
def test_mapped_proportions_resemble_h36m(shared_data):
    clips = load_open_mocap(shared_data / "mocap", "all")
    by_rig = defaultdict(list)
    for clip in clips:
        rig = "hdm05" if clip.source == "hdm05" else clip.name.split("/")[0]
        by_rig[rig].append(clip.joints_world_mm[::10])
    j = MOCAP22.index
    for rig, parts in by_rig.items():
        x = np.concatenate(parts).astype(np.float64)

        def dist(a, b):
            return np.median(np.linalg.norm(x[:, j(a)] - x[:, j(b)], axis=-1))

        for (a, b), key in {("thorax", "neck_nose"): "thorax_neck_nose", ("neck_nose", "head"): "neck_nose_head",
                            ("thorax", "head"): "thorax_head"}.items():
            assert dist(a, b) == pytest.approx(H36M_REFERENCE[key], rel=0.25), (rig, key, dist(a, b))
        spine, thorax = x[:, j("spine")] - x[:, j("pelvis")], x[:, j("thorax")] - x[:, j("pelvis")]
        fraction = np.median((spine * thorax).sum(-1) / (thorax * thorax).sum(-1))
        assert fraction == pytest.approx(H36M_REFERENCE["spine_fraction"], abs=0.04), rig


@pytest.mark.slow
def test_split_holds_out_whole_subjects(shared_data):
    train = load_open_mocap(shared_data / "mocap", "train")
    test = load_open_mocap(shared_data / "mocap", "test")
    subjects = {split: {(c.source, c.subject) for c in clips} for split, clips in (("train", train), ("test", test))}
    assert not subjects["train"] & subjects["test"]
    assert {s for src, s in subjects["test"] if src == "hdm05"} == {"mm", "tr"}
    assert ("cmu", "7") in subjects["test"] and ("cmu", "2") in subjects["train"]
    # Subject 2 only once, from the ASF/AMC files.
    assert not [c for c in train + test if c.name.startswith("002/")]
    assert {c.name.split("#")[0] for c in test if c.name.startswith("salsa/")} == {
        "salsa/14", "salsa/15", "salsa/29", "salsa/30"}
    cmu_frames = {split: sum(len(c.joints_world_mm) for c in clips if c.source == "cmu")
                  for split, clips in (("train", train), ("test", test))}
    assert 0.08 < cmu_frames["test"] / (cmu_frames["train"] + cmu_frames["test"]) < 0.18


def test_open_mocap_cache_is_used_and_refreshed(shared_data, tmp_path, monkeypatch):
    src = shared_data / "mocap"
    root = tmp_path / "mocap"
    for rel in ("cmu_asfamc/02/02.asf", "cmu_asfamc/02/02_03.amc.gz", "cmu_bvh/iclone_subjects/fps.csv",
                "cmu_bvh/iclone_subjects/007/007_12.bvh.gz"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src / rel, root / rel)
    first = load_open_mocap(root, "all", fps=30.0, cache_dir=tmp_path / "cache")
    assert [c.name for c in first] == ["007/007_12", "02/02_03"]
    assert [c.subject for c in first] == ["7", "2"]
    assert [len(c.joints_world_mm) for c in first] == pytest.approx([65, 43], abs=2)  # 2.2 s, 1.4 s at 30 Hz

    def no_loading(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(mocap_dataset, "load_clip", no_loading)
    cached = load_open_mocap(root, "all", fps=30.0, cache_dir=tmp_path / "cache")
    for a, b in zip(first, cached):
        assert (a.name, a.subject, a.source, a.fps) == (b.name, b.subject, b.source, b.fps)
        np.testing.assert_array_equal(a.joints_world_mm, b.joints_world_mm)
    amc = root / "cmu_asfamc/02/02_03.amc.gz"
    os.utime(amc, ns=(amc.stat().st_atime_ns, amc.stat().st_mtime_ns + 10**9))
    with pytest.raises(AssertionError, match="cache should"):
        load_open_mocap(root, "all", fps=30.0, cache_dir=tmp_path / "cache")


def test_interpolate_times_is_linear_between_samples_and_holds_the_ends():
    from monocap.io.motion import interpolate_times

    values = np.array([[0.0, 10.0], [2.0, 30.0], [6.0, 50.0]])  # (T=3, 2) at t = 0, 1, 3 s
    out = interpolate_times(values, [0.0, 1.0, 3.0], [-1.0, 0.5, 2.0, 3.0, 9.0])
    np.testing.assert_allclose(out, [[0, 10], [1, 20], [4, 40], [6, 50], [6, 50]])
    along_2 = interpolate_times(values.T[None], [0.0, 1.0, 3.0], [0.25, 1.5], axis=2)  # (1, 2, T) → (1, 2, 2)
    np.testing.assert_allclose(along_2, [[[0.5, 3.0], [15.0, 35.0]]])
