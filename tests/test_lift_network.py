"""The lifting network as onnxruntime runs it, and single-frame lifting in blocks."""
import numpy as np
import pytest

from monocap.camera import Intrinsics
from monocap.lift.lifter import Lifter, model_path
from monocap.lift.model import CHUNK, LiftModel
from monocap.lift.onnx_graph import lift_network_onnx


@pytest.mark.parametrize("name", ["default", "h36m"])
def test_graph_is_valid_onnx_and_computes_the_weight_files_layers(name):
    onnx = pytest.importorskip("onnx")
    model = LiftModel.load(model_path(name), threads=1)
    blocks = int(model.config["blocks"])
    parts = [(None, "all"), ("centered", "all"), ("causal", "all"), (None, "top"), ("causal", "top")]
    if not model.heads_on_inputs:  # heads on the inputs read no per-frame features, so there is no trunk graph
        parts.append((None, "trunk"))
    for head, part in parts:
        graph = lift_network_onnx(model.w, blocks, model.dilations, head, part, model.heads_on_inputs,
                                  model.head_share)
        onnx.checker.check_model(onnx.load_from_string(graph), full_check=True)

    # The same layers in float64 numpy, written out here from the weight file's arrays.
    w = {k: v.astype(np.float64) for k, v in model.w.items()}
    x = np.random.default_rng(0).normal(size=(300, 51))
    h = np.maximum(x @ w["fc_in.W"] + w["fc_in.b"], 0)
    for i in range(blocks):
        y = np.maximum(h @ w[f"blocks.{i}.fc1.W"] + w[f"blocks.{i}.fc1.b"], 0)
        h = h + np.maximum(y @ w[f"blocks.{i}.fc2.W"] + w[f"blocks.{i}.fc2.b"], 0)
    expected = (1000.0 * (h @ w["frame_head.W"] + w["frame_head.b"])).reshape(-1, 17, 3)
    expected[:, 0] = 0.0
    out = model.single(x)
    assert out.dtype == np.float32 and out.shape == (300, 17, 3)
    assert np.abs(out - expected).max() < 0.01  # mm, float32 arithmetic
    assert np.abs(expected).max() > 100  # a real pose, not zeros


def test_single_frame_lifting_in_blocks_matches_frame_by_frame(shared_data):
    """`Lifter` lifts long single-frame batches in blocks of CHUNK frames; the blocks must join seamlessly."""
    from monocap.io.h36m import load_h36m_cameras, load_h36m_poses

    world = np.concatenate([s.joints_world_mm for s in load_h36m_poses(shared_data / "h36m", ("S8",))[:3]])
    cam = load_h36m_cameras(shared_data / "h36m")["S8"][0]
    T = CHUNK + 700  # two people of T frames: the blocks cut through the second person's track
    kp = cam.project(world[:2 * T].reshape(2, T, 17, 3).astype(float))
    scores = np.ones(kp.shape[:-1])
    scores[1, 5, [3, 6]] = 0.0  # feet missing in one frame
    scores[0, 9, 4:] = 0.0  # too few joints: NaN
    intr = Intrinsics(cam.intrinsics.fx, cam.intrinsics.fy, cam.intrinsics.cx, cam.intrinsics.cy, 1000, 1002)
    lifter = Lifter("default")
    whole = lifter(kp, scores, intr, temporal=False)
    assert whole.poses3d_mm.shape == (2, T, 17, 3) and whole.root_cam_mm.shape == (2, T, 3)
    for p, t in [(0, 0), (0, 9), (0, CHUNK - 1), (0, CHUNK), (1, 5), (1, T - CHUNK - 1), (1, T - 1)]:
        alone = lifter(kp[p, t], scores[p, t], intr, temporal=False)
        np.testing.assert_allclose(whole.poses3d_mm[p, t], alone.poses3d_mm, atol=1e-3)
        np.testing.assert_allclose(whole.root_cam_mm[p, t], alone.root_cam_mm, atol=1e-2)
    assert np.isnan(whole.poses3d_mm[0, 9]).all() and np.isfinite(whole.poses3d_mm[0, 10]).all()


@pytest.mark.parametrize("shape", [(0, 17, 2), (3, 0, 17, 2), (0, 5, 17, 2)])
@pytest.mark.parametrize("temporal", [False, True])
def test_no_frames_or_no_people_lift_to_empty_arrays(shape, temporal):
    """A track list can be empty (nobody in the video): the lifter returns empty arrays of the right shape."""
    result = Lifter("default")(np.zeros(shape), None, Intrinsics.from_fov(640, 480), temporal=temporal,
                               flip_test=True)
    assert result.poses3d_mm.shape == (*shape[:-1], 3) and result.root_cam_mm.shape == (*shape[:-2], 3)
