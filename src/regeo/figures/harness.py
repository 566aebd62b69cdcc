"""The register ranking by benchmark beside the ranking by loss (issue 30)."""

from __future__ import annotations

import pandas as pd

from regeo.figures.common import plt, register_colors


def plot_benchmark_ranking(ranking: pd.DataFrame):
    """One panel per (preset, measure) of :func:`regeo.harness.ranking.register_ranking`: each
    subset's mean over seeds (bar), its seeds (points), subsets in the order of the first panel of
    their preset (own-register loss, lowest first), so that a register that ranks differently by
    benchmark than by loss stands out."""
    presets = sorted(ranking["preset"].unique())
    measures = list(dict.fromkeys(ranking["measure"]))
    fig, axes = plt.subplots(len(presets), len(measures), figsize=(3.2 * len(measures), 3.2 * len(presets)),
                             squeeze=False)
    colors = register_colors(sorted(ranking["subset"].unique()))
    for row, preset in enumerate(presets):
        part = ranking[ranking["preset"] == preset]
        means = part.groupby(["measure", "subset"])["value"].mean()
        order = means.loc[measures[0]].sort_values().index.tolist()
        for col, measure in enumerate(measures):
            ax = axes[row, col]
            rows = part[part["measure"] == measure]
            values = means.loc[measure].reindex(order)
            ax.bar(range(len(order)), values.values, color=[colors[s] for s in order], alpha=0.5)
            for i, subset in enumerate(order):
                seeds = rows[rows["subset"] == subset]["value"]
                ax.plot([i] * len(seeds), seeds.values, "k.", ms=4)
            ax.set_xticks(range(len(order)), order, rotation=45, fontsize=7)
            ax.set_title(f"{measure} ({preset})", fontsize=8)
            if len(values.dropna()):
                low, high = values.min(), values.max()
                pad = 0.1 * (high - low or abs(high) or 1)
                ax.set_ylim(min(low, rows["value"].min()) - pad, max(high, rows["value"].max()) + pad)
    fig.suptitle("Registers by own-register loss and by benchmark proxies: bar = mean over seeds, dots = seeds")
    fig.tight_layout()
    return fig


def plot_benchmarks_over_training(rows: pd.DataFrame):
    """One panel per (task, metric) of :func:`regeo.harness.over_training.curves`: per register
    (subset) and preset the mean over seeds against the step, the seeds' min-max band shaded."""
    if rows.empty:
        fig, ax = plt.subplots(figsize=(4, 1.5))
        ax.text(0.5, 0.5, "no models saved during training (training.save_models_at)", ha="center", va="center")
        ax.set_axis_off()
        return fig
    panels = list(dict.fromkeys(zip(rows["task"], rows["metric"])))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.0 * len(panels), 3.2), squeeze=False)
    colors = register_colors(sorted(rows["subset"].unique()))
    for ax, (task, metric) in zip(axes[0], panels):
        part = rows[(rows["task"] == task) & (rows["metric"] == metric)]
        for (subset, preset), line in part.groupby(["subset", "preset"], sort=True):
            by_step = line.groupby("step")["value"]
            mean, low, high = by_step.mean(), by_step.min(), by_step.max()
            style = "-" if preset == part["preset"].mode().iloc[0] else "--"
            ax.plot(mean.index, mean.values, style, marker=".", color=colors[subset], label=f"{subset} ({preset})")
            ax.fill_between(mean.index, low.values, high.values, color=colors[subset], alpha=0.15, linewidth=0)
        ax.set_title(f"{task}: {metric}", fontsize=8)
        ax.set_xlabel("step")
    axes[0][0].legend(fontsize=6, loc="best")
    fig.suptitle("Benchmarks over training by register: mean over seeds, band = seeds' min-max "
                 "(harness stderr in results/harness/over_training.parquet)", fontsize=8)
    fig.tight_layout()
    return fig
