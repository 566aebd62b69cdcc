"""Each heavy job of a finished workflow beside the cost model's prediction (issue 26).

    python benchmarks/cost_check.py WORKDIR OUT.csv [SKIPPED_RULE ...]

WORKDIR holds logs/ and results/benchmarks/ and, unless it ran the default (a clone's root), the
run's config.yaml, merged over config/config.yaml as the workflow merges a --configfile. OUT gets
regeo.job_costs.measured_jobs's table, which tests/test_costs.py holds to the model's factor; a
summary per rule is printed. Rules named after OUT did not run in WORKDIR and are left out
(docs/benchmarks.md says why).
"""

from __future__ import annotations

import sys
from pathlib import Path

from regeo.config import load_config_files
from regeo.job_costs import measured_jobs


def main(workdir: Path, out: Path, skip: tuple[str, ...] = ()) -> None:
    files = [Path(__file__).resolve().parents[1] / "config" / "config.yaml", workdir / "config.yaml"]
    cfg = load_config_files([f for f in files if f.is_file()])
    jobs = measured_jobs(workdir, cfg, skip)
    out.parent.mkdir(parents=True, exist_ok=True)
    jobs.to_csv(out, index=False)
    jobs["ratio"] = jobs["cpu_s"] / jobs["predicted_s"]
    summary = jobs.groupby("rule", sort=False).agg(
        jobs=("job", "size"), predicted_s=("predicted_s", "max"), cpu_s=("cpu_s", "max"),
        ratio_min=("ratio", "min"), ratio_max=("ratio", "max"), wall_s=("wall_s", "max"),
        declared_min=("declared_min", "max"), max_rss_mb=("max_rss_mb", "max"), mem_mb=("mem_mb", "max"))
    print(summary.round(2).to_markdown())
    print(f"{out}: {len(jobs)} jobs")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), tuple(sys.argv[3:]))
