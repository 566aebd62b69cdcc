"""Per run, the measures the register ranking is read from: the own-register validation loss and
each benchmark task's proxy (issue 30)."""

from __future__ import annotations

import pandas as pd

# The benchmark value a ranking and RQ3 read: the probability of the correct choice normalised
# over the choices (DataDecide's continuous proxy; accuracy sits at chance for models this small).
RANKING_METRIC = "norm_correct_prob"


def benchmark_columns(benchmarks: pd.DataFrame, metrics=(RANKING_METRIC,)) -> pd.DataFrame:
    """One row per model (``run``), a column ``bench_{task}_{metric}`` per task and proxy metric
    (regeo.harness.proxies; the first filter of each task)."""
    rows = benchmarks[(benchmarks["source"] == "proxy") & benchmarks["metric"].isin(list(metrics))]
    rows = rows[rows["filter"] == rows.groupby("task")["filter"].transform("first")]
    wide = rows.assign(column="bench_" + rows["task"] + "_" + rows["metric"]).pivot_table(
        index="model", columns="column", values="value")
    wide.columns.name = None
    return wide.rename_axis("run").reset_index()


def register_ranking(benchmarks: pd.DataFrame, evaluation: pd.DataFrame, runs: dict[str, dict]) -> pd.DataFrame:
    """Long table (run, subset, preset, seed, measure, value) of the trained runs: ``loss_own``
    (validation loss on the run's own subset), then every ``bench_*`` column. A ranking of registers
    reads only runs trained on a subset: an external run (its subset is its own name) has no own
    validation split, and alone in its preset it would leave that panel without its first measure."""
    subsets = set(evaluation["eval_subset"])
    trained = {run: fields for run, fields in runs.items()
               if run in set(evaluation["run"]) and fields["subset"] in subsets}
    own = evaluation[evaluation["eval_subset"] == evaluation["subset"]].set_index("run")["loss"]
    wide = benchmark_columns(benchmarks).set_index("run")
    wide.insert(0, "loss_own", own)
    wide = wide.reindex(list(trained))
    long = wide.reset_index(names="run").melt(id_vars="run", var_name="measure", value_name="value")
    for key in ("subset", "preset", "seed"):
        long[key] = long["run"].map({run: fields[key] for run, fields in trained.items()})
    return long.dropna(subset=["value"])[["run", "subset", "preset", "seed", "measure", "value"]]
