"""The final models' ID side by side on one token set: a column per (subset, preset), a point per
seed with its bootstrap interval, the nulls as short dashed (isotropic) and dotted (covariance)
lines over each column."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from regeo.figures.common import register_colors
from regeo.figures.id_curves import EMBEDDINGS


def _panels(table: pd.DataFrame) -> list[tuple[str, int]]:
    """(estimator, k) of each panel: the MLE at every k (the ID over neighbourhood size: flat for a
    manifold, rising with k for clusters), and TwoNN, where the table has them."""
    panels = [("mle", int(k)) for k in sorted(table.loc[table["estimator"] == "mle", "k"].unique())]
    if (table["estimator"] == "twonn").any():
        panels.append(("twonn", 2))
    return panels


def plot_id_comparison(table: pd.DataFrame):
    if table.empty:
        fig, ax = plt.subplots(figsize=(4, 1.5))
        ax.text(0.5, 0.5, "no runs to compare", ha="center", va="center")
        ax.set_axis_off()
        return fig
    # a row per matrix and distance: cosine (unit rows) is the norm-controlled reading
    rows = [(e, m) for e in EMBEDDINGS for m in dict.fromkeys(table["metric"])
            if ((table["embeddings"] == e) & (table["metric"] == m)).any()]
    panels = _panels(table)
    groups = table[["preset", "subset"]].drop_duplicates().sort_values(["preset", "subset"])
    positions = {(p, s): i for i, (p, s) in enumerate(groups.itertuples(index=False))}
    colors = register_colors(table["subset"].unique().tolist())
    fig, axes = plt.subplots(len(rows), len(panels), figsize=(0.55 * len(positions) * len(panels) + 3.5,
                                                             3.2 * len(rows) + 0.6), squeeze=False)
    for r, (embeddings, metric) in enumerate(rows):
        for c, (estimator, k) in enumerate(panels):
            ax = axes[r][c]
            part = table[(table["embeddings"] == embeddings) & (table["metric"] == metric)
                         & (table["estimator"] == estimator) & (table["k"] == k)]
            for (preset, subset), group in part.groupby(["preset", "subset"]):
                x0 = positions[preset, subset]
                group = group.sort_values("seed")
                offsets = [(i - (len(group) - 1) / 2) * 0.12 for i in range(len(group))]
                for dx, row in zip(offsets, group.itertuples()):
                    ax.errorbar(x0 + dx, row.value, yerr=[[row.value - row.ci_low], [row.ci_high - row.value]],
                                fmt="o", color=colors[subset], markersize=4, capsize=2, linewidth=1)
                for column, style in (("null_isotropic", "--"), ("null_covariance", ":"), ("null_mixture", "-.")):
                    if column in group and group[column].notna().any():
                        ax.hlines(group[column].mean(), x0 - 0.35, x0 + 0.35, colors="0.3", linestyles=style,
                                  linewidth=1)
            ax.set_xticks(range(len(positions)), [f"{s}\n{p}" for p, s in positions], fontsize=7)
            n = int(part["n_tokens"].iloc[0]) if len(part) else 0
            ax.set_title(f"{estimator}" + (f", k={k}" if estimator == "mle" else "")
                         + f" ({embeddings}, {metric}); {n} common tokens", fontsize=8)
            ax.grid(axis="y", alpha=0.3)
        axes[r][0].set_ylabel(f"intrinsic dimension\n({embeddings}, {metric})")
    fig.suptitle("a point per seed with its 95 % token-bootstrap interval; dashed: isotropic Gaussian null, "
                 "dotted: covariance-matched null, dash-dot: Gaussian-mixture null (the same clusters, no manifold)",
                 fontsize=8, y=1.0)
    fig.tight_layout()
    return fig
