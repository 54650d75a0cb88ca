#!/usr/bin/env bash
# Third GPU session: framebench after the copy reductions (features loaded
# once per frame for all objects, parallel resizes), fp32 and fp16, 1/2/4 objects.
V=${V:-/root/vt}; O=${OUT:-/tmp/out}; R=$V/repo; L=$R/third_party/onnxruntime-gpu/lib
mkdir -p "$L" "$O"
unxz() { python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.stdin.buffer), sys.stdout.buffer, 1<<20)'; }
exec > "$O/run3.log" 2>&1
[ -s "$L/libonnxruntime_providers_cuda.so" ] || unxz < "$V/prov.xz" > "$L/libonnxruntime_providers_cuda.so"
[ -s "$L/libonnxruntime.so.1.29.0" ] || unxz < "$V/ort.so.xz" > "$L/libonnxruntime.so.1.29.0"
ln -sf libonnxruntime.so.1.29.0 "$L/libonnxruntime.so.1"; cp -f "$V/libonnxruntime_providers_shared.so" "$L/"
python3 -c 'import tarfile,sys; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2])' "$V/t4.tar.xz" "$R"
for _ in $(seq 1 120); do grep -q "export fp16 exit" "$V/bg/chain.log" 2>/dev/null && break; sleep 1; done
cat "$V/bg/chain.log"
for pkg in fp32 fp16; do
  echo "== $pkg" >> "$O/fb3.json"
  timeout 150 "$R/framebench" --model "$V/full_$pkg" --frames-dir "$V/jpg" --objects 1,2,4 --frames 50 --provider cuda --json >> "$O/fb3.json"
  echo "$pkg exit $?"
done
