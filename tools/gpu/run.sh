#!/usr/bin/env bash
# The GPU run (tools/gpu/README.md): assembles what the transit calls
# brought into $V, then runs, each step capped in time and logged into $OUT:
# the CUDA provider's first load, the tracker's trace-parity tests on CUDA
# with the fp32 and fp16 fixtures, and framebench on the full-size model
# exported by background.sh (fp32, fp32+TF32, fp16; 1, 2 and 4 objects).
V=${V:-/root/vt}
O=${OUT:-/tmp/out}
R=$V/repo
L=$R/third_party/onnxruntime-gpu/lib
mkdir -p "$L" "$R/tracker" "$O" "$V/shared/videos"
unxz() { python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.stdin.buffer), sys.stdout.buffer, 1<<20)'; }
untar() { python3 -c 'import tarfile,sys; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2])' "$1" "$2"; }
step() { echo "== $(date -u +%T) $*"; }
{
step assemble
[ -s "$L/libonnxruntime_providers_cuda.so" ] || cat "$V"/prov.xz | unxz > "$L/libonnxruntime_providers_cuda.so"
[ -s "$L/libonnxruntime.so.1.29.0" ] || unxz < "$V/ort.so.xz" > "$L/libonnxruntime.so.1.29.0"
ln -sf libonnxruntime.so.1.29.0 "$L/libonnxruntime.so.1"
cp -f "$V/libonnxruntime_providers_shared.so" "$L/"
[ -d "$R/testdata" ] || untar "$V/t4.tar.xz" "$R"
[ -d "$V/frames" ] || untar "$V/frames.tar.xz" "$V/frames" # the dumps are at the tar's top
touch "$V/shared/videos/bedroom.mp4"
mkdir -p "$R/testdata/videos/moving_shape" && touch "$R/testdata/videos/moving_shape/video.mp4"
ls -la "$L" "$R"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
cat "$V/bg/chain.log" 2>/dev/null
} > "$O/run.log" 2>&1

FB=$R/framebench
FIX=$R/testdata/model/sam2.1_hiera_t_random
step smoke: fixture on cuda >> "$O/run.log"
timeout 90 "$FB" --model "$FIX" --frames-dir "$V/jpg" --objects 1 --frames 8 --provider cuda >> "$O/run.log" 2>&1
echo "exit $?" >> "$O/run.log"

cd "$R/tracker" || exit 1
export VIDSEG_FRAME_DUMP=$V/frames VIDSEG_TEST_PROVIDER=cuda
step trace fp32 > "$O/trace_fp32.log"
timeout 150 ../tracker.test -test.run 'TraceParity|BadInput' -test.v -test.count=1 >> "$O/trace_fp32.log" 2>&1
echo "exit $?" >> "$O/trace_fp32.log"
step trace fp16 > "$O/trace_fp16.log"
VIDSEG_TEST_MODEL=$R/testdata/model/fixture_fp16 timeout 150 ../tracker.test -test.run 'TraceParity' -test.v -test.count=1 >> "$O/trace_fp16.log" 2>&1
echo "exit $?" >> "$O/trace_fp16.log"
unset VIDSEG_TEST_PROVIDER VIDSEG_TEST_MODEL
cd "$V" || exit 1

# The official predictor (background.sh) must be done before timing ours.
for _ in $(seq 1 ${WAIT_BG:-120}); do grep -q "official exit" "$V/bg/chain.log" 2>/dev/null && break; sleep 1; done
for cfg in "fp32:" "fp32:--tf32" "fp16:"; do
  pkg=${cfg%%:*} flag=${cfg#*:}
  name=fb_${pkg}${flag:+_tf32}
  [ -f "$V/full_$pkg/manifest.json" ] || { echo "no $V/full_$pkg" >> "$O/run.log"; continue; }
  step "$name" >> "$O/run.log"; echo "== $name" >> "$O/fb.json"
  timeout ${FB_LIMIT:-120} "$FB" --model "$V/full_$pkg" --frames-dir "$V/jpg" --objects 1,2,4 --frames 50 \
    --provider cuda $flag --json >> "$O/fb.json" 2>> "$O/run.log"
  echo "exit $?" >> "$O/run.log"
done
for f in chain.log official.jsonl official.log export_fp32.log export_fp16.log; do
  echo "== $f"; tail -c 20000 "$V/bg/$f" 2>/dev/null
done > "$O/bg.log"
nvidia-smi --query-gpu=name,memory.used --format=csv >> "$O/run.log"
step done >> "$O/run.log"
# A summary for the reply.
grep -h "outputs compared\|^--- \|^ok\|^FAIL" "$O"/trace_*.log
grep -h "frames/s\|provider\|CUDA" "$O/run.log" | head -20
cat "$V/bg/chain.log" "$V/bg/official.jsonl" 2>/dev/null
grep -h '"objects"\|"fps"\|"provider"\|==' "$O/fb.json"
