#!/usr/bin/env bash
# Second GPU session, started detached by the first call: the full-size
# exports the experiments need (fp32 fused attention, fp16, fp32 with plain
# attention; the last one with the exporter's self-check, through Python's
# onnxruntime). Logs in $V/bg; "bg done" in $V/bg/chain.log at the end.
V=${V:-/root/vt}
cd "$V" || exit 1
mkdir -p bg
export PYTHONUNBUFFERED=1
ex() { python3 tools/export/export.py --variant sam2.1_hiera_t --random-seed 0 --sam2-src "$V/sam2src" "$@"; }
{
  date -u +%T
  ex --skip-check --out "$V/full_fp32" > bg/export_fp32.log 2>&1; echo "export fp32 exit $?"
  ex --skip-check --fp16 --out "$V/full_fp16" > bg/export_fp16.log 2>&1; echo "export fp16 exit $?"
  ex --attention plain --out "$V/full_plain" > bg/export_plain.log 2>&1; echo "export plain (self-checked) exit $?"
  date -u +%T
  echo "bg done"
} > bg/chain.log 2>&1
