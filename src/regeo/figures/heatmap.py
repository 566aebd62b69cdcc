"""Cross-register loss heatmap: models (rows) on every subset's validation split (columns)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def cross_register_measure(table: pd.DataFrame) -> tuple[str, str]:
    """(column, label) the figure shows: nats per token while every model shares one tokenizer,
    bits per byte once they differ (a token is then not the same unit of text)."""
    if "tokenizer" in table and table["tokenizer"].nunique() > 1:
        return "bits_per_byte", "bits/byte"
    return "loss", "nats/token"


def plot_cross_register(table: pd.DataFrame):
    """Rows: training subset and preset (mean over seeds); columns: evaluation subset."""
    column, unit = cross_register_measure(table)
    table = table.assign(model=table["subset"] + " (" + table["preset"] + ")")
    grid = table.groupby(["model", "eval_subset"])[column].mean().unstack("eval_subset")
    spread = table.groupby(["model", "eval_subset"])[column].agg(lambda s: s.max() - s.min()).unstack("eval_subset")
    seeds = table.groupby("model")["seed"].nunique()
    subsets = [s for s in table["subset"].drop_duplicates() if s in grid.columns]
    grid = grid[subsets + [c for c in grid.columns if c not in subsets]]
    spread = spread[grid.columns]
    fig, ax = plt.subplots(figsize=(1.1 * grid.shape[1] + 2.5, 0.55 * grid.shape[0] + 1.5))
    image = ax.imshow(grid.to_numpy(), cmap="viridis_r", aspect="auto")
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            value, rng = grid.iat[i, j], spread.iat[i, j]
            text = f"{value:.2f}" + (f"\n±{rng / 2:.2f}" if seeds.iloc[i] > 1 else "")
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="white" if value > np.nanmean(grid.to_numpy()) else "black")
    ax.set_xticks(range(grid.shape[1]), grid.columns)
    ax.set_yticks(range(grid.shape[0]), [f"{m} ×{seeds[m]}" for m in grid.index])
    ax.set_xlabel("evaluated on (validation split)")
    ax.set_ylabel("trained on (model, seeds)")
    fig.colorbar(image, ax=ax, label=f"mean loss ({unit})")
    ax.set_title("Cross-register loss (± half the seed range)")
    fig.tight_layout()
    return fig
