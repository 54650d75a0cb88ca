"""Export an official SAM 2 / SAM 2.1 model to a vidseg model package.

    /usr/bin/python3 tools/export/export.py --variant sam2.1_hiera_t \
        --checkpoint sam2.1_hiera_tiny.pt --out models/sam2.1_hiera_t [--fp16]
    /usr/bin/python3 tools/export/export.py --variant sam2.1_hiera_t \
        --random-seed 0 [--stages 1,1,2,1 ...] [--image-size 256] --out DIR
    /usr/bin/python3 tools/export/export.py --variant edgetam \
        --checkpoint edgetam.pt --out models/edgetam [--edgetam-src ../ext/EdgeTAM]

Writes the package described in docs/model-package.md, then checks every
graph in ONNX Runtime against PyTorch (tools/export/ort_check.mjs) and exits
non-zero when an output differs by more than the tolerance.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import sam2build  # noqa: E402
from progress import Progress, size_text, summary  # noqa: E402

EXPORTER_VERSION = "0.1.0"
# /2: the mask decoder, memory encoder and memory attention take the objects
# of one frame as a batch (docs/model-package.md); /1 packages ran per object.
FORMAT = "vidseg-sam2/2"
OPSET = 17
# Self-check: max |ORT - PyTorch| <= TOL * max(|PyTorch|, 1) per output. The
# fp16 graph is compared with the float32 PyTorch model, so its tolerance is
# the rounding of fp16 activations/weights (2^-11 relative each) accumulated
# over the graph; docs/exporter.md lists the measured errors.
TOL = {"fp32": 1e-4, "fp16": 1e-2}
IMAGE_MEAN = [0.485, 0.456, 0.406]
IMAGE_STD = [0.229, 0.224, 0.225]
SAMURAI = {
    "kf_score_weight": 0.25, "stable_frames_threshold": 15,
    "stable_ious_threshold": 0.3, "memory_bank_iou_threshold": 0.5,
    "memory_bank_obj_score_threshold": 0.0, "memory_bank_kf_score_threshold": 0.0,
    "max_obj_ptrs_in_encoder": 16,
    # SAMURAI's configs blank masks only below this object logit (SAM 2: 0).
    "min_obj_score_logits": -1.0,
}


def log(msg: str) -> None:
    print(msg, flush=True)


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------
# Example inputs.


def example_inputs(name, model, rng, *, n_points=2, M=2, P=3, B=2, image=None):
    """numpy inputs of graph `name` (float32 unless the contract says int64)
    for B objects of one frame."""
    import numpy as np

    f = np.float32
    S = model.image_size  # 1024 unless --image-size
    F = S // model.backbone_stride  # feature map (64)
    if name == "image_encoder":
        if image is None:
            image = rng.standard_normal((1, 3, S, S)).astype(f)
        return {"image": image}
    if name == "mask_decoder":
        coords = rng.uniform(0, S, (B, n_points, 2)).astype(f)
        labels = np.ones((B, n_points), f)
        if n_points >= 2:
            labels[:, :2] = [2, 3]
        if B > 1:
            labels[-1, -1] = -1  # padding of a shorter prompt
        return {
            "image_embed": rng.standard_normal((B, 256, F, F)).astype(f),
            "feat_s0": rng.standard_normal((1, 32, 4 * F, 4 * F)).astype(f),
            "feat_s1": rng.standard_normal((1, 64, 2 * F, 2 * F)).astype(f),
            "point_coords": coords, "point_labels": labels,
            "mask_input": (rng.standard_normal((B, 1, 4 * F, 4 * F)) * 10).astype(f),
            "has_mask_input": (np.arange(B) % 2 == 0).astype(f),
        }
    if name == "memory_encoder":
        return {
            "pix_feat": rng.standard_normal((1, 256, F, F)).astype(f),
            "mask_high_res": (rng.standard_normal((B, 1, S, S)) * 10).astype(f),
            "binarize": (np.arange(B) % 2 == 1).astype(f),
            "object_score": (np.arange(B, dtype=f) * 2 - 1.5).reshape(B, 1),
        }
    if name == "memory_attention":
        slots = (np.arange(M, dtype=np.int64) % model.num_maskmem)[None].repeat(B, 0)
        slots[1:] = (slots[1:] + 1) % model.num_maskmem
        L = memory_tokens(model)
        frame = (L, 64) if L else (64, F, F)
        return {
            "curr_feat": rng.standard_normal((1, 256, F, F)).astype(f),
            "curr_pos": rng.standard_normal((1, 256, F, F)).astype(f),
            "mem_feat": rng.standard_normal((B, M) + frame).astype(f),
            "mem_pos": rng.standard_normal((B, M) + frame).astype(f),
            "mem_slot": slots,
            "ptr": rng.standard_normal((B, P, 256)).astype(f),
            "ptr_offset": ((np.arange(P, dtype=f) - 1.0)[::-1] * 2)[None].repeat(B, 0)
            + np.arange(B, dtype=f)[:, None],
        }
    raise KeyError(name)


def memory_tokens(model):
    """Latents per memory frame of an EdgeTAM model (its spatial perceiver's
    1D + 2D latents); 0 for SAM 2, whose memory frames are C' x F x F maps."""
    p = getattr(model, "spatial_perceiver", None)
    if p is None:
        return 0
    return max(p.num_latents, 0) + max(p.num_latents_2d, 0)


