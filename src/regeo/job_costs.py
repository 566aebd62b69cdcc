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


def measured_jobs(workdir: str | Path, cfg: dict, skip: tuple[str, ...] = ()) -> pd.DataFrame:
    """Every heavy job the cost model plans for ``cfg`` (regeo.costs; training aside, which
    regeo.resources sizes from FLOPs on a GPU) beside what the finished workflow in ``workdir``
    measured: rule, job, predicted_s and declared_min and mem_mb (the model's), cpu_s (the last
    line of the job's log: CPU seconds, which neighbours on a shared machine do not inflate),
    wall_s and max_rss_mb (its benchmark file). A job with no log line or no benchmark row is an
    error naming it, unless its rule is in ``skip``."""
    from regeo.costs import Costs
    from regeo.logs import job_cpu_seconds

    workdir = Path(workdir)
    bench = read_benchmarks(workdir / "results" / "benchmarks").set_index(["rule", "job"])
    rows = []
    for job in Costs(cfg).jobs():
        if job.rule == "train" or job.rule in skip:
            continue
        log = workdir / "logs" / (f"{job.rule}.log" if job.name == job.rule else f"{job.rule}/{job.name}.log")
        cpu = job_cpu_seconds(log)
        if cpu is None or (job.rule, job.name) not in bench.index:
            raise RegeoInputError(f"{log}: job {job.rule} {job.name} logged no CPU time or has no benchmark file "
                                  f"under {workdir / 'results' / 'benchmarks'}; did the workflow finish?")
        measured = bench.loc[(job.rule, job.name)]
        rows.append({"rule": job.rule, "job": job.name, "predicted_s": round(job.seconds, 2),
                     "declared_min": job.runtime, "mem_mb": job.mem_mb, "cpu_s": cpu,
                     "wall_s": float(measured["s"]), "max_rss_mb": float(measured["max_rss"])})
    return pd.DataFrame(rows)
