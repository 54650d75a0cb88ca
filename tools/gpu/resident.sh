#!/usr/bin/env bash
# The resident-features check (issue 31) for a session that has a GPU:
# run after run.sh's assembly step ($V laid out as README.md says), it
# times framebench with the image features kept on the GPU (--resident on,
# the CUDA default) against passing them through Go memory (off), back to
# back, fp32 and fp16, 1/2/4/8 objects, two rounds; then the resident
# tests and the trace-parity tests on CUDA. Everything goes into $OUT.
V=${V:-/root/vt}
O=${OUT:-/tmp/out}
R=$V/repo
FB=$R/framebench
mkdir -p "$O"
step() { echo "== $(date -u +%T) $*"; }
{
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
for round in 1 2; do
  for pkg in fp32 fp16; do
    [ -f "$V/full_$pkg/manifest.json" ] || { echo "no $V/full_$pkg"; continue; }
    for r in off on; do
      step "round $round $pkg resident=$r"
      echo "== round $round $pkg resident=$r" >> "$O/resident.json"
      timeout ${FB_LIMIT:-100} "$FB" --model "$V/full_$pkg" --frames-dir "$V/jpg" --objects 1,2,4,8 \
        --frames 50 --provider cuda --resident $r --json >> "$O/resident.json"
      echo "exit $?"
    done
  done
done
cd "$R/tracker" || exit 1
step "resident and trace parity on cuda"
VIDSEG_FRAME_DUMP=$V/frames VIDSEG_TEST_PROVIDER=cuda timeout 150 ../tracker.test \
  -test.run 'TraceParity|Resident' -test.v -test.count=1 2>&1 | grep -E "^(---|ok|FAIL)|outputs compared|resident_test"
echo "exit $?"
} > "$O/resident.log" 2>&1
grep -h "exit\|==\|---\|compared" "$O/resident.log"
grep -h '"objects"\|"fps"\|"bound"\|==' "$O/resident.json"
