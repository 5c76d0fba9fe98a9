"""The 2D keypoint stage: detections, the MediaPipe and RTMO backends, weight caching, keypoint files.

RTMO's real weights cannot be fetched here, so its pre/post-processing is
checked on real COCO annotations encoded the way the network reports them,
and the download + onnxruntime path with a small ONNX model made in the test
and served from 127.0.0.1.
"""
import functools
import hashlib
import http.server
import json
import os
import socket
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from monocap.detect2d import Detections2D, PoseDetector, WeightsError, create_detector, read_keypoint_file
from monocap.detect2d import weights as weights_mod
from monocap.detect2d.base import boxes_around
from monocap.detect2d.files import OPENPOSE_BODY25, OPENPOSE_COCO18
from monocap.detect2d.weights import WeightSpec, resolve_weights
from monocap.skeleton import BLAZEPOSE33, COCO17

INPUT = (640, 640)


@pytest.fixture(scope="module")
def rtmo():
    """The RTMO backend module (it needs OpenCV, a main dependency; skipped where it is missing)."""
    pytest.importorskip("cv2")
    from monocap.detect2d import rtmpose_backend
    return rtmpose_backend


@pytest.fixture(scope="module")
def coco(shared_data):
    """The real COCO annotations: {image_id: (file, (width, height), keypoints (N,17,3), bboxes (N,4) xyxy)}."""
    folder = shared_data / "media" / "coco"
    data = json.loads((folder / "test_coco.json").read_text())
    out = {}
    for img in data["images"]:
        people = [a for a in data["annotations"] if a["image_id"] == img["id"] and a["num_keypoints"] > 0]
        kp = np.array([a["keypoints"] for a in people], np.float64).reshape(-1, 17, 3)
        xywh = np.array([a["bbox"] for a in people], np.float64)
        boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        out[img["id"]] = (folder / img["file_name"], (img["width"], img["height"]), kp, boxes)
    return out


# --- Detections2D and the factory ---------------------------------------------------------------

def test_detections_shapes_empty_and_coco17_conversion():
    rng = np.random.default_rng(0)
    kp = rng.uniform(0, 500, (2, 33, 2))
    scores = rng.uniform(0, 1, (2, 33))
    dets = Detections2D.from_keypoints(kp, scores, "blazepose33", (640, 480))
    assert dets.keypoints_px.dtype == np.float32 and len(dets) == 2
    np.testing.assert_allclose(dets.boxes_px[:, :2], kp.min(axis=1), rtol=1e-6)

    coco = dets.to_coco17()
    assert coco.joint_format == "coco17" and coco.keypoints_px.shape == (2, 17, 2)
    for j, name in enumerate(COCO17.joints):
        bp = BLAZEPOSE33.index(name.replace("l_", "left_").replace("r_", "right_"))
        np.testing.assert_array_equal(coco.keypoints_px[:, j], dets.keypoints_px[:, bp])
        np.testing.assert_array_equal(coco.scores[:, j], dets.scores[:, bp])
    assert coco.to_coco17() is coco

    empty = Detections2D.empty("coco17", (640, 480))
    assert len(empty) == 0 and empty.keypoints_px.shape == (0, 17, 2) and empty.boxes_px.shape == (0, 4)
    with pytest.raises(ValueError, match=r"scores must have shape"):
        Detections2D(kp, scores[:, :17], dets.boxes_px, dets.box_scores, "blazepose33", (640, 480))
    with pytest.raises(ValueError, match="keypoints_px must have shape"):
        Detections2D(kp, scores, dets.boxes_px, dets.box_scores, "coco17", (640, 480))


def test_boxes_ignore_unfound_joints():
    kp = np.array([[[10, 20], [30, 5], [900, 900]], [[1, 2], [3, 4], [5, 6]]], np.float32)
    scores = np.array([[1, 0.5, 0], [0, 0, 0]])
    np.testing.assert_array_equal(boxes_around(kp, scores), [[10, 5, 30, 20], [1, 2, 5, 6]])


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(ValueError, match=r"unknown 2D backend 'openpose'; expected one of mediapipe, rtmpose"):
        create_detector("openpose")


# --- MediaPipe ----------------------------------------------------------------------------------

