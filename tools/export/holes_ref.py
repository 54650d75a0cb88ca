#!/usr/bin/env python3
"""Hole filling as the official predictor does it, runnable on a CPU.

SAM 2's fill_holes_in_mask_scores (sam2/utils/misc.py) fills every background component
(mask score <= 0) of at most fill_hole_area pixels with the score 0.1. Its connected
components come from the CUDA extension sam2._C (8-connectivity, labels and per-pixel
component areas); without it (a CPU build) the official function warns and returns the mask
unchanged. `connected_components` is a CPU stand-in with the same documented semantics
(scipy.ndimage.label, 8-connectivity); `patch` installs it in the official module, so the
official fill_holes_in_mask_scores itself runs.

Run as a script it writes the reference for vidseg's Go test (tracker/testdata/fill_holes.npz):
crafted masks and the official function's output on them. Not run by CI.
"""

import argparse
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def connected_components(mask):
    """get_connected_components for (N, 1, H, W) binary masks: labels (0 for background) and,
    per pixel, the area of its component (0 for background), 8-connectivity, int32."""
    from scipy import ndimage

    m = mask.to(torch.uint8).cpu().numpy()
    labels = np.zeros(m.shape, np.int32)
    counts = np.zeros(m.shape, np.int32)
    for i in range(m.shape[0]):
        lab, n = ndimage.label(m[i, 0], structure=np.ones((3, 3), dtype=int))
        areas = np.bincount(lab.reshape(-1), minlength=n + 1)
        areas[0] = 0
        labels[i, 0] = lab
        counts[i, 0] = areas[lab]
    return torch.from_numpy(labels).to(mask.device), torch.from_numpy(counts).to(mask.device)


def patch():
    """Make the official fill_holes_in_mask_scores use the CPU components."""
    import sam2.utils.misc as misc

    misc.get_connected_components = connected_components


def crafted_masks():
    """Masks whose small background regions test each rule (name, [H, W] float32)."""
    out = []
    m = np.full((32, 32), 2.0, np.float32)
    # Interior holes of area 1..10 (pixels in a row): <= 8 filled, 9 and 10 kept.
    for i, area in enumerate(range(1, 11)):
        y = 2 + 3 * (i % 5)
        x = 2 + 15 * (i // 5)
        m[y, x:x + area] = -1.0
    out.append(("interior_sizes", m))
    m = np.full((32, 32), 1.5, np.float32)
    # Diagonal neighbours join (8-connectivity): a diagonal line of 9 is one region of 9, kept;
    # of 8, filled.
    for k in range(9):
        m[2 + k, 2 + k] = -0.5
    for k in range(8):
        m[2 + k, 20 + k] = -0.5
    # Exactly 0 is background.
    m[25, 5] = 0.0
    # Corner and edge regions count (the kernel has no notion of enclosure).
    m[0, 0] = m[0, 1] = -3.0
    m[31, 10:18] = -3.0
    m[20:23, 29:32] = -3.0  # 3x3 = 9 at the right edge: kept
    out.append(("diagonal_border_zero", m))
    # A large background with foreground blobs: nothing to fill.
    m = np.full((32, 32), -4.0, np.float32)
    m[8:20, 8:20] = 3.0
    m[12, 12] = -1.0  # a 1-pixel hole inside the blob: filled
    out.append(("large_background", m))
    # Speckle like the random-weight fixture's masks: seeded noise, smoothed.
    rng = np.random.default_rng(30)
    m = rng.standard_normal((64, 64)).astype(np.float32) + 0.6
    out.append(("speckle", m))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sam2-src", default=os.path.join(REPO, "..", "ext", "sam2"))
    ap.add_argument("--out", default=os.path.join(REPO, "tracker", "testdata", "fill_holes.npz"))
    ap.add_argument("--max-area", type=int, default=8)
    args = ap.parse_args()
    sys.path.insert(0, HERE)
    import sam2build

    sam2build.setup(args.sam2_src)  # the official source, with the exporter's import shims
    from sam2.utils.misc import fill_holes_in_mask_scores

    patch()
    arrays = {"max_area": np.array([args.max_area], np.int64)}
    for name, m in crafted_masks():
        t = torch.from_numpy(m)[None, None]
        got = fill_holes_in_mask_scores(t, args.max_area)[0, 0].numpy().astype(np.float32)
        arrays[f"{name}_in"] = m
        arrays[f"{name}_out"] = got
        print(f"{name}: {m.shape[0]}x{m.shape[1]}, {int((got != m).sum())} pixels filled")

    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    np.savez_compressed(args.out, **arrays)


if __name__ == "__main__":
    main()
