import numpy as np
import pytest

from monocap.skeleton import (BLAZEPOSE33, COCO17, H36M17, MOCAP22, MPI_INF_3DHP17, blazepose33_to_coco17, bone_lengths,
                              coco17_to_h36m17, flip_lr, joint_set, mocap22_to_coco17, mpi_inf_3dhp17_to_h36m17,
                              to_h36m17)


@pytest.mark.parametrize("js", [H36M17, COCO17, BLAZEPOSE33, MOCAP22])
def test_flip_is_an_involution_that_swaps_sides(js):
    perm = np.array(js.flip_perm)
    assert (perm[perm] == np.arange(len(js))).all()
    for i, name in enumerate(js.joints):
        other = js.joints[perm[i]]
        if name.startswith(("l_", "left_")):
            assert other.split("_", 1)[1] == name.split("_", 1)[1] and other != name
        else:
            assert other == name or name.startswith(("r_", "right_"))


@pytest.mark.parametrize("js", [H36M17, COCO17, BLAZEPOSE33, MOCAP22])
def test_parents_form_a_tree(js):
    assert js.parents.count(-1) == 1
    for child, parent in enumerate(js.parents):
        assert parent < len(js)
        seen, j = set(), child
        while j != -1:  # walking up reaches the root without a cycle
            assert j not in seen
            seen.add(j)
            j = js.parents[j]


def test_flip_lr_mirrors_a_pose():
    pose = np.random.default_rng(0).normal(size=(17, 3))
    flipped = flip_lr(pose)
    assert np.allclose(flip_lr(flipped), pose)
    assert np.allclose(flipped[H36M17.index("l_wrist"), 0], -pose[H36M17.index("r_wrist"), 0])
    assert np.allclose(bone_lengths(flipped).sum(), bone_lengths(pose).sum())


def test_coco_to_h36m_builds_torso_and_head():
    rng = np.random.default_rng(1)
    coco = rng.normal(size=(5, 17, 2)) * 100
    scores = rng.uniform(0.2, 1.0, size=(5, 17))
    h36m, s = coco17_to_h36m17(coco, scores)
    c = {n: coco[:, i] for i, n in enumerate(COCO17.joints)}
    h = {n: h36m[:, i] for i, n in enumerate(H36M17.joints)}
    assert np.allclose(h["pelvis"], (c["l_hip"] + c["r_hip"]) / 2)
    assert np.allclose(h["thorax"], (c["l_shoulder"] + c["r_shoulder"]) / 2)
    assert np.allclose(h["r_knee"], c["r_knee"]) and np.allclose(h["l_wrist"], c["l_wrist"])
    ears = (c["l_ear"] + c["r_ear"]) / 2
    # the head top lies beyond the ears, on the line from the thorax
    a, b = h["head"] - h["thorax"], ears - h["thorax"]
    assert np.allclose(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0], 0, atol=1e-9)
    assert (np.linalg.norm(h["head"] - h["thorax"], axis=-1) > np.linalg.norm(ears - h["thorax"], axis=-1)).all()
    sc = {n: scores[:, i] for i, n in enumerate(COCO17.joints)}
    assert np.allclose(s[:, H36M17.index("pelvis")], np.minimum(sc["l_hip"], sc["r_hip"]))
    assert np.allclose(s[:, H36M17.index("r_ankle")], sc["r_ankle"])


def test_selections_keep_names():
    pts = np.arange(33 * 2, dtype=float).reshape(33, 2)
    coco, _ = blazepose33_to_coco17(pts)
    for i, name in enumerate(COCO17.joints):
        bp_name = name.replace("l_", "left_").replace("r_", "right_")
        assert np.allclose(coco[i], pts[BLAZEPOSE33.index(bp_name)])
    m22 = np.arange(22 * 3, dtype=float).reshape(22, 3)
    coco3 = mocap22_to_coco17(m22)
    for i, name in enumerate(COCO17.joints):
        assert np.allclose(coco3[i], m22[MOCAP22.index(name)])


def test_to_h36m17_checks_the_joint_count():
    with pytest.raises(ValueError, match="coco17"):
        to_h36m17(np.zeros((4, 18, 2)), None, "coco17")
    with pytest.raises(ValueError, match="unknown joint format"):
        joint_set("smpl24")
    pts, s = to_h36m17(np.zeros((4, 33, 2)), np.ones((4, 33)), "blazepose33")
    assert pts.shape == (4, 17, 2) and s.shape == (4, 17)


def test_mpi_inf_3dhp_test_joints_reorder_onto_h36m17():
    # MPI-INF-3DHP's own order: head_top, neck, right arm, left arm, right leg, left leg, pelvis, spine, head
    assert MPI_INF_3DHP17.joints[0] == "head" and MPI_INF_3DHP17.joints[14] == "pelvis"
    assert MPI_INF_3DHP17.joints[1] == "thorax" and MPI_INF_3DHP17.joints[16] == "neck_nose"
    points = np.arange(17 * 3, dtype=float).reshape(17, 3)
    converted = mpi_inf_3dhp17_to_h36m17(points)
    for k, name in enumerate(MPI_INF_3DHP17.joints):
        np.testing.assert_array_equal(converted[H36M17.index(name)], points[k])
    names = lambda js: {(js.joints[p], js.joints[c]) for p, c in js.bones}  # noqa: E731
    assert names(MPI_INF_3DHP17) == names(H36M17)
