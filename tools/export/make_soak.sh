#!/usr/bin/env bash
# Exports the small "soak" model third_party/models/sam2.1_hiera_t_soak256 (git-ignored)
# for long memory/RSS runs of the Go runtime: the committed fixture's recipe (seed 0,
# reduced depth, fp16-representable weights, fp32 graphs) at a 256x256 input, so
# features are 16x16 and masks 64x64 (about 16x less work per frame than 1024).
# Not a tracking-quality model: random weights. See docs/exporter.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-$root/third_party/models/sam2.1_hiera_t_soak256}"
size="${IMAGE_SIZE:-256}"
rm -rf "$out"
/usr/bin/python3 "$root/tools/export/export.py" --variant sam2.1_hiera_t --random-seed 0 \
  --stages 1,1,2,1 --memory-attention-layers 2 --memory-encoder-fuser-layers 2 \
  --fp16-representable --image-size "$size" --out "$out"
du -sh "$out"
