#!/usr/bin/env python3
"""Record what SAMURAI's own predictor does, frame by frame, for the Go parity tests.

SAMURAI (yangchris11/samurai, commit in docs/trace.md) ships a modified copy of sam2; its
sam2_base.py picks the mask candidate with a Kalman filter and chooses memory frames by score.
This script builds that code with the same fixture weights as trace_sam2.py (sam2build.py
pointed at SAMURAI's source tree, SAMURAI's tiny config values as overrides), prompts one object
with a box on frame 0 and propagates forward, recording per frame every candidate's IoU, box and
Kalman score, the kept candidate, the object score, the mask and the memory frames read.
"""

import argparse
import json
import os
import sys
import time
import types

import torch

import trace_sam2 as ts

# SAMURAI's keys in configs/samurai/sam2.1_hiera_*.yaml (everything else equals sam2.1).
SAMURAI_KEYS = ("samurai_mode", "stable_frames_threshold", "stable_ious_threshold",
                "min_obj_score_logits", "kf_score_weight", "memory_bank_iou_threshold",
                "memory_bank_obj_score_threshold", "memory_bank_kf_score_threshold")


def stub_loguru():
    """SAMURAI's sam2_base imports loguru (not packaged here) for one unused logger."""
    try:
        import loguru  # noqa: F401
    except ImportError:
        import logging

        mod = types.ModuleType("loguru")
        mod.logger = logging.getLogger("samurai")
        sys.modules["loguru"] = mod


def samurai_settings(src, variant):
    """SAMURAI's values for this variant, read from its config, and a check that the rest
    of that config is the sam2.1 one sam2build loads (RoPE feat_sizes aside: the RoPE
    stand-in sizes its table from the input, as the official code does when sizes differ)."""
    import sam2build

    short = sam2build.canonical_variant(variant)
    path = os.path.join(src, "sam2", "configs", "samurai", short + ".yaml")
    with open(path) as f:
        import yaml

        cfg = yaml.load(f, Loader=sam2build._yaml_loader())["model"]
    values = {k: cfg[k] for k in SAMURAI_KEYS if k in cfg}
    missing = [k for k in SAMURAI_KEYS if k not in cfg]
    if missing:
        raise SystemExit(f"{path}: missing SAMURAI keys {missing}")
    base = sam2build.load_config(short, src)
    rest = {k: v for k, v in cfg.items() if k not in SAMURAI_KEYS}

    def strip_feat(node):
        if isinstance(node, dict):
            return {k: strip_feat(v) for k, v in node.items() if k != "feat_sizes"}
        if isinstance(node, list):
            return [strip_feat(v) for v in node]
        return node

    if strip_feat(rest) != strip_feat(base):
        raise SystemExit(f"{path}: differs from the sam2.1 config beyond SAMURAI's keys")
    return path, values


