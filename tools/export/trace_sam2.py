#!/usr/bin/env python3
"""Record what the official SAM 2 video predictor does, step by step, for the Go parity tests.

The predictor is the reference one (sam2/sam2_video_predictor.py at the commit named in
docs/trace.md), built by sam2build.py with exactly the weights of a vidseg model fixture. Its
code is not edited: methods are wrapped on the instance to observe the decoder's candidates,
the memory each frame reads and the object pointers it uses. The frames are the pixels vidseg's
decoder produces (tools/dumpframes), so both sides see the same input.

Output: a session file (the script and settings, JSON) and a trace (.npz); docs/trace.md
describes every key. Run through tools/export/make_traces.sh.
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch

# How the frames were made (make_traces.sh); the trace uses the first n of them.
FRAMES_CMD = "go run ./tools/dumpframes -in bedroom.mp4 -n 40 -size 1024 -out frames.rgb"

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)

# build_sam2_video_predictor(apply_postprocessing=True) applies these; the traces use them too.
POSTPROCESSING = {
    "dynamic_multimask_via_stability": True,
    "dynamic_multimask_stability_delta": 0.05,
    "dynamic_multimask_stability_thresh": 0.98,
    "binarize_mask_from_pts_for_mem_enc": True,
    "fill_hole_area": 8,
}


def rel(path):
    """Path relative to the repository root, for files written into the repository."""
    return os.path.relpath(os.path.abspath(path), REPO)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def video_size(path):
    """Width and height of the first video stream, as FFmpeg reports them."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=width,height", "-of", "json", path],
        check=True, capture_output=True, text=True).stdout
    s = json.loads(out)["streams"][0]
    return int(s["width"]), int(s["height"])


def load_frames(path, n, size):
    """rgb24 frames from tools/dumpframes, normalized as the reference does for an mp4."""
    need = n * size * size * 3
    have = os.path.getsize(path)
    if have < need:
        raise SystemExit(f"{path}: {have} bytes, need {need} for {n} frames of {size}x{size} rgb24")
    raw = np.fromfile(path, dtype=np.uint8, count=need).reshape(n, size, size, 3)
    x = torch.from_numpy(raw).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(IMAGE_MEAN, dtype=torch.float32)[:, None, None]
    std = torch.tensor(IMAGE_STD, dtype=torch.float32)[:, None, None]
    return ((x - mean) / std).contiguous()


def patch_frame_loader(images, width, height):
    """Make init_state take our frames instead of decoding the video itself."""
    import sam2.sam2_video_predictor as vp

    def load_video_frames(**kwargs):
        return images, height, width

    vp.load_video_frames = load_video_frames


def fixture_recipe(model_dir):
    """The manifest's "fixture" section: how the committed random weights were made."""
    path = os.path.join(model_dir, "manifest.json")
    with open(path) as f:
        man = json.load(f)
    fx = man.get("fixture")
    if not fx or not fx.get("random_weights"):
        raise SystemExit(f"{path}: no random-weight \"fixture\" recipe; traces need one")
    return man, fx


def build_predictor(model_dir, sam2_src, overrides=None, try_params=None, edgetam_src=None,
                    **predictor_kwargs):
    """The reference predictor with exactly the fixture's weights (sam2build rebuilds them
    from the manifest recipe: seed, depth, fp16 rounding, parameter overrides)."""
    import sam2build

    man, fx = fixture_recipe(model_dir)
    depth = {k: v for k, v in fx["depth"].items()
             if k in ("stages", "global_att_blocks", "memory_attention_layers",
                      "memory_encoder_fuser_layers", "perceiver_layers")}
    params = dict(fx.get("params") or {})
    params.update(try_params or {})
    model = sam2build.build_video_predictor(
        man["variant"], seed=fx["seed"], depth_override=depth, overrides=overrides,
        param_values=params or None, sam2_src=sam2_src,
        fp16_representable=fx.get("fp16_representable_weights", False),
        image_size=fx.get("image_size"), edgetam_src=edgetam_src,
        **predictor_kwargs)
    return man, fx, model


def parse_try_params(items, out_dir):
    """--try-param NAME=VALUE: weights that differ from the fixture, to find an override
    before asking for a new fixture. Such a trace must not land in testdata/trace."""
    if not items:
        return None
    if os.path.abspath(out_dir) == os.path.join(REPO, "testdata", "trace"):
        raise SystemExit("--try-param traces do not match the fixture: pass another --out-dir")
    import sam2build

    out = {}
    for kv in items:
        try:
            out.update(sam2build.parse_param(kv))
        except ValueError as e:
            raise SystemExit(f"--try-param {e}") from None
    return out