def test_mediapipe_runs_offline_on_a_real_image(coco, monkeypatch):
    pytest.importorskip("mediapipe")
    cv2 = pytest.importorskip("cv2")
    from mediapipe.python.solutions import download_utils

    def no_download(*args, **kwargs):
        raise AssertionError(f"MediaPipe tried to download {args}")

    monkeypatch.setattr(download_utils, "download_oss_model", no_download)
    path, size, kp, _ = coco[785]
    frame = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    with create_detector("mediapipe", static_image_mode=True) as detect:
        assert isinstance(detect, PoseDetector)
        dets = detect(frame)
        nobody = detect(np.zeros((240, 320, 3), np.uint8))
        with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
            detect(frame.astype(np.float32))
    assert dets.joint_format == "blazepose33" and len(dets) == 1 and dets.image_size == size
    coco17 = dets.to_coco17()
    seen = kp[0, :, 2] > 0
    err = np.linalg.norm(coco17.keypoints_px[0, seen] - kp[0, seen, :2], axis=1)
    person_height = np.ptp(kp[0, seen, 1])
    assert np.median(err) < 0.05 * person_height, err
    assert ((0 <= dets.scores) & (dets.scores <= 1)).all()
    x0, y0, x1, y1 = dets.boxes_px[0]
    assert x0 < kp[0, seen, 0].mean() < x1 and y0 < kp[0, seen, 1].mean() < y1
    assert len(nobody) == 0 and nobody.image_size == (320, 240)


def test_mediapipe_threads_change_speed_not_landmarks(shared_data):
    """The thread count reaches MediaPipe's graph without changing what it finds, on real video frames."""
    pytest.importorskip("mediapipe")
    from monocap.detect2d.mediapipe_backend import MediaPipePose, default_threads
    from monocap.io.video import open_source

    frames = [frame.rgb for frame, _ in zip(open_source(shared_data / "media" / "demo.mp4"), range(12))]
    found, started = {}, {}
    for threads in (1, 2):
        before = len(os.listdir("/proc/self/task"))
        with MediaPipePose(num_threads=threads) as detect:
            assert detect.num_threads == threads
            found[threads] = np.stack([detect(frame).keypoints_px[0] for frame in frames])
            started[threads] = len(os.listdir("/proc/self/task")) - before
    assert started[2] > started[1], started  # XNNPACK's worker threads exist only when the graph asked for them
    np.testing.assert_allclose(found[1], found[2], atol=1e-3)
    assert 1 <= default_threads() <= 4
    with pytest.raises(ValueError, match="num_threads must be at least 1"):
        MediaPipePose(num_threads=0)


@pytest.mark.parametrize("side", ["left", "right"])
def test_mediapipe_looks_again_in_halves_for_someone_small_in_a_wide_frame(coco, side):
    """A real photo at one end of a frame three times as wide: the full-frame detector misses its skier."""
    pytest.importorskip("mediapipe")
    cv2 = pytest.importorskip("cv2")
    from monocap.detect2d.mediapipe_backend import MediaPipePose

    path, (width, height), kp, _ = coco[785]
    canvas = np.full((height, 3 * width, 3), 127, np.uint8)
    x0 = 0 if side == "left" else 2 * width
    canvas[:, x0:x0 + width] = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    with MediaPipePose(static_image_mode=True, retry_halves=False) as detect:
        assert len(detect(canvas)) == 0
    with MediaPipePose(static_image_mode=True) as detect:
        dets = detect(canvas).to_coco17()
    assert len(dets) == 1 and dets.image_size == (3 * width, height)
    seen = kp[0, :, 2] > 0
    err = np.linalg.norm(dets.keypoints_px[0, seen] - (kp[0, seen, :2] + [x0, 0]), axis=1)
    assert np.median(err) < 0.05 * np.ptp(kp[0, seen, 1]), err


