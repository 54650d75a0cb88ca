#!/usr/bin/env bash
# Regenerates the committed EdgeTAM fixture testdata/model/edgetam_random512 and its reference
# traces testdata/trace/edgetam{,_multi}_{session.json,trace.npz}, made with the official EdgeTAM
# predictor (facebookresearch/EdgeTAM 9cc44bf) and the fixture's weights. SKIP_FIXTURE=1 keeps
# the committed fixture (a trace is only valid for the exact weights it was made with).
# See docs/trace.md. Not run by CI.
#
# The fixture: seeded random weights of configs/edgetam.yaml with RepViT-M1 reduced to
# 1,1,2,1 blocks per stage (every width, the 2-layer memory attention and the 2-layer perceiver
# as they are), weights rounded to fp16 values, at a 512-px input (32x32 features: the
# perceiver's 16x16 grid of 2D latents then pools 2x2 windows).
#
# Needs: /usr/bin/python3 with Debian torch and scipy, Go (tools/dumpframes), the official
# sources (EDGETAM_SRC, default ../ext/EdgeTAM; TIMM_SRC, default ../ext/timm) and
# ../shared/videos/bedroom.mp4. A few minutes on 2 cores.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
py=/usr/bin/python3
video="${VIDEO:-$root/../shared/videos/bedroom.mp4}"
model_root="${MODEL_ROOT:-$root/testdata/model}"
model="$model_root/edgetam_random512"
out="${TRACE_OUT:-$root/testdata/trace}"
label=testdata/model/edgetam_random512
n=10

if [ "${SKIP_FIXTURE:-0}" != 1 ]; then
  rm -rf "$model"
  $py "$root/tools/export/export.py" --variant edgetam --random-seed 0 --stages 1,1,2,1 \
    --fp16-representable --image-size 512 --out "$model"
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# The exact pixels vidseg's decoder hands the model (FFmpeg swscale bicubic to 512x512).
(cd "$root" && go run ./tools/dumpframes -in "$video" -n "$n" -size 512 -out "$tmp/frames.rgb")

mkdir -p "$out"
for session in edgetam edgetam_multi; do
  timeout 3600 "$py" "$root/tools/export/trace_sam2.py" --session "$session" \
    --model "$model" --model-dir-label "$label" --video "$video" --frames "$tmp/frames.rgb" \
    -n "$n" --out-dir "$out"
done
du -sh "$model" "$out"/edgetam*
