"""results/manifest.json: for every output, the rule, the config values (params) and the inputs it came from.

Hashes make two runs comparable file by file (the reproducibility test compares them), and the
package versions say which software produced them.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import subprocess
from pathlib import Path

from regeo.io import write_json

PACKAGES = ("regeo", "torch", "transformers", "tokenizers", "safetensors", "numpy", "pandas", "pyarrow",
            "scikit-learn", "matplotlib", "snakemake", "datasets")


def file_hash(path: str | Path) -> str:
    """sha256 of a file, or of a directory's files (relative names and contents, sorted)."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            digest.update(str(f.relative_to(path)).encode() + b"\0")
        with open(f, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit(repo: str | Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "") if out.returncode == 0 else None
    except OSError:
        return None


def write_manifest(provenance: dict[str, dict], out_path: str | Path, repo: str | Path) -> dict:
    """``provenance``: output path -> {rule, params, inputs}; hashes every output and input."""
    hashes: dict[str, str] = {}

    def hashed(path: str) -> str:
        if path not in hashes:
            hashes[path] = file_hash(path)
        return hashes[path]

    outputs = {
        path: {"rule": entry["rule"], "sha256": hashed(path), "params": entry["params"],
               "inputs": {p: hashed(p) for p in entry["inputs"]}}
        for path, entry in sorted(provenance.items())
    }
    manifest = {"software": {"python": platform.python_version(), "packages": package_versions(),
                             "regeo_commit": git_commit(repo)},
                "outputs": outputs}
    write_json(manifest, out_path)
    return manifest


PROVENANCE_DIR = Path("results") / "provenance"


def provenance_path(rule: str, wildcards: dict) -> Path:
    suffix = "".join(f"-{value}" for _, value in sorted(wildcards.items()))
    return PROVENANCE_DIR / f"{rule}{suffix}.json"


def record_job(smk) -> None:
    """Write what one finished Snakemake job was made from (rule, wildcards, params, inputs, outputs)."""
    wildcards = dict(smk.wildcards.items())
    record = {"rule": smk.rule, "wildcards": wildcards, "params": dict(smk.params.items()),
              "inputs": [str(p) for p in smk.input], "outputs": [str(p) for p in smk.output]}
    write_json(record, provenance_path(smk.rule, wildcards))


def collect_provenance(directory: str | Path = PROVENANCE_DIR) -> dict[str, dict]:
    """Output path -> its job's record, for every recorded job whose outputs all exist."""
    import json

    out: dict[str, dict] = {}
    for path in sorted(Path(directory).glob("*.json")):
        record = json.loads(path.read_text())
        if all(Path(o).exists() for o in record["outputs"]):
            for output in record["outputs"]:
                out[output] = record
    return out
