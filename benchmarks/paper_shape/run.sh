#!/usr/bin/env bash
# The paper config's shape with small matrices (config.yaml here) through the local SLURM cluster
# of the tests, then each heavy job's measured time beside the cost model's prediction
# (benchmarks/cost_check.py), written to docs/data/cost_paper_shape.csv for tests/test_costs.py.
#
#   bash benchmarks/paper_shape/run.sh [WORKDIR]     # as root: it may start the cluster
#
# What it found and how long it took: docs/benchmarks.md, "The paper's shape through SLURM".
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
workdir="$(realpath -m "${1:-/tmp/regeo-paper-shape}")"
python="${PYTHON:-$repo/.venv/bin/python}"
partition="${REGEO_SLURM_PARTITION:-debug}"

bash "$repo/tests/slurm/cluster.sh" status >/dev/null 2>&1 || bash "$repo/tests/slurm/cluster.sh" start
mkdir -p "$workdir"
"$python" "$repo/benchmarks/paper_shape/standins.py" "$workdir"
cd "$workdir"
# As tests/slurm: squeue for status (no slurmdbd here), a short first poll.
env -u CUDA_VISIBLE_DEVICES REGEO_SLURM_STATUS_COMMAND=squeue REGEO_SLURM_PARTITION="$partition" \
  REGEO_SLURM_GPU_PARTITION="${partition}_gpu" HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
  "$python" -m snakemake --snakefile "$repo/Snakefile" --configfile config.yaml --profile "$repo/profiles/slurm" \
  --slurm-init-seconds-before-status-checks 2 --latency-wait 5
"$python" "$repo/benchmarks/cost_check.py" "$workdir" "$repo/docs/data/cost_paper_shape.csv" harness