def test_mediapipe_finds_several_people_in_a_real_photo(coco):
    """A COCO photo of four annotated people: one instance finds one, more instances find others, not the same."""
    pytest.importorskip("mediapipe")
    cv2 = pytest.importorskip("cv2")
    from monocap.detect2d.mediapipe_backend import MediaPipePose

    path, _, kp, _ = coco[196141]
    frame = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)

    def matched(dets) -> set[int]:
        """The annotated people that detections lie on (median joint error under 15 % of their height)."""
        people = set()
        for found in dets.keypoints_px:
            for k, truth in enumerate(kp):
                seen = truth[:, 2] > 0
                if np.median(np.linalg.norm(found[seen] - truth[seen, :2], axis=1)) < 0.15 * np.ptp(truth[seen, 1]):
                    people.add(k)
        return people

    with MediaPipePose(static_image_mode=True) as detect:
        one = detect(frame).to_coco17()
    with MediaPipePose(static_image_mode=True, max_people=5) as detect:
        assert detect.max_people == 5
        several = detect(frame).to_coco17()
    assert len(one) == 1 and len(matched(one)) == 1
    assert 3 <= len(several) <= 5
    assert len(matched(several)) >= 3, matched(several)  # distinct people, no one found twice
    np.testing.assert_allclose(several.keypoints_px[0], one.keypoints_px[0], atol=1e-3)  # the first is unchanged
    with pytest.raises(ValueError, match="max_people must be at least 1"):
        MediaPipePose(max_people=0)


def test_mediapipe_follows_two_people_through_real_video(shared_data):
    """demo.mp4: the second person walks in at about frame 40; two instances follow both, apart, frame after frame."""
    pytest.importorskip("mediapipe")
    from monocap.detect2d.mediapipe_backend import MediaPipePose
    from monocap.io.video import open_source

    counts, apart = [], []
    with MediaPipePose(max_people=2) as detect:
        for frame, _ in zip(open_source(shared_data / "media" / "demo.mp4"), range(80)):
            dets = detect(frame.rgb)
            counts.append(len(dets))
            if len(dets) == 2:
                (a0, _, a1, _), (b0, _, b1, _) = dets.boxes_px
                apart.append(min(a1, b1) < max(a0, b0))  # the boxes do not overlap left to right
    counts = np.array(counts)
    assert (counts[:30] == 1).all(), counts  # one person on the box until the other comes in
    assert (counts[50:] == 2).mean() > 0.9, counts
    assert all(apart)


# --- weights: download, cache, verify -----------------------------------------------------------

@pytest.fixture
def server(tmp_path):
    """A file server on 127.0.0.1 for tmp_path/'srv'; yields (base URL, list of requested paths)."""
    root = tmp_path / "srv"
    root.mkdir()
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requests.append(self.path)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", requests
    httpd.shutdown()
    httpd.server_close()


def _zip_with(path: Path, member: str, payload: bytes) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("20231211/rtmo-test/deploy.json", "{}")
        zf.writestr(member, payload)


def _spec(url: str, payload: bytes, member: str | None = "end2end.onnx", **changes) -> WeightSpec:
    fields = dict(name="test-model", url=url, sha256=hashlib.sha256(payload).hexdigest(), filename="test.onnx",
                  member=member)
    fields.update(changes)
    return WeightSpec(**fields)


def test_download_verifies_and_caches(tmp_path, server):
    base, requests = server
    payload = b"model bytes " * 1000
    _zip_with(tmp_path / "srv" / "model.zip", "20231211/rtmo-test/end2end.onnx", payload)
    spec = _spec(f"{base}/model.zip", payload)
    cache = tmp_path / "cache"

    path = resolve_weights(spec, cache_dir=cache, progress=False)
    assert path == cache / "weights" / "test.onnx" and path.read_bytes() == payload
    assert sorted(p.name for p in path.parent.iterdir()) == ["test.onnx"], "temporary files left behind"
    assert resolve_weights(spec, cache_dir=cache, progress=False) == path
    assert len(requests) == 1, "the cached file must be used without asking the server again"

    path.write_bytes(payload[:-1])
    with pytest.raises(WeightsError, match="damaged: delete it"):
        resolve_weights(spec, cache_dir=cache, progress=False)


def test_bad_hash_leaves_nothing_in_the_cache(tmp_path, server):
    base, _ = server
    payload = b"tampered"
    _zip_with(tmp_path / "srv" / "model.zip", "end2end.onnx", payload)
    spec = _spec(f"{base}/model.zip", payload, sha256="0" * 64)
    with pytest.raises(WeightsError, match="expected 0000.*nothing was saved"):
        resolve_weights(spec, cache_dir=tmp_path / "cache", progress=False)
    assert list((tmp_path / "cache" / "weights").iterdir()) == []

    (tmp_path / "srv" / "plain.onnx").write_bytes(payload)
    with pytest.raises(WeightsError, match="not a zip archive"):
        resolve_weights(_spec(f"{base}/plain.onnx", payload), cache_dir=tmp_path / "cache", progress=False)
    assert list((tmp_path / "cache" / "weights").iterdir()) == []


