"""Frames per second of the official SAM2VideoPredictor on a GPU, the
counterpart of `framebench` (tools/framebench) for docs/benchmarks.md.

    python3 tools/gpu/official_fps.py --model DIR --frames-dir DIR \
        --objects 1,2,4 --dtype fp32,bf16 [--sam2-src DIR]

--model is a random-weight package made by tools/export/export.py
(--random-seed): the official model is rebuilt from its manifest's recipe,
so both sides run the same weights (check_weights compares them with the
package's reference tensors when they are there). As framebench does: frames
loaded before the clock (init_state on the JPEG folder, as the official
README does), one click per object on frame 0 along the middle row, two
frames tracked untimed, then every further frame timed up to the clip's
end; the clock stops after torch.cuda.synchronize. bf16 is the official
notebooks' setting (torch.autocast bfloat16); fp32 is the exact reference.
Prints one JSON line per run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "export"))


def clicks(objects, width, height):
    return [(width * (j + 1) / (objects + 1), height / 2) for j in range(objects)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--frames-dir", required=True)
    ap.add_argument("--objects", default="1,2,4")
    ap.add_argument("--dtype", default="fp32,bf16")
    ap.add_argument("--sam2-src", default=None)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--device", default="cuda", help="cuda, or cpu to try the script")
    a = ap.parse_args()

    import torch
    from PIL import Image
    from trace_sam2 import build_predictor

    _, _, predictor = build_predictor(a.model, a.sam2_src)
    dev = a.device
    predictor = predictor.to(dev).eval()

    def sync():
        if dev == "cuda":
            torch.cuda.synchronize()
    names = sorted(f for f in os.listdir(a.frames_dir) if f.lower().endswith((".jpg", ".jpeg")))
    width, height = Image.open(os.path.join(a.frames_dir, names[0])).size
    for dtype in a.dtype.split(","):
        for objects in [int(x) for x in a.objects.split(",")]:
            ctx = torch.autocast(dev, dtype=torch.bfloat16) if dtype == "bf16" else torch.autocast(dev, enabled=False)
            with torch.inference_mode(), ctx:
                state = predictor.init_state(video_path=a.frames_dir, offload_video_to_cpu=dev != "cuda")
                for j, (x, y) in enumerate(clicks(objects, width, height)):
                    predictor.add_new_points_or_box(
                        state, frame_idx=0, obj_id=j + 1,
                        points=torch.tensor([[x, y]], dtype=torch.float32),
                        labels=torch.tensor([1], dtype=torch.int32))
                n, t0 = 0, None
                for idx, _, masks in predictor.propagate_in_video(state):
                    # propagate yields frame 0 (the clicked frame) first.
                    if idx == a.warmup - 1:
                        sync()
                        t0 = time.perf_counter()
                    elif idx >= a.warmup:
                        n += 1
                sync()
                wall = time.perf_counter() - t0
                predictor.reset_state(state)
            print(json.dumps({"side": "official", "dtype": dtype, "objects": objects, "frames": n,
                              "seconds": round(wall, 4), "fps": round(n / wall, 2),
                              "device": torch.cuda.get_device_name() if dev == "cuda" else dev,
                              "torch": torch.__version__,
                              "peak_gpu_mb": round(torch.cuda.max_memory_allocated() / 2**20) if dev == "cuda" else 0}),
                  flush=True)
            del state
            if dev == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()


if __name__ == "__main__":
    main()
