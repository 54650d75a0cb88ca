"""The exporter's faster graph forms compute what the official modules do.

graphs.reparameterized_trunk (RepViT's branches folded, EdgeTAM),
graphs.folded_high_res_projections (one 1x1 convolution per high-resolution
level instead of the neck's and the decoder's), graphs.channels_last_norms
(LayerNorm2d as one LayerNormalization), graphs.matrix_mlp (the memory attention's MLP as Gemm + Relu) and
graphs.shared_first_self_attention (its first self-attention once for all
objects of a frame) change how a
graph is written, never its values: each is checked against the unpatched
official module in PyTorch, and its ONNX export for the ops it promises.
Needs torch, onnx and the official sources (../ext/EdgeTAM, ../ext/timm, as
the exporter finds them); skipped where they are missing, as on CI.
"""

import collections
import contextlib
import os
import tempfile
import unittest
from unittest import mock

# Only missing dependencies skip; an error in the exporter's own modules fails.
try:
    import numpy as np
    import onnx
    import torch
except ImportError as e:
    missing = f"{e}"
else:
    import export
    import graphs
    import sam2build

    try:
        sam2build.resolve_edgetam_src()
        sam2build.resolve_timm_src()
        missing = None
    except FileNotFoundError as e:
        missing = f"{e}"


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

    def _ops(self, name, fused=False, plain=False):
        """Op counts of the exported graph; plain: without the forms under test."""
        off = lambda model: contextlib.nullcontext(False)  # noqa: E731
        forms = ("reparameterized_trunk", "folded_high_res_projections", "channels_last_norms",
                 "matrix_mlp", "shared_first_self_attention")
        with tempfile.TemporaryDirectory() as d, contextlib.ExitStack() as stack:
            if plain:
                for f in forms:  # export_graph imports them from graphs when it runs
                    stack.enter_context(mock.patch.object(graphs, f, off))
            path = os.path.join(d, name + ".onnx")
            export.export_graph(name, self.wrappers[name], path, self.model, fused=fused)
            return collections.Counter(n.op_type for n in onnx.load(path).graph.node)

    def test_reparameterized_trunk_same_values(self):
        self._same("image_encoder", graphs.reparameterized_trunk)

    def test_folded_high_res_projections_same_values(self):
        self._same("image_encoder", graphs.folded_high_res_projections)

    def test_channels_last_norms_same_values(self):
        self._same("memory_encoder", graphs.channels_last_norms)
        self._same("mask_decoder", graphs.channels_last_norms)

    def test_matrix_mlp_same_values(self):
        self._same("memory_attention", graphs.matrix_mlp)

    def test_shared_first_self_attention_same_values(self):
        # example_inputs gives B = 2 objects with different memories.
        self._same("memory_attention", graphs.shared_first_self_attention)

    def test_shared_first_self_attention_runs_once(self):
        # The first layer's self-attention sees one object's tokens while the
        # graph is given two; the second layer's still sees both.
        w = self.wrappers["memory_attention"]
        inputs = export.example_inputs("memory_attention", self.model, np.random.default_rng(1))
        layers = self.model.memory_attention.layers
        seen = {}

        def record(i):
            def hook(mod, args, out):
                seen[i] = out.shape[0]  # batch first: the objects it ran for
            return hook

        hooks = [layer.self_attn.register_forward_hook(record(i)) for i, layer in enumerate(layers)]
        try:
            with graphs.shared_first_self_attention(self.model):
                _run(w, inputs)
        finally:
            for h in hooks:
                h.remove()
        self.assertEqual(inputs["mem_feat"].shape[0], 2)
        self.assertEqual(seen[0], 1, seen)
        self.assertEqual(seen[1], 2, seen)

    def test_exported_forms(self):
        # Folded, the trunk has fewer convolutions, and the graph that many
        # fewer Conv nodes than the one exported without the folds, and two
        # fewer for the high-resolution levels (four 1x1 convolutions -> two).
        def convs():
            return sum(isinstance(m, torch.nn.Conv2d) for m in self.model.image_encoder.modules())

        unfolded = convs()
        with graphs.reparameterized_trunk(self.model):
            folded = convs()
        self.assertLess(folded, unfolded)
        self.assertEqual(self._ops("image_encoder", plain=True)["Conv"]
                         - self._ops("image_encoder")["Conv"], unfolded - folded + 2)
        # Each LayerNorm2d of the memory encoder with 64 channels or more: one
        # LayerNormalization node instead of two ReduceMeans and the rest.
        from sam2.modeling.sam2_utils import LayerNorm2d
        n2d = sum(isinstance(m, LayerNorm2d) and m.weight.shape[0] >= graphs.CHANNELS_LAST_MIN_CHANNELS
                  for m in self.model.memory_encoder.modules())
        # The mask downsampler's 4- and 16-channel norms keep the ReduceMean form.
        self.assertLess(n2d, sum(isinstance(m, LayerNorm2d) for m in self.model.memory_encoder.modules()))
        plain = self._ops("memory_encoder", plain=True)
        ops = self._ops("memory_encoder")
        self.assertGreater(n2d, 0)
        self.assertEqual(ops["LayerNormalization"] - plain["LayerNormalization"], n2d, ops)
        self.assertEqual(plain["ReduceMean"] - ops["ReduceMean"], 2 * n2d, ops)
        layers = len(self.model.memory_attention.layers)
        plain = self._ops("memory_attention", fused=True, plain=True)
        ops = self._ops("memory_attention", fused=True)
        self.assertEqual((plain["Gemm"], ops["Gemm"]), (0, 2 * layers), ops)
        self.assertEqual(ops["Relu"], layers, ops)
        self.assertEqual(ops["MatMul"], plain["MatMul"] - 2 * layers, ops)

if __name__ == "__main__":
    unittest.main()
