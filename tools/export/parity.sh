#!/usr/bin/env bash
# Fidelity of one variant and precision against the official SAM 2 video predictor:
#   seeded official-format checkpoint (seeded_checkpoint.py)
#   -> the README's export of it (export.py --checkpoint, --image-size, --int8)
#   -> the official predictor on the frames vidseg decodes (trace_sam2.py: click, box for a
#      second object on a later frame, correction, forward and backward passes)
#   -> vidseg on the same frames and session (go test ./tracker -run TestSAM2TraceParity with
#      VIDSEG_TRACE_DIR / VIDSEG_TRACE_MODEL)
#   -> one row of the per-object-frame table (min / mean mask IoU, presence and token
#      mismatches) appended to $PARITY_DIR/table.md.
#
#   make parity VARIANT=sam2.1_hiera_s PRECISION=int8 SIZE=256 FRAMES=16
#   make parity VARIANT=sam2.1_hiera_t MODE=samurai     # SAMURAI's predictor (trace_samurai.py)
#
# VARIANT: sam2_hiera_{t,s,b+,l} or sam2.1_hiera_{t,s,b+,l}; PRECISION: fp32, fp16, int8,
# bf16-attention, bf16-matmul (the bf16 ones need a CPU with AVX-512 BF16: elsewhere vidseg
# runs fp32 and the row would measure fp32, so they are refused); SIZE: the input size (256
# is ~16x cheaper than 1024); FRAMES: session length (>= 16: the session prompts frame 6,
# corrects near 10 and runs backward from 15); SEED; VIDEO: a clip in ../shared/videos.
# Checkpoint, packages, frames and the official trace are kept in $PARITY_DIR and reused:
# precisions of one variant and size share one trace. Not run by CI (docs/fidelity.md).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
py=/usr/bin/python3
variant="${VARIANT:?set VARIANT, e.g. sam2.1_hiera_s}"
precision="${PRECISION:-fp32}"
mode="${MODE:-sam2}"
size="${SIZE:-256}"
n="${FRAMES:-16}"
seed="${SEED:-0}"
video_name="${VIDEO:-bedroom.mp4}"
video="$root/../shared/videos/$video_name"
sam2_src="${SAM2_SRC:-$root/../ext/sam2}"
samurai_src="${SAMURAI_SRC:-$root/../ext/samurai/sam2}"
case "$mode" in
  sam2) trace_name=sam2; test_name=TestSAM2TraceParity ;;
  samurai) trace_name=samurai; test_name=TestSAMURAITraceParity ;;
  *) echo "parity: MODE=$mode: want sam2 or samurai" >&2; exit 2 ;;
esac
top="${PARITY_DIR:-$root/out/parity}"
work="$top/$variant-$size-seed$seed-${video_name%.*}"
export VIDSEG_ORT_LIB="${VIDSEG_ORT_LIB:-$root/third_party/onnxruntime/lib/libonnxruntime.so.1}"
export CGO_ENABLED=1

if [ "$n" -lt 16 ]; then echo "parity: FRAMES=$n: the session needs 16 frames" >&2; exit 2; fi
export_args=()
env_args=()
case "$precision" in
  fp32) pkg="$work/pkg-fp32" ;;
  int8) pkg="$work/pkg-int8"; export_args+=(--int8 --int8-below-gate) ;;  # measuring it
  fp16) pkg="$work/pkg-fp16"; export_args+=(--fp16) ;;  # a GPU package; ONNX Runtime's CPU runs it too
  bf16-attention|bf16-matmul)
    if ! grep -qw avx512_bf16 /proc/cpuinfo; then
      echo "parity: $precision: this CPU has no AVX-512 BF16, where vidseg runs fp32 instead (docs/runtime.md): not measurable here" >&2
      exit 2
    fi
    pkg="$work/pkg-fp32"
    [ "$precision" = bf16-attention ] && env_args+=(VIDSEG_TEST_ATTENTION=bf16) || env_args+=(VIDSEG_TEST_MATMUL=bf16) ;;
  *) echo "parity: PRECISION=$precision: want fp32, fp16, int8, bf16-attention or bf16-matmul" >&2; exit 2 ;;