def torch_run(wrapper, inputs):
    import torch

    args = [torch.from_numpy(inputs[n]) for n in wrapper.input_names]
    with torch.no_grad():
        outs = wrapper(*args)
    return {n: o.numpy() for n, o in zip(wrapper.output_names, outs if isinstance(outs, tuple) else (outs,))}


# ---------------------------------------------------------------------------
# Export.


# Graphs whose attentions are exported as one fused com.microsoft
# MultiHeadAttention node with --attention fused (the default for fp32):
# ONNX Runtime's CPU kernel for it is a flash attention that never holds the
# [queries, keys] score matrix (the image encoder's global blocks: 4 heads x
# 4096 x 4096 floats, 268 MB, and as much again for the softmax).
# docs/exporter.md has the measurements.
FUSED_ATTENTION_GRAPHS = ("image_encoder", "memory_attention")


def export_graph(name, wrapper, path, model, fused=False, fold_graph=True):
    import numpy as np
    import torch

    from graphs import DYNAMIC_AXES

    rng = np.random.default_rng(0)
    inputs = example_inputs(name, model, rng)
    args = tuple(torch.from_numpy(inputs[n]) for n in wrapper.input_names)
    # torch >= 2.9 exports through dynamo by default; these graphs (custom
    # com.microsoft ops, dynamic_axes) are written for the TorchScript
    # exporter, which torch 1.13 has only and 2.x still has.
    extra = {}
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        extra["dynamo"] = False
    t = time.time()
    from graphs import (channels_last_norms, folded_high_res_projections, matrix_mlp,
                        reparameterized_trunk, row_chunked_blocks, shared_first_self_attention)

    # The image encoder's stage-1 blocks in row bands: the same values with a
    # quarter of their activations live (graphs.row_chunked_blocks); RepViT's
    # branches folded into single convolutions (graphs.reparameterized_trunk);
    # each high-resolution level projected by one 1x1 convolution, not two
    # (graphs.folded_high_res_projections); LayerNorm2d as one LayerNormalization
    # on channels-last maps (graphs.channels_last_norms);
    # the memory attention's MLPs as Gemm + Relu (graphs.matrix_mlp) and its
    # first self-attention once for all objects (graphs.shared_first_self_attention).
    enc = name == "image_encoder"
    bands = row_chunked_blocks(model) if enc else contextlib.nullcontext()
    deploy = reparameterized_trunk(model) if enc else contextlib.nullcontext()
    hires = folded_high_res_projections(model) if enc else contextlib.nullcontext()
    norms = (channels_last_norms(model) if name in ("mask_decoder", "memory_encoder")
             else contextlib.nullcontext())
    att = name == "memory_attention"
    mlp = matrix_mlp(model) if att else contextlib.nullcontext()
    shared = shared_first_self_attention(model) if att else contextlib.nullcontext()
    forms = (bands, deploy, hires, norms, mlp, shared)
    with torch.no_grad(), sam2build.fused_attention(fused), contextlib.ExitStack() as stack:
        for form in forms:
            stack.enter_context(form)
        torch.onnx.export(
            wrapper, args, path,
            input_names=wrapper.input_names, output_names=wrapper.output_names,
            dynamic_axes=DYNAMIC_AXES[name] or None,
            opset_version=OPSET,
            # Folding would bake the RoPE cos/sin tables (computed in-graph
            # from arange) into large constants; ORT folds them at load.
            do_constant_folding=(name != "memory_attention"),
            custom_opsets={"com.microsoft": 1} if fused else None,
            **extra,
        )
    model.eval()
    log(f"exported {name} in {time.time() - t:.1f}s")
    if fold_graph:
        import fold

        t = time.time()
        try:
            before, after = fold.fold_file(path)
        except Exception as e:  # the graph as exported is valid: keep it
            log(f"  WARNING: {name} not folded ({type(e).__name__}: {e}); kept as exported")
        else:
            log(f"  folded {name}: {fold.describe(before, after)} in {time.time() - t:.1f}s")


