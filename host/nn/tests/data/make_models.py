"""Generates the tiny ONNX models the clusterai-nn tests use (each < 2 KB),
and reference outputs from ONNX Runtime's Python API.

    $(scripts/python-env.sh) host/nn/tests/data/make_models.py

Writes *.onnx and reference.json beside this file. Deterministic: re-running
gives the same bytes (the tests pin nothing but what ONNX Runtime computes).
"""
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OPSET = [helper.make_opsetid("", 17)]


def save(name, graph):
    model = helper.make_model(graph, opset_imports=OPSET, producer_name="clusterai-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = os.path.join(HERE, name)
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    return path


def mlp():
    # y = relu(x @ W1 + b1) @ W2 + b2, x: [N, 4] f32, y: [N, 3] f32.
    w1 = (np.arange(32, dtype=np.float32).reshape(4, 8) - 16.0) / 10.0
    b1 = np.linspace(-0.5, 0.5, 8, dtype=np.float32)
    w2 = (np.arange(24, dtype=np.float32).reshape(8, 3) - 12.0) / 7.0
    b2 = np.array([0.1, -0.2, 0.3], dtype=np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("MatMul", ["h2", "w2"], ["h3"]),
        helper.make_node("Add", ["h3", "b2"], ["y"]),
    ]
    g = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(a, n) for a, n in [(w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2")]],
    )
    return save("mlp.onnx", g)


def identities():
    # One Identity per wasi-nn type, fixed shape [2, 3]; plus an int8 input
    # that wasi-nn cannot express and a bool output that travels as u8.
    types = {
        "f16": TensorProto.FLOAT16,
        "f32": TensorProto.FLOAT,
        "f64": TensorProto.DOUBLE,
        "bf16": TensorProto.BFLOAT16,
        "u8": TensorProto.UINT8,
        "i32": TensorProto.INT32,
        "i64": TensorProto.INT64,
    }
    nodes, ins, outs = [], [], []
    for name, t in types.items():
        nodes.append(helper.make_node("Identity", [f"in_{name}"], [f"out_{name}"]))
        ins.append(helper.make_tensor_value_info(f"in_{name}", t, [2, 3]))
        outs.append(helper.make_tensor_value_info(f"out_{name}", t, [2, 3]))
    nodes.append(helper.make_node("Greater", ["in_i64", "zero"], ["out_positive"]))
    outs.append(helper.make_tensor_value_info("out_positive", TensorProto.BOOL, [2, 3]))
    zero = numpy_helper.from_array(np.zeros([1], dtype=np.int64), "zero")
    g = helper.make_graph(nodes, "identities", ins, outs, [zero])
    save("identities.onnx", g)

    # A model whose input is int8: wasi-nn has no int8.
    g = helper.make_graph(
        [helper.make_node("Identity", ["q"], ["r"])],
        "int8",
        [helper.make_tensor_value_info("q", TensorProto.INT8, [4])],
        [helper.make_tensor_value_info("r", TensorProto.INT8, [4])],
    )
    save("int8.onnx", g)


def sized():
    # ConstantOfShape from an i64 shape input: a small model that makes
    # outputs (and matrix products) as large as the caller asks.
    #   big:  shape [2] i64 -> ones [a, b] f32
    #   slow: shape [2] i64 -> sum(ones[a,b] @ ones[b,a]), a scalar; O(a*a*b).
    one = helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])
    g = helper.make_graph(
        [helper.make_node("ConstantOfShape", ["shape"], ["y"], value=one)],
        "big",
        [helper.make_tensor_value_info("shape", TensorProto.INT64, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["a", "b"])],
    )
    save("big.onnx", g)
    g = helper.make_graph(
        [
            helper.make_node("ConstantOfShape", ["shape"], ["m"], value=one),
            helper.make_node("Transpose", ["m"], ["mt"]),
            helper.make_node("MatMul", ["m", "mt"], ["p"]),
            helper.make_node("MatMul", ["p", "m"], ["q"]),
            helper.make_node("ReduceSum", ["q"], ["s"], keepdims=0),
        ],
        "slow",
        [helper.make_tensor_value_info("shape", TensorProto.INT64, [2])],
        [helper.make_tensor_value_info("s", TensorProto.FLOAT, [])],
    )
    save("slow.onnx", g)


def identity():
    # x: [N] f32 -> y: [N] f32. Moves bytes and nothing else: the bench's
    # measure of what each copy on the wasi-nn path costs.
    g = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N"])],
    )
    save("identity.onnx", g)


def reference(mlp_path):
    import onnxruntime as ort

    sess = ort.InferenceSession(mlp_path, providers=["CPUExecutionProvider"])
    x = (np.arange(12, dtype=np.float32).reshape(3, 4) - 5.0) / 3.0
    (y,) = sess.run(None, {"x": x})
    ref = {
        "onnxruntime": ort.__version__,
        "mlp": {"x": x.flatten().tolist(), "x_dims": list(x.shape), "y": y.flatten().tolist(), "y_dims": list(y.shape)},
    }
    with open(os.path.join(HERE, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    p = mlp()
    identities()
    sized()
    identity()
    reference(p)
