"""BVH writer: write → read → forward kinematics on real rigs, and real Blender importing our files."""
import dataclasses
import json
import shutil
import subprocess

import numpy as np
import pytest

from monocap.fit.skeleton import fit_person
from monocap.io.asfamc import read_amc, read_asf
from monocap.io.bvh import read_bvh, write_bvh
from monocap.io.h36m import load_h36m_cameras, load_h36m_poses
from monocap.io.motion import Motion, forward_kinematics
from monocap.skeleton import RIG21


def first_frames(motion: Motion, n: int) -> Motion:
    """The clip's first ``n`` frames (keeps the tests fast)."""
    return dataclasses.replace(motion, local_rotations=motion.local_rotations[:n],
                               root_positions_mm=motion.root_positions_mm[:n],
                               local_translations_mm=motion.local_translations_mm[:n])


def fk_by_name(motion: Motion) -> dict[str, np.ndarray]:
    positions, _ = forward_kinematics(motion)
    return {name: positions[:, j] for j, name in enumerate(motion.joint_names)}


def assert_same_fk(original: Motion, read_back: Motion, atol_mm: float) -> None:
    """Every joint of ``original`` is where ``read_back`` puts it (end sites are matched by position in the tree)."""
    expected, got = fk_by_name(original), fk_by_name(read_back)
    for j, name in enumerate(original.joint_names):
        # The reader names an end site after its parent.
        key = f"{original.joint_names[original.parents[j]]}_end" if original.is_end_site[j] else name
        np.testing.assert_allclose(got[key], expected[name], atol=atol_mm, err_msg=name)


@pytest.fixture(scope="module")
def mocap(shared_data):
    return shared_data / "mocap"


@pytest.fixture(scope="module")
def salsa(mocap) -> Motion:
    """A CMU salsa take on the CMU "Hips" rig (57 joints, 14 end sites), first 120 frames."""
    return first_frames(read_bvh(mocap / "cmu_bvh" / "salsa" / "01.bvh.gz"), 120)


@pytest.fixture(scope="module")
def fitted_h36m(shared_data) -> Motion:
    """What `monocap export` writes: a skeleton fitted (RIG21 tree: H36M-17 with collars, lower back and neck
    base on their parents; ankles, wrists and head as end sites) to
    Human3.6M S1 walking, 100 frames at 50 Hz, seen through its first camera."""
    root = shared_data / "h36m"
    sequence = next(s for s in load_h36m_poses(root, ("S1",)) if s.action == "Walking 1")
    camera = load_h36m_cameras(root)["S1"][0]
    world = sequence.joints_world_mm[:100].astype(np.float64)
    joints_cam = camera.world_to_camera(world)
    keypoints = camera.project(world)
    person = fit_person(joints_cam - joints_cam[:, :1], joints_cam[:, 0], keypoints, np.ones(keypoints.shape[:2]),
                        camera.intrinsics, 50.0, joint_format="h36m17")
    assert person.motion.joint_names == list(RIG21.joints) and person.motion.is_end_site.any()
    return person.motion


def test_round_trip_fitted_h36m_tree(fitted_h36m, tmp_path):
    path = write_bvh(fitted_h36m, tmp_path / "fitted.bvh")
    back = read_bvh(path)
    assert back.fps == pytest.approx(50.0) and back.num_frames == 100
    assert path.read_text().count("End Site") == fitted_h36m.is_end_site.sum()
    assert_same_fk(fitted_h36m, back, atol_mm=0.5)


@pytest.mark.parametrize("unit, order", [("mm", "ZXY"), ("cm", "XYZ"), ("m", "YZX")])
def test_round_trip_cmu_bvh_rigs(mocap, salsa, tmp_path, unit, order):
    iclone = first_frames(read_bvh(mocap / "cmu_bvh" / "iclone_subjects" / "002" / "002_01.bvh.gz"), 120)
    for motion in (salsa, iclone):
        path = write_bvh(motion, tmp_path / f"{motion.name}.bvh", unit=unit, rotation_order=order)
        back = read_bvh(path, unit=unit)
        assert back.num_frames == motion.num_frames and back.fps == pytest.approx(motion.fps, rel=1e-8)
        assert f"CHANNELS 3 {order[0]}rotation {order[1]}rotation {order[2]}rotation" in path.read_text()
        assert_same_fk(motion, back, atol_mm=0.5)
        # The unit written is the unit the reader's guess finds.
        assert read_bvh(path).offsets_mm == pytest.approx(back.offsets_mm)


def test_round_trip_asf_amc_motion(mocap, tmp_path):
    """An ASF/AMC motion (its own rotation conventions, end sites at the leaf bones) as BVH."""
    skeleton = read_asf(mocap / "cmu_asfamc" / "02" / "02.asf")
    motion = read_amc(mocap / "cmu_asfamc" / "02" / "02_01.amc.gz", skeleton)
    back = read_bvh(write_bvh(motion, tmp_path / "02_01.bvh"), unit="mm")
    assert back.fps == pytest.approx(120.0)
    assert_same_fk(motion, back, atol_mm=0.5)