def check_weights(model, model_dir, log):
    """Compare the rebuilt model with the fixture's image-encoder reference tensors.

    testdata/model/reference/image_encoder.npz holds strided samples of PyTorch outputs for a
    stored frame, made from the same recipe; a different weight would show here.
    """
    ref_path = os.path.join(os.path.dirname(os.path.abspath(model_dir)), "reference", "image_encoder.npz")
    if getattr(model, "spatial_perceiver", None) is not None:
        # The reference tensors are the SAM 2 fixture's; an EdgeTAM trace is checked
        # against its package by the Go replay itself.
        log("EdgeTAM: no reference tensors; weights not cross-checked")
        return None
    if not os.path.exists(ref_path):
        log(f"no {ref_path}: weights not cross-checked")
        return None
    ref = np.load(ref_path)
    img = torch.from_numpy(ref["in_image_u8"]).permute(2, 0, 1)[None].float() / 255.0
    mean = torch.tensor(IMAGE_MEAN, dtype=torch.float32)[:, None, None]
    std = torch.tensor(IMAGE_STD, dtype=torch.float32)[:, None, None]
    with torch.inference_mode():
        out = model.forward_image((img - mean) / std)
    got = {"feat_s0": out["backbone_fpn"][0], "feat_s1": out["backbone_fpn"][1],
           "vision_feat": out["backbone_fpn"][2], "vision_pos": out["vision_pos_enc"][2]}
    worst = 0.0
    for name, t in got.items():
        want = ref["out_" + name]
        stride = int(ref["stride_" + name])
        have = t.reshape(-1).numpy()[::stride][: want.size]
        d = float(np.max(np.abs(have - want)))
        rel_d = d / max(float(ref["absmax_" + name]), 1e-12)
        worst = max(worst, rel_d)
        log(f"weights check {name}: max |diff| {d:.3g} (relative {rel_d:.3g})")
    if worst > 1e-4:
        raise SystemExit(f"rebuilt model does not match {ref_path} (relative {worst:.3g}): "
                         "the fixture recipe and the trace disagree")
    return worst


def cache_all_image_features(model):
    """Keep every frame's backbone output: the reference keeps one, and recomputing is slow.

    The features are a pure function of the frame, so this changes no result.
    """
    cache = {}
    orig = model._get_image_feature

    def get(inference_state, frame_idx, batch_size):
        if frame_idx in cache:
            inference_state["cached_features"] = {frame_idx: cache[frame_idx]}
        out = orig(inference_state, frame_idx, batch_size)
        cache[frame_idx] = inference_state["cached_features"][frame_idx]
        return out

    model._get_image_feature = get


class _Seen(dict):
    """A frame output that notes when its memory or pointer is read."""

    def __init__(self, src, frame, cond, log):
        super().__init__(src)
        self.frame, self.cond, self.log = frame, cond, log

    def __getitem__(self, key):
        if key in ("maskmem_features", "obj_ptr"):
            self.log.append((key, self.frame, self.cond))
        return super().__getitem__(key)


class _TposLog:
    """Stands in for maskmem_tpos_enc during one call and notes which slot is indexed."""

    def __init__(self, param, log):
        self.param, self.log = param, log

    def __getitem__(self, i):
        self.log.append(("tpos", int(i)))
        return self.param[i]


