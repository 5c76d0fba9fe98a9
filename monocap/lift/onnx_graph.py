"""The lifting network as an ONNX graph, run by onnxruntime.

onnxruntime runs the network faster than numpy on a CPU: it keeps the
weights pre-packed for its kernels, fuses bias and ReLU into the products
and runs the temporal heads' dilated convolutions as convolutions
(single-frame throughput 44,000 → 55,000 poses/s on the 2-core development
machine). The graph is built at load time from the weight file's arrays,
so the shipped ``.npz`` stays the only weight format.

ONNX files are protocol buffers. The few messages this graph needs are
written by hand below (field numbers from onnx.proto, IR version 8, opset
17) rather than through the ``onnx`` package, which inference then does not
need. `tests/test_lift_network.py` checks the result with ``onnx.checker``.
"""
from __future__ import annotations

import numpy as np

IR_VERSION = 8
OPSET = 17
FLOAT, INT64 = 1, 7  # TensorProto.DataType
ATTRIBUTE_INT, ATTRIBUTE_STRING, ATTRIBUTE_INTS = 2, 3, 7  # AttributeProto.AttributeType


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _int(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def _bytes(field: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _tensor(name: str, array: np.ndarray) -> bytes:
    """TensorProto: dims = 1, data_type = 2, name = 8, raw_data = 9 (little-endian float32 or int64)."""
    integer = np.asarray(array).dtype.kind == "i"
    a, kind = np.ascontiguousarray(array, "<i8" if integer else "<f4"), INT64 if integer else FLOAT
    return b"".join(_int(1, d) for d in a.shape) + _int(2, kind) + _bytes(8, name) + _bytes(9, a.tobytes())


def _attribute(name: str, value: int | list[int] | str) -> bytes:
    """AttributeProto: name = 1, i = 3, s = 4, ints = 8, type = 20 (non-negative integers only)."""
    if isinstance(value, str):
        return _bytes(1, name) + _bytes(4, value) + _int(20, ATTRIBUTE_STRING)
    if isinstance(value, int):
        return _bytes(1, name) + _int(3, value) + _int(20, ATTRIBUTE_INT)
    return _bytes(1, name) + b"".join(_int(8, v) for v in value) + _int(20, ATTRIBUTE_INTS)


def _node(op: str, inputs: list[str], output: str, **attributes) -> bytes:
    """NodeProto: input = 1, output = 2, op_type = 4, attribute = 5."""
    return (b"".join(_bytes(1, i) for i in inputs) + _bytes(2, output) + _bytes(4, op)
            + b"".join(_bytes(5, _attribute(k, v)) for k, v in attributes.items()))


def _value_info(name: str, dims: list[int | str]) -> bytes:
    """ValueInfoProto (name = 1, type = 2) of a float tensor; a string dim is symbolic (the batch)."""
    shape = b"".join(_bytes(1, _bytes(2, d) if isinstance(d, str) else _int(1, d)) for d in dims)
    tensor_type = _int(1, FLOAT) + _bytes(2, shape)  # TypeProto.Tensor: elem_type = 1, shape = 2
    return _bytes(1, name) + _bytes(2, _bytes(1, tensor_type))


def lift_network_onnx(weights: dict[str, np.ndarray], blocks: int, dilations: list[int],
                      head: str | None = None, part: str = "all", head_on_inputs: bool = False,
                      head_share: float = 1.0) -> bytes:
    """Serialized ONNX model of `LiftModel`'s network (``monocap.train.model.LiftNet`` with batch norms folded).

    ``part`` "all": input ``inputs`` (B, T, 3J) canonical vectors; output ``pose`` (B, T, 3J) in metres:
    frame by frame, or with ``head`` ("centered" or "causal") corrected by that temporal head (sequence
    ends padded by repeating the edge frame). One graph per output: onnxruntime runs every node of a
    graph, whichever outputs are asked for (one graph with all three ran single frames at half the speed).

    Live lifting computes each frame's part once and keeps it (`monocap.lift.stream`), so the network
    also comes in two halves: ``part`` "trunk" maps ``inputs`` to the per-frame ``features`` (B, T, width),
    and "top" maps ``features`` to ``pose`` (frame head, plus ``head`` if given).

    ``head_on_inputs``: the temporal heads read the inputs and give the whole pose (``LiftNet``'s
    ``temporal_input="inputs"``); the graphs with a head then hold only that head, and the per-frame
    "features" of such a network are its inputs ("top" takes them; there is no "trunk").
    ``head_share`` (heads on the inputs only): below 1, such a head's pose is mixed with the frame network's
    on the same inputs, ``head_share`` of the head's and the rest of the frame network's (their errors only
    partly agree)."""
    if part not in ("all", "trunk", "top"):
        raise ValueError(f"unknown part {part!r}: use 'all', 'trunk' or 'top'")
    nodes, initializers = [], []

    def constant(name: str, array: np.ndarray) -> str:
        initializers.append(_tensor(name, array))
        return name

    def dense(name: str, x: str, out: str, relu: bool) -> str:
        """A per-frame linear layer on (frames, in); weights (in, out)."""
        nodes.append(_node("Gemm", [x, constant(name + ".W", weights[name + ".W"]),
                                    constant(name + ".b", weights[name + ".b"])], out + ".lin" if relu else out))
        if relu:
            nodes.append(_node("Relu", [out + ".lin"], out))
        return out

    def conv(name: str, x: str, out: str, relu: bool, dilation: int = 1) -> str:
        """A convolution over time on (B, C, T); weights (k, in, out) or (in, out) for k = 1."""
        W = weights[name + ".W"]
        W = W.transpose(2, 1, 0) if W.ndim == 3 else W.T[..., None]  # ONNX: (out, in, k)
        nodes.append(_node("Conv", [x, constant(name + ".W", W), constant(name + ".b", weights[name + ".b"])],
                           out + ".lin" if relu else out, dilations=[dilation]))
        if relu:
            nodes.append(_node("Relu", [out + ".lin"], out))
        return out

    n_in, width = weights["fc_in.W"].shape
    n_out = weights["frame_head.W"].shape[1]
    source = "features" if part == "top" else "inputs"
    mix_with_head = False  # the frame network's pose is mixed with an input-reading head's
    if head_on_inputs and head is not None:
        if part == "trunk":
            raise ValueError("a network whose heads read the inputs has no per-frame features to compute")
        nodes.append(_node("Transpose", [source], "h_time", perm=[0, 2, 1]))
        if head_share == 1.0:
            _temporal_head(nodes, constant, conv, head, dilations, "h_time", "pose")
            return _model(nodes, initializers, _value_info(source, ["B", "T", n_in]),
                          _value_info("pose", ["B", "T", n_out]))
        _temporal_head(nodes, constant, conv, head, dilations, "h_time", "head_pose")
        nodes.append(_node("Mul", ["head_pose", constant("head_share", np.array([head_share], np.float32))],
                           "head_part"))
        # The frame network below reads the same inputs, whatever the part is called, and is mixed in.
        head, part, mix_with_head = None, "all", True
    # The per-frame layers run on all B * T frames as one matrix (onnxruntime's fastest products).
    nodes.append(_node("Reshape", [source, constant("frames_shape", np.array([-1, width if part == "top" else n_in]))],
                       "frames"))
    # Back to (B, T, ...): the shape of the input's first two axes, then whatever is left.
    nodes.append(_node("Shape", [source], "bt", start=0, end=2))
    nodes.append(_node("Concat", ["bt", constant("rest", np.array([-1]))], "bt_rest", axis=0))
    h = "frames"
    if part != "top":
        h = dense("fc_in", "frames", "h0", relu=True)
        for i in range(blocks):
            y = dense(f"blocks.{i}.fc1", h, f"blocks.{i}.y", relu=True)
            z = dense(f"blocks.{i}.fc2", y, f"blocks.{i}.z", relu=True)
            nodes.append(_node("Add", [h, z], f"h{i + 1}"))
            h = f"h{i + 1}"
    if part == "trunk":
        nodes.append(_node("Reshape", [h, "bt_rest"], "features"))
    else:
        dense("frame_head", h, "frame_pose", relu=False)
        alone = head is None and not mix_with_head
        nodes.append(_node("Reshape", ["frame_pose", "bt_rest"], "pose" if alone else "frame_pose_seq"))
        if mix_with_head:
            share = constant("frame_share", np.array([1.0 - head_share], np.float32))
            nodes.append(_node("Mul", ["frame_pose_seq", share], "frame_part"))
            nodes.append(_node("Add", ["head_part", "frame_part"], "pose"))
    if head is not None and part != "trunk":
        if part == "top":
            nodes.append(_node("Transpose", ["features"], "h_time", perm=[0, 2, 1]))  # (B, width, T): channels first
        else:
            nodes.append(_node("Reshape", [h, "bt_rest"], "h_seq"))
            nodes.append(_node("Transpose", ["h_seq"], "h_time", perm=[0, 2, 1]))
        _temporal_head(nodes, constant, conv, head, dilations, "h_time", "correction")
        nodes.append(_node("Add", ["frame_pose_seq", "correction"], "pose"))

    inputs = _value_info(source, ["B", "T", width if part == "top" else n_in])
    outputs = _value_info("features", ["B", "T", width]) if part == "trunk" else _value_info("pose", ["B", "T", n_out])
    return _model(nodes, initializers, inputs, outputs)


def _temporal_head(nodes: list, constant, conv, head: str, dilations: list[int], h_time: str, out: str) -> None:
    """Nodes of temporal head ``head``: (B, C, T) ``h_time`` → (B, T, n_out) ``out``, edges padded by repetition."""
    p = f"heads.{head}"
    z = conv(p + ".inp", h_time, p + ".z0", relu=True)
    for i, d in enumerate(dilations):
        left, right = (2 * d, 0) if head == "causal" else (d, d)
        padded = p + f".pad{i}"
        nodes.append(_node("Pad", [z, constant(padded + ".amounts", np.array([0, 0, left, 0, 0, right]))],
                           padded, mode="edge"))
        y = conv(f"{p}.convs.{i}", padded, f"{p}.y{i}", relu=True, dilation=d)
        mixed = conv(f"{p}.mixes.{i}", y, f"{p}.m{i}", relu=True)
        nodes.append(_node("Add", [z, mixed], f"{p}.z{i + 1}"))
        z = f"{p}.z{i + 1}"
    nodes.append(_node("Transpose", [conv(p + ".out", z, p + ".out_t", relu=False)], out, perm=[0, 2, 1]))


def _model(nodes: list[bytes], initializers: list[bytes], inputs: bytes, outputs: bytes) -> bytes:
    """The serialized ModelProto of one graph."""
    graph = (b"".join(_bytes(1, n) for n in nodes) + _bytes(2, "monocap_lift_network")
             + b"".join(_bytes(5, t) for t in initializers) + _bytes(11, inputs) + _bytes(12, outputs))
    opset = _bytes(1, "") + _int(2, OPSET)  # OperatorSetIdProto: domain = 1, version = 2
    return _int(1, IR_VERSION) + _bytes(7, graph) + _bytes(8, opset)  # ModelProto: ir_version, graph, opset_import
