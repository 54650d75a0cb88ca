"""The exporter's faster graph forms compute what the official modules do.

graphs.reparameterized_trunk (RepViT's branches folded, EdgeTAM) and
graphs.matrix_mlp (the memory attention's MLP as Gemm + Relu) and
graphs.shared_first_self_attention (its first self-attention once for all
objects of a frame) change how a
graph is written, never its values: each is checked against the unpatched
official module in PyTorch, and its ONNX export for the ops it promises.
Needs torch, onnx and the official sources (../ext/EdgeTAM, ../ext/timm, as
the exporter finds them); skipped where they are missing, as on CI.
"""

import os
import tempfile
import unittest

try:
    import numpy as np
    import onnx
    import torch

    import export
    import graphs
    import sam2build

    sam2build.resolve_edgetam_src()
    sam2build.resolve_timm_src()
    missing = None
except (ImportError, SystemExit, Exception) as e:  # noqa: BLE001 - any missing part skips
    missing = f"{type(e).__name__}: {e}"


def _run(wrapper, inputs):
    with torch.no_grad():
        return wrapper(*(torch.from_numpy(inputs[n]) for n in wrapper.input_names))


@unittest.skipIf(missing is not None, f"exporter dependencies: {missing}")
class GraphForms(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(2)
        cls.model = sam2build.build_model(
            "edgetam", seed=0, depth_override={"stages": [1, 1, 2, 1]}, image_size=256)
        cls.wrappers = graphs.wrappers(cls.model)

    def _same(self, name, patch):
        w = self.wrappers[name]
        inputs = export.example_inputs(name, self.model, np.random.default_rng(1))
        ref = _run(w, inputs)
        with patch(self.model) as applied:
            self.assertTrue(applied)
            got = _run(w, inputs)
        ref = ref if isinstance(ref, tuple) else (ref,)
        got = got if isinstance(got, tuple) else (got,)
        for r, g in zip(ref, got):
            scale = max(1.0, float(r.abs().max()))
            self.assertLess(float((r - g).abs().max()), 1e-4 * scale)
        # Restored: the model is the official one again.
        after = _run(w, inputs)
        after = after if isinstance(after, tuple) else (after,)
        for r, a in zip(ref, after):
            self.assertTrue(torch.equal(r, a))

    def _ops(self, name, fused=False):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, name + ".onnx")
            export.export_graph(name, self.wrappers[name], path, self.model, fused=fused)
            m = onnx.load(path)
        ops = {}
        for n in m.graph.node:
            ops[n.op_type] = ops.get(n.op_type, 0) + 1
        return ops

    def test_reparameterized_trunk_same_values(self):
        self._same("image_encoder", graphs.reparameterized_trunk)

    def test_matrix_mlp_same_values(self):
        self._same("memory_attention", graphs.matrix_mlp)

    def test_shared_first_self_attention_same_values(self):
        # example_inputs gives B = 2 objects with different memories.
        self._same("memory_attention", graphs.shared_first_self_attention)

    def test_exported_forms(self):
        # Folded, each token mixer's 3x3 and 1x1 convolutions are one.
        enc = self.model.image_encoder.trunk.body
        convs = sum(isinstance(m, torch.nn.Conv2d) for m in enc.modules())
        ops = self._ops("image_encoder")
        self.assertLess(ops["Conv"], convs)
        layers = len(self.model.memory_attention.layers)
        ops = self._ops("memory_attention", fused=True)
        self.assertEqual(ops.get("Gemm", 0), 2 * layers, ops)
        self.assertEqual(ops.get("Relu", 0), layers, ops)


if __name__ == "__main__":
    unittest.main()
