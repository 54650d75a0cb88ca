#!/usr/bin/env python3
"""Write an official-format SAM 2 checkpoint with seeded random weights.

The file is what a user downloads from the SAM 2 releases ({"model": state_dict}, every
parameter at the variant's full depth), so the parity script (tools/export/parity.sh) can run
the README's export and the official predictor on it like on a real checkpoint. Random
weights: the masks mean nothing; parity measures whether vidseg computes what the official
code computes with the same weights.
"""

import argparse
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variant", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sam2-src", default=None)
    ap.add_argument("--out", required=True, help="the .pt file to write")
    a = ap.parse_args()
    import sam2build

    m = sam2build.build_model(a.variant, None, a.seed, None, sam2_src=a.sam2_src)
    sd = {k: v.detach().clone() for k, v in m.state_dict().items()}
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    torch.save({"model": sd}, a.out)
    n = sum(v.numel() for v in sd.values())
    print(f"{a.out}: {a.variant} seed {a.seed}, {len(sd)} tensors, {n / 1e6:.1f} M values")


if __name__ == "__main__":
    main()
