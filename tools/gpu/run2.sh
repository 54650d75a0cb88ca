#!/usr/bin/env bash
# Second GPU session (tools/gpu/README.md): where the time goes. Assembles as
# run.sh does, then: framebench fp32 with a Go CPU profile; ONNX Runtime
# profiles of fp32 and fp16 (10 frames) summarized by ortprof.py; plain vs
# fused memory attention; prefer_nhwc. Outputs: run2.log, ortprof.txt,
# go.prof, fb2.json in $OUT.
V=${V:-/root/vt}
O=${OUT:-/tmp/out}
R=$V/repo
L=$R/third_party/onnxruntime-gpu/lib
mkdir -p "$L" "$O"
unxz() { python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.stdin.buffer), sys.stdout.buffer, 1<<20)'; }
untar() { python3 -c 'import tarfile,sys; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2])' "$1" "$2"; }
step() { echo "== $(date -u +%T) $*"; }
exec > "$O/run2.log" 2>&1
step assemble
[ -s "$L/libonnxruntime_providers_cuda.so" ] || unxz < "$V/prov.xz" > "$L/libonnxruntime_providers_cuda.so"
[ -s "$L/libonnxruntime.so.1.29.0" ] || unxz < "$V/ort.so.xz" > "$L/libonnxruntime.so.1.29.0"
ln -sf libonnxruntime.so.1.29.0 "$L/libonnxruntime.so.1"
cp -f "$V/libonnxruntime_providers_shared.so" "$L/"
untar "$V/t4.tar.xz" "$R"
for _ in $(seq 1 120); do grep -q "bg done" "$V/bg/chain.log" 2>/dev/null && break; sleep 1; done
cat "$V/bg/chain.log"; grep -n "self-check\|max|" "$V/bg/export_plain.log" | tail -12
FB=$R/framebench
J=$V/jpg
fb() { echo "== $*" >> "$O/fb2.json"; timeout 120 "$FB" --frames-dir "$J" --provider cuda --json "$@" >> "$O/fb2.json"; echo "exit $?"; }
step go profile; fb --model "$V/full_fp32" --objects 1 --frames 50 --cpuprofile "$O/go.prof"
step ort profile fp32; mkdir -p "$V/prof32" "$V/prof16"
fb --model "$V/full_fp32" --objects 1 --frames 10 --ort-profile "$V/prof32/p"
step ort profile fp16; fb --model "$V/full_fp16" --objects 1 --frames 10 --ort-profile "$V/prof16/p"
{ echo "== fp32"; python3 "$V/tools/gpu/ortprof.py" "$V"/prof32/*.json; echo "== fp16"; python3 "$V/tools/gpu/ortprof.py" "$V"/prof16/*.json; } > "$O/ortprof.txt" 2>&1
step plain attention; [ -f "$V/full_plain/manifest.json" ] && fb --model "$V/full_plain" --objects 1,2,4 --frames 50
step nhwc; fb --model "$V/full_fp32" --objects 1 --frames 50 --cuda-opt prefer_nhwc=1
step fp16 nhwc; fb --model "$V/full_fp16" --objects 1 --frames 50 --cuda-opt prefer_nhwc=1
step done
