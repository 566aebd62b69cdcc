"""Benchmarks over all final models (rule ``harness_summary``): one table, the register ranking."""

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
