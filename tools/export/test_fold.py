"""fold.py folds shape arithmetic and layout chains without changing a value.

Each graph here is small enough to run with fold's own numpy evaluator
(every op in it is one fold evaluates), before and after folding: the
outputs must be identical and the node counts must drop as promised. The
exported graphs themselves are checked against PyTorch by the exporter's
self-check, after folding. Needs numpy and onnx only; skipped without them.
"""

import collections
import json
import os
import tempfile
import unittest

try:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError as e:
    missing = f"{e}"
else:
    missing = None
    import fold


def _run(model, inputs):
    """Interpret model with fold's evaluator (plus MatMul)."""
    vals = dict(inputs)
    for t in model.graph.initializer:
        vals[t.name] = numpy_helper.to_array(t)
    for n in model.graph.node:
        ins = [vals[i] if i else None for i in n.input]
        if n.op_type == "Constant":
            out = [numpy_helper.to_array(n.attribute[0].t)]
        elif n.op_type == "Shape":
            out = [np.array(ins[0].shape, np.int64)]
        elif n.op_type == "ReduceSum":
            out = [np.sum(ins[0]).astype(ins[0].dtype)]
        elif n.op_type == "MatMul":
            out = [ins[0] @ ins[1]]
        elif n.op_type == "Split":
            at = {a.name: helper.get_attribute_value(a) for a in n.attribute}
            cuts = np.cumsum(ins[1])[:-1]
            out = np.split(ins[0], cuts, axis=at.get("axis", 0))
        else:
            out = [fold._evaluate(n, ins)]
            assert out[0] is not None, n.op_type
        for name, v in zip(n.output, out):
            vals[name] = v
    return [vals[o.name] for o in model.graph.output]


def _const(name, value, dtype=None):
    dtype = dtype or np.int64
    return helper.make_node("Constant", [], [name],
                            value=numpy_helper.from_array(np.array(value, dtype), name))


def _model(nodes, inputs, outputs, inits=()):
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _ops(model):
    return collections.Counter(n.op_type for n in model.graph.node)


