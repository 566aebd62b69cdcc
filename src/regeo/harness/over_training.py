"""Benchmarks over training (issue 30): the harness tables of the models a run saved during
training (``training.save_models_at``), with the final model's as the last step, in one table,
and the proxies to read over training.

Every row keeps its harness stderr; a step's value is one model's, so the spread over seeds is
drawn beside it in the figure (:mod:`regeo.figures.harness`), not tested here.
"""

from __future__ import annotations

import pandas as pd

from regeo.harness.proxies import PROXIES

# What the figure reads per task: DataDecide's continuous proxy (accuracy sits at chance for
# models this small), with accuracy beside it.
OVER_TRAINING_METRICS = ("norm_correct_prob", "acc")


def over_training_table(step_tables: dict[tuple[str, int], pd.DataFrame], final_tables: dict[str, pd.DataFrame],
                        final_steps: dict[str, int], runs: dict[str, dict]) -> pd.DataFrame:
    """One table of every (run, step, task, filter, metric): ``step_tables`` (run, step) -> a step
    model's harness table; ``final_tables`` run -> its final model's, placed at ``final_steps[run]``
    (a step saved at the last step too is the final model: kept once); ``runs`` run -> {subset,
    preset, seed} added as columns."""
    frames = [table.assign(step=step, final=False) for (run, step), table in step_tables.items()
              if step != final_steps.get(run)]
    frames += [table.assign(step=final_steps[run], final=True) for run, table in final_tables.items()
               if any(r == run for r, _ in step_tables)]
    if not frames:
        return pd.DataFrame(columns=["model", "step", "final", "subset", "preset", "seed"])
    table = pd.concat(frames, ignore_index=True)
    identity = pd.DataFrame.from_dict(runs, orient="index")[["subset", "preset", "seed"]]
    table = table.join(identity, on="model")
    return table.sort_values(["model", "step", "task", "metric"], kind="stable").reset_index(drop=True)


def curves(table: pd.DataFrame) -> pd.DataFrame:
    """The rows the figure draws: each task's :data:`OVER_TRAINING_METRICS` (harness rows for
    accuracy, proxy rows for the proxies), the first filter of each task."""
    wanted = table["metric"].isin(OVER_TRAINING_METRICS)
    proxy = table["metric"].isin(PROXIES)
    rows = table[wanted & ((table["source"] == "proxy") == proxy)]
    first = rows.groupby("task")["filter"].transform("first")
    return rows[rows["filter"] == first]