def default_session(video, n, model_dir, box, settings):
    return {
        "format": "vidseg-trace/1",
        "reference": "yangchris11/samurai 76ba195, sam2/sam2 SAM2VideoPredictor with samurai_mode",
        "video": video,
        "frames": n,
        "frames_file": ts.FRAMES_CMD,
        "model_dir": model_dir,
        "predictor": dict(ts.POSTPROCESSING, **settings),
        "coords": "source pixels (x, y); the predictor maps them to x/W*1024, y/H*1024",
        "steps": [
            {"name": "a_box_obj1", "kind": "prompt", "obj": 1, "frame": 0, "box": box},
            {"name": "b_propagate", "kind": "propagate"},
        ],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samurai-src", default="/work/ext/samurai/sam2",
                    help="SAMURAI's sam2 directory (the one holding sam2/)")
    ap.add_argument("--model", default=os.path.join(ts.REPO, "testdata/model/sam2.1_hiera_t_random"))
    ap.add_argument("--video", default=os.path.join(ts.REPO, "..", "shared", "videos", "bedroom.mp4"))
    ap.add_argument("--model-dir-label", default=None,
                    help="model_dir to record in the session (default: --model relative to the "
                         "repository); for traces made from a staged model that will be moved there")
    ap.add_argument("--frames", required=True, help="rgb24 frames from go run ./tools/dumpframes -size 1024")
    ap.add_argument("-n", type=int, default=40, help="frames in the session")
    ap.add_argument("--box", default="300,0,500,400", help="x0,y0,x1,y1 in source pixels")
    ap.add_argument("--out-dir", default=os.path.join(ts.REPO, "testdata/trace"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--checkpoint", default=None,
                    help="an official-format .pt checkpoint to build the predictor from, instead of "
                         "the --model manifest's fixture recipe (tools/export/parity.sh MODE=samurai); "
                         "the variant and input size still come from that manifest")
    ap.add_argument("--try-param", action="append", default=[], metavar="NAME=VALUE",
                    help="experiment: set a parameter beyond the fixture (not for testdata/trace)")
    args = ap.parse_args()
    try_params = ts.parse_try_params(args.try_param, args.out_dir)

    torch.set_num_threads(args.threads)
    log = lambda s: print(s, file=sys.stderr, flush=True)
    t_start = time.time()
    stub_loguru()
    import sam2build

    src = sam2build.setup(args.samurai_src)
    with open(os.path.join(args.model, "manifest.json")) as f:
        man = json.load(f)
    size = int(man.get("image_size", 1024))
    if args.checkpoint and try_params:
        raise SystemExit("--try-param changes the fixture recipe's weights; with --checkpoint there is none")
    cfg_path, settings = samurai_settings(src, man["variant"])
    width, height = ts.video_size(args.video)
    images = ts.load_frames(args.frames, args.n, size)
    box = [float(v) for v in args.box.split(",")]
    session = default_session(os.path.basename(args.video), args.n,
                              args.model_dir_label or ts.rel(args.model), box, settings)
    session["samurai_config"] = os.path.relpath(cfg_path, src)
    session["video_size"] = [width, height]
    session["frames_sha256"] = ts.sha256_prefix(args.frames, args.n, size)

    if args.checkpoint:
        model = sam2build.build_video_predictor(
            man["variant"], checkpoint=args.checkpoint, overrides=settings, sam2_src=src,
            image_size=size if size != 1024 else None)
        session["checkpoint"] = os.path.basename(args.checkpoint)
        session["image_size"] = size
    else:
        _, fx, model = ts.build_predictor(args.model, src, overrides=settings, try_params=try_params)
        session["fixture"] = fx
        if try_params:
            session["try_params"] = try_params
        session["weights_check_rel_diff"] = ts.check_weights(model, args.model, log)
    ts.patch_frame_loader(images, width, height)
    ts.cache_all_image_features(model)
    rec = ts.Recorder(model, samurai=True)
    writer = ts.TraceWriter()
    session["video"] = args.video
    ts.run_session(model, session, images, rec, writer, log)
    session["video"] = os.path.basename(args.video)

    records = writer.records
    prop = [r for r in records if r["step"] == 1]
    differs = [r["frame"] for r in prop
               if int(writer.arrays[f"s1_f{r['frame']}_o1_argmax"][0]) != r["token"]]
    session["results"] = {
        "per_object": ts.summarize(records),
        "present_threshold": "score > 0 (SAMURAI blanks masks only at score <= min_obj_score_logits)",
        "frames_choice_differs_from_argmax": differs,
        "records": records,
        "seconds": round(time.time() - t_start, 1),
    }
    os.makedirs(args.out_dir, exist_ok=True)
    writer.save(os.path.join(args.out_dir, "samurai_trace.npz"))
    with open(os.path.join(args.out_dir, "samurai_session.json"), "w") as f:
        json.dump(session, f, indent=1)
        f.write("\n")
    log(f"done in {time.time() - t_start:.1f}s: {ts.summarize(records)}; "
        f"choice differs from argmax on frames {differs}")


if __name__ == "__main__":
    main()