@unittest.skipIf(missing is not None, f"fold dependencies: {missing}")
class Fold(unittest.TestCase):
    def _check(self, model, inputs):
        want = _run(model, inputs)
        before = _ops(model)
        fold.fold(model)
        onnx.checker.check_model(model)
        got = _run(model, inputs)
        for w, g in zip(want, got):
            np.testing.assert_array_equal(w, g)
        return before, _ops(model)

    def test_static_view_chain(self):
        # x.view(x.shape[0], x.shape[1] // 2, 2, -1).permute(0, 2, 1, 3)
        # .permute(0, 2, 1, 3).reshape(...) as torch writes it.
        nodes = [
            helper.make_node("Shape", ["x"], ["s"]),
            _const("i0", 0), _const("i1", 1), _const("two", 2), _const("ax", [0]),
            _const("rest", [2, -1]),
            helper.make_node("Gather", ["s", "i0"], ["d0"]),
            helper.make_node("Gather", ["s", "i1"], ["d1"]),
            helper.make_node("Div", ["d1", "two"], ["h"]),
            helper.make_node("Unsqueeze", ["d0", "ax"], ["u0"]),
            helper.make_node("Unsqueeze", ["h", "ax"], ["u1"]),
            helper.make_node("Concat", ["u0", "u1", "rest"], ["shape"], axis=0),
            helper.make_node("Reshape", ["x", "shape"], ["r"]),
            helper.make_node("Transpose", ["r"], ["t1"], perm=[0, 2, 1, 3]),
            helper.make_node("Transpose", ["t1"], ["t2"], perm=[0, 2, 1, 3]),
            _const("flat", [3, -1]),
            helper.make_node("Reshape", ["t2", "flat"], ["r2"]),
            _const("back", [3, 8, 6]),
            helper.make_node("Reshape", ["r2", "back"], ["y"]),
        ]
        m = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 8, 6])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 8, 6])])
        x = np.random.default_rng(0).standard_normal((3, 8, 6)).astype(np.float32)
        before, after = self._check(m, {"x": x})
        self.assertEqual(before["Shape"], 1)
        # The Transposes cancel and the Reshapes collapse into one that reads
        # x (it stays only because its output is the graph's).
        self.assertEqual(dict(after), {"Reshape": 1})
        self.assertEqual(m.graph.node[0].input[0], "x")

    def test_dynamic_batch_keeps_its_dimension(self):
        # x [B, 8, 6] -> reshape(B, 48): the batch entry becomes 0 ("keep").
        nodes = [
            helper.make_node("Shape", ["x"], ["s"]),
            _const("i0", 0), _const("ax", [0]), _const("rest", [48]),
            helper.make_node("Gather", ["s", "i0"], ["d0"]),
            helper.make_node("Unsqueeze", ["d0", "ax"], ["u0"]),
            helper.make_node("Concat", ["u0", "rest"], ["shape"], axis=0),
            helper.make_node("Reshape", ["x", "shape"], ["y"]),
        ]
        m = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", 8, 6])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["B", 48])])
        for b in (1, 3):
            x = np.random.default_rng(b).standard_normal((b, 8, 6)).astype(np.float32)
            mm = onnx.ModelProto()
            mm.CopyFrom(m)
            _, after = self._check(mm, {"x": x})
            self.assertEqual(dict(after), {"Reshape": 1})
            shape = [numpy_helper.to_array(t) for t in mm.graph.initializer]
            self.assertEqual([list(s) for s in shape], [[0, 48]])

    def test_head_split(self):
        # qkv [N, 4, 4, 24] -> reshape [N, 16, 3, 2, 4] -> split on the 3 ->
        # each piece reshaped to [N, 16, 8]: one Split of qkv's last axis.
        nodes = [
            _const("t", [5, 16, 3, 2, 4]), _const("ones", [1, 1, 1]),
            helper.make_node("Reshape", ["qkv", "t"], ["r"]),
            helper.make_node("Split", ["r", "ones"], ["a", "b", "c"], axis=2),
            _const("p", [5, 16, 8]),
        ] + [helper.make_node("Reshape", [v, "p"], [v + "o"]) for v in "abc"]
        m = _model(nodes, [helper.make_tensor_value_info("qkv", TensorProto.FLOAT, [5, 4, 4, 24])],
                   [helper.make_tensor_value_info(v + "o", TensorProto.FLOAT, [5, 16, 8]) for v in "abc"])
        x = np.random.default_rng(0).standard_normal((5, 4, 4, 24)).astype(np.float32)
        before, after = self._check(m, {"qkv": x})
        self.assertEqual(before["Reshape"], 4)
        self.assertEqual(after["Reshape"], 3, after)  # the pieces' own, to [5, 16, 8]
        split = [n for n in m.graph.node if n.op_type == "Split"][0]
        self.assertEqual(split.input[0], "qkv")

    def test_weight_transpose_stored_transposed(self):
        # Weights above MAX_CONST elements (constant folding leaves those
        # alone) read through a Transpose are stored transposed, also under
        # the fp16 storage's Cast, which stays.
        rng = np.random.default_rng(0)
        w = rng.standard_normal((80, 64)).astype(np.float32)
        self.assertGreater(w.size, fold.MAX_CONST)
        x = rng.standard_normal((2, 64)).astype(np.float32)
        for cast in (False, True):
            with self.subTest(fp16=cast):
                src = "w"
                nodes = []
                init = numpy_helper.from_array(w.astype(np.float16) if cast else w, "w")
                if cast:
                    nodes.append(helper.make_node("Cast", ["w"], ["wf"], to=TensorProto.FLOAT))
                    src = "wf"
                nodes += [helper.make_node("Transpose", [src], ["wt"], perm=[1, 0]),
                          helper.make_node("MatMul", ["x", "wt"], ["y"])]
                m = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 64])],
                           [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 80])], [init])
                _, after = self._check(m, {"x": x})
                self.assertEqual(dict(after), {"Cast": 1, "MatMul": 1} if cast else {"MatMul": 1})
                stored = [t for t in m.graph.initializer if t.name.startswith("w")]
                self.assertEqual([list(t.dims) for t in stored], [[64, 80]])

    def test_large_and_inexact_left_alone(self):
        # A table above MAX_CONST elements stays computed at run time (an
        # integer Range, which folding would otherwise evaluate exactly), and
        # so does a float Pow (numpy's and the runtime's may differ in the
        # last bit).
        n = fold.MAX_CONST + 1
        nodes = [
            _const("start", 0), _const("limit", n), _const("delta", 1),
            helper.make_node("Range", ["start", "limit", "delta"], ["big"]),
            _const("e", 0.5, np.float32), _const("base", [2.0, 3.0], np.float32),
            helper.make_node("Pow", ["base", "e"], ["p"]),
            helper.make_node("ReduceSum", ["big"], ["si"], keepdims=0),
            helper.make_node("Cast", ["si"], ["s"], to=TensorProto.FLOAT),
            helper.make_node("Mul", ["p", "s"], ["y"]),
        ]
        m = _model(nodes, [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
        fold.fold(m)
        ops = _ops(m)
        self.assertEqual((ops["Range"], ops["Pow"]), (1, 1), ops)
        for t in m.graph.initializer:
            self.assertLessEqual(int(np.prod(t.dims)), fold.MAX_CONST, t.name)

    def test_package_in_place(self):
        # fold.py DIR: every graph folded, the manifest's hashes follow; a
        # graph that cannot be read is named, and what came before it stays
        # folded with its hash in the manifest.
        from export import sha256

        nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0]),
                 helper.make_node("Transpose", ["t"], ["u"], perm=[1, 0]),
                 helper.make_node("Relu", ["u"], ["y"])]
        m = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
        with tempfile.TemporaryDirectory() as d:
            files = {}
            for name in fold.GRAPH_FILES:
                onnx.save(m, os.path.join(d, name))
                files[name] = sha256(os.path.join(d, name))
            with open(os.path.join(d, "manifest.json"), "w") as f:
                json.dump({"files": files}, f)
            fold.fold_package(d, log=lambda line: None)
            with open(os.path.join(d, "manifest.json")) as f:
                got = json.load(f)["files"]
            for name in fold.GRAPH_FILES:
                self.assertEqual(got[name], sha256(os.path.join(d, name)), name)
                self.assertEqual(dict(_ops(onnx.load(os.path.join(d, name)))), {"Relu": 1})

            def rehash(name):
                with open(os.path.join(d, "manifest.json")) as f:
                    man = json.load(f)
                man["files"][name] = sha256(os.path.join(d, name))
                with open(os.path.join(d, "manifest.json"), "w") as f:
                    json.dump(man, f)

            # A graph that cannot be folded (its hash listed) is named; the
            # one before it is folded, its hash follows, nothing is left over.
            broken = fold.GRAPH_FILES[1]
            with open(os.path.join(d, broken), "wb") as f:
                f.write(b"not a model")
            rehash(broken)
            first = os.path.join(d, fold.GRAPH_FILES[0])
            onnx.save(m, first)
            rehash(fold.GRAPH_FILES[0])
            with self.assertRaisesRegex(RuntimeError, broken):
                fold.fold_package(d, log=lambda line: None)
            with open(os.path.join(d, "manifest.json")) as f:
                got = json.load(f)["files"]
            self.assertEqual(got[fold.GRAPH_FILES[0]], sha256(first))
            self.assertEqual(dict(_ops(onnx.load(first))), {"Relu": 1})
            self.assertEqual([n for n in os.listdir(d) if n.endswith(".folding")], [])

            # A file whose hash is not the manifest's is refused before
            # anything is folded, not blessed with a new hash.
            onnx.save(m, first)
            with self.assertRaisesRegex(RuntimeError, "SHA-256 differs"):
                fold.fold_package(d, log=lambda line: None)
            self.assertEqual(dict(_ops(onnx.load(first))), {"Transpose": 2, "Relu": 1})


if __name__ == "__main__":
    unittest.main()