class Recorder:
    """Wraps predictor methods on one instance to capture what each frame computed."""

    def __init__(self, model, samurai=False):
        self.model = model
        self.samurai = samurai
        self.step = -1
        self.state = None
        self.ctx = None
        self.last = {}  # (obj_idx, frame) -> ctx of the latest computation
        self.by_out = {}  # id(output dict) -> (output, ctx that computed it)
        self._install()

    def _obj_idx(self, output_dict):
        for idx, d in self.state["output_dict_per_obj"].items():
            if d is output_dict:
                return idx
        return 0  # SAMURAI's predictor runs all objects as one batch (it tracks one)

    def _install(self):
        m = self.model
        import sam2.modeling.sam2_base as sb

        run_orig = m._run_single_frame_inference

        def run(*args, **kw):
            assert not args, "reference calls _run_single_frame_inference by keyword"
            self.state = kw["inference_state"]
            pts = kw.get("point_inputs")
            ctx = {
                "step": self.step,
                "frame": kw["frame_idx"],
                "obj": self._obj_idx(kw["output_dict"]),
                "reverse": bool(kw["reverse"]),
                "init_cond": bool(kw["is_init_cond_frame"]),
                "points": None if pts is None else pts["point_coords"][0].tolist(),
                "labels": None if pts is None else pts["point_labels"][0].tolist(),
                "mem": None,
                "head": None,
                "mask_input": kw.get("mask_inputs") is not None,
            }
            self.ctx = ctx
            try:
                res = run_orig(**kw)
                self.by_out[id(res[0])] = (res[0], ctx)
                return res
            finally:
                self.ctx = None
                self.last[(ctx["obj"], ctx["frame"])] = ctx

        m._run_single_frame_inference = run

        mem_orig = m._prepare_memory_conditioned_features

        def prepare(*args, **kw):
            assert not args, "reference calls _prepare_memory_conditioned_features by keyword"
            log = []
            od = kw["output_dict"]
            kw["output_dict"] = {
                key: {t: _Seen(out, t, key == "cond_frame_outputs", log) for t, out in od[key].items()}
                for key in ("cond_frame_outputs", "non_cond_frame_outputs")
            }
            pe_orig = sb.get_1d_sine_pe
            pos_seen = []

            def pe(pos_inds, dim, temperature=10000):
                pos_seen.append(pos_inds.detach().clone())
                return pe_orig(pos_inds, dim, temperature)

            sb.get_1d_sine_pe = pe
            m.__dict__["maskmem_tpos_enc"] = _TposLog(m._parameters["maskmem_tpos_enc"], log)
            try:
                out = mem_orig(**kw)
            finally:
                del m.__dict__["maskmem_tpos_enc"]
                sb.get_1d_sine_pe = pe_orig
            if self.ctx is not None:
                self.ctx["mem"] = self._memory_info(kw, log, pos_seen)
            return out

        m._prepare_memory_conditioned_features = prepare

        attn_orig = m.memory_attention.forward

        def attn(curr, memory, curr_pos=None, memory_pos=None, num_obj_ptr_tokens=0, **kw):
            if self.ctx is not None:
                self.ctx["mem_tokens"] = (int(memory.shape[0]), int(num_obj_ptr_tokens))
            if memory.dtype != curr[0].dtype:
                # Memory features are stored in bfloat16; torch.cat promotes them to float32
                # when pointers follow, but with no pointer (a frame before the object's first
                # prompt) they reach the fp32 projection as bf16 and torch raises. CUDA users
                # run under autocast; here we promote, which is what the pointer case does.
                memory = memory.to(curr[0].dtype)
            return attn_orig(curr=curr, memory=memory, curr_pos=curr_pos,
                             memory_pos=memory_pos, num_obj_ptr_tokens=num_obj_ptr_tokens, **kw)

        m.memory_attention.forward = attn

        dec = m.sam_mask_decoder
        pm_orig = dec.predict_masks

        def predict_masks(*args, **kw):
            masks, iou, tokens, score = pm_orig(*args, **kw)
            if self.ctx is not None:
                self.ctx["dec"] = {
                    "masks": masks.detach().clone(),
                    "ious": iou.detach().clone(),
                    "score": score.detach().clone(),
                }
            return masks, iou, tokens, score

        dec.predict_masks = predict_masks

        st_orig = dec._get_stability_scores

        def stability(mask_logits):
            s = st_orig(mask_logits)
            if self.ctx is not None:
                self.ctx["stability"] = float(s.reshape(-1)[0])
            return s

        dec._get_stability_scores = stability

        if self.samurai:
            ci_orig = m.kf.compute_iou

            def compute_iou(pred_bbox, bboxes):
                r = ci_orig(pred_bbox, bboxes)
                if self.ctx is not None:
                    self.ctx["kf_pred_box"] = [float(v) for v in m.kf.xyah_to_xyxy(pred_bbox)]
                    self.ctx["kf_ious"] = [float(v) for v in r]
                return r

            m.kf.compute_iou = compute_iou

        heads_orig = m._forward_sam_heads

        def heads(*args, **kw):
            out = heads_orig(*args, **kw)
            if self.ctx is not None and out[0].shape[0] > 1:
                # EdgeTAM's predictor (the older SAM 2 one) propagates all objects as one
                # batch: the masks and scores are recorded per object, the token choice not.
                self.ctx["head"] = None
            elif self.ctx is not None:
                self.ctx["stability"] = self.ctx.get("stability")
                self.ctx["head"] = self._head_info(kw, out)
            return out

        m._forward_sam_heads = heads

    def _memory_info(self, kw, log, pos_seen):
        m = self.model
        if kw["is_init_cond_frame"]:
            return {"no_mem_embed": True, "frames": [], "slots": [], "cond": [],
                    "ptr_frames": [], "ptr_offsets": [], "ptr_div": 0}
        frames, slots, conds, ptr_frames = [], [], [], []
        pending = None
        for ev in log:
            if ev[0] == "maskmem_features":
                pending = ev
            elif ev[0] == "tpos":
                assert pending is not None, "temporal slot read before a memory frame"
                frames.append(pending[1])
                conds.append(int(pending[2]))
                slots.append(m.num_maskmem - 1 - ev[1])
                pending = None
            elif ev[0] == "obj_ptr":
                ptr_frames.append(ev[1])
        div = min(kw["num_frames"], m.max_obj_ptrs_in_encoder) - 1
        offsets = []
        if pos_seen:
            offsets = [int(round(float(v) * div)) for v in pos_seen[0].reshape(-1)]
        if m.add_tpos_enc_to_obj_ptrs:
            assert len(offsets) == len(ptr_frames), (offsets, ptr_frames)
        else:
            # EdgeTAM: pointers carry no temporal encoding; the offsets as SAM 2 counts them.
            t = kw["frame_idx"]
            offsets = [(t - f) * (-1 if kw.get("track_in_reverse") else 1) for f in ptr_frames]
        # Cross-check against what memory attention was actually given.
        tokens, ptr_tokens = self.ctx.pop("mem_tokens")
        hw = kw["feat_sizes"][-1][0] * kw["feat_sizes"][-1][1]
        perceiver = getattr(m, "spatial_perceiver", None)
        if perceiver is not None:  # EdgeTAM: latents per memory frame
            hw = max(perceiver.num_latents, 0) + max(perceiver.num_latents_2d, 0)
        per_ptr = m.hidden_dim // m.mem_dim
        assert tokens == hw * len(frames) + per_ptr * len(ptr_frames), (tokens, frames, ptr_frames)
        assert ptr_tokens == per_ptr * len(ptr_frames), (ptr_tokens, ptr_frames)
        return {"no_mem_embed": False, "frames": frames, "slots": slots, "cond": conds,
                "ptr_frames": ptr_frames, "ptr_offsets": offsets, "ptr_div": div}

    def _head_info(self, kw, out):
        """Which decoder token the reference kept, and the numbers around that choice."""
        m = self.model
        dec = self.ctx["dec"]
        ious_all = dec["ious"][0]
        multimask = bool(kw.get("multimask_output", False))
        low_multi, high_multi, ious_sel, low_chosen = out[0], out[1], out[2], out[3]
        score = float(out[6].reshape(-1)[0])
        if multimask:
            if self.samurai:
                # SAMURAI's choice may weigh in the Kalman score: find the kept candidate by
                # the IoU it returns, then check against the kept mask where that is decisive.
                best_iou = float(out[7].reshape(-1)[0])
                hits = [j for j in range(ious_sel.shape[1]) if float(ious_sel[0, j]) == best_iou]
                assert len(hits) >= 1, "SAMURAI's returned IoU matches no candidate"
                j = hits[0]
            else:
                j = int(torch.argmax(ious_sel, dim=-1)[0])
            same = [k for k in range(low_multi.shape[1]) if torch.equal(low_multi[:, k], low_chosen[:, 0])]
            assert j in same, ("chosen candidate disagrees with the kept mask", j, same)
            token = 1 + j
        elif m.sam_mask_decoder.dynamic_multimask_via_stability:
            stable = self.ctx["stability"] >= m.sam_mask_decoder.dynamic_multimask_stability_thresh
            token = 0 if stable else 1 + int(torch.argmax(ious_all[1:]))
        else:
            token = 0
        assert float(ious_all[token]) == float(ious_sel.reshape(-1)[0] if not multimask else ious_sel[0, token - 1])
        info = {
            "multimask": multimask,
            "token": token,
            "iou": float(ious_all[token]),
            "ious": [float(v) for v in ious_all],
            "score": score,
            "stability": self.ctx.get("stability") if not multimask else None,
            "mask_prompt": kw.get("mask_inputs") is not None,
        }
        if self.samurai:
            # Box of each candidate as SAMURAI computes it: inclusive pixel bounds of
            # logits > 0 in the 1024x1024 upsampled candidate, [0,0,0,0] when empty.
            boxes = []
            for k in range(high_multi.shape[1]):
                nz = torch.argwhere(high_multi[0, k] > 0.0)
                if len(nz) == 0:
                    boxes.append([0, 0, 0, 0])
                else:
                    y0, x0 = nz.min(dim=0).values
                    y1, x1 = nz.max(dim=0).values
                    boxes.append([int(x0), int(y0), int(x1), int(y1)])
            info["boxes"] = boxes
            info["kf_pred_box"] = self.ctx.pop("kf_pred_box", None)
            info["kf_ious"] = self.ctx.pop("kf_ious", None)
            info["stable_frames"] = int(m.stable_frames)
            kf = out[8]
            info["kf_score"] = None if kf is None else float(kf.reshape(-1)[0])
            info["best_iou_score"] = float(out[7].reshape(-1)[0])
            info["argmax_token"] = 1 + int(torch.argmax(ious_sel, dim=-1)[0]) if multimask else token
        return info