def compact_fp16_representable(path):
    """Store initializers that are exactly fp16-representable as fp16 + Cast.

    Used for random-weight fixtures whose weights were rounded to fp16 values
    (sam2build fp16_representable=True): the Cast back to float32 restores the
    identical float32 values, so the graph computes exactly as before at half
    the size. Anything not exactly representable (e.g. RoPE tables) stays.
    """
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper, TensorProto

    m = onnx.load(path)
    g = m.graph
    keep, added, nodes = [], 0, []
    for init in g.initializer:
        if init.data_type != TensorProto.FLOAT:
            keep.append(init)
            continue
        a = numpy_helper.to_array(init)
        h = a.astype(np.float16)
        if a.size < 64 or not np.array_equal(h.astype(np.float32), a):
            keep.append(init)
            continue
        half_name = init.name + "__fp16"
        keep.append(numpy_helper.from_array(h, half_name))
        nodes.append(helper.make_node("Cast", [half_name], [init.name],
                                      to=TensorProto.FLOAT, name=half_name + "_cast"))
        added += 1
    del g.initializer[:]
    g.initializer.extend(keep)
    old = list(g.node)
    del g.node[:]
    g.node.extend(nodes + old)
    onnx.checker.check_model(m)
    onnx.save(m, path)
    return added


def to_fp16(path):
    """Rewrite the float32 graph at path to fp16 weights/compute (fp16.py)."""
    import onnx

    import fp16

    t = time.time()
    m = onnx.load(path)
    summary = fp16.convert(m, log=log)
    onnx.save(m, path)
    log(f"  {os.path.basename(path)}: fp16 in {time.time() - t:.1f}s: {summary}")
    if summary["clipped_values"]:
        log(f"  WARNING: {summary['clipped_values']} weights beyond +-65504 clipped")
    return summary


# ---------------------------------------------------------------------------
# Self-check through ONNX Runtime.


