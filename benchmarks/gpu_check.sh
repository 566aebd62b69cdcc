#!/usr/bin/env bash
# The GPU path, measured: benchmarks/gpu_check.sh OUTDIR [options of benchmarks/gpu_check.py]
#
# Runs regeo from this working tree (PYTHONPATH=src, nothing installed) with python3, or $PYTHON
# if set, which must hold torch (CUDA), transformers, safetensors, numpy, pandas and pytest.
# Writes OUTDIR/gpu_check.md and OUTDIR/gpu_check.json. Exit status: 0 all measured on a GPU,
# 3 no CUDA device (a CPU smoke run instead), 1 a step failed, 2 usage.
set -euo pipefail
if [ $# -lt 1 ]; then
    echo "usage: $0 OUTDIR [--budget-s S] [--skip STEP ...] [--peak-flops F] [--smoke]" >&2
    exit 2
fi
repo="$(cd "$(dirname "$0")/.." && pwd)"
outdir="$(mkdir -p "$1" && cd "$1" && pwd)"
shift
export PYTHONPATH="$repo/src${PYTHONPATH:+:$PYTHONPATH}"
cd "$repo"
exec "${PYTHON:-python3}" benchmarks/gpu_check.py "$outdir" "$@"
