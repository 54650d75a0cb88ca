#!/usr/bin/env bash
# Regenerates testdata/autoseg/*.json: what the official SAM2AutomaticMaskGenerator finds on
# frame 0 of testdata/videos/moving_shape with the committed 256-px fixture's weights
# (tools/export/amg_reference.py), for the Go parity test of package autoseg. Not run by CI.
#
# The fixture's random weights give predicted IoUs of 0.49..0.52 and mask logits of |x| < 0.5,
# so the default thresholds (0.8, stability 0.95 at offset 1.0) keep nothing: the references
# lower pred_iou_thresh, stability_score_offset and stability_score_thresh so that about half
# the candidates pass each filter, and keep every other parameter at its default.
#
# Needs /usr/bin/python3 with Debian torch and python3-torchvision, the official sources
# (SAM2_SRC, default ../ext/sam2) and Go (for tools/dumpframes). A few minutes on 2 cores.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
py=/usr/bin/python3
input=testdata/videos/moving_shape/video.mp4
model="$root/testdata/model/sam2.1_hiera_t_random256"
out="$root/testdata/autoseg"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$root" && go run ./tools/dumpframes -in "$input" -n 1 -size 256 -out "$tmp/frame.rgb")
mkdir -p "$out"
common=(--model "$model" --model-dir-label testdata/model/sam2.1_hiera_t_random256
  --frame "$tmp/frame.rgb" --width 320 --height 240 --input "$input"
  --pred-iou-thresh 0.5 --stability-score-offset 0.02)
# The fixture's masks are large blobs whose boxes all span the frame: box NMS at the default
# 0.7 keeps one of them (the last reference checks that), so the others turn it off (1.0) to
# compare every mask that passes the filters.
run() { "$py" "$root/tools/export/amg_reference.py" "${common[@]}" "$@"; }
# A 10x10 grid in batches of 32 (the last one partial), multimask.
run --stability-score-thresh 0.7 --points-per-side 10 --points-per-batch 32 --box-nms-thresh 1.0 \
  --out "$out/moving_shape_10.json"
# Mask-to-mask refinement.
run --stability-score-thresh 0.55 --points-per-side 6 --points-per-batch 16 --box-nms-thresh 1.0 \
  --use-m2m true --out "$out/moving_shape_6_m2m.json"
# Single-mask output (the decoder's stability fallback).
run --stability-score-thresh 0.65 --points-per-side 8 --box-nms-thresh 1.0 --multimask-output false \
  --out "$out/moving_shape_8_single.json"
# Box NMS at its default.
run --stability-score-thresh 0.6 --points-per-side 8 --out "$out/moving_shape_8_nms.json"
ls -la "$out"