def packbits(mask):
    return np.packbits(mask.reshape(-1).astype(np.uint8))


class TraceWriter:
    """Collects arrays under s{step}_f{frame}_o{obj}_{field} keys."""

    def __init__(self):
        self.arrays = {}
        self.records = []

    def add(self, step, frame, obj, out, vmask, info, computed):
        k = f"s{step}_f{frame}_o{obj}_"
        low = out["pred_masks"][0, 0]
        a = self.arrays
        a[k + "mask"] = packbits((low > 0).numpy())
        if vmask is not None:
            a[k + "vmask"] = packbits((vmask > 0).numpy())
        score = float(out["object_score_logits"].reshape(-1)[0])
        a[k + "score"] = np.array([score], dtype=np.float32)
        head = info["head"]
        if head is None:
            # One of a batch of objects (EdgeTAM's predictor): mask and score only.
            self._add_mask_only(k, step, frame, obj, out, vmask, computed)
            return
        if info.get("mask_input"):
            # A mask prompt: _use_mask_as_output outputs the mask itself with IoU 1 (its
            # decoder run only makes the object pointer); vidseg reports token 0.
            head = {"iou": 1.0, "ious": [1.0, 0.0, 0.0, 0.0], "token": 0, "multimask": False}
        a[k + "iou"] = np.array([head["iou"]], dtype=np.float32)
        a[k + "ious"] = np.array(head["ious"], dtype=np.float32)
        a[k + "token"] = np.array([head["token"]], dtype=np.int64)
        a[k + "multimask"] = np.array([int(head["multimask"])], dtype=np.uint8)
        a[k + "computed"] = np.array([int(computed)], dtype=np.uint8)
        mem = info["mem"]
        if mem is not None:
            a[k + "memframes"] = np.array(mem["frames"], dtype=np.int64)
            a[k + "memslots"] = np.array(mem["slots"], dtype=np.int64)
            a[k + "memcond"] = np.array(mem["cond"], dtype=np.uint8)
            a[k + "ptrframes"] = np.array(mem["ptr_frames"], dtype=np.int64)
            a[k + "ptroffsets"] = np.array(mem["ptr_offsets"], dtype=np.int64)
        if "boxes" in head:
            a[k + "boxes"] = np.array(head["boxes"], dtype=np.int64).reshape(-1, 4)
            kfi = head["kf_ious"]
            a[k + "kfious"] = np.array(kfi if kfi is not None else [np.nan] * 3, dtype=np.float32)
            kfb = head["kf_pred_box"]
            a[k + "kfbox"] = np.array(kfb if kfb is not None else [np.nan] * 4, dtype=np.float32)
            a[k + "stable"] = np.array([head["stable_frames"]], dtype=np.int64)
            a[k + "argmax"] = np.array([head["argmax_token"]], dtype=np.int64)
        rec = {
            "step": step, "frame": frame, "obj": obj, "computed": bool(computed),
            "score": score, "present": score > 0, "token": head["token"], "iou": head["iou"],
            "multimask": head["multimask"],
        }
        if mem is not None:
            rec["memory"] = {"frames": mem["frames"], "slots": mem["slots"], "cond": mem["cond"],
                             "ptr_frames": mem["ptr_frames"], "ptr_offsets": mem["ptr_offsets"],
                             "no_mem_embed": mem["no_mem_embed"]}
        self.records.append(rec)

    def _add_mask_only(self, k, step, frame, obj, out, vmask, computed):
        a = self.arrays
        a[k + "mask"] = packbits((out["pred_masks"][0, 0] > 0).numpy())
        if vmask is not None:
            a[k + "vmask"] = packbits((vmask > 0).numpy())
        score = float(out["object_score_logits"].reshape(-1)[0])
        a[k + "score"] = np.array([score], dtype=np.float32)
        a[k + "computed"] = np.array([int(computed)], dtype=np.uint8)
        self.records.append({"step": step, "frame": frame, "obj": obj, "computed": bool(computed),
                             "score": score, "present": score > 0})

    def save(self, path):
        np.savez_compressed(path, **self.arrays)


