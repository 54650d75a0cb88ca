"""Time the official PyTorch forward_image (reference for the Go benchmarks).

    /usr/bin/python3 tools/export/bench_torch.py [--variant sam2.1_hiera_t] [--runs 5]

Full-size architecture with seeded random weights (the architecture, not the
weights, sets the cost), input 1x3x1024x1024, torch threads = 2 (OpenBLAS).
Prints one JSON object: median/min/max seconds of --runs timed calls after
one warm-up call.
"""

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import sam2build  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variant", default="sam2.1_hiera_t")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sam2-src", default=None)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    model = sam2build.build_model(a.variant, seed=0, sam2_src=a.sam2_src)
    x = torch.randn(1, 3, 1024, 1024, generator=torch.Generator().manual_seed(0))
    times = []
    with torch.no_grad():
        model.forward_image(x)  # warm-up
        for _ in range(a.runs):
            t = time.perf_counter()
            model.forward_image(x)
            times.append(time.perf_counter() - t)
    blas = "unknown"
    try:
        blas = os.path.realpath("/etc/alternatives/libblas.so.3-x86_64-linux-gnu")
    except OSError:
        pass
    print(json.dumps({
        "what": "forward_image", "variant": a.variant, "input": [1, 3, 1024, 1024],
        "torch": torch.__version__, "threads": a.threads, "blas": blas,
        "runs": a.runs, "median_s": statistics.median(times),
        "min_s": min(times), "max_s": max(times),
    }))


if __name__ == "__main__":
    main()
