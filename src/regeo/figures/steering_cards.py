"""The steering cards as a figure: per concept and judged measure, each pair's change from alpha 0."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from regeo.steering.cards import MEASURE_LABELS
from regeo.steering.judged import MEASURES

# Vector kind -> (colour, vertical offset within a pair's row).
VECTOR_STYLES = {"native": ("black", -0.15), "transferred": ("tab:blue", 0.15)}


def plot_steering_cards(cards: pd.DataFrame):
    """Rows: concepts; columns: the judged measures; in each panel one line per (source -> target)
    pair, the change at the cards' alpha with its paired interval per vector; filled markers are
    significant on the cards' adjusted p, open ones not; a self-transfer's transferred vector is
    drawn grey (not tested)."""
    if cards.empty:
        fig, ax = plt.subplots(figsize=(4.5, 1.5))
        ax.text(0.5, 0.5, "no steering pairs configured", ha="center", va="center")
        ax.set_axis_off()
        return fig
    concepts = list(dict.fromkeys(cards["concept"]))
    pairs = list(dict.fromkeys(zip(cards["source"], cards["target"])))
    fig, axes = plt.subplots(len(concepts), len(MEASURES),
                             figsize=(4.2 * len(MEASURES), 0.45 * len(pairs) * len(concepts) + 1.2),
                             squeeze=False, sharey=True)
    labels = [f"{a} → {b}" for a, b in pairs]
    for i, concept in enumerate(concepts):
        part = cards[cards["concept"] == concept]
        for j, measure in enumerate(MEASURES):
            ax = axes[i, j]
            ax.axvline(0, color="0.6", lw=0.8)
            for row in part.itertuples():
                colour, offset = VECTOR_STYLES.get(row.vector, ("tab:orange", 0.0))
                y = pairs.index((row.source, row.target)) + offset
                value = getattr(row, f"{measure}_change")
                low, high = getattr(row, f"{measure}_change_ci_low"), getattr(row, f"{measure}_change_ci_high")
                significant = bool(getattr(row, f"{measure}_significant"))
                tested = np.isfinite(getattr(row, f"{measure}_p_adjusted"))
                colour = colour if tested or row.vector == "native" else "0.6"
                ax.errorbar(value, y, xerr=[[max(value - low, 0)], [max(high - value, 0)]], fmt="o", color=colour,
                            mfc=colour if significant else "white", ms=5, capsize=2)
            ax.set_yticks(range(len(pairs)), labels, fontsize=7)
            ax.set_title(f"{concept}: {MEASURE_LABELS[measure]}", fontsize=8)
            ax.tick_params(axis="x", labelsize=7)
    axes[0, 0].invert_yaxis()  # shared by every panel: the first pair on top
    alpha = cards["alpha"].iloc[0]
    handles = [plt.Line2D([], [], color=c, marker="o", ls="", label=k) for k, (c, _) in VECTOR_STYLES.items()]
    fig.legend(handles=handles, loc="lower center", ncol=2, fontsize=8, frameon=False,
               title=f"change from alpha 0 at alpha {alpha:g}, paired 95% interval; filled: significant (adjusted)",
               title_fontsize=8)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig
