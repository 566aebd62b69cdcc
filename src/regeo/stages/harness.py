"""Benchmarks over all final models (rule ``harness_summary``): one table, the register ranking;
and over training (rule ``harness_over_training``): the saved steps' tables and their figure."""

from __future__ import annotations

from pathlib import Path

from regeo.figures.common import save_figure
from regeo.figures.harness import plot_benchmark_ranking
from regeo.harness.ranking import register_ranking
from regeo.io import read_parquet, read_tables, write_parquet


def benchmark_summary(tables: list[str | Path], evaluation: str | Path, runs: dict[str, dict],
                      out: dict[str, str], dpi: int) -> None:
    """``tables``: each model's benchmark table; ``evaluation``: the cross-register loss table;
    ``runs``: run -> {subset, preset, seed}; ``out``: table, pdf, png."""
    benchmarks = read_tables(tables)
    write_parquet(benchmarks, out["table"])
    ranking = register_ranking(benchmarks, read_parquet(evaluation), runs)
    save_figure(plot_benchmark_ranking(ranking), out["pdf"], out["png"], dpi)


def benchmarks_over_training(step_tables: list[str | Path], final_tables: dict[str, str], runs: dict[str, dict],
                             final_steps: dict[str, int], out: dict[str, str], dpi: int) -> None:
    """``step_tables``: the harness tables of the models saved during training (each has its
    ``step`` column); ``final_tables``: run -> its final model's table; ``final_steps``: run -> the
    step of its final model; ``runs``: run -> {subset, preset, seed}; ``out``: table, pdf, png."""
    from regeo.figures.harness import plot_benchmarks_over_training
    from regeo.harness.over_training import curves, over_training_table

    steps = {}
    for path in step_tables:
        table = read_parquet(path)
        steps[(table["model"].iloc[0], int(table["step"].iloc[0]))] = table.drop(columns="step")
    finals = {run: read_parquet(path) for run, path in final_tables.items()}
    table = over_training_table(steps, finals, final_steps, runs)
    write_parquet(table, out["table"])
    save_figure(plot_benchmarks_over_training(curves(table)), out["pdf"], out["png"], dpi)
