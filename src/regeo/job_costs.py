"""Snakemake's per-job benchmark files (``results/benchmarks/<rule>/<wildcards>.tsv``, one row a
job: wall seconds ``s``, peak resident memory ``max_rss`` in MB, the process tree's CPU seconds
``cpu_time``, ...) as one table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from regeo.io import RegeoInputError


def read_benchmarks(directory: str | Path) -> pd.DataFrame:
    """One row per job: rule, job (the file's wildcards, or the rule), s, max_rss (MB), cpu_time (s;
    NaN where the file has none)."""
    directory = Path(directory)
    rows = []
    for path in sorted(directory.rglob("*.tsv")):
        relative = path.relative_to(directory).with_suffix("")
        rule, job = (relative.parts[0], "/".join(relative.parts[1:])) if len(relative.parts) > 1 else (relative.name, relative.name)
        try:
            table = pd.read_csv(path, sep="\t")
        except (OSError, ValueError) as err:
            raise RegeoInputError(f"{path}: not a Snakemake benchmark file: {err}") from err
        missing = [c for c in ("s", "max_rss") if c not in table.columns]
        if missing or table.empty:
            raise RegeoInputError(f"{path}: no {missing or 'rows'} in a Snakemake benchmark file")
        last = table.iloc[-1]  # a repeated benchmark keeps one row per repeat; the last run counts
        rows.append({"rule": rule, "job": job, "s": float(last["s"]), "max_rss": float(last["max_rss"]),
                     "cpu_time": float(last.get("cpu_time", float("nan")))})
    return pd.DataFrame(rows, columns=["rule", "job", "s", "max_rss", "cpu_time"])
