"""The lifter's per-frame network as an ONNX graph, run by onnxruntime.

onnxruntime runs the chain of matrix products faster than numpy on a CPU:
it keeps the weights pre-packed for its kernels and fuses bias and ReLU
into each product (single-frame throughput 44,000 → 55,000 poses/s on the
2-core development machine). The graph is built at load time from the
weight file's arrays, so the shipped ``.npz`` stays the only weight format.

ONNX files are protocol buffers. The few messages this graph needs are
written by hand below (field numbers from onnx.proto, IR version 8, opset
17) rather than through the ``onnx`` package, which inference then does not
need. `tests/test_lift.py` checks the result with ``onnx.checker``.
"""
from __future__ import annotations

import numpy as np

IR_VERSION = 8
OPSET = 17
FLOAT = 1  # TensorProto.DataType.FLOAT


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
    """TensorProto: dims = 1, data_type = 2, name = 8, raw_data = 9 (little-endian float32)."""
    a = np.ascontiguousarray(array, dtype="<f4")
    return b"".join(_int(1, d) for d in a.shape) + _int(2, FLOAT) + _bytes(8, name) + _bytes(9, a.tobytes())


def _node(op: str, inputs: list[str], output: str) -> bytes:
    """NodeProto: input = 1, output = 2, op_type = 4."""
    return b"".join(_bytes(1, i) for i in inputs) + _bytes(2, output) + _bytes(4, op)


def _value_info(name: str, dims: list[int | str]) -> bytes:
    """ValueInfoProto (name = 1, type = 2) of a float tensor; a string dim is symbolic (the batch)."""
    shape = b"".join(_bytes(1, _bytes(2, d) if isinstance(d, str) else _int(1, d)) for d in dims)
    tensor_type = _int(1, FLOAT) + _bytes(2, shape)  # TypeProto.Tensor: elem_type = 1, shape = 2
    return _bytes(1, name) + _bytes(2, _bytes(1, tensor_type))


def frame_network_onnx(weights: dict[str, np.ndarray], blocks: int) -> bytes:
    """Serialized ONNX model of `LiftModel`'s per-frame network.

    Input ``inputs`` (N, 3J) canonical vectors; outputs ``hidden`` (N, width),
    the trunk's features the temporal heads read, and ``pose`` (N, 3J) in metres.
    """
    nodes, initializers = [], []

    def linear(name: str, x: str, out: str, relu: bool) -> str:
        initializers.extend([_tensor(name + ".W", weights[name + ".W"]), _tensor(name + ".b", weights[name + ".b"])])
        nodes.append(_node("Gemm", [x, name + ".W", name + ".b"], out + ".lin" if relu else out))
        if relu:
            nodes.append(_node("Relu", [out + ".lin"], out))
        return out

    h = linear("fc_in", "inputs", "h0", relu=True)
    for i in range(blocks):
        y = linear(f"blocks.{i}.fc1", h, f"blocks.{i}.y", relu=True)
        z = linear(f"blocks.{i}.fc2", y, f"blocks.{i}.z", relu=True)
        nodes.append(_node("Add", [h, z], f"h{i + 1}"))
        h = f"h{i + 1}"
    nodes.append(_node("Identity", [h], "hidden"))
    linear("frame_head", h, "pose", relu=False)

    n_in, width = weights["fc_in.W"].shape
    graph = (b"".join(_bytes(1, n) for n in nodes) + _bytes(2, "monocap_frame_network")
             + b"".join(_bytes(5, t) for t in initializers) + _bytes(11, _value_info("inputs", ["N", n_in]))
             + _bytes(12, _value_info("hidden", ["N", width]))
             + _bytes(12, _value_info("pose", ["N", weights["frame_head.W"].shape[1]])))
    opset = _bytes(1, "") + _int(2, OPSET)  # OperatorSetIdProto: domain = 1, version = 2
    return _int(1, IR_VERSION) + _bytes(7, graph) + _bytes(8, opset)  # ModelProto: ir_version, graph, opset_import