def obj_output(state, obj_idx, frame):
    """The output the predictor holds for an object on a frame (temp outputs first)."""
    for d in (state["temp_output_dict_per_obj"][obj_idx], state["output_dict_per_obj"][obj_idx]):
        for key in ("cond_frame_outputs", "non_cond_frame_outputs"):
            if frame in d[key]:
                return d[key][frame]
    raise KeyError(f"no output for object index {obj_idx} on frame {frame}")


def interior_point(mask):
    """The mask pixel farthest from the mask's border (first in row-major order on ties)."""
    from scipy.ndimage import distance_transform_edt

    m = np.asarray(mask, dtype=bool)
    if not m.any():
        return None
    d = distance_transform_edt(np.pad(m, 1))[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(d)), d.shape)
    return int(x), int(y)


def run_session(model, session, images, rec, writer, log):
    """Plays the session's steps on the predictor and records each one."""
    state = model.init_state(video_path=session["video"])
    rec.state = state
    ids = {}

    def idx_of(obj_id):
        return state["obj_id_to_idx"][obj_id]

    for si, step in enumerate(session["steps"]):
        rec.step = si
        t0 = time.time()
        kind = step["kind"]
        if kind == "prompt":
            obj_id = step["obj"]
            frame = step["frame"]
            pts = step.get("points")
            if step.get("negative_inside_mask_of_step") is not None:
                # The correction point is picked from the mask a previous step produced. With
                # random weights the object may be judged absent on the wanted frame: then the
                # nearest frame where it has a mask is used (and written into the session).
                src_step = step["negative_inside_mask_of_step"]
                want = step.setdefault("requested_frame", frame)
                cands = sorted((f for (s_, f, o) in ids if s_ == src_step and o == obj_id),
                               key=lambda f: (abs(f - want), f))
                p = None
                for f in cands:
                    p = interior_point(ids[(src_step, f, obj_id)])
                    if p is not None:
                        frame = step["frame"] = f
                        break
                if p is None:
                    raise SystemExit(f"step {si}: object {obj_id} has no mask on any frame of step {src_step}")
                pts = [[p[0], p[1]]]
                step["points"] = pts
                step["labels"] = [0]
            if step.get("mask_rect") is not None:
                # A mask prompt: the rectangle [x0, y0, x1, y1) of source pixels.
                x0, y0, x1, y1 = step["mask_rect"]
                W, H = state["video_width"], state["video_height"]
                m = np.zeros((H, W), dtype=bool)
                m[y0:y1, x0:x1] = True
                _, obj_ids, vmasks = model.add_new_mask(state, frame_idx=frame, obj_id=obj_id, mask=m)
                oi = idx_of(obj_id)
                out = obj_output(state, oi, frame)
                vm = vmasks[obj_ids.index(obj_id), 0]
                writer.add(si, frame, obj_id, out, vm, rec.last[(oi, frame)], computed=True)
                ids[(si, frame, obj_id)] = (vm > 0).numpy()
                step["recorded"] = [[frame, obj_id]]
                log(f"step {si} ({step['name']}): {time.time() - t0:.1f}s")
                continue
            kw = {}
            if pts is not None:
                kw["points"] = pts
                kw["labels"] = step["labels"]
            if step.get("box") is not None:
                kw["box"] = step["box"]
            _, obj_ids, vmasks = model.add_new_points_or_box(
                state, frame_idx=frame, obj_id=obj_id, clear_old_points=step.get("clear_old_points", True), **kw)
            oi = idx_of(obj_id)
            out = obj_output(state, oi, frame)
            vm = vmasks[obj_ids.index(obj_id), 0]
            writer.add(si, frame, obj_id, out, vm, rec.last[(oi, frame)], computed=True)
            ids[(si, frame, obj_id)] = (vm > 0).numpy()
            step["recorded"] = [[frame, obj_id]]
        elif kind == "propagate":
            recorded = []
            for frame, obj_ids, vmasks in model.propagate_in_video(
                    state, start_frame_idx=step.get("start_frame_idx"), reverse=step.get("reverse", False),
                    max_frame_num_to_track=step.get("max_frame_num_to_track")):
                for i, obj_id in enumerate(obj_ids):
                    oi = idx_of(obj_id)
                    out = obj_output(state, oi, frame)
                    # The computation that made this output: a re-emitted conditioning output
                    # may be older than a later prompt on its frame that was dropped (a
                    # correction that does not become a conditioning frame).
                    last = rec.last.get((oi, frame))
                    if last is None:  # EdgeTAM: a batch of objects, recorded as index 0
                        last = rec.last[(0, frame)]
                    info = rec.by_out.get(id(out), (None, last))[1]
                    writer.add(si, frame, obj_id, out, vmasks[i, 0], info, computed=info["step"] == si)
                    r = writer.records[-1]
                    log(f"  s{si} f{frame} o{obj_id}: score {r['score']:+.3f} token {r.get('token')} "
                        f"iou {r.get('iou', float('nan')):.3f} mem {info['mem'] and info['mem']['frames']} "
                        f"ptr {info['mem'] and info['mem']['ptr_offsets']}")
                    ids[(si, frame, obj_id)] = (vmasks[i, 0] > 0).numpy()
                    recorded.append([frame, obj_id])
            step["recorded"] = recorded
        else:
            raise SystemExit(f"step {si}: unknown kind {kind!r}")
        log(f"step {si} ({step['name']}): {time.time() - t0:.1f}s")
    return state


