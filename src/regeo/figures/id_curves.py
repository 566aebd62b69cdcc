"""Intrinsic dimension (or redundancy) over training steps, one line per register, seed spread as a band."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from regeo.figures.common import register_colors


def plot_id_curves(table: pd.DataFrame, value: str = "value", embeddings: str = "input",
                   estimators: list[tuple[str, int]] | None = None, ylabel: str = "intrinsic dimension"):
    """One panel per (estimator, k); a line per (subset, preset) = mean over seeds, band = min..max."""
    table = table[table["embeddings"] == embeddings]
    if estimators is None:
        estimators = list(table[["estimator", "k"]].drop_duplicates().itertuples(index=False, name=None))
    colors = register_colors(table["subset"].unique().tolist())
    fig, axes = plt.subplots(1, len(estimators), figsize=(4.2 * len(estimators), 3.4), squeeze=False, sharex=True)
    for ax, (estimator, k) in zip(axes[0], estimators):
        panel = table[(table["estimator"] == estimator) & (table["k"] == k)]
        for (subset, preset), group in panel.groupby(["subset", "preset"], sort=True):
            stats = group.groupby("step")[value].agg(["mean", "min", "max", "count"]).sort_index()
            steps = stats.index.to_numpy()
            style = "-" if preset == table["preset"].mode().iloc[0] else "--"
            n_seeds = int(stats["count"].max())
            ax.plot(steps, stats["mean"], style, color=colors[subset], label=f"{subset} ({preset}, {n_seeds} seeds)")
            if n_seeds > 1:
                ax.fill_between(steps, stats["min"], stats["max"], color=colors[subset], alpha=0.2, linewidth=0)
        # symlog keeps step 0 (the initialisation) on a log-scaled axis.
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlim(left=0)
        ax.set_title(f"{estimator}" + (f", k={k}" if estimator in ("mle", "local_pca") else ""))
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"{ylabel} ({embeddings} embeddings)")
    axes[0][-1].legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def with_run_columns(table: pd.DataFrame, runs: dict[str, dict]) -> pd.DataFrame:
    """Attach preset and seed from the run table (the ID tables carry run and subset)."""
    meta = pd.DataFrame([{"run": r, "preset": v["preset"], "seed": v["seed"]} for r, v in runs.items()])
    return table.drop(columns=[c for c in ("preset", "seed") if c in table.columns]).merge(meta, on="run")


def mean_steps(table: pd.DataFrame) -> np.ndarray:
    return np.sort(table["step"].unique())
