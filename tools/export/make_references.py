"""Graph reference tensors for the Go parity test (docs/exporter.md).

    /usr/bin/python3 tools/export/make_references.py \
        --model testdata/model/sam2.1_hiera_t_random --out testdata/model/reference

Rebuilds the fixture's PyTorch model from its manifest "fixture" recipe,
runs each graph wrapper (official modules, not ORT) and writes one .npz per
case. Large float inputs are not stored: they come from hash_uniform, which Go
reimplements. As a sanity check the same cases are also run through ORT.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import export  # noqa: E402
import sam2build  # noqa: E402

STRIDE = 127  # outputs with more than BIG elements are stored as flat[::STRIDE]
BIG = 65536


def hash_uniform(n: int, seed: int, scale: float) -> np.ndarray:
    """u = (i*2654435761 + seed*40503) mod 2^32; v = f32(u>>8)/2^24*2-1; v*scale.

    Every arithmetic step after the integer hash is a separate float32
    operation (no fused multiply-add), so Go reproduces it bit for bit.
    """
    i = np.arange(n, dtype=np.uint64)
    u = (i * np.uint64(2654435761) + np.uint64(seed * 40503)) & np.uint64(0xFFFFFFFF)
    v = (u >> np.uint64(8)).astype(np.float32)
    v = v / np.float32(16777216.0)
    v = v * np.float32(2.0)
    v = v - np.float32(1.0)
    return v * np.float32(scale)


def gen(shape, seed, scale):
    return hash_uniform(int(np.prod(shape)), seed, scale).reshape(shape)


def model_from_manifest(model_dir):
    with open(os.path.join(model_dir, "manifest.json")) as f:
        man = json.load(f)
    fx = man.get("fixture")
    if not fx:
        raise ValueError(f"{model_dir}: manifest has no fixture recipe")
    depth = {k: v for k, v in fx["depth"].items()
             if k in ("stages", "global_att_blocks", "memory_attention_layers",
                      "memory_encoder_fuser_layers")}
    model = sam2build.build_model(
        man["variant"], seed=fx["seed"], depth_override=depth,
        param_values=fx.get("params") or None,
        fp16_representable=fx.get("fp16_representable_weights", False))
    return man, model


# Memory attention inputs that carry the object batch axis in front.
BATCHED_MEMORY = ("mem_feat", "mem_pos", "mem_slot", "ptr", "ptr_offset")


def cases(frame_u8):
    """(file stem, graph, {name: ndarray | ("gen", shape, seed, scale)})."""
    G = "gen"
    f32 = np.float32
    return [
        ("image_encoder", "image_encoder", {"image_u8": frame_u8}),
        ("mask_decoder", "mask_decoder", {
            "image_embed": (G, (1, 256, 64, 64), 1, 1.0),
            "feat_s0": (G, (1, 32, 256, 256), 2, 1.0),
            "feat_s1": (G, (1, 64, 128, 128), 3, 1.0),
            "point_coords": np.array([[[500.0, 300.0]]], f32),
            "point_labels": np.array([[1.0]], f32),
            "mask_input": (G, (1, 1, 256, 256), 4, 10.0),
            "has_mask_input": np.array([0.0], f32),
        }),
        ("mask_decoder_box", "mask_decoder", {
            "image_embed": (G, (1, 256, 64, 64), 1, 1.0),
            "feat_s0": (G, (1, 32, 256, 256), 2, 1.0),
            "feat_s1": (G, (1, 64, 128, 128), 3, 1.0),
            "point_coords": np.array([[[100.0, 150.0], [700.0, 800.0], [400.0, 450.0]]], f32),
            "point_labels": np.array([[2.0, 3.0, 1.0]], f32),
            "mask_input": (G, (1, 1, 256, 256), 5, 10.0),
            "has_mask_input": np.array([1.0], f32),
        }),
        ("memory_encoder", "memory_encoder", {
            "pix_feat": (G, (1, 256, 64, 64), 6, 1.0),
            "mask_high_res": (G, (1, 1, 1024, 1024), 7, 10.0),
            "binarize": np.array([0.0], f32),
            "object_score": np.array([[-0.5]], f32),
        }),
        ("memory_encoder_binarize", "memory_encoder", {
            "pix_feat": (G, (1, 256, 64, 64), 6, 1.0),
            "mask_high_res": (G, (1, 1, 1024, 1024), 7, 10.0),
            "binarize": np.array([1.0], f32),
            "object_score": np.array([[3.0]], f32),
        }),
        # Frame 5 tracked forward: conditioning frame 0 (slot 0, pointer offset
        # +5) and frame 4 (slot 1); pointers of frames 0, 4 and 3.
        ("memory_attention", "memory_attention", {
            "curr_feat": (G, (1, 256, 64, 64), 8, 1.0),
            "curr_pos": (G, (1, 256, 64, 64), 9, 1.0),
            "mem_feat": (G, (2, 64, 64, 64), 10, 1.0),
            "mem_pos": (G, (2, 64, 64, 64), 11, 1.0),
            "mem_slot": np.array([0, 1], np.int64),
            "ptr": (G, (3, 256), 12, 1.0),
            "ptr_offset": np.array([5.0, 1.0, 2.0], f32),
        }),
        # A new object tracked backwards before its conditioning frame: memory
        # frames but no pointers (only_obj_ptrs_in_the_past_for_eval).
        ("memory_attention_p0", "memory_attention", {
            "curr_feat": (G, (1, 256, 64, 64), 8, 1.0),
            "curr_pos": (G, (1, 256, 64, 64), 9, 1.0),
            "mem_feat": (G, (2, 64, 64, 64), 10, 1.0),
            "mem_pos": (G, (2, 64, 64, 64), 11, 1.0),
            "mem_slot": np.array([0, 1], np.int64),
            "ptr": np.zeros((0, 256), f32),
            "ptr_offset": np.zeros((0,), f32),
        }),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--sam2-src", default=None)
    a = ap.parse_args()
    if a.sam2_src:
        sam2build.setup(a.sam2_src)
    import torch

    torch.set_num_threads(2)
    man, model = model_from_manifest(a.model)
    from graphs import wrappers

    ws = wrappers(model)
    frame = export.real_frame()
    if frame is None:
        raise SystemExit("need ../shared/videos/bedroom.mp4 and ffmpeg for the image reference")
    os.makedirs(a.out, exist_ok=True)
    ok = True
    with tempfile.TemporaryDirectory(prefix="vidseg-ref-") as tmp:
        for stem, graph, spec in cases(frame):
            w = ws[graph]
            store, feed = {}, {}
            for name, v in spec.items():
                if isinstance(v, tuple):
                    _, shape, seed, scale = v
                    feed[name] = gen(shape, seed, scale)
                    store[f"gen_{name}_seed"] = np.int64(seed)
                    store[f"gen_{name}_scale"] = np.float32(scale)
                    store[f"shape_{name}"] = np.array(shape, np.int64)
                elif name == "image_u8":
                    store["in_image_u8"] = v
                    feed["image"] = export.normalize_u8(v)
                else:
                    store[f"in_{name}"] = v
                    feed[name] = v
            if graph == "memory_attention":
                # One object's memory, stored without the batch axis the
                # graph takes (format vidseg-sam2/2): [M,...] -> [1,M,...].
                for name in BATCHED_MEMORY:
                    feed[name] = feed[name][None]
            ref = export.torch_run(w, feed)
            for n, r in ref.items():
                flat = r.reshape(-1)
                store[f"shape_out_{n}"] = np.array(r.shape, np.int64)
                if flat.size > BIG:
                    store[f"out_{n}"] = flat[::STRIDE].copy()
                    store[f"stride_{n}"] = np.int64(STRIDE)
                    store[f"absmax_{n}"] = np.float32(np.abs(flat).max())
                else:
                    store[f"out_{n}"] = r
            path = os.path.join(a.out, f"{stem}.npz")
            np.savez_compressed(path, **store)
            got, ms = export.ort_run(os.path.join(a.model, f"{graph}.onnx"), feed,
                                     os.path.join(tmp, stem))
            print(f"{stem}: {os.path.getsize(path) / 1e6:.2f} MB; ORT {ms / 1000:.2f}s")
            ok &= export.compare(stem, ref, got, export.TOL["fp32"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