def summarize(records):
    """Present/absent frame counts per object over the propagation steps."""
    out = {}
    for r in records:
        o = out.setdefault(str(r["obj"]), {"present": 0, "absent": 0})
        o["present" if r["present"] else "absent"] += 1
    return out


def default_session(video, n, model_dir, frames_file):
    return {
        "format": "vidseg-trace/1",
        "reference": "facebookresearch/sam2 2b90b9f, SAM2VideoPredictor",
        "video": video,
        "frames": n,
        "frames_file": frames_file,
        "model_dir": model_dir,
        "predictor": dict(POSTPROCESSING, add_all_frames_to_correct_as_cond=True,
                          non_overlap_masks=False, clear_non_cond_mem_around_input=False),
        "coords": "source pixels (x, y); the predictor maps them to x/W*1024, y/H*1024",
        "steps": [
            {"name": "a_click_obj1", "kind": "prompt", "obj": 1, "frame": 0,
             "points": [[210, 350]], "labels": [1]},
            {"name": "b_propagate", "kind": "propagate"},
            {"name": "c_box_obj2", "kind": "prompt", "obj": 2, "frame": 6,
             "box": [300, 0, 500, 400]},
            {"name": "d_propagate", "kind": "propagate"},
            {"name": "e_correct_obj1", "kind": "prompt", "obj": 1, "frame": 10,
             "negative_inside_mask_of_step": 3, "clear_old_points": False},
            {"name": "f_propagate", "kind": "propagate"},
            {"name": "g_propagate_backward", "kind": "propagate", "start_frame_idx": 15,
             "reverse": True},
        ],
    }