def test_angles_are_unwrapped(salsa, tmp_path):
    """A joint turning steadily past 180 degrees keeps counting instead of jumping back by 360."""
    turns = np.deg2rad(np.linspace(0.0, 720.0, salsa.num_frames))
    spin = np.zeros((salsa.num_frames, 3, 3))
    spin[:, 0, 0] = spin[:, 2, 2] = np.cos(turns)
    spin[:, 0, 2], spin[:, 2, 0] = np.sin(turns), -np.sin(turns)
    spin[:, 1, 1] = 1.0
    rotations = salsa.local_rotations.copy()
    rotations[:, 0] = spin  # the root turns about the vertical twice
    motion = dataclasses.replace(salsa, local_rotations=rotations)
    path = write_bvh(motion, tmp_path / "spin.bvh")
    values = np.loadtxt(path.read_text().split("Frame Time:")[1].splitlines()[1:], ndmin=2)
    yaw = values[:, 5]  # root channels: X Y Z position, then Z X Y rotation
    assert np.abs(np.diff(yaw)).max() < 10.0 and yaw[-1] - yaw[0] == pytest.approx(720.0, abs=0.01)
    assert_same_fk(motion, read_bvh(path, unit="mm"), atol_mm=0.5)


def test_bad_motion_leaves_no_file(salsa, tmp_path):
    rotations = salsa.local_rotations.copy()
    rotations[3, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        write_bvh(dataclasses.replace(salsa, local_rotations=rotations), tmp_path / "bad.bvh")
    with pytest.raises(ValueError, match="rotation_order"):
        write_bvh(salsa, tmp_path / "bad.bvh", rotation_order="XXY")
    assert list(tmp_path.iterdir()) == []


# --- Blender -------------------------------------------------------------------------------------

# Runs inside Blender: import the BVH as Blender users do (File > Import > BVH, default axes: the
# file's Y up becomes Blender's Z up) and dump every pose bone's head in world space at some frames.
# The importer puts BVH frame i at Blender frame frame_start + i. Debian's Blender 3.4 runs on
# Python 3.11, where the importer's open(path, "rU") fails: the mode is mapped to "r" for it.
BLENDER_SCRIPT = """
import builtins, json, sys
import bpy
import io_anim_bvh.import_bvh as importer
importer.open = lambda f, mode="r", *a, **k: builtins.open(f, mode.replace("U", ""), *a, **k)
bvh, out, frames = sys.argv[sys.argv.index("--") + 1:]
bpy.ops.import_anim.bvh(filepath=bvh, global_scale=1.0, rotate_mode="NATIVE", axis_forward="-Z", axis_up="Y",
                        frame_start=1, use_fps_scale=False, update_scene_fps=True)
armature, scene = bpy.context.object, bpy.context.scene
heads, tails = {}, {}
for frame in map(int, frames.split(",")):
    scene.frame_set(1 + frame)
    heads[frame] = {bone.name: list(armature.matrix_world @ bone.head) for bone in armature.pose.bones}
    tails[frame] = {bone.name: list(armature.matrix_world @ bone.tail) for bone in armature.pose.bones}
json.dump({"fps": scene.render.fps / scene.render.fps_base, "heads": heads, "tails": tails}, open(out, "w"))
"""
# Blender world (Z up) from the BVH file's axes (Y up): x stays, BVH -z becomes Blender y.
BLENDER_FROM_BVH = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])


def blender_bone_heads(bvh_path, frames: list[int], tmp_path) -> dict:
    blender = shutil.which("blender")
    if blender is None:
        pytest.skip("Blender is not installed (.ci/run installs the Debian package `blender`)")
    out = tmp_path / "heads.json"
    proc = subprocess.run([blender, "-b", "--factory-startup", "--python-expr", BLENDER_SCRIPT, "--",
                           str(bvh_path), str(out), ",".join(map(str, frames))],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and out.exists(), proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(out.read_text())


def assert_blender_matches_fk(motion: Motion, path, frames: list[int], tmp_path) -> None:
    """Blender's bone heads (mm, back in the BVH axes) are our FK joint positions within 1 mm.

    A bone whose joint has one child (a joint or an end site) ends at that child: its tail is checked too,
    which covers the end sites (ankles, wrists, head top), for which Blender makes no bone.
    """
    dumped = blender_bone_heads(path, frames, tmp_path)
    assert dumped["fps"] == pytest.approx(motion.fps, rel=1e-6)
    positions, _ = forward_kinematics(motion)
    bones = [j for j in range(motion.num_joints) if not motion.is_end_site[j]]
    only_child = {j: np.flatnonzero(motion.parents == j) for j in bones}
    only_child = {j: c[0] for j, c in only_child.items() if len(c) == 1}
    assert any(motion.is_end_site[c] for c in only_child.values())
    for frame in frames:
        heads, tails = dumped["heads"][str(frame)], dumped["tails"][str(frame)]
        assert sorted(heads) == sorted(motion.joint_names[j] for j in bones)
        for j in bones:
            name = motion.joint_names[j]
            np.testing.assert_allclose(BLENDER_FROM_BVH.T @ np.array(heads[name]), positions[frame, j], atol=1.0,
                                       err_msg=f"{name} head, frame {frame}")
            if j in only_child:
                np.testing.assert_allclose(BLENDER_FROM_BVH.T @ np.array(tails[name]),
                                           positions[frame, only_child[j]], atol=1.0,
                                           err_msg=f"{name} tail, frame {frame}")


def test_blender_imports_cmu_rig(salsa, tmp_path):
    path = write_bvh(salsa, tmp_path / "salsa.bvh")
    assert_blender_matches_fk(salsa, path, [0, 1, 57, salsa.num_frames - 1], tmp_path)


def test_blender_imports_fitted_skeleton(fitted_h36m, tmp_path):
    path = write_bvh(fitted_h36m, tmp_path / "person0.bvh")
    assert_blender_matches_fk(fitted_h36m, path, [0, 1, 33, 99], tmp_path)
