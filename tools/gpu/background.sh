#!/usr/bin/env bash
# Started detached (setsid) by the first device call: exports the full-size
# random-weight sam2.1_hiera_t with this machine's torch (fp32, then fp16)
# and times the official predictor on it, while later calls bring the rest.
# Writes $V/bg/*.log and $V/bg/official.jsonl; $V/bg/done when finished.
V=${V:-/root/vt}
cd "$V" || exit 1
mkdir -p bg
export PYTHONUNBUFFERED=1
{
  date -u +%T
  python3 tools/export/export.py --variant sam2.1_hiera_t --random-seed 0 \
    --sam2-src "$V/sam2src" --out "$V/full_fp32" > bg/export_fp32.log 2>&1
  echo "export fp32 exit $?"
  date -u +%T
  python3 tools/gpu/official_fps.py --model "$V/full_fp32" --frames-dir "$V/jpg" \
    --objects 1,2,4 --dtype fp32,bf16 --sam2-src "$V/sam2src" > bg/official.jsonl 2> bg/official.log
  echo "official exit $?"
  date -u +%T
  python3 tools/export/export.py --variant sam2.1_hiera_t --random-seed 0 --fp16 \
    --sam2-src "$V/sam2src" --out "$V/full_fp16" > bg/export_fp16.log 2>&1
  echo "export fp16 exit $?"
  date -u +%T
} > bg/chain.log 2>&1
touch bg/done