def test_no_network_fails_fast_naming_the_alternatives(tmp_path):
    with socket.socket() as s:  # a port that was just free: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec = _spec(f"http://127.0.0.1:{port}/model.zip", b"x")
    start = time.monotonic()
    with pytest.raises(WeightsError) as err:
        resolve_weights(spec, cache_dir=tmp_path, timeout=2, progress=False)
    assert time.monotonic() - start < 5
    assert "--backend mediapipe" in str(err.value) and "--weights PATH" in str(err.value)
    assert list((tmp_path / "weights").iterdir()) == []


def test_file_url_env_cache_and_local_weights(tmp_path, monkeypatch):
    payload = b"plain onnx file"
    source = tmp_path / "model.onnx"
    source.write_bytes(payload)
    monkeypatch.setenv("MONOCAP_CACHE", str(tmp_path / "env-cache"))
    path = resolve_weights(_spec(source.as_uri(), payload, member=None), progress=False)
    assert path == tmp_path / "env-cache" / "weights" / "test.onnx" and path.read_bytes() == payload

    assert resolve_weights("rtmo-s", weights=source) == source
    with pytest.raises(WeightsError, match="no such file"):
        resolve_weights("rtmo-s", weights=tmp_path / "missing.onnx")
    with pytest.raises(WeightsError, match="unknown model 'rtmo-x'"):
        resolve_weights("rtmo-x", cache_dir=tmp_path)
    spec = weights_mod.REGISTRY["rtmo-s"]
    assert spec.url.startswith("https://download.openmmlab.com/") and len(spec.sha256) == 64


# --- RTMO pre/post-processing on real keypoints -------------------------------------------------

def _blob_centroid(tensor: np.ndarray, channel: int, centre: np.ndarray, radius: float) -> np.ndarray:
    """Intensity-weighted centroid (pixel-corner coordinates) of one channel near ``centre``."""
    img = tensor[0, channel]
    x0, y0 = np.maximum(np.floor(centre - radius).astype(int), 0)
    x1, y1 = np.ceil(centre + radius).astype(int) + 1
    patch = img[y0:y1, x0:x1]
    ys, xs = np.mgrid[y0:y0 + patch.shape[0], x0:x0 + patch.shape[1]] + 0.5
    return np.array([(patch * xs).sum(), (patch * ys).sum()]) / patch.sum()


@pytest.mark.parametrize("image_id, zoom", [(40083, 1.0), (197388, 1.0), (785, 2.5)])
def test_letterbox_maps_real_keypoints_within_a_pixel(rtmo, coco, image_id, zoom):
    """Draw a blob at each annotated keypoint (red only), letterbox, find it in the network input."""
    _, (w, h), kp, _ = coco[image_id]
    size = (round(w * zoom), round(h * zoom))
    sigma = 2.5 * zoom
    ys, xs = np.mgrid[0:size[1], 0:size[0]] + 0.5
    worst = 0.0
    for point in kp[kp[..., 2] > 0][:, :2][::3] * zoom:
        blob = np.exp(-((xs - point[0]) ** 2 + (ys - point[1]) ** 2) / (2 * sigma ** 2))
        frame = np.zeros((size[1], size[0], 3), np.uint8)
        frame[..., 0] = np.round(200 * blob)
        tensor, box = rtmo.letterbox(frame, INPUT)
        found = box.to_image(_blob_centroid(tensor, 2, box.to_input(point), 4 * sigma * box.scale.max()))
        worst = max(worst, np.linalg.norm(found - point))
        rw, rh = box.resized_size
        assert tensor[0, :2, :rh, :rw].max() == 0, "RTMO takes BGR: red must land in the last channel"
    assert worst < 1.0, worst
    assert tensor.shape == (1, 3, 640, 640) and tensor.dtype == np.float32 and max(rw, rh) == 640
    assert (tensor[0, :, rh:, :] == rtmo.PAD_VALUE).all() and (tensor[0, :, :, rw:] == rtmo.PAD_VALUE).all()


