"""The benchmark rule as one job per model (before issue 26) against one job for all models.

Run by hand on a finished default run (seconds a model; not part of the tests):

    .venv/bin/python benchmarks/bench_harness_batch.py --results results --configfile config/config.yaml

Each way in fresh Python processes, as Snakemake would start them: every model in a process of
its own (``regeo.harness.jobs.model_benchmarks``: lm-eval's import and the model load each
time), then all models in one process (``batch_benchmarks``: one import). Reports wall seconds
and the processes' CPU seconds (user + system, from ``getrusage`` of the children: on a shared
machine the CPU time is the comparable number), and checks that both ways give the same table.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ONE = """
import json, sys
from regeo.harness.jobs import model_benchmarks
a = json.loads(sys.argv[1])
model_benchmarks(a["params"], a["run"], a["model"], a["tokenizer"], a["tasks"], a["out"], threads=1)
"""
BATCH = """
import json, sys
from regeo.harness.jobs import batch_benchmarks
a = json.loads(sys.argv[1])
batch_benchmarks(a["params"], a["models"], a["tasks"], a["out"], a["results"], threads=1)
"""


def _timed(commands: list[list[str]]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    for command in commands:
        subprocess.run(command, check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results")
    parser.add_argument("--configfile", action="append", default=[])
    parser.add_argument("--runs", nargs="+", help="these runs only (default: every trained run of the config)")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from regeo import layout
    from regeo.config import load_config_files
    from regeo.rule_params import harness_params
    from regeo.runs import runs

    cfg = load_config_files(args.configfile or ["config/config.yaml"])
    params = harness_params(cfg)
    root = args.results
    tasks = layout.harness_tasks_dir(root)
    tokenizer = layout.tokenizer_dir(root)
    models = {run: {"model": layout.model_dir(run, root), "tokenizer": tokenizer} for run in args.runs or runs(cfg)}
    with tempfile.TemporaryDirectory() as tmp:
        per_model = [[sys.executable, "-c", ONE, json.dumps({
            "params": params, "run": run, "model": files["model"], "tokenizer": tokenizer, "tasks": tasks,
            "out": f"{tmp}/{run}.parquet"})] for run, files in models.items()]
        batch = [[sys.executable, "-c", BATCH, json.dumps({
            "params": params, "models": models, "tasks": tasks, "out": f"{tmp}/batch.parquet",
            "results": f"{tmp}/batch.results.json"})]]
        one_wall, one_cpu = _timed(per_model)
        batch_wall, batch_cpu = _timed(batch)
        separate = pd.concat([pd.read_parquet(f"{tmp}/{run}.parquet") for run in models], ignore_index=True)
        together = pd.read_parquet(f"{tmp}/batch.parquet")
        pd.testing.assert_frame_equal(separate, together)
    print(json.dumps({"models": len(models), "per_model": {"wall_s": round(one_wall, 1), "cpu_s": round(one_cpu, 1)},
                      "one_batch": {"wall_s": round(batch_wall, 1), "cpu_s": round(batch_cpu, 1)},
                      "tables_equal": True}, indent=1))


if __name__ == "__main__":
    main()
