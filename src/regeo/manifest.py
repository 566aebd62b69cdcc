"""results/manifest.json: for every output, the rule, the config values (params) and the inputs it came from.

Hashes make two runs comparable file by file (the reproducibility test compares them), and the
package versions say which software produced them.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import platform
import subprocess
from pathlib import Path

from regeo.io import write_json

log = logging.getLogger(__name__)

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


class HashCache:
    """sha256 of files and directories, reused while a file's (size, mtime) is unchanged.

    The manifest reruns after every change and reads every output: at paper scale ~1 TB of dumps
    (docs/benchmarks.md: the cost per GB). A file whose size and modification time (ns) are
    those recorded is not read again. Kept in ``path`` (JSON, path -> stamp and hash).
    """

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path else None
        self.entries: dict[str, dict] = {}
        if self.path and self.path.is_file():
            try:
                self.entries = json.loads(self.path.read_text())
            except ValueError:
                self.entries = {}  # a damaged cache only costs a rehash
        self.reused = self.hashed = 0

    @staticmethod
    def stamp(path: Path) -> str:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        parts = [f"{f.relative_to(path) if path.is_dir() else ''}:{f.stat().st_size}:{f.stat().st_mtime_ns}"
                 for f in files]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    def hash(self, path: str | Path) -> str:
        key, stamp = str(path), self.stamp(Path(path))
        entry = self.entries.get(key)
        if entry and entry["stamp"] == stamp:
            self.reused += 1
            return entry["sha256"]
        self.hashed += 1
        digest = file_hash(path)
        self.entries[key] = {"stamp": stamp, "sha256": digest}
        return digest

    def save(self) -> None:
        if self.path:
            write_json(self.entries, self.path)


def write_manifest(provenance: dict[str, dict], out_path: str | Path, repo: str | Path,
                   cache_path: str | Path | None = None) -> dict:
    """``provenance``: output path -> {rule, params, inputs}; hashes every output and input, reusing
    the hashes in ``cache_path`` (default: ``manifest.hashes.json`` beside ``out_path``) of files
    unchanged since."""
    cache = HashCache(cache_path if cache_path is not None else Path(out_path).with_name("manifest.hashes.json"))
    hashes: dict[str, str] = {}

    def hashed(path: str) -> str:
        if path not in hashes:
            hashes[path] = cache.hash(path)
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
    cache.save()
    log.info("manifest: %d files hashed, %d unchanged since the last manifest (hash reused)", cache.hashed,
             cache.reused)
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
    out: dict[str, dict] = {}
    for path in sorted(Path(directory).glob("*.json")):
        record = json.loads(path.read_text())
        if all(Path(o).exists() for o in record["outputs"]):
            for output in record["outputs"]:
                out[output] = record
    return out
