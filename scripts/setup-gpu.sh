#!/usr/bin/env bash
# make setup-gpu: ONNX Runtime 1.29.0 with its CUDA provider (CUDA 13) into
# third_party/onnxruntime-gpu/lib, which vidseg prefers when an NVIDIA driver
# is loaded. The CUDA runtime libraries themselves (cuBLAS, cuDNN, cudart,
# cuRAND of CUDA 13) are not fetched: vidseg finds them in Python's nvidia-*
# packages (as PyTorch installs them), /usr/local/cuda*, the dynamic linker's
# path, or VIDSEG_CUDA_LIBS. Idempotent; npm pack runs no install scripts.
set -euo pipefail
cd "$(dirname "$0")/.."
ORT_VERSION=1.29.0
GPU_PKG=com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9 # providers built for ORT 1.29.0, CUDA 13
DIR=third_party/onnxruntime-gpu/lib
if [ -f "$DIR/libonnxruntime.so.$ORT_VERSION" ] && [ -f "$DIR/libonnxruntime_providers_cuda.so" ]; then
  echo "setup-gpu: $DIR already holds ONNX Runtime $ORT_VERSION with the CUDA provider"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "setup-gpu: fetching onnxruntime-node@$ORT_VERSION and $GPU_PKG (about 300 MB)"
(cd "$tmp" && npm pack --silent "onnxruntime-node@$ORT_VERSION" "$GPU_PKG" >/dev/null)
mkdir -p "$tmp/node" "$tmp/gpu" "$DIR"
tar -xzf "$tmp"/onnxruntime-node-*.tgz -C "$tmp/node"
tar -xzf "$tmp"/com.github.asus4.*.tgz -C "$tmp/gpu"
cp "$tmp/node/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$DIR/libonnxruntime.so.$ORT_VERSION"
for f in libonnxruntime_providers_cuda.so libonnxruntime_providers_shared.so; do
  cp "$tmp/gpu/package/Plugins/Linux/x64/$f" "$DIR/$f"
done
ln -sf "libonnxruntime.so.$ORT_VERSION" "$DIR/libonnxruntime.so.1"
echo "setup-gpu: installed into $DIR; run \`vidseg doctor\` to see whether CUDA loads"
