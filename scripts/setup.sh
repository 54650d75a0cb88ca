#!/usr/bin/env bash
# One-command setup for vidseg on Debian 12: system packages, the ONNX Runtime
# shared library, Go modules and Chromium. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

ORT_VERSION=1.24.1
# staticcheck 2026.2.2 (checks Go 1.26 code).
STATICCHECK_VERSION=v0.8.2
ORT_DIR=third_party/onnxruntime
APT_PACKAGES=(
  pkg-config gcc make ffmpeg
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev
  libavfilter-dev libavdevice-dev libswresample-dev
  chromium chromium-driver locales fonts-dejavu-core
  python3-onnx # make test-exporter: the exporter's graph-folding tests
)

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ORT string tensors and some FFmpeg paths want a UTF-8 locale.
if ! locale -a 2>/dev/null | grep -qi '^en_US.utf8$'; then
  echo "setup: generating en_US.UTF-8 locale"
  $SUDO sed -i 's/^# *en_US.UTF-8 UTF-8/en_US.UTF-8 UTF-8/' /etc/locale.gen
  $SUDO locale-gen >/dev/null
fi

# ONNX Runtime is not in Debian; onnxruntime-node ships the shared library.
# `npm pack` fetches the tarball without running its install script (which
# would try to download CUDA files).
if [ ! -f "$ORT_DIR/lib/libonnxruntime.so.$ORT_VERSION" ]; then
  echo "setup: fetching ONNX Runtime $ORT_VERSION (npm package onnxruntime-node)"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "onnxruntime-node@$ORT_VERSION" >/dev/null)
  mkdir -p "$ORT_DIR/lib" "$ORT_DIR/node"
  tar -xzf "$tmp"/onnxruntime-node-*.tgz -C "$tmp"
  bin="$tmp/package/bin/napi-v6/linux/x64"
  cp "$bin/libonnxruntime.so.1" "$ORT_DIR/lib/libonnxruntime.so.$ORT_VERSION"
  ln -sf "libonnxruntime.so.$ORT_VERSION" "$ORT_DIR/lib/libonnxruntime.so.1"
  ln -sf "libonnxruntime.so.1" "$ORT_DIR/lib/libonnxruntime.so"
  # The Node binding lets the Python exporter cross-check graphs in ORT.
  cp -r "$tmp/package/." "$ORT_DIR/node/"
  rm -rf "$tmp"
fi

# axe-core, injected into the page by the accessibility browser test
# (web/page_a11y_test.go); git-ignored.
AXE_VERSION=4.14.1
AXE_DIR=third_party/node/axe-core
if [ ! -f "$AXE_DIR/axe.min.js" ] || ! grep -q "\"version\": \"$AXE_VERSION\"" "$AXE_DIR/package.json" 2>/dev/null; then
  echo "setup: fetching axe-core $AXE_VERSION (npm)"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "axe-core@$AXE_VERSION" >/dev/null)
  tar -xzf "$tmp"/axe-core-*.tgz -C "$tmp"
  rm -rf "$AXE_DIR"
  mkdir -p "$AXE_DIR"
  cp "$tmp/package/axe.min.js" "$tmp/package/package.json" "$tmp/package/LICENSE" "$AXE_DIR/"
  rm -rf "$tmp"
fi

echo "setup: downloading Go modules"
go mod download

# The linter `make test` runs, built from the Go module proxy into bin/.
if ! bin/staticcheck -version 2>/dev/null | grep -q "(${STATICCHECK_VERSION#v})"; then
  echo "setup: installing staticcheck $STATICCHECK_VERSION"
  GOBIN="$PWD/bin" go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
fi

echo "setup: done (ONNX Runtime: $ORT_DIR/lib, Chromium: $(command -v chromium || echo missing))"
