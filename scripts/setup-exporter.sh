#!/usr/bin/env bash
# Installs what tools/export needs on Debian 12 (NOT part of `make setup`/CI):
# Debian's torch 1.13, torchvision (timm imports it: EdgeTAM's RepViT), scipy
# (the official predictors' traces, make parity) and onnx for /usr/bin/python3,
# and onnxruntime-common for the Node ORT binding that scripts/setup.sh already
# unpacked (the exporter's self-check runs graphs through it; Python has no
# onnxruntime package here).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
node_dir="$root/third_party/onnxruntime/node"
ort_version=1.24.1

if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
pkgs="python3-torch python3-torchvision python3-scipy python3-onnx python3-yaml python3-numpy python3-pil libopenblas0-pthread ffmpeg"
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  $sudo apt-get update
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
fi

command -v node >/dev/null && command -v npm >/dev/null || { echo "need node and npm (scripts/setup.sh installs them)" >&2; exit 1; }
if [ ! -f "$node_dir/bin/napi-v6/linux/x64/onnxruntime_binding.node" ]; then
  echo "missing $node_dir (onnxruntime-node); run 'make setup' first" >&2
  exit 1
fi
common="$node_dir/node_modules/onnxruntime-common"
if [ ! -f "$common/package.json" ] || ! grep -q "\"version\": \"$ort_version\"" "$common/package.json"; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "onnxruntime-common@$ort_version" >/dev/null)
  rm -rf "$common"
  mkdir -p "$common"
  tar -xzf "$tmp"/onnxruntime-common-"$ort_version".tgz -C "$common" --strip-components=1
fi
/usr/bin/python3 -c 'import torch, torchvision, scipy, onnx, yaml, numpy, PIL; print("torch", torch.__version__, "onnx", onnx.__version__)'
node -e "require('$node_dir'); console.log('onnxruntime-node', require('$node_dir/package.json').version)"