def defaults_session(video, n, model_dir, frames_file):
    """The official predictor's defaults, short: corrections are not conditioning frames
    (add_all_frames_to_correct_as_cond=False) and holes are filled (fill_hole_area=8, as on
    CUDA; here through holes_ref's CPU connected components)."""
    s = default_session(video, n, model_dir, frames_file)
    s["reference"] += " (the predictor's defaults; hole filling through tools/export/holes_ref.py)"
    s["predictor"].update(add_all_frames_to_correct_as_cond=False, fill_hole_area_applied=8,
                          connected_components="holes_ref.connected_components: scipy.ndimage.label, "
                                               "8-connectivity (CPU stand-in for sam2._C)")
    s["steps"] = [
        # A mask prompt: the object is present on frame 0 (random weights judge it absent
        # after a click or a box), so later frames have masks for hole filling to work on.
        {"name": "a_mask_obj1", "kind": "prompt", "obj": 1, "frame": 0,
         "mask_rect": [300, 100, 500, 400]},
        {"name": "b_propagate", "kind": "propagate"},
        # A correction on a tracked frame: an ordinary (non-conditioning) output; the next
        # propagation recomputes that frame from memory.
        {"name": "c_correct_obj1", "kind": "prompt", "obj": 1, "frame": n - 2,
         "negative_inside_mask_of_step": 1, "clear_old_points": False},
        {"name": "d_propagate", "kind": "propagate"},
        # A correction of the conditioning frame: shown, then dropped by the next propagation.
        {"name": "e_correct_obj1_cond", "kind": "prompt", "obj": 1, "frame": 0,
         "negative_inside_mask_of_step": 3, "clear_old_points": False},
        {"name": "f_propagate", "kind": "propagate"},
    ]
    return s


def edgetam_session(video, n, model_dir, frames_file):
    """EdgeTAM's predictor, one object: a click, forward, a correction click that becomes a
    conditioning frame, forward again, backward. EdgeTAM ships the older SAM 2 predictor,
    which turns a correction of one object into a conditioning frame of every object and
    takes no new object once tracking started (docs/trace.md): one object keeps the session
    within what both predictors do alike; edgetam_multi covers several objects."""
    s = default_session(video, n, model_dir, frames_file)
    s["reference"] = "facebookresearch/EdgeTAM 9cc44bf, SAM2VideoPredictor"
    s["steps"] = [
        {"name": "a_click_obj1", "kind": "prompt", "obj": 1, "frame": 0,
         "points": [[210, 350]], "labels": [1]},
        {"name": "b_propagate", "kind": "propagate"},
        {"name": "c_correct_obj1", "kind": "prompt", "obj": 1, "frame": n // 2,
         "negative_inside_mask_of_step": 1, "clear_old_points": False},
        {"name": "d_propagate", "kind": "propagate"},
        {"name": "e_propagate_backward", "kind": "propagate", "start_frame_idx": n - 1,
         "reverse": True},
    ]
    return s


def edgetam_multi_session(video, n, model_dir, frames_file):
    """EdgeTAM's predictor, two objects prompted before tracking (a click and a box on
    frame 0; its predictor takes no object later), forward then backward."""
    s = edgetam_session(video, n, model_dir, frames_file)
    s["steps"] = [
        {"name": "a_click_obj1", "kind": "prompt", "obj": 1, "frame": 0,
         "points": [[210, 350], [250, 300]], "labels": [1, 1]},
        {"name": "b_box_obj2", "kind": "prompt", "obj": 2, "frame": 0,
         "box": [300, 0, 500, 400]},
        {"name": "c_propagate", "kind": "propagate"},
        {"name": "d_propagate_backward", "kind": "propagate", "start_frame_idx": n - 1,
         "reverse": True},
    ]
    return s


