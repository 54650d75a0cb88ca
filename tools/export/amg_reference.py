#!/usr/bin/env python3
"""Record what the official SAM2AutomaticMaskGenerator finds on one frame, for the Go parity
test of package autoseg (`vidseg segment --everything`).

The generator is the official one (sam2/automatic_mask_generator.py), unedited, run on the
official model built by sam2build.py with exactly the weights of a vidseg model fixture (the
manifest's "fixture" recipe). The frame is the pixels vidseg's decoder hands the model
(tools/dumpframes): set_image's resize and normalization are replaced by those pixels,
normalized as the reference normalizes, so both sides see the same input; the generator still
sees the source size (orig_hw) and upsamples its masks to it.

Output (JSON): the settings, then every mask in the generator's order with its uncompressed
COCO RLE (compressed counts string, as pycocotools writes it), area, box (XYWH), predicted IoU,
stability score and grid point. Run through tools/export/make_amg_reference.sh.

Needs /usr/bin/python3 with Debian torch and python3-torchvision (batched_nms).
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)

# The generator's parameters recorded and settable here; the rest keep their defaults
# (crop_n_layers 0, mask_threshold 0, output_mode, point_grids).
PARAMS = {
    "points_per_side": 32,
    "points_per_batch": 64,
    "pred_iou_thresh": 0.8,
    "stability_score_thresh": 0.95,
    "stability_score_offset": 1.0,
    "box_nms_thresh": 0.7,
    "multimask_output": True,
    "use_m2m": False,
}


def coco_string(counts):
    """pycocotools' rleToString: the compressed "counts" of a COCO RLE."""
    out = []
    for i, x in enumerate(counts):
        if i > 2:
            x -= counts[i - 2]
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def build_model(model_dir, sam2_src):
    import sam2build

    with open(os.path.join(model_dir, "manifest.json")) as f:
        man = json.load(f)
    fx = man.get("fixture")
    if not fx or not fx.get("random_weights"):
        raise SystemExit(f"{model_dir}: no random-weight \"fixture\" recipe")
    depth = {k: v for k, v in fx["depth"].items()
             if k in ("stages", "global_att_blocks", "memory_attention_layers",
                      "memory_encoder_fuser_layers")}
    model = sam2build.build_model(
        man["variant"], seed=fx["seed"], depth_override=depth,
        param_values=dict(fx.get("params") or {}) or None, sam2_src=sam2_src,
        fp16_representable=fx.get("fp16_representable_weights", False),
        image_size=fx.get("image_size"))
    return man, model


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="vidseg model fixture directory")
    p.add_argument("--model-dir-label", help="model directory as recorded (default: relative path)")
    p.add_argument("--sam2-src", default=os.environ.get("SAM2_SRC", os.path.join(REPO, "..", "ext", "sam2")))
    p.add_argument("--frame", required=True, help="model-size rgb24 frame from tools/dumpframes")
    p.add_argument("--width", type=int, required=True, help="source width")
    p.add_argument("--height", type=int, required=True, help="source height")
    p.add_argument("--input", required=True, help="input video, as recorded (relative to the repo)")
    p.add_argument("--frame-index", type=int, default=0)
    for k, v in PARAMS.items():
        p.add_argument("--" + k.replace("_", "-"), type=(lambda s: s.lower() in ("1", "true")) if isinstance(v, bool) else type(v), default=v)
    p.add_argument("--out", required=True)
    a = p.parse_args()

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    man, model = build_model(a.model, a.sam2_src)
    from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator

    size = man["image_size"]
    raw = np.fromfile(a.frame, dtype=np.uint8)
    if raw.size < size * size * 3:
        raise SystemExit(f"{a.frame}: {raw.size} bytes, need {size}x{size} rgb24")
    x = torch.from_numpy(raw[: size * size * 3].reshape(size, size, 3)).permute(2, 0, 1).float() / 255.0
    mean = torch.tensor(IMAGE_MEAN)[:, None, None]
    std = torch.tensor(IMAGE_STD)[:, None, None]
    model_input = ((x - mean) / std).contiguous()

    params = {k: getattr(a, k) for k in PARAMS}
    gen = SAM2AutomaticMaskGenerator(model, output_mode="uncompressed_rle", **params)
    # set_image resizes and normalizes the numpy image it is given (SAM2Transforms.__call__:
    # to_tensor, then transforms); hand it vidseg's pixels, normalized, instead.
    gen.predictor._transforms.to_tensor = lambda _img: model_input
    gen.predictor._transforms.transforms = torch.nn.Identity()
    # The predictor's feature sizes are written for 1024 px; a smaller fixture has its own.
    gen.predictor._bb_feat_sizes = [(size // 4, size // 4), (size // 8, size // 8), (size // 16, size // 16)]
    image = np.zeros((a.height, a.width, 3), dtype=np.uint8)  # only its size is read

    begin = time.time()
    with torch.inference_mode():
        anns = gen.generate(image)
    elapsed = time.time() - begin

    masks = []
    for ann in anns:
        seg = ann["segmentation"]
        masks.append({
            "counts": coco_string([int(c) for c in seg["counts"]]),
            "area": int(ann["area"]),
            "bbox": [float(v) for v in ann["bbox"]],
            "predicted_iou": float(ann["predicted_iou"]),
            "stability_score": float(ann["stability_score"]),
            "point": [float(v) for v in ann["point_coords"][0]],
        })
    out = {
        "generator": "sam2/automatic_mask_generator.py SAM2AutomaticMaskGenerator",
        "made_by": "tools/export/make_amg_reference.sh",
        "model_dir": a.model_dir_label or os.path.relpath(os.path.abspath(a.model), REPO),
        "input": a.input,
        "frame": a.frame_index,
        "width": a.width,
        "height": a.height,
        "params": params,
        "seconds": round(elapsed, 3),
        "masks": masks,
    }
    with open(a.out, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print(f"{len(masks)} masks in {elapsed:.2f}s -> {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
