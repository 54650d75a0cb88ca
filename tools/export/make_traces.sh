#!/usr/bin/env bash
# Regenerates the reference traces testdata/trace/{sam2,sam2_defaults,samurai}_{session.json,trace.npz}
# from the official SAM 2 predictor and SAMURAI's predictor, with the committed fixture's
# weights. By default it first regenerates the fixture itself (make_fixture.sh), because a
# trace is only valid for the exact weights it was made with; SKIP_FIXTURE=1 keeps the
# committed fixture. See docs/trace.md. Not run by CI.
#
# MODEL_ROOT (default testdata/model) and TRACE_OUT (default testdata/trace) stage fixture and
# traces elsewhere (the sessions still record model_dir testdata/model/sam2.1_hiera_t_random),
# so that committed fixture and traces can be replaced together once the staged set checks out.
#
# Needs: /usr/bin/python3 with Debian torch (+ OpenBLAS) and scipy, Go (for tools/dumpframes),
# the official sources (SAM2_SRC, default ../ext/sam2; SAMURAI_SRC, default ../ext/samurai/sam2)
# and ../shared/videos/bedroom.mp4. About 15-25 minutes on 2 cores.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
py=/usr/bin/python3
video="${VIDEO:-$root/../shared/videos/bedroom.mp4}"
sam2_src="${SAM2_SRC:-$root/../ext/sam2}"
samurai_src="${SAMURAI_SRC:-$root/../ext/samurai/sam2}"
export MODEL_ROOT="${MODEL_ROOT:-$root/testdata/model}"
model="$MODEL_ROOT/sam2.1_hiera_t_random"
out="${TRACE_OUT:-$root/testdata/trace}"
label=testdata/model/sam2.1_hiera_t_random

if [ "${SKIP_FIXTURE:-0}" != 1 ]; then
  "$root/tools/export/make_fixture.sh"
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# The exact pixels vidseg's decoder hands the model (FFmpeg swscale bicubic to 1024x1024).
(cd "$root" && go run ./tools/dumpframes -in "$video" -n 40 -size 1024 -out "$tmp/frames.rgb")

mkdir -p "$out"
timeout 3600 "$py" "$root/tools/export/trace_sam2.py" --sam2-src "$sam2_src" \
  --model "$model" --model-dir-label "$label" --video "$video" --frames "$tmp/frames.rgb" \
  -n 16 --out-dir "$out"
# The official predictor's defaults (corrections not conditioning, holes filled): short.
timeout 3600 "$py" "$root/tools/export/trace_sam2.py" --sam2-src "$sam2_src" --session sam2_defaults \
  --model "$model" --model-dir-label "$label" --video "$video" --frames "$tmp/frames.rgb" \
  -n 8 --out-dir "$out"
timeout 3600 "$py" "$root/tools/export/trace_samurai.py" --samurai-src "$samurai_src" \
  --model "$model" --model-dir-label "$label" --video "$video" --frames "$tmp/frames.rgb" \
  -n 40 --out-dir "$out"
du -sh "$out"/*