def ort_run(graph_path, inputs, workdir):
    """Run graph_path in ORT; returns (outputs, run_ms). Python's onnxruntime
    when installed (usual beside torch 2.x), else Node's through ort_check.mjs
    (Debian ships no Python onnxruntime)."""
    import numpy as np

    try:
        import onnxruntime
    except ImportError:
        onnxruntime = None
    if onnxruntime is not None:
        so = onnxruntime.SessionOptions()
        so.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = onnxruntime.InferenceSession(graph_path, so, providers=["CPUExecutionProvider"])
        t = time.time()
        got = sess.run(None, dict(inputs))
        ms = (time.time() - t) * 1000
        return {o.name: v for o, v in zip(sess.get_outputs(), got)}, ms

    os.makedirs(workdir, exist_ok=True)
    spec = {"model": graph_path, "out_dir": os.path.join(workdir, "out"), "inputs": {}}
    for n, a in inputs.items():
        f = os.path.join(workdir, f"in_{n}.bin")
        np.ascontiguousarray(a).tofile(f)
        spec["inputs"][n] = {"file": f, "dtype": str(a.dtype), "dims": list(a.shape)}
    sp = os.path.join(workdir, "spec.json")
    with open(sp, "w") as fh:
        json.dump(spec, fh)
    r = subprocess.run(["node", os.path.join(HERE, "ort_check.mjs"), sp],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"ORT run of {graph_path} failed: {r.stderr.strip()}")
    with open(os.path.join(spec["out_dir"], "outputs.json")) as fh:
        idx = json.load(fh)
    dt = {"float32": np.float32, "int64": np.int64, "float16": np.float16}
    outs = {n: np.fromfile(o["file"], dt[o["dtype"]]).reshape(o["dims"])
            for n, o in idx["outputs"].items()}
    return outs, idx["run_ms"]


def compare(label, ref, got, tol, stats=None):
    """Log max |ORT - PyTorch| per output; stats[label][output] keeps the worst
    (error, error / max(max|ref|, 1))."""
    import numpy as np

    worst_ok = True
    for n, r in ref.items():
        if n not in got:
            log(f"  {label} {n}: MISSING from ORT outputs")
            worst_ok = False
            continue
        g = got[n]
        if g.shape != r.shape:
            log(f"  {label} {n}: shape ORT {g.shape} != PyTorch {r.shape}")
            worst_ok = False
            continue
        err = float(np.max(np.abs(g.astype(np.float64) - r))) if r.size else 0.0
        scale = max(float(np.max(np.abs(r))) if r.size else 0.0, 1.0)
        ok = err <= tol * scale
        worst_ok &= ok
        if stats is not None:
            prev = stats.setdefault(label, {}).get(n, (0.0, 0.0))
            stats[label][n] = (max(prev[0], err), max(prev[1], err / scale))
        log(f"  {label} {n}: max|ORT-PyTorch| = {err:.3g} (max|ref| {scale:.3g}, "
            f"limit {tol * scale:.3g}) {'ok' if ok else 'FAIL'}")
    return worst_ok


def real_frame(size=1024):
    """Frame 0 of shared/videos/bedroom.mp4 at size x size RGB uint8, or None."""
    import numpy as np

    video = os.path.join(sam2build.REPO_ROOT, "..", "shared", "videos", "bedroom.mp4")
    if not os.path.exists(video) or shutil.which("ffmpeg") is None:
        return None
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", video, "-frames:v", "1", "-vf",
         f"scale={size}:{size}:flags=bicubic", "-pix_fmt", "rgb24", "-f", "rawvideo", "-"],
        capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(size, size, 3)


def normalize_u8(img):
    """((x / 255) - mean) / std in float32, HWC uint8 -> [1,3,H,W]."""
    import numpy as np

    x = img.astype(np.float32) / np.float32(255.0)
    x = (x - np.array(IMAGE_MEAN, np.float32)) / np.array(IMAGE_STD, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None]).astype(np.float32)