SESSIONS = {"sam2": (default_session, True), "sam2_defaults": (defaults_session, False),
            "edgetam": (edgetam_session, True), "edgetam_multi": (edgetam_multi_session, True)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sam2-src", default="/work/ext/sam2", help="checkout of facebookresearch/sam2")
    ap.add_argument("--edgetam-src", default=None,
                    help="checkout of facebookresearch/EdgeTAM, for an EdgeTAM --model "
                         "(env EDGETAM_SRC; default ../ext/EdgeTAM)")
    ap.add_argument("--model", default=os.path.join(REPO, "testdata/model/sam2.1_hiera_t_random"))
    ap.add_argument("--video", default=os.path.join(REPO, "..", "shared", "videos", "bedroom.mp4"))
    ap.add_argument("--model-dir-label", default=None,
                    help="model_dir to record in the session (default: --model relative to the "
                         "repository); for traces made from a staged model that will be moved there")
    ap.add_argument("--frames", required=True, help="rgb24 frames from go run ./tools/dumpframes -size 1024")
    ap.add_argument("-n", type=int, default=16, help="frames in the session")
    ap.add_argument("--out-dir", default=os.path.join(REPO, "testdata/trace"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--checkpoint", default=None,
                    help="an official-format .pt checkpoint to build the predictor from, instead of "
                         "the --model manifest's fixture recipe (tools/export/parity.sh); the "
                         "variant and input size still come from that manifest")
    ap.add_argument("--session", choices=sorted(SESSIONS), default="sam2",
                    help="sam2: the full session (corrections as conditioning frames, no hole "
                         "filling as on CPU); sam2_defaults: the predictor's defaults, short")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    log = lambda s: print(s, file=sys.stderr, flush=True)
    t_start = time.time()
    width, height = video_size(args.video)
    with open(os.path.join(args.model, "manifest.json")) as f:
        size = int(json.load(f).get("image_size", 1024))
    images = load_frames(args.frames, args.n, size)
    make_session, as_cond = SESSIONS[args.session]
    session = make_session(os.path.basename(args.video), args.n,
                           args.model_dir_label or rel(args.model), FRAMES_CMD)
    session["video_size"] = [width, height]
    session["frames_sha256"] = sha256_prefix(args.frames, images.shape[0], size)

    if args.checkpoint:
        import sam2build

        with open(os.path.join(args.model, "manifest.json")) as f:
            man = json.load(f)
        model = sam2build.build_video_predictor(
            man["variant"], checkpoint=args.checkpoint, sam2_src=args.sam2_src,
            image_size=size if size != 1024 else None,
            add_all_frames_to_correct_as_cond=as_cond)
        session["checkpoint"] = os.path.basename(args.checkpoint)
        session["image_size"] = size
    else:
        man, fx, model = build_predictor(args.model, args.sam2_src, edgetam_src=args.edgetam_src,
                                         add_all_frames_to_correct_as_cond=as_cond)
        session["fixture"] = fx
        session["weights_check_rel_diff"] = check_weights(model, args.model, log)
    if session["predictor"].get("fill_hole_area_applied"):
        import holes_ref

        holes_ref.patch()
    patch_frame_loader(images, width, height)
    cache_all_image_features(model)
    rec = Recorder(model)
    writer = TraceWriter()
    session["video"] = args.video
    run_session(model, session, images, rec, writer, log)
    session["video"] = os.path.basename(args.video)
    session["results"] = {"per_object": summarize(writer.records), "records": writer.records,
                          "seconds": round(time.time() - t_start, 1)}
    os.makedirs(args.out_dir, exist_ok=True)
    writer.save(os.path.join(args.out_dir, f"{args.session}_trace.npz"))
    with open(os.path.join(args.out_dir, f"{args.session}_session.json"), "w") as f:
        json.dump(session, f, indent=1)
        f.write("\n")
    log(f"done in {time.time() - t_start:.1f}s: {summarize(writer.records)}")


def sha256_prefix(path, n, size=1024):
    """SHA-256 of the first n size x size rgb24 frames of a dump: what the trace was fed."""
    h = hashlib.sha256()
    left = n * size * size * 3
    with open(path, "rb") as f:
        while left > 0:
            b = f.read(min(left, 1 << 20))
            if not b:
                break
            h.update(b)
            left -= len(b)
    return h.hexdigest()


if __name__ == "__main__":
    main()
