"""Side by side: the official SAM2VideoPredictor and `vidseg bench`, same
frames, same weights, same clicks, same thread count, run alternately.

    make bench-official                       # defaults below
    /usr/bin/python3 tools/export/bench_official.py \
        --model third_party/models/sam2.1_hiera_t_random_full \
        --video ../shared/videos/01_dog.mp4 --frames 12 --objects 1,4 --threads 2

--model is a random-weight package made by tools/export/export.py
(--random-seed): the official model is rebuilt from its manifest's "fixture"
recipe, so both sides run the same weights. An EdgeTAM package (--variant
edgetam) runs against the official EdgeTAM predictor (--edgetam-src, default
../ext/EdgeTAM), which propagates all objects as one batch. For each object count the two
run one after the other (--rounds times), each in its own process so that
its peak RSS is its own: the official predictor on the first --frames frames
of the clip as JPEG files (as its README does; decoding them is not timed),
a click per object on frame 0 spread along the middle row (the clicks
`vidseg bench` makes), then propagate_in_video; vidseg with `vidseg bench
--mode sam2 --frames N-1` (frame 0 + N-1 tracked frames). The official
init_state encodes frame 0 before the clock starts; that cache is dropped so
both sides encode every frame on the clock (vidseg's time also includes
decoding the frames). Prints per-stage
seconds per frame, whole-frame seconds (wall and CPU), peak RSS, and the
ratios vidseg / official, with the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

STAGES = ["encoder", "memory_attention", "decoder", "memory_encoder"]


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def video_size(path):
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=width,height", "-of", "json", path],
        check=True, capture_output=True, text=True).stdout
    s = json.loads(out)["streams"][0]
    return int(s["width"]), int(s["height"])


def clicks(objects, width, height):
    """One positive click per object, as `vidseg bench` places them."""
    return [(width * (j + 1) / (objects + 1), height / 2) for j in range(objects)]


# ---------------------------------------------------------------------------
# The official side (child process).


def run_official(a):
    import torch

    torch.set_num_threads(a.threads)
    from trace_sam2 import build_predictor

    _, _, predictor = build_predictor(a.model, a.sam2_src, edgetam_src=a.edgetam_src)
    predictor.eval()
    times = {s: 0.0 for s in STAGES}

    def timed(obj, name, stage):
        fn = getattr(obj, name)

        def wrapper(*args, **kw):
            t = time.perf_counter()
            try:
                return fn(*args, **kw)
            finally:
                times[stage] += time.perf_counter() - t
        setattr(obj, name, wrapper)

    timed(predictor, "forward_image", "encoder")
    timed(predictor, "_prepare_memory_conditioned_features", "memory_attention")
    timed(predictor, "_forward_sam_heads", "decoder")
    timed(predictor, "_encode_new_memory", "memory_encoder")

    width, height = video_size(a.video)
    with tempfile.TemporaryDirectory() as d:
        subprocess.run(["ffmpeg", "-v", "error", "-i", a.video, "-frames:v", str(a.frames),
                        "-q:v", "2", "-start_number", "0", os.path.join(d, "%05d.jpg")],
                       check=True)
        with torch.inference_mode():
            state = predictor.init_state(video_path=d)
            # init_state encodes frame 0 ahead (its warm-up); drop that cache so
            # that frame 0 is encoded again on the clock, as vidseg's is: both
            # sides then time the same 12 encoder calls.
            state["cached_features"] = {}
            for s in STAGES:
                times[s] = 0.0
            c0, t0 = time.process_time(), time.perf_counter()
            for j, (x, y) in enumerate(clicks(a.objects, width, height)):
                predictor.add_new_points_or_box(
                    state, frame_idx=0, obj_id=j + 1,
                    points=torch.tensor([[x, y]], dtype=torch.float32),
                    labels=torch.tensor([1], dtype=torch.int32))
            n = 0
            for _ in predictor.propagate_in_video(state):
                n += 1
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"frames": n, "wall_s": wall, "cpu_s": cpu,
            "stages_s": {s: v / n for s, v in times.items()},
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


# ---------------------------------------------------------------------------
# The vidseg side.


def run_vidseg(a, binary):
    cmd = [binary, "bench", a.video, "--model", a.model, "--mode", "sam2",
           "--objects", str(a.objects), "--frames", str(a.frames - 1),
           "--threads", str(a.threads), "--provider", "cpu", "--attention", a.attention, "--matmul", a.matmul, "--json"]
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run(cmd, capture_output=True, text=True)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)}: exit {r.returncode}\n{r.stderr}")
    run = json.loads(r.stdout)["runs"][0]
    ms = run["ms_per_frame"]
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    return {"frames": run["frames"], "wall_s": run["seconds"],
            # Process CPU includes opening the model (hashing, sessions).
            "cpu_s": cpu,
            "stages_s": {s: ms.get(s, 0.0) / 1000 for s in STAGES},
            "peak_rss_mb": run["peak_rss_mb"]}


def child(a, side):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", side, "--model", a.model,
           "--video", a.video, "--frames", str(a.frames), "--objects", str(a.objects),
           "--threads", str(a.threads)]
    if a.sam2_src:
        cmd += ["--sam2-src", a.sam2_src]
    if a.edgetam_src:
        cmd += ["--edgetam-src", a.edgetam_src]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"official predictor failed (exit {r.returncode}):\n{r.stderr[-4000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def table(objects, off, vs, load, attention, matmul):
    rows = [f"objects {objects}, {off['frames']} frames, vidseg attention {attention} matmul {matmul}, load average {load}"]
    rows.append(f"  {'':28} {'official':>10} {'vidseg':>10} {'vidseg/official':>16}")

    def row(label, o, v, unit):
        ratio = v / o if o else float("nan")
        rows.append(f"  {label:28} {o:10.3f} {v:10.3f} {ratio:16.2f}  {unit}")
    for s in STAGES:
        row(f"{s} s/frame", off["stages_s"][s], vs["stages_s"][s], "")
    row("whole frame wall s", off["wall_s"] / off["frames"], vs["wall_s"] / vs["frames"], "")
    row("whole frame CPU s", off["cpu_s"] / off["frames"], vs["cpu_s"] / vs["frames"],
        "(vidseg: process, incl. model open)")
    row("peak RSS MB", off["peak_rss_mb"], vs["peak_rss_mb"], "")
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=os.path.join(REPO, "third_party", "models",
                                                    "sam2.1_hiera_t_random_full"))
    ap.add_argument("--video", default=os.path.join(REPO, "..", "shared", "videos", "01_dog.mp4"))
    ap.add_argument("--frames", type=int, default=12, help="frames, the clicked frame 0 included")
    ap.add_argument("--objects", default="1,4", help="object counts, comma-separated")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1, help="alternations per object count")
    ap.add_argument("--attention", default="fp32", choices=("fp32", "bf16"),
                    help="vidseg's attention precision (vidseg --attention)")
    ap.add_argument("--matmul", default="fp32", choices=("fp32", "bf16"),
                    help="vidseg's image encoder weight product precision (vidseg --matmul)")
    ap.add_argument("--vidseg", default=None, help="vidseg binary (default: go build into a temp dir)")
    ap.add_argument("--sam2-src", default=None)
    ap.add_argument("--edgetam-src", default=None,
                    help="an EdgeTAM --model: the official EdgeTAM source (default ../ext/EdgeTAM)")
    ap.add_argument("--json", action="store_true", help="print the raw results as JSON too")
    ap.add_argument("--child", choices=("official",), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.frames < 2:
        ap.error("--frames must be at least 2")
    if a.child:
        a.objects = int(a.objects)
        print(json.dumps(run_official(a)))
        return 0
    for p in (a.model, a.video):
        if not os.path.exists(p):
            raise SystemExit(f"{p}: not found (see the docstring: export the model first)")
    with tempfile.TemporaryDirectory() as tmp:
        binary = a.vidseg
        if binary is None:
            binary = os.path.join(tmp, "vidseg")
            subprocess.run(["go", "build", "-o", binary, "./cmd/vidseg"], cwd=REPO, check=True)
        results = []
        for objects in [int(x) for x in a.objects.split(",")]:
            one = argparse.Namespace(**vars(a))
            one.objects = objects
            for r in range(a.rounds):
                load0 = loadavg()
                off = child(one, "official")
                vs = run_vidseg(one, binary)
                load = f"{load0} -> {loadavg()}"
                print(table(objects, off, vs, load, a.attention, a.matmul), flush=True)
                results.append({"objects": objects, "round": r, "load": load,
                                "official": off, "vidseg": vs})
    if a.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