def _encode(kp: np.ndarray, boxes: np.ndarray, box, score: float = 0.9):
    """Annotated people → RTMO outputs (dets (1,K,5), keypoints (1,K,17,3)) in network-input pixels,
    given the frame's `Letterbox` ``box``."""
    dets = np.concatenate([box.to_input(boxes.reshape(-1, 2, 2)).reshape(-1, 4), np.full((len(kp), 1), score)], 1)
    joints = np.concatenate([box.to_input(kp[..., :2]), np.where(kp[..., 2:] > 0, 0.8, 0.02)], axis=-1)
    return dets[None].astype(np.float32), joints[None].astype(np.float32)


def test_decode_recovers_real_keypoints(rtmo, coco):
    for image_id, (_, size, kp, boxes) in coco.items():
        box = rtmo.Letterbox.fit(size, INPUT)
        dets, joints = _encode(kp, boxes, box)
        # What else the network reports: the same people found again, slightly shifted and less
        # sure (NMS must drop them), and a faint candidate (the score threshold must drop it).
        dup_dets, dup_joints = _encode(kp, boxes + 3, box, score=0.7)
        faint_dets, faint_joints = _encode(kp[:1], boxes[:1] + [200, 0, 200, 0], box, score=0.2)
        dets = np.concatenate([dup_dets, dets, faint_dets], axis=1)
        joints = np.concatenate([dup_joints, joints, faint_joints], axis=1)

        out = rtmo.decode_rtmo(dets, joints, box, score_threshold=0.5, iou_threshold=0.45)
        assert out.joint_format == "coco17" and out.image_size == size
        assert len(out) == len(kp), image_id
        seen = kp[..., 2] > 0
        order = np.argsort(-out.box_scores, kind="stable")
        assert (order == np.arange(len(kp))).all()
        err = np.linalg.norm(out.keypoints_px - kp[..., :2], axis=-1)
        assert err[seen].max() < 1.0, (image_id, err.max())
        np.testing.assert_allclose(out.boxes_px, boxes, atol=1.0)
        np.testing.assert_allclose(out.scores, np.where(seen, 0.8, 0.02), atol=1e-6)


def test_nms_keeps_the_best_of_overlapping_boxes(rtmo):
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 5]], np.float32)
    scores = np.array([0.6, 0.9, 0.5, 0.8])
    # box 1 wins, box 0 overlaps it (IoU 0.68) and goes, box 3 overlaps 1 by IoU 0.33 and stays.
    assert rtmo.nms(boxes, scores, 0.45).tolist() == [1, 3, 2]
    assert rtmo.nms(boxes[:0], scores[:0], 0.45).tolist() == []


# --- RTMO through onnxruntime with a generated model --------------------------------------------