esac
[ "$size" != 1024 ] && export_args+=(--image-size "$size")
mkdir -p "$work"
log() { echo "parity: $*" >&2; }

ckpt="$work/checkpoint.pt"
if [ ! -f "$ckpt" ]; then
  log "seeded checkpoint ($variant, seed $seed)"
  $py "$root/tools/export/seeded_checkpoint.py" --variant "$variant" --seed "$seed" --sam2-src "$sam2_src" --out "$ckpt.tmp"
  mv "$ckpt.tmp" "$ckpt"
fi
if [ ! -f "$pkg/manifest.json" ]; then
  log "export $(basename "$pkg")"
  rm -rf "$pkg"
  SAM2_SRC="$sam2_src" $py "$root/tools/export/export.py" --variant "$variant" --checkpoint "$ckpt" \
    ${export_args[@]+"${export_args[@]}"} --out "$pkg"
fi
frames="$work/frames.rgb"
if [ ! -f "$frames" ]; then
  (cd "$root" && go run ./tools/dumpframes -in "$video" -n "$n" -size "$size" -out "$frames.tmp")
  mv "$frames.tmp" "$frames"
fi
trace="$work/trace-$mode"
if [ ! -f "$trace/${trace_name}_trace.npz" ]; then
  log "official trace ($mode)"
  if [ "$mode" = samurai ]; then
    $py "$root/tools/export/trace_samurai.py" --samurai-src "$samurai_src" --checkpoint "$ckpt" \
      --model "$pkg" --model-dir-label "$pkg" --video "$video" --frames "$frames" -n "$n" \
      --out-dir "$trace.tmp"
  else
    $py "$root/tools/export/trace_sam2.py" --sam2-src "$sam2_src" --checkpoint "$ckpt" \
      --model "$pkg" --model-dir-label "$pkg" --video "$video" --frames "$frames" -n "$n" \
      --out-dir "$trace.tmp"
  fi
  rm -rf "$trace" && mv "$trace.tmp" "$trace"
fi
log "vidseg on the trace ($mode, $precision)"
out="$work/go-$mode-$precision.log"
start=$(date +%s)
set +e
(cd "$root" && env ${env_args[@]+"${env_args[@]}"} VIDSEG_TRACE_DIR="$trace" VIDSEG_TRACE_MODEL="$pkg" \
  go test ./tracker -run "$test_name\$" -count=1 -v -timeout 120m) >"$out" 2>&1
rc=$?
set -e
line=$(grep -o '[0-9]* outputs compared on .*' "$out" | head -1 || true)
if [ -z "$line" ]; then
  log "no result (go test exit $rc): see $out"; tail -20 "$out" >&2; exit 1
fi
# "N outputs compared on P: min mask IoU X, mean Y, presence disagrees S, T token mismatches, ..."
read -r count miniou meaniou signs tokens < <(echo "$line" | sed -E \
  's/^([0-9]+) outputs compared on [a-z]+: min mask IoU ([0-9.]+), mean ([0-9.]+), presence disagrees ([0-9]+), ([0-9]+) token mismatches.*/\1 \2 \3 \4 \5/')
gate=pass
if awk "BEGIN{exit !($miniou < 0.99)}" || [ "$signs" != 0 ] || [ "$tokens" != 0 ]; then gate=FAIL; fi
table="$top/table.md"
if [ ! -f "$table" ]; then
  echo "| variant | mode | size | precision | video | object-frames | min IoU | mean IoU | presence / token mismatches | gate | vidseg s |" >"$table"
  echo "|---|---|---|---|---|---|---|---|---|---|---|" >>"$table"
fi
row="| $variant | $mode | $size | $precision | $video_name | $count | $miniou | $meaniou | $signs / $tokens | $gate | $(( $(date +%s) - start )) |"
echo "$row" >>"$table"
echo "$row"