def self_check(out_dir, model, precision, stats=None):
    import numpy as np

    from graphs import wrappers

    tol = TOL[precision]
    ws = wrappers(model)
    rng = np.random.default_rng(1234)
    cases = []
    frame = real_frame(model.image_size)
    if frame is not None:
        cases.append(("image_encoder", "bedroom frame 0",
                      example_inputs("image_encoder", model, rng, image=normalize_u8(frame))))
    cases.append(("image_encoder", "random", example_inputs("image_encoder", model, rng)))
    cases.append(("mask_decoder", "box+point, mask",
                  example_inputs("mask_decoder", model, rng, n_points=3, B=1)))
    md = example_inputs("mask_decoder", model, rng, n_points=1, B=1)
    md["has_mask_input"][:] = 0
    cases.append(("mask_decoder", "1 click, no mask", md))
    cases.append(("mask_decoder", "3 objects", example_inputs("mask_decoder", model, rng, n_points=2, B=3)))
    cases.append(("memory_encoder", "sigmoid, absent", example_inputs("memory_encoder", model, rng, B=1)))
    me = example_inputs("memory_encoder", model, rng, B=1)
    me["binarize"][:] = 1
    me["object_score"][:] = 2.0
    cases.append(("memory_encoder", "binarize, present", me))
    cases.append(("memory_encoder", "3 objects", example_inputs("memory_encoder", model, rng, B=3)))
    for B, M, P in [(1, 2, 3), (1, 1, 0), (1, 7, 16), (3, 7, 16), (2, 2, 0)]:
        cases.append(("memory_attention", f"B={B} M={M} P={P}",
                      example_inputs("memory_attention", model, rng, B=B, M=M, P=P)))
    ok = True
    if stats is None:
        stats = {}
    with tempfile.TemporaryDirectory(prefix="vidseg-export-") as tmp:
        for i, (name, label, inp) in enumerate(cases):
            t = time.time()
            ref = torch_run(ws[name], inp)
            t_torch = time.time() - t
            got, ms = ort_run(os.path.join(out_dir, f"{name}.onnx"), inp,
                              os.path.join(tmp, str(i)))
            log(f"self-check {i + 1}/{len(cases)} {name} [{label}]: PyTorch {t_torch:.2f}s, ORT {ms / 1000:.2f}s")
            ok &= compare(name, ref, got, tol, stats)
    log(f"self-check summary ({precision}; worst over cases: max|ORT-PyTorch|, "
        f"and relative to max(max|ref|, 1)):")
    for name, outs in stats.items():
        log("  " + name + ": " + ", ".join(
            f"{n} {e:.3g} ({r:.2g})" for n, (e, r) in outs.items()))
    return ok


# ---------------------------------------------------------------------------
# Package.


def write_constants(model, path):
    import numpy as np

    consts = {
        "no_mem_embed": model.no_mem_embed.detach().reshape(-1),
        "no_obj_ptr": (model.no_obj_ptr.detach().reshape(-1)
                       if getattr(model, "no_obj_ptr", None) is not None else None),
        "mask_downsample_weight": model.mask_downsample.weight.detach(),
        "mask_downsample_bias": model.mask_downsample.bias.detach(),
    }
    index, off = {}, 0
    with open(path, "wb") as f:
        for n, t in consts.items():
            if t is None:
                continue
            a = t.numpy().astype("<f4")
            f.write(a.tobytes())
            index[n] = {"offset": off, "shape": list(a.shape)}
            off += a.size
    return index


