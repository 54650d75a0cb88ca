#!/usr/bin/env bash
# Regenerates the committed random-weight fixture testdata/model/sam2.1_hiera_t_random
# and its graph reference tensors testdata/model/reference/*.npz.
# Needs the official sam2 source (SAM2_SRC, default ../ext/sam2), Debian torch
# (scripts/setup-exporter.sh) and ../shared/videos/bedroom.mp4. Not run by CI.
#
# The recipe (seed, depth, weight rounding, parameter overrides) lives here and
# is recorded in the manifest's "fixture"; a trace made with the official
# predictor must build its model with the same values (sam2build.FIXTURE).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$root/testdata/model/sam2.1_hiera_t_random"
py=/usr/bin/python3
rm -rf "$out"
$py "$root/tools/export/export.py" --variant sam2.1_hiera_t --random-seed 0 \
  --stages 1,1,2,1 --memory-attention-layers 2 --memory-encoder-fuser-layers 2 \
  --fp16-representable ${OBJ_SCORE_BIAS:+--param sam_mask_decoder.pred_obj_score_head.layers.2.bias=$OBJ_SCORE_BIAS} \
  --out "$out"
$py "$root/tools/export/make_references.py" --model "$out" --out "$root/testdata/model/reference"
du -sh "$out" "$root/testdata/model/reference"
