"""The paper figures (rules ``figure_*``): read a stage's tables, draw, write PDF and PNG.

Each function takes the rule's inputs (paths), what it needs of the config, and the two output
paths; the drawing itself is in :mod:`regeo.figures`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from regeo.figures.common import save_figure
from regeo.figures.heatmap import plot_cross_register
from regeo.figures.id_comparison import plot_id_comparison
from regeo.figures.id_curves import (plot_id_curves, plot_redundancy_curves, plot_similarity_to_final,
                                     with_run_columns)
from regeo.figures.properties import plot_properties_over_training
from regeo.figures.pair_heatmaps import plot_global_similarity, plot_lle_comparison
from regeo.figures.registers import plot_register_distribution
from regeo.figures.steering import (plot_alignment_depth, plot_next_token_kl, plot_steering_effects,
                                    plot_transfer_ratios)
from regeo.figures.steering_cards import plot_steering_cards
from regeo.geometry.postprocess import raw_rows
from regeo.io import read_columns, read_parquet, read_tables, write_parquet

PathLike = str | Path  # what every function here takes for a file


def id_over_training(id_tables: list[PathLike], runs: dict, pdf: PathLike, png: PathLike, dpi: int) -> None:
    table = with_run_columns(read_tables(id_tables), runs)
    save_figure(plot_id_curves(table, estimator="mle"), pdf, png, dpi)


def redundancy_over_training(id_tables: list[PathLike], runs: dict, pdf: PathLike, png: PathLike, dpi: int) -> None:
    table = with_run_columns(read_tables(id_tables), runs)
    save_figure(plot_redundancy_curves(table, estimator="mle"), pdf, png, dpi)


def id_comparison(table: PathLike, pdf: PathLike, png: PathLike, dpi: int) -> None:
    save_figure(plot_id_comparison(read_parquet(table)), pdf, png, dpi)


def similarity_over_training(tables: list[PathLike], runs: dict, pdf: PathLike, png: PathLike, dpi: int) -> None:
    save_figure(plot_similarity_to_final(with_run_columns(read_tables(tables), runs)), pdf, png, dpi)


def properties_over_training(tables: list[PathLike], runs: dict, pdf: PathLike, png: PathLike, dpi: int) -> None:
    save_figure(plot_properties_over_training(with_run_columns(read_tables(tables), runs)), pdf, png, dpi)


def global_similarity(table: PathLike, pdf: PathLike, png: PathLike, dpi: int) -> None:
    save_figure(plot_global_similarity(raw_rows(read_parquet(table))), pdf, png, dpi)


def lle_comparison(table: PathLike, pdf: PathLike, png: PathLike, dpi: int) -> None:
    save_figure(plot_lle_comparison(raw_rows(read_parquet(table))), pdf, png, dpi)


def cross_register(table: PathLike, pdf: PathLike, png: PathLike, dpi: int) -> None:
    save_figure(plot_cross_register(read_parquet(table)), pdf, png, dpi)


def register_distribution(registers: PathLike, pdf: PathLike, png: PathLike, dpi: int) -> None:
    save_figure(plot_register_distribution(read_columns(registers, ["register", "labels"])), pdf, png, dpi)


def steering_effects(pair_tables: list[PathLike], summary: PathLike, pdf: PathLike, png: PathLike, dpi: int) -> None:
    save_figure(plot_steering_effects(read_tables(pair_tables), read_parquet(summary)), pdf, png, dpi)


def steering_transfer(summary: PathLike, pdf: PathLike, png: PathLike, dpi: int) -> None:
    save_figure(plot_transfer_ratios(read_parquet(summary)), pdf, png, dpi)


def steering_alignment(depth: PathLike, pdf: PathLike, png: PathLike, dpi: int, effects: PathLike | None = None
                       ) -> None:
    """Alignment by depth beside the layer sweep's effect by depth (``effects``: depth_effects.parquet)."""
    save_figure(plot_alignment_depth(read_parquet(depth), read_parquet(effects) if effects else None), pdf, png, dpi)


def steering_cards(cards: PathLike, pdf: PathLike, png: PathLike, dpi: int) -> None:
    save_figure(plot_steering_cards(read_parquet(cards)), pdf, png, dpi)


def steering_next_token(kl: PathLike, pdf: PathLike, png: PathLike, dpi: int) -> None:
    save_figure(plot_next_token_kl(read_parquet(kl)), pdf, png, dpi)


def redundancy_by_width(id_tables: list[PathLike], runs: dict, reference: dict | None, table: PathLike,
                        pdf: PathLike, png: PathLike, dpi: int) -> None:
    """Rule ``figure_redundancy_by_width``: every run's redundancy at its last dump against its width,
    each on its own token set, with the nulls, and a published range where ``reference`` gives one."""
    from regeo.analyses.across_runs import at_last_dump, redundancy_by_size
    from regeo.figures.analyses import plot_redundancy_vs_size

    size = redundancy_by_size(with_run_columns(at_last_dump(read_tables(id_tables)), runs))
    write_parquet(size, table)
    save_figure(plot_redundancy_vs_size(size, reference), pdf, png, dpi)
