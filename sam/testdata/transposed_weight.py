"""Writes transposed_weight.onnx: two products whose weights are read
through a Transpose, as packages exported before fold.py store them (one
float32, one fp16 behind a Cast). /usr/bin/python3 transposed_weight.py"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(0)
w1 = rng.standard_normal((96, 64)).astype(np.float32) / 8
w2 = (rng.standard_normal((32, 96)) / 8).astype(np.float16)
nodes = [
    helper.make_node("Transpose", ["w1"], ["w1t"], perm=[1, 0]),
    helper.make_node("MatMul", ["x", "w1t"], ["h"]),
    helper.make_node("Cast", ["w2"], ["w2f"], to=TensorProto.FLOAT),
    helper.make_node("Transpose", ["w2f"], ["w2t"], perm=[1, 0]),
    helper.make_node("MatMul", ["h", "w2t"], ["y"]),
]
g = helper.make_graph(nodes, "transposed_weight",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 5, 64])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 5, 32])],
                      [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
m.ir_version = 8
onnx.checker.check_model(m)
onnx.save(m, "transposed_weight.onnx")