def manifest(model, info, precision, constants, files, fixture):
    m = model
    dec = m.sam_mask_decoder
    variant = info["variant"]
    samurai = dict(SAMURAI)
    if variant.endswith("_l"):
        samurai["kf_score_weight"] = 0.15
    samurai["max_obj_ptrs_in_encoder"] = m.max_obj_ptrs_in_encoder
    out = {
        "format": FORMAT,
        "exporter_version": EXPORTER_VERSION,
        "family": info["family"], "variant": variant,
        "precision": precision,
        "image_size": m.image_size, "mask_size": m.image_size // 4,
        "feature_size": m.image_size // 16,
        "hidden_dim": m.hidden_dim, "mem_dim": m.mem_dim,
        "image_mean": IMAGE_MEAN, "image_std": IMAGE_STD,
        "num_maskmem": m.num_maskmem,
        "max_obj_ptrs_in_encoder": m.max_obj_ptrs_in_encoder,
        "sigmoid_scale_for_mem_enc": float(m.sigmoid_scale_for_mem_enc),
        "sigmoid_bias_for_mem_enc": float(m.sigmoid_bias_for_mem_enc),
        "binarize_mask_from_pts_for_mem_enc": bool(
            info["config"].get("binarize_mask_from_pts_for_mem_enc", True)),
        "multimask_output_in_sam": bool(m.multimask_output_in_sam),
        "multimask_output_for_tracking": bool(m.multimask_output_for_tracking),
        "multimask_min_pt_num": m.multimask_min_pt_num,
        "multimask_max_pt_num": m.multimask_max_pt_num,
        "dynamic_multimask_via_stability": bool(dec.dynamic_multimask_via_stability),
        "dynamic_multimask_stability_delta": float(dec.dynamic_multimask_stability_delta),
        "dynamic_multimask_stability_thresh": float(dec.dynamic_multimask_stability_thresh),
        "use_multimask_token_for_obj_ptr": bool(m.use_multimask_token_for_obj_ptr),
        "pred_obj_scores": bool(m.pred_obj_scores),
        "fixed_no_obj_ptr": bool(m.fixed_no_obj_ptr),
        "use_obj_ptrs_in_encoder": bool(m.use_obj_ptrs_in_encoder),
        "add_tpos_enc_to_obj_ptrs": bool(m.add_tpos_enc_to_obj_ptrs),
        "use_signed_tpos_enc_to_obj_ptrs": bool(m.use_signed_tpos_enc_to_obj_ptrs),
        "only_obj_ptrs_in_the_past_for_eval": bool(m.only_obj_ptrs_in_the_past_for_eval),
        "directly_add_no_mem_embed": bool(m.directly_add_no_mem_embed),
        "use_mask_input_as_output_without_sam": bool(m.use_mask_input_as_output_without_sam),
        "samurai": samurai,
        **({"memory_tokens": memory_tokens(m)} if memory_tokens(m) else {}),
        "graphs": {g: f"{g}.onnx" for g in
                   ("image_encoder", "mask_decoder", "memory_encoder", "memory_attention")},
        "constants": constants,
        "files": files,
    }
    if fixture is not None:
        out["fixture"] = fixture
    return out


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sam2build.add_args(p)
    p.add_argument("--out", required=True, help="output directory (created)")
    p.add_argument("--fp16", action="store_true",
                   help="fp16 weights/compute, fp32 graph inputs/outputs "
                        "(positions and normalizations stay fp32; see fp16.py)")
    p.add_argument("--image-size", type=int, default=None, metavar="N",
                   help="input resolution N (multiple of 32) instead of the "
                        "config's 1024: features N/16, masks N/4 (soak/test models)")
    p.add_argument("--stages", default=None,
                   help="random weights only: Hiera blocks per stage, e.g. 1,1,2,1")
    p.add_argument("--global-att-blocks", default=None,
                   help="random weights only: e.g. 3 (default: remapped)")
    p.add_argument("--memory-attention-layers", type=int, default=None)
    p.add_argument("--memory-encoder-fuser-layers", type=int, default=None)
    p.add_argument("--perceiver-layers", type=int, default=None,
                   help="random weights only, variant edgetam: spatial perceiver layers")
    p.add_argument("--int8", action="store_true",
                   help="after the fp32 export and its self-check, quantize the image "
                        "encoder's weight matmuls to int8 (int8.py; precision \"int8\")")
    p.add_argument("--int8-below-gate", action="store_true",
                   help="with --int8: export it although int8 fails the fidelity gate for "
                        "the variant (refused otherwise; docs/fidelity.md)")
    p.add_argument("--int8-graphs", default=None, metavar="G1,G2",
                   help="with --int8: which graphs (default image_encoder)")
    p.add_argument("--fp16-representable", action="store_true",
                   help="random weights only: round weights to fp16 values and store "
                        "them as fp16 + Cast (same fp32 math, half the size)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="set a parameter after init: NAME=V (scalar broadcast), "
                        "NAME[i]=V (element i of the flattened parameter) or "
                        "NAME=V0,V1,... (every element), e.g. "
                        f"{sam2build.OBJ_SCORE_BIAS}=2.0, {sam2build.IOU_BIAS}[3]=0.0615")
    p.add_argument("--attention", choices=("fused", "plain"), default=None,
                   help="fused (default for fp32): the attentions of "
                        + ", ".join(FUSED_ATTENTION_GRAPHS) + " as ONNX Runtime's "
                        "MultiHeadAttention (flash attention on CPU: no score matrix); "
                        "plain (default for --fp16): MatMul/Softmax/MatMul")
    p.add_argument("--fused-graphs", default=None, metavar="G1,G2",
                   help="with --attention fused: which graphs (default "
                        + ",".join(FUSED_ATTENTION_GRAPHS) + ")")
    p.add_argument("--skip-check", action="store_true", help="skip the ORT self-check")
    p.add_argument("--no-fold", action="store_true",
                   help="keep the graphs as torch.onnx.export writes them (fold.py folds their "
                        "shape arithmetic and layout chains by default; same values)")
    a = p.parse_args(argv)
    if (a.checkpoint is None) == (a.random_seed is None):
        p.error("give exactly one of --checkpoint and --random-seed")
    depth = {}
    if a.stages:
        depth["stages"] = [int(x) for x in a.stages.split(",")]
    if a.global_att_blocks:
        depth["global_att_blocks"] = [int(x) for x in a.global_att_blocks.split(",")]
    if a.memory_attention_layers is not None:
        depth["memory_attention_layers"] = a.memory_attention_layers
    if a.memory_encoder_fuser_layers is not None:
        depth["memory_encoder_fuser_layers"] = a.memory_encoder_fuser_layers
    if a.perceiver_layers is not None:
        depth["perceiver_layers"] = a.perceiver_layers
    if a.checkpoint and (depth or a.fp16_representable or a.param):
        p.error("--stages/--*-layers/--fp16-representable/--param need --random-seed")
    if a.image_size is not None and (a.image_size < 64 or a.image_size % 32):
        p.error(f"--image-size {a.image_size}: want a multiple of 32, at least 64")
    a.depth = depth
    if a.attention is None:
        a.attention = "plain" if a.fp16 else "fused"
    if a.int8 and a.fp16:
        p.error("--int8 quantizes an fp32 export; it does not combine with --fp16")
    try:
        edgetam = sam2build.is_edgetam(a.variant)
    except ValueError as e:
        p.error(str(e))
    if edgetam and (a.fp16 or a.int8):
        p.error("--fp16/--int8: not supported for variant edgetam (its conv trunk and "
                "perceiver are not covered by fp16.py/int8.py); export fp32")
    if edgetam and a.image_size is not None and a.image_size % 256:
        p.error(f"--image-size {a.image_size}: edgetam needs a multiple of 256 (its perceiver "
                "pools the N/16 feature map into a 16x16 grid of windows)")
    if edgetam and a.global_att_blocks:
        p.error("--global-att-blocks: Hiera only; edgetam's --stages are RepViT blocks per stage")
    if a.timm_src:
        os.environ["TIMM_SRC"] = a.timm_src
    if a.int8_graphs and not a.int8:
        p.error("--int8-graphs needs --int8")
    if a.int8_below_gate and not a.int8:
        p.error("--int8-below-gate needs --int8")
    if a.int8 and not a.int8_below_gate:
        import int8
        try:
            why = int8.refusal(sam2build.canonical_variant(a.variant))
        except ValueError:
            why = None  # the unknown variant gets its own error below
        if why:
            p.error(why)
    if a.attention == "fused" and a.fp16:
        p.error("--attention fused is fp32 only (the fp16 rewrite does not handle it)")
    a.fused_graphs = (tuple(x for x in (a.fused_graphs or ",".join(FUSED_ATTENTION_GRAPHS)).split(",") if x)
                      if a.attention == "fused" else ())
    params = {}
    for kv in a.param:
        try:
            params.update(sam2build.parse_param(kv))
        except ValueError as e:
            p.error(f"--param {e}")
    a.params = params
    return a


