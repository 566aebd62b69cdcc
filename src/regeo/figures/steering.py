"""Steering transfer figures: effect vs alpha per pair and concept, and the efficiency matrix over pairs."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Rectangle

from regeo.steering.summary import effect_column

# Condition -> (colour, line style, label); native is the ceiling, none the reference at 0.
STYLES = {
    "native": ("black", "-", "native (B's own vector)"),
    "transferred": ("tab:blue", "-", "transferred (M v_A)"),
    "random": ("0.6", "--", "random, same norm"),
    "none": ("tab:red", ":", "no steering"),
}
EFFECT_LABELS = {"loglik_shift": "log-lik. shift\n(pos - neg, nats/token)", "target_mass_shift": "target mass shift"}


def _placeholder(text: str):
    fig, ax = plt.subplots(figsize=(4.5, 1.5))
    ax.text(0.5, 0.5, text, ha="center", va="center")
    ax.set_axis_off()
    return fig


def run_order(frame: pd.DataFrame) -> list[str]:
    """Runs by preset, subset, seed (seed pairs sit next to each other)."""
    sides = [frame[[side, f"{side}_preset", f"{side}_subset", f"{side}_seed"]].set_axis(
        ["run", "preset", "subset", "seed"], axis=1) for side in ("source", "target")]
    runs = pd.concat(sides).drop_duplicates("run")
    return runs.sort_values(["preset", "subset", "seed"])["run"].tolist()


def plot_steering_effects(table: pd.DataFrame):
    """Rows: (source, target) pairs; columns: concepts; each panel the concept's primary effect vs alpha."""
    if table.empty:
        return _placeholder("no steering pairs configured (steering.pairs)")
    pairs = list(dict.fromkeys(zip(table["source"], table["target"])))
    concepts = list(dict.fromkeys(table["concept"]))
    fig, axes = plt.subplots(len(pairs), len(concepts), figsize=(3.3 * len(concepts) + 0.6, 2.3 * len(pairs) + 0.8),
                             squeeze=False, sharex=True)
    for r, (source, target) in enumerate(pairs):
        for c, concept in enumerate(concepts):
            ax = axes[r][c]
            part = table[(table["source"] == source) & (table["target"] == target) & (table["concept"] == concept)]
            if part.empty:
                ax.set_axis_off()
                continue
            effect = effect_column(part["vector_kind"].iloc[0])
            for (condition, draw), line in part.groupby(["condition", "draw"], sort=False):
                color, style, label = STYLES[condition]
                line = line.sort_values("alpha")
                # native drawn wider, so that a transferred curve lying on it (self-transfer) leaves it visible
                ax.plot(line["alpha"], line[effect], style, color=color, marker="o", markersize=2.5,
                        linewidth=2.6 if condition == "native" else 1.2, label=label if draw == 0 else None)
            ax.axhline(0, color="0.85", linewidth=0.6, zorder=0)
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=7)
            relation = part["relation"].iloc[0]
            ax.set_title(f"{source} → {target} ({relation})\n{concept}", fontsize=8)
            if c == 0 or effect != effect_column(table[table["concept"] == concepts[c - 1]]["vector_kind"].iloc[0]):
                ax.set_ylabel(EFFECT_LABELS[effect], fontsize=7)
            if r == len(pairs) - 1:
                ax.set_xlabel("alpha (multiples of |v_B|)", fontsize=8)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / (2.3 * len(pairs) + 0.8)))
    return fig


def efficiency_grid(summary: pd.DataFrame, order: list[str]) -> np.ndarray:
    """(n, n) efficiency, row = source, column = target; NaN where no pair was run or the efficiency is flagged."""
    index = {run: i for i, run in enumerate(order)}
    grid = np.full((len(order), len(order)), np.nan)
    for row in summary.itertuples():
        if row.efficiency_flag == "ok":
            grid[index[row.source], index[row.target]] = row.efficiency
    return grid


def plot_transfer_efficiency(summary: pd.DataFrame):
    """One panel per concept: transfer efficiency of every (source, target) pair run, seed pairs outlined."""
    if summary.empty:
        return _placeholder("no steering pairs configured (steering.pairs)")
    concepts = list(dict.fromkeys(summary["concept"]))
    order = run_order(summary)
    side = 0.5 * len(order) + 2.3
    fig, axes = plt.subplots(1, len(concepts), figsize=(side * len(concepts) + 0.8, side + 0.9), squeeze=False)
    index = {run: i for i, run in enumerate(order)}
    for c, concept in enumerate(concepts):
        ax = axes[0][c]
        part = summary[summary["concept"] == concept]
        grid = efficiency_grid(part, order)
        # White is 0 (what a random vector does), dark red 1 (the native vector); colours are
        # clipped so one overshooting pair cannot wash out the rest; the numbers are in the cells.
        image = ax.imshow(np.clip(grid, -1, 1), cmap="RdBu_r", vmin=-1, vmax=1, aspect="equal")
        image.cmap.set_bad("0.9")
        for row in part.itertuples():
            i, j = index[row.source], index[row.target]
            if row.relation == "seeds":
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=2.2))
            text = "n/a" if not np.isfinite(row.efficiency) else f"{row.efficiency:.2f}"
            if row.efficiency_flag != "ok":
                text = f"({text})"  # shown, but not coloured: the native vector does too little
            dark = np.isfinite(grid[i, j]) and abs(grid[i, j]) > 0.6
            ax.text(j, i, f"{text}\nr {row.random_efficiency:.2f}", ha="center", va="center", fontsize=6.5,
                    color="white" if dark else "black")
        ax.set_xticks(range(len(order)), order, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(len(order)), order, fontsize=8)
        ax.set_xlabel("target B (scored)", fontsize=8)
        ax.set_ylabel("source A (vector found)", fontsize=8)
        metric = "log-likelihood shift" if part["metric"].iloc[0] == "loglik_shift" else "target mass shift"
        ax.set_title(f"{concept}\n({metric})", fontsize=9)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="transfer efficiency")
    fig.tight_layout()
    fig.suptitle("Transfer efficiency = effect(M v_A) / effect(v_B): slope over the alpha sweep of the part odd "
                 "in alpha; r: the same for a random vector of the same norm.\nBlack outline: same register and "
                 "preset, other seed. Grey: pair not run. In brackets, uncoloured: the native vector does no more "
                 "than the random one.", fontsize=7.5, y=1.02)
    return fig