def _rtmo_like_onnx(path: Path, dets: np.ndarray, keypoints: np.ndarray, output_names=("dets", "keypoints")):
    """An ONNX model with RTMO's input and output layout whose outputs are the given arrays.

    They are added to 0 x mean(input) so that the graph really consumes the image.
    """
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("ReduceMean", ["input"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["dets_value", "nothing"], [output_names[0]]),
        helper.make_node("Add", ["keypoints_value", "nothing"], [output_names[1]]),
    ]
    inits = [numpy_helper.from_array(np.float32(0), "zero"),
             numpy_helper.from_array(dets.astype(np.float32), "dets_value"),
             numpy_helper.from_array(keypoints.astype(np.float32), "keypoints_value")]
    graph = helper.make_graph(
        nodes, "rtmo_like", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 640, 640])],
        [helper.make_tensor_value_info(output_names[0], TensorProto.FLOAT, [1, "K", 5]),
         helper.make_tensor_value_info(output_names[1], TensorProto.FLOAT, [1, "K", 17, 3])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path.read_bytes()


def test_rtmo_downloads_loads_and_decodes_through_onnxruntime(rtmo, coco, tmp_path, server):
    pytest.importorskip("onnxruntime")
    cv2 = pytest.importorskip("cv2")
    base, _ = server
    path, size, kp, boxes = coco[40083]
    dets, joints = _encode(kp, boxes, rtmo.Letterbox.fit(size, INPUT))
    payload = _rtmo_like_onnx(tmp_path / "end2end.onnx", dets, joints)
    _zip_with(tmp_path / "srv" / "rtmo.zip", "20231211/rtmo-test/end2end.onnx", payload)
    frame = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    seen = kp[..., 2] > 0

    with create_detector("rtmpose", model=_spec(f"{base}/rtmo.zip", payload), cache_dir=tmp_path / "cache",
                         progress=False, num_threads=1) as detect:
        assert isinstance(detect, PoseDetector) and detect.input_size == INPUT
        out = detect(frame)
    assert out.joint_format == "coco17" and out.image_size == size and len(out) == len(kp)
    assert np.linalg.norm(out.keypoints_px - kp[..., :2], axis=-1)[seen].max() < 1.0
    assert detect.model_path.parent == tmp_path / "cache" / "weights"

    # A local file given as --weights PATH, with outputs found by rank rather than by name.
    _rtmo_like_onnx(tmp_path / "renamed.onnx", dets, joints, output_names=("out0", "out1"))
    with create_detector("rtmpose", weights=tmp_path / "renamed.onnx", score_threshold=0.95) as detect:
        assert len(detect(frame)) == 0, "every candidate scores 0.9, below the threshold"


def test_rtmo_rejects_files_that_are_not_rtmo(rtmo, tmp_path):
    pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "not_rtmo",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 64, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 64, 64])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "relu.onnx"))
    with pytest.raises(ValueError, match="relu.onnx: not an RTMO model: expected outputs dets"):
        create_detector("rtmpose", weights=tmp_path / "relu.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="junk.onnx: not a loadable ONNX model"):
        create_detector("rtmpose", weights=tmp_path / "junk.onnx")


# --- keypoint files -----------------------------------------------------------------------------

def test_coco_annotation_file(coco, shared_data):
    track = read_keypoint_file(shared_data / "media" / "coco" / "test_coco.json")
    assert track.frame_names == ("785", "40083", "196141", "197388") and track.joint_format == "coco17"
    for dets, (image_id, (_, size, kp, boxes)) in zip(track, coco.items()):
        assert dets.image_size == size and len(dets) == len(kp)
        seen = kp[..., 2] > 0
        np.testing.assert_array_equal(dets.keypoints_px[seen], kp[seen][:, :2])
        np.testing.assert_array_equal(dets.scores, seen.astype(np.float32))
        np.testing.assert_allclose(dets.boxes_px, boxes, rtol=1e-6)
    assert all((ids == -1).all() for ids in track.track_ids)


def test_coco_results_file(coco, tmp_path):
    results = [{"image_id": image_id, "category_id": 1, "keypoints": person.ravel().tolist(), "score": s}
               for image_id, (_, _, kp, _) in coco.items() for person, s in zip(kp, (0.9, 1.7, 0.3))]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    with pytest.raises(ValueError, match=r"results.json: the file does not give the image size"):
        read_keypoint_file(path)
    track = read_keypoint_file(path, image_size=(640, 480))
    assert track.frame_names == ("785", "40083", "196141", "197388")
    assert all(d.image_size == (640, 480) for d in track)
    np.testing.assert_allclose(track[2].box_scores, [0.9, 1.0, 0.3, 0.9][:len(track[2])])
    np.testing.assert_array_equal(track[0].scores[0], np.clip(coco[785][2][0, :, 2], 0, 1))


def _openpose_person(layout: tuple[str, ...], points: dict[str, tuple[float, float, float]]) -> dict:
    flat = []
    for name in layout:
        flat += points.get(name, (0, 0, 0))
    return {"person_id": [-1], "pose_keypoints_2d": flat, "face_keypoints_2d": []}


def test_openpose_folder_body25_and_coco18(tmp_path):
    alice = {"nose": (100, 50, 0.9), "l_eye": (105, 45, 0.8), "r_ear": (92, 48, 0.7), "l_shoulder": (120, 80, 0.95),
             "r_hip": (95, 160, 0.6), "l_ankle": (118, 290, 0.5), "neck": (100, 78, 0.9), "mid_hip": (105, 160, 0.9),
             "l_heel": (120, 295, 0.4)}
    bob = {"nose": (300, 60, 0.8), "r_wrist": (250, 150, 0.6)}
    frames = {
        "clip_000000000002_keypoints.json": [_openpose_person(OPENPOSE_BODY25, alice)],
        "clip_000000000010_keypoints.json": [_openpose_person(OPENPOSE_BODY25, alice),
                                             _openpose_person(OPENPOSE_BODY25, bob)],
        "clip_000000000001_keypoints.json": [],
    }
    for name, people in frames.items():
        (tmp_path / name).write_text(json.dumps({"version": 1.3, "people": people}))
    (tmp_path / "notes.txt").write_text("not keypoints")

    with pytest.raises(ValueError, match=r"pass image_size"):
        read_keypoint_file(tmp_path)
    track = read_keypoint_file(tmp_path, image_size=(640, 360))
    assert [len(d) for d in track] == [0, 1, 2]
    assert track.frame_names[1] == "clip_000000000002_keypoints"
    dets = track[2]
    for name, (x, y, c) in alice.items():
        if name in COCO17.joints:
            np.testing.assert_allclose(dets.keypoints_px[0, COCO17.index(name)], [x, y])
            assert dets.scores[0, COCO17.index(name)] == pytest.approx(c)
    assert (dets.scores[0] > 0).sum() == 6, "neck, mid-hip and heel are not COCO joints"
    np.testing.assert_allclose(dets.boxes_px[1], [250, 60, 300, 150])

    single = tmp_path / "coco18_keypoints.json"
    single.write_text(json.dumps({"people": [_openpose_person(OPENPOSE_COCO18, alice)]}))
    one = read_keypoint_file(single, image_size=(640, 360))
    assert len(one) == 1
    np.testing.assert_array_equal(one[0].keypoints_px, dets.keypoints_px[:1])


@pytest.mark.parametrize("name, content, message", [
    ("bad.json", "{not json", "not valid JSON"),
    ("short.json", json.dumps([{"image_id": 1, "keypoints": [1, 2, 2] * 16}]), r"must hold 51 numbers"),
    ("nan.json", json.dumps({"annotations": [{"image_id": 1, "keypoints": [1, 2, 2] * 16 + [float("nan")] * 3}]}),
     "NaN"),
    ("words.json", json.dumps([{"image_id": 1, "keypoints": ["a"] * 51}]), "must be a list of numbers"),
    ("orphan.json", json.dumps({"images": [{"id": 1, "width": 10, "height": 10}],
                                "annotations": [{"image_id": 2, "keypoints": [1, 2, 2] * 17}]}),
     "image_id 2, which the 'images' section does not list"),
    ("op_keypoints.json", json.dumps({"people": [{"pose_keypoints_2d": [0] * 30}]}), "75 or 54 numbers"),
    ("points.csv", "x,y", "unknown keypoint file type"),
])
def test_malformed_keypoint_files_name_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as err:
        read_keypoint_file(path, image_size=(100, 100))
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def test_missing_and_empty_inputs(tmp_path):
    with pytest.raises(ValueError, match="no such file or folder"):
        read_keypoint_file(tmp_path / "nothing.json")
    with pytest.raises(ValueError, match=r"no OpenPose \*_keypoints.json files"):
        read_keypoint_file(tmp_path)


def test_lift_contract_npz(tmp_path):
    rng = np.random.default_rng(1)
    kp = rng.uniform(0, 600, (2, 4, 17, 2))
    scores = rng.uniform(0.1, 1, (2, 4, 17))
    scores[1, 2] = 0  # person 1 is not seen in frame 2
    path = tmp_path / "kp.npz"
    np.savez(path, keypoints=kp, scores=scores, joint_format="coco17", image_size=[640, 480], fps=25.0)
    track = read_keypoint_file(path)
    assert len(track) == 4 and track.fps == 25.0 and [len(d) for d in track] == [2, 2, 1, 2]
    assert track.track_ids[2].tolist() == [0] and track.track_ids[3].tolist() == [0, 1]
    np.testing.assert_allclose(track[3].keypoints_px, kp[:, 3], rtol=1e-6)
    assert track[0].image_size == (640, 480)

    single = tmp_path / "single.npz"
    np.savez(single, keypoints=kp[0], joint_format="coco17", image_size=[640, 480])
    track = read_keypoint_file(single)
    assert [len(d) for d in track] == [1] * 4 and (track[0].scores == 1).all()

    np.savez(path, keypoints=kp[0], joint_format="coco17")
    with pytest.raises(ValueError, match="kp.npz: missing 'image_size'"):
        read_keypoint_file(path)
    # H36M-17 keypoints lift (`monocap lift`) but cannot be tracked and drawn as COCO-17: said at once
    np.savez(path, keypoints=kp[0], joint_format="h36m17", image_size=[640, 480])
    with pytest.raises(ValueError, match="kp.npz: h36m17 keypoints: .*lift these with `monocap lift"):
        read_keypoint_file(path)