GRAPHS = ("image_encoder", "mask_decoder", "memory_encoder", "memory_attention")


def main(argv=None):
    a = parse_args(argv)
    steps = ["build the model"] + [f"export {g}" for g in GRAPHS] + ["write constants and manifest"]
    if not a.skip_check:
        steps.append("self-check against PyTorch")
    if a.int8:
        steps.append("quantize to int8")
    prog = Progress(steps, log=log)
    prog.start("build the model")
    import torch

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    t0 = time.time()
    model = sam2build.build_model(
        a.variant, checkpoint=a.checkpoint, seed=a.random_seed,
        depth_override=a.depth or None, param_values=a.params or None,
        fp16_representable=a.fp16_representable, sam2_src=a.sam2_src,
        image_size=a.image_size, edgetam_src=a.edgetam_src)
    info = model.vidseg_build_info
    log(f"built {info['variant']} ({sum(p.numel() for p in model.parameters())} params, "
        f"depth {info['depth']}) in {time.time() - t0:.1f}s")

    from graphs import wrappers

    precision = "fp16" if a.fp16 else "fp32"
    os.makedirs(a.out, exist_ok=True)
    for name, w in wrappers(model).items():
        prog.start(f"export {name}")
        path = os.path.join(a.out, f"{name}.onnx")
        export_graph(name, w, path, model, fused=name in a.fused_graphs, fold_graph=not a.no_fold)
        if a.fp16_representable and not a.fp16:  # --fp16 converts them anyway
            n = compact_fp16_representable(path)
            log(f"  {name}: {n} initializers stored as fp16 (exact)")
        if a.fp16:
            to_fp16(path)
        prog.done(size_text(os.path.getsize(path)))
    prog.start("write constants and manifest")
    constants = write_constants(model, os.path.join(a.out, "constants.bin"))
    files = {}
    for f in sorted(os.listdir(a.out)):
        if f != "manifest.json":
            files[f] = sha256(os.path.join(a.out, f))
    fixture = None
    if a.random_seed is not None:
        fixture = {"seed": a.random_seed, "random_weights": True,
                   "depth": info["depth"], "depth_reduced": info["depth_reduced"],
                   "fp16_representable_weights": bool(a.fp16_representable),
                   "params": a.params, "standins": info["standins"]}
        if a.image_size is not None:
            fixture["image_size"] = a.image_size
    man = manifest(model, info, precision, constants, files, fixture)
    # EdgeTAM's RepViT image encoder has no attention to fuse.
    man["fused_attention"] = sorted(g for g in a.fused_graphs
                                    if not (g == "image_encoder" and info["family"] == "edgetam"))
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(man, f, indent=2)
        f.write("\n")
    log(f"wrote {a.out} in {time.time() - t0:.1f}s")
    prog.done()
    check, stats = None, {}
    if not a.skip_check:
        prog.start("self-check against PyTorch")
        check = self_check(a.out, model, precision, stats)
        prog.done()
        if not check:
            log(f"SELF-CHECK FAILED (tolerance {TOL[precision]} x max(|ref|, 1))")
        else:
            log(f"self-check passed (tolerance {TOL[precision]} x max(|ref|, 1)); "
                f"total {time.time() - t0:.1f}s")
    if a.int8 and check is not False:
        prog.start("quantize to int8")
        quantize_int8(a)
        prog.done()
    for line in summary(a.out, prog.elapsed(), check, stats):
        log(line)
    return 1 if check is False else 0


def quantize_int8(a):
    """Quantize the checked fp32 package in place. int8 has no tolerance
    against PyTorch to check here: its fidelity is measured on the trace
    sessions (docs/model-package.md, "int8")."""
    import int8

    graphs = tuple(a.int8_graphs.split(",")) if a.int8_graphs else int8.DEFAULT_GRAPHS
    int8.convert_package(a.out, a.out, graphs=graphs, log=log)
    log(f"quantized {', '.join(graphs)} to int8 in {a.out}")
    log("note: " + int8.fidelity_note(sam2build.canonical_variant(a.variant)))


if __name__ == "__main__":
    sys.exit(main())
