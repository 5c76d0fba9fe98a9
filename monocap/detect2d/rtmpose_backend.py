"""RTMO (one-stage multi-person pose, COCO-17) run by onnxruntime, as a 2D backend.

The ONNX model is OpenMMLab's MMDeploy export of RTMO. Its contract, which
`letterbox` and `decode_rtmo` implement around the session:

- input (1, 3, H, W) float32, BGR, raw 0–255 values (RTMO was trained
  with mean 0 and std 1): the frame scaled to fit H×W keeping its aspect
  ratio, placed at the top-left, the rest filled with grey 114;
- output ``dets`` (1, K, 5): x0, y0, x1, y1, score per candidate, in
  network-input pixels;
- output ``keypoints`` (1, K, 17, 3): x, y, visibility score per joint,
  in network-input pixels, COCO-17 order.

The export already applies a loose score threshold and NMS; they are applied
again here with the detector's own (stricter) settings, which also makes
exports without built-in NMS usable.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..skeleton import COCO17
from .base import DetectorBase, Detections2D, check_frame
from .weights import DEFAULT_TIMEOUT_S, WeightSpec, resolve_weights

PAD_VALUE = 114
DEFAULT_INPUT_SIZE = (640, 640)


@dataclass(frozen=True)
class Letterbox:
    """How a frame was fitted into the network input: resized, then padded at the right and bottom.

    image_size: (width, height) of the original frame in pixels.
    resized_size: (width, height) of the frame inside the network input.
    input_size: (width, height) of the network input.
    """

    image_size: tuple[int, int]
    resized_size: tuple[int, int]
    input_size: tuple[int, int]

    @classmethod
    def fit(cls, image_size: tuple[int, int], input_size: tuple[int, int]) -> "Letterbox":
        width, height = (int(v) for v in image_size)
        ratio = min(input_size[0] / width, input_size[1] / height)
        resized = (max(1, min(input_size[0], round(width * ratio))),
                   max(1, min(input_size[1], round(height * ratio))))
        return cls((width, height), resized, (int(input_size[0]), int(input_size[1])))

    @property
    def scale(self) -> np.ndarray:
        """(sx, sy) network-input pixels per image pixel. Taken from the rounded resized size
        (so sx and sy differ slightly), which is what the resize really did: points map back
        without drift across the frame."""
        return np.divide(self.resized_size, self.image_size)

    def to_input(self, points_px: np.ndarray) -> np.ndarray:
        """Image pixels (..., 2) → network-input pixels."""
        return np.asarray(points_px, dtype=np.float64) * self.scale

    def to_image(self, points_px: np.ndarray) -> np.ndarray:
        """Network-input pixels (..., 2) → image pixels."""
        return np.asarray(points_px, dtype=np.float64) / self.scale


def letterbox(frame_rgb: np.ndarray, input_size: tuple[int, int]) -> tuple[np.ndarray, Letterbox]:
    """RGB frame (H, W, 3) uint8 → network input (1, 3, h, w) float32 BGR, and the mapping back."""
    width, height = check_frame(frame_rgb)
    box = Letterbox.fit((width, height), input_size)
    rw, rh = box.resized_size
    # Bilinear, as in RTMO's own test pipeline (and 15x cheaper than INTER_AREA on a 1768x994 frame).
    resized = cv2.resize(frame_rgb, (rw, rh), interpolation=cv2.INTER_LINEAR)
    canvas = np.full((input_size[1], input_size[0], 3), PAD_VALUE, np.uint8)
    # Converting the small resized image is far cheaper than flipping channels on the full frame.
    canvas[:rh, :rw] = cv2.cvtColor(resized, cv2.COLOR_RGB2BGR)
    return canvas.transpose(2, 0, 1)[None].astype(np.float32), box


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; indices of the kept boxes, best first.

    boxes (K, 4) x0, y0, x1, y1; a box is dropped when it overlaps a better
    kept one by IoU > iou_threshold.
    """
    order = np.argsort(-scores, kind="stable")
    areas = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        lo = np.maximum(boxes[best, :2], boxes[rest, :2])
        hi = np.minimum(boxes[best, 2:], boxes[rest, 2:])
        inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
        iou = inter / np.maximum(areas[best] + areas[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return np.array(keep, dtype=np.int64)


def decode_rtmo(dets: np.ndarray, keypoints: np.ndarray, box: Letterbox, score_threshold: float,
                iou_threshold: float) -> Detections2D:
    """RTMO outputs for one image → `Detections2D` in original-image pixels.

    dets: (1, K, 5) or (K, 5); keypoints: (1, K, 17, 3) or (K, 17, 3), as
    described in the module docstring. Candidates scoring below
    ``score_threshold`` are dropped, then overlapping ones by `nms`.
    """
    dets = np.asarray(dets, dtype=np.float32).reshape(-1, 5)
    keypoints = np.asarray(keypoints, dtype=np.float32).reshape(-1, len(COCO17), 3)
    if dets.shape[0] != keypoints.shape[0]:
        raise ValueError(f"RTMO outputs disagree: {dets.shape[0]} boxes but {keypoints.shape[0]} poses")
    sure = np.flatnonzero(dets[:, 4] >= score_threshold)
    kept = sure[nms(dets[sure, :4], dets[sure, 4], iou_threshold)]
    boxes_px = box.to_image(dets[kept, :4].reshape(-1, 2, 2)).reshape(-1, 4)
    return Detections2D(box.to_image(keypoints[kept, :, :2]), np.clip(keypoints[kept, :, 2], 0, 1), boxes_px,
                        np.clip(dets[kept, 4], 0, 1), COCO17.name, box.image_size)


class RTMO(DetectorBase):
    """Multi-person COCO-17 keypoints from an RTMO ONNX model.

    model: a `weights.REGISTRY` name or a `WeightSpec`, downloaded once into
        the cache (see `monocap.detect2d.weights`); ignored when ``weights``
        names a local ONNX file.
    score_threshold: the least person score kept (RTMO's box score, in [0, 1]).
    iou_threshold: boxes overlapping a better one by more are dropped.
    num_threads: onnxruntime's intra-op threads; None lets it use every core.
    Runs on CUDA when onnxruntime-gpu provides it, else on the CPU.
    """

    joint_format = COCO17.name

    def __init__(self, model: str | WeightSpec = "rtmo-s", weights: str | Path | None = None,
                 cache_dir: str | Path | None = None, score_threshold: float = 0.5, iou_threshold: float = 0.45,
                 num_threads: int | None = None, timeout: float = DEFAULT_TIMEOUT_S, progress: bool = True):
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise ImportError(f"the rtmpose backend needs onnxruntime ({err}); install it with "
                              "`pip install onnxruntime`, or use `--backend mediapipe`") from None
        path = resolve_weights(model, weights, cache_dir, timeout, progress)
        options = ort.SessionOptions()
        if num_threads is not None:
            options.intra_op_num_threads = num_threads
        wanted = ("CUDAExecutionProvider", "CPUExecutionProvider")
        providers = [p for p in wanted if p in ort.get_available_providers()]
        try:
            self._session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as err:  # onnxruntime's exception classes live in its private capi module
            raise ValueError(f"{path}: not a loadable ONNX model ({str(err).splitlines()[0]})") from None
        self._input_name, self.input_size = _input_of(self._session, path)
        self._output_names = _outputs_of(self._session, path)
        self.model_path = path
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold

    def __call__(self, frame_rgb: np.ndarray) -> Detections2D:
        tensor, box = letterbox(frame_rgb, self.input_size)
        dets, keypoints = self._session.run(self._output_names, {self._input_name: tensor})
        return decode_rtmo(dets, keypoints, box, self.score_threshold, self.iou_threshold)

    def close(self) -> None:
        # onnxruntime frees the session with the object; dropping it makes later calls fail loudly.
        self._session = None


def _input_of(session, path: Path) -> tuple[str, tuple[int, int]]:
    """The input's name and (width, height); exports with symbolic H, W take the RTMO default."""
    inputs = session.get_inputs()
    shape = inputs[0].shape if len(inputs) == 1 else None
    if shape is None or len(shape) != 4 or shape[1] != 3:
        got = [(i.name, i.shape) for i in inputs]
        raise ValueError(f"{path}: not an RTMO model: expected one (1, 3, H, W) image input, got {got}")
    height, width = shape[2], shape[3]
    if isinstance(height, int) and isinstance(width, int):
        return inputs[0].name, (width, height)
    return inputs[0].name, DEFAULT_INPUT_SIZE


def _outputs_of(session, path: Path) -> list[str]:
    """The names of the (dets, keypoints) outputs: by MMDeploy's names, else by rank."""
    outputs = {o.name: o.shape for o in session.get_outputs()}
    if {"dets", "keypoints"} <= outputs.keys():
        return ["dets", "keypoints"]
    by_rank = {len(shape): name for name, shape in outputs.items()}
    if len(outputs) == 2 and {3, 4} <= by_rank.keys():
        return [by_rank[3], by_rank[4]]
    raise ValueError(f"{path}: not an RTMO model: expected outputs dets (1, K, 5) and keypoints "
                     f"(1, K, 17, 3), got {outputs}")
