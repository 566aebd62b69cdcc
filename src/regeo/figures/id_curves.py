"""Curves over training steps, one line per register, seed spread as a band: intrinsic dimension,
redundancy, similarity to the final state."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from regeo.figures.common import register_colors

EMBEDDINGS = ("input", "output")


# Reference lines of a value's nulls: (column, line style, legend text).
NULL_LINES = {"value": [("null_isotropic", "--", "isotropic Gaussian null"),
                        ("null_covariance", ":", "covariance-matched null")]}


def draw_step_curves(ax, panel: pd.DataFrame, value: str, colors: dict, main_preset: str,
                     interval: tuple[str, str] | None = None, nulls=()) -> None:
    """A line per (subset, preset) = mean over seeds, each seed a thin line; the band spans the
    seeds' bootstrap intervals (``interval`` columns) where the table has them, else the seed
    range; ``nulls``: (column, style, label) reference lines, mean over seeds. Symlog step axis.
    """
    for (subset, preset), group in panel.groupby(["subset", "preset"], sort=True):
        stats = group.groupby("step")[value].agg(["mean", "min", "max", "count"]).sort_index()
        steps = stats.index.to_numpy()
        style = "-" if preset == main_preset else "-."
        n_seeds = int(stats["count"].max())
        color = colors[subset]
        ax.plot(steps, stats["mean"], style, color=color, label=f"{subset} ({preset}, {n_seeds} seeds)")
        if n_seeds > 1:
            for _, seed in group.groupby("seed"):
                seed = seed.sort_values("step")
                ax.plot(seed["step"], seed[value], style, color=color, linewidth=0.6, alpha=0.5)
        if interval and group[list(interval)].notna().any().any():
            low = group.groupby("step")[interval[0]].min().reindex(steps)
            high = group.groupby("step")[interval[1]].max().reindex(steps)
            ax.fill_between(steps, low, high, color=color, alpha=0.15, linewidth=0)
        elif n_seeds > 1:
            ax.fill_between(steps, stats["min"], stats["max"], color=color, alpha=0.15, linewidth=0)
        for column, null_style, _ in nulls:
            if column in group and group[column].notna().any():
                ax.plot(steps, group.groupby("step")[column].mean().reindex(steps), null_style, color=color,
                        linewidth=0.9, alpha=0.8)
    for column, null_style, label in nulls:
        if column in panel and panel[column].notna().any():
            ax.plot([], [], null_style, color="0.3", linewidth=0.9, label=label)
    # symlog keeps step 0 (the initialisation) on a log-scaled axis.
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlim(left=0)
    ax.set_xlabel("training step")
    ax.grid(alpha=0.3)


def plot_step_grid(table: pd.DataFrame, panels: list[tuple[str | None, str, str]], ylabel: str,
                   interval: tuple[str, str] | None = None, nulls=(), zero_line: str | None = None):
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
            band = interval
            if band is None and f"{column}_ci_low" in panel:  # the tables' other convention: {value}_ci_low
                band = (f"{column}_ci_low", f"{column}_ci_high")
            draw_step_curves(ax, panel if query is None else panel.query(query), column, colors, main_preset,
                             band, nulls)
            if zero_line:
                ax.axhline(0.0, color="0.3", linestyle="--", linewidth=0.9, label=zero_line)
            ax.set_title(f"{title} ({embeddings})")
            if r < len(rows) - 1:
                ax.set_xlabel("")
        axes[r][0].set_ylabel(f"{ylabel}\n({rows[r]} embeddings)")
    axes[0][-1].legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def _id_rows(table: pd.DataFrame, estimator: str) -> pd.DataFrame:
    """The rows of one estimator under one metric (Euclidean where the table has it)."""
    table = table[table["estimator"] == estimator]
    if "metric" in table:
        metric = "euclidean" if (table["metric"] == "euclidean").any() else table["metric"].iloc[0]
        table = table[table["metric"] == metric]
    return table


def plot_id_curves(table: pd.DataFrame, estimator: str = "mle"):
    """ID over training, one panel per k of ``estimator``, a row for input and (when untied) output
    embeddings; bands are bootstrap intervals over tokens, dashed and dotted lines the nulls."""
    table = _id_rows(table, estimator)
    ks = sorted(table["k"].unique())
    label = estimator + (", k={k}" if estimator in ("mle", "local_pca") else "")
    panels = [(f"k == {k}", "value", label.format(k=k)) for k in ks]
    return plot_step_grid(table, panels, "intrinsic dimension", interval=("ci_low", "ci_high"),
                          nulls=NULL_LINES["value"])


def plot_redundancy_curves(table: pd.DataFrame, estimator: str = "mle"):
    """Redundancy read against the isotropic null, 1 - ID / ID_null, over training: 0 (dashed) is
    no more redundancy than Gaussian noise of the same shape; bands are bootstrap intervals."""
    table = _id_rows(table, estimator)
    ks = sorted(table["k"].unique())
    label = estimator + (", k={k}" if estimator == "mle" else "")
    panels = [(f"k == {k}", "redundancy_vs_null", label.format(k=k)) for k in ks]
    return plot_step_grid(table, panels, "redundancy vs null\n1 - ID / ID(isotropic null)",
                          interval=("redundancy_vs_null_ci_low", "redundancy_vs_null_ci_high"),
                          zero_line="isotropic null")


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
