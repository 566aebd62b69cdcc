"""Curves over training steps, one line per register, seed spread as a band: intrinsic dimension,
redundancy, similarity to the final state."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from regeo.figures.common import register_colors

EMBEDDINGS = ("input", "output")


def draw_step_curves(ax, panel: pd.DataFrame, value: str, colors: dict, main_preset: str) -> None:
    """A line per (subset, preset) = mean over seeds, band = min..max over seeds, on a symlog step axis."""
    for (subset, preset), group in panel.groupby(["subset", "preset"], sort=True):
        stats = group.groupby("step")[value].agg(["mean", "min", "max", "count"]).sort_index()
        steps = stats.index.to_numpy()
        style = "-" if preset == main_preset else "--"
        n_seeds = int(stats["count"].max())
        ax.plot(steps, stats["mean"], style, color=colors[subset], label=f"{subset} ({preset}, {n_seeds} seeds)")
        if n_seeds > 1:
            ax.fill_between(steps, stats["min"], stats["max"], color=colors[subset], alpha=0.2, linewidth=0)
    # symlog keeps step 0 (the initialisation) on a log-scaled axis.
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlim(left=0)
    ax.set_xlabel("training step")
    ax.grid(alpha=0.3)


def plot_step_grid(table: pd.DataFrame, panels: list[tuple[str | None, str, str]], ylabel: str):
    """Rows: input and (when present) output embeddings; columns: ``panels`` = (query, column, title).

    ``query`` selects a panel's rows (``DataFrame.query``; None: all), ``column`` is plotted. Tied
    models have no output rows, so the output row appears only when some model has its own
    output matrix.
    """
    rows = [e for e in EMBEDDINGS if (table["embeddings"] == e).any()]
    colors = register_colors(table["subset"].unique().tolist())
    main_preset = table["preset"].mode().iloc[0]
    fig, axes = plt.subplots(len(rows), len(panels), figsize=(4.2 * len(panels), 3.2 * len(rows) + 0.2),
                             squeeze=False, sharex=True)
    for r, embeddings in enumerate(rows):
        for c, (query, column, title) in enumerate(panels):
            ax = axes[r][c]
            panel = table[table["embeddings"] == embeddings]
            draw_step_curves(ax, panel if query is None else panel.query(query), column, colors, main_preset)
            ax.set_title(f"{title} ({embeddings})")
            if r < len(rows) - 1:
                ax.set_xlabel("")
        axes[r][0].set_ylabel(f"{ylabel}\n({rows[r]} embeddings)")
    axes[0][-1].legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def plot_id_curves(table: pd.DataFrame, value: str = "value", estimator: str = "mle",
                   ylabel: str = "intrinsic dimension"):
    """One panel per k of ``estimator``; a row for input and (when untied) output embeddings."""
    table = table[table["estimator"] == estimator]
    ks = sorted(table["k"].unique())
    label = estimator + (", k={k}" if estimator in ("mle", "local_pca") else "")
    panels = [(f"k == {k}", value, label.format(k=k)) for k in ks]
    return plot_step_grid(table, panels, ylabel)


def plot_similarity_to_final(table: pd.DataFrame):
    """Each run's similarity to its own final embeddings over training (both global measures)."""
    panels = [(None, "cosine_similarity_correlation", "cosine-similarity correlation"), (None, "linear_cka", "linear CKA")]
    return plot_step_grid(table, panels, "similarity to the final state")


def with_run_columns(table: pd.DataFrame, runs: dict[str, dict]) -> pd.DataFrame:
    """Attach preset and seed from the run table (the ID tables carry run and subset)."""
    meta = pd.DataFrame([{"run": r, "preset": v["preset"], "seed": v["seed"]} for r, v in runs.items()])
    return table.drop(columns=[c for c in ("preset", "seed") if c in table.columns]).merge(meta, on="run")


def mean_steps(table: pd.DataFrame) -> np.ndarray:
    return np.sort(table["step"].unique())
