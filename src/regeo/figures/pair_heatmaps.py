"""Heatmaps over every pair of final models (global similarity, LLE comparison), with the
same-register/different-seed cells outlined: the noise floor that register differences must exceed."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Rectangle

from regeo.figures.id_curves import EMBEDDINGS

ANNOTATE_UP_TO = 14  # models; beyond that the numbers no longer fit in the cells


def model_order(table: pd.DataFrame) -> list[str]:
    """Runs grouped by preset, then subset, then seed, so seed pairs sit in diagonal blocks."""
    sides = [table[[f"run_{s}", f"preset_{s}", f"subset_{s}", f"seed_{s}"]].set_axis(
        ["run", "preset", "subset", "seed"], axis=1) for s in "ab"]
    runs = pd.concat(sides).drop_duplicates("run")
    return runs.sort_values(["preset", "subset", "seed"])["run"].tolist()


def pair_grid(table: pd.DataFrame, value: str, order: list[str], symmetric: bool) -> np.ndarray:
    """(n, n) values, row = run_a, column = run_b; mirrored when ``symmetric``; NaN on the diagonal."""
    index = {run: i for i, run in enumerate(order)}
    grid = np.full((len(order), len(order)), np.nan)
    for a, b, v in table[["run_a", "run_b", value]].itertuples(index=False):
        grid[index[a], index[b]] = v
        if symmetric:
            grid[index[b], index[a]] = v
    return grid


def relation_summary(table: pd.DataFrame, value: str) -> str:
    """Mean [min, max] of ``value`` over seed pairs and over register pairs, the comparison the figure is for.

    Register pairs of the same seed start from the same initialisation (the seed sets it), which
    early in training dominates their similarity; they are summarised apart.
    """
    registers = table["relation"] == "registers"
    same_seed = table["seed_a"] == table["seed_b"]
    groups = (("seed pairs", table["relation"] == "seeds"), ("registers, other seed", registers & ~same_seed),
              ("registers, same seed (init)", registers & same_seed))
    lines = []
    for name, rows in groups:
        values = table.loc[rows, value]
        if len(values):
            lines.append(f"{name}: {values.mean():.3f} [{values.min():.3f}, {values.max():.3f}]")
    return "\n".join(lines)


def draw_pair_heatmap(ax, table: pd.DataFrame, value: str, order: list[str], symmetric: bool, cmap: str, fmt: str):
    grid = pair_grid(table, value, order, symmetric)
    image = ax.imshow(grid, cmap=cmap, aspect="equal")
    image.cmap.set_bad("0.85")
    seed_pairs = table.loc[table["relation"] == "seeds", ["run_a", "run_b"]].itertuples(index=False)
    index = {run: i for i, run in enumerate(order)}
    for a, b in seed_pairs:
        cells = [(index[a], index[b])] + ([(index[b], index[a])] if symmetric else [])
        for i, j in cells:
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2.2))
    shared_init = table.loc[(table["relation"] == "registers") & (table["seed_a"] == table["seed_b"]),
                            ["run_a", "run_b"]].itertuples(index=False)
    for a, b in shared_init:
        cells = [(index[a], index[b])] + ([(index[b], index[a])] if symmetric else [])
        for i, j in cells:  # black dashes over white: visible on light and dark cells
            for color, style in (("white", "-"), ("black", "--")):
                ax.add_patch(Rectangle((j - 0.42, i - 0.42), 0.84, 0.84, fill=False, edgecolor=color, linewidth=1.4,
                                       linestyle=style))
    if len(order) <= ANNOTATE_UP_TO:
        finite = grid[np.isfinite(grid)]
        middle = (finite.min() + finite.max()) / 2 if finite.size else 0
        half = None
        if f"{value}_ci_low" in table and table[f"{value}_ci_low"].notna().any():
            widths = table.assign(_half=(table[f"{value}_ci_high"] - table[f"{value}_ci_low"]) / 2)
            half = pair_grid(widths, "_half", order, symmetric)
        for i in range(len(order)):
            for j in range(len(order)):
                if np.isfinite(grid[i, j]):
                    dark = (grid[i, j] < middle) == (not cmap.endswith("_r"))
                    text = format(grid[i, j], fmt)
                    if half is not None and np.isfinite(half[i, j]):
                        text += "\n±" + format(half[i, j], fmt).lstrip("0")
                    ax.text(j, i, text, ha="center", va="center", fontsize=5.5 if half is not None else 7,
                            color="white" if dark else "black")
    ax.set_xticks(range(len(order)), order, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(order)), order, fontsize=8)
    return image


def plot_pair_heatmaps(table: pd.DataFrame, panels: list[tuple[str, str, str, str]], symmetric: bool,
                       ylabel: str = "", xlabel: str = ""):
    """Rows: compared matrices (input, output); columns: ``panels`` = (column, title, cmap, fmt, note).

    ``note(rows)`` (or None) adds a line to a panel's title from that panel's table rows.
    """
    if table.empty:  # one model: no pairs, but the figure target still exists
        fig, ax = plt.subplots(figsize=(4, 1.5))
        ax.text(0.5, 0.5, "fewer than two models: no pairs to compare", ha="center", va="center")
        ax.set_axis_off()
        return fig
    rows = [e for e in EMBEDDINGS if (table["embeddings"] == e).any()]
    order = model_order(table)
    side = 0.42 * len(order) + 2.2
    fig, axes = plt.subplots(len(rows), len(panels), figsize=(side * len(panels) + 1.0, side * len(rows) + 0.6),
                             squeeze=False)
    for r, embeddings in enumerate(rows):
        part = table[table["embeddings"] == embeddings]
        for c, (value, title, cmap, fmt, note) in enumerate(panels):
            ax = axes[r][c]
            image = draw_pair_heatmap(ax, part, value, order, symmetric, cmap, fmt)
            fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
            lines = [f"{title} ({embeddings})"] + ([note(part)] if note else []) + [relation_summary(part, value)]
            ax.set_title("\n".join(lines), fontsize=8)
            ax.set_ylabel(ylabel, fontsize=8)
            ax.set_xlabel(xlabel, fontsize=8)
    fig.suptitle("red outline: same register and preset, another seed (the noise floor); dashed: another "
                 "register, same seed (same initialisation); grey: the model itself", fontsize=8, y=1.0)
    fig.tight_layout()
    return fig


def null_note(value: str):
    """A panel-title line with the value's nulls: rows permuted, and at initialisation by seed relation."""
    def note(rows: pd.DataFrame) -> str:
        parts = []
        if f"{value}_null_permuted" in rows:
            parts.append(f"null (rows permuted): {rows[f'{value}_null_permuted'].mean():.2f}")
        if f"{value}_at_init" in rows and rows[f"{value}_at_init"].notna().any():
            # One initialisation: same seed and same preset (another width is another init).
            same = (rows["seed_a"] == rows["seed_b"]) & (rows["preset_a"] == rows["preset_b"])
            init = rows[f"{value}_at_init"]
            parts.append(f"at init: same seed and preset {init[same].mean():.2f}, otherwise {init[~same].mean():.2f}")
        return "; ".join(parts)
    return note


def plot_global_similarity(table: pd.DataFrame):
    panels = [("cosine_similarity_correlation", "cosine-similarity correlation", "viridis", ".2f",
               null_note("cosine_similarity_correlation")),
              ("linear_cka", "linear CKA", "viridis", ".2f", null_note("linear_cka"))]
    return plot_pair_heatmaps(table, panels, symmetric=True)


def plot_lle_comparison(table: pd.DataFrame):
    def random_reference(rows: pd.DataFrame) -> str:
        line = f"with random convex weights instead: median {rows['random_relative_error'].median():.2f}"
        return line + "\n" + null_note("relative_error")(rows)

    panels = [("relative_error", "LLE error of B with A's weights / B's own", "viridis_r", ".2f", random_reference),
              ("jaccard", "kNN overlap (Jaccard at k)", "viridis", ".2f", null_note("jaccard"))]
    return plot_pair_heatmaps(table, panels, symmetric=False, ylabel="A (neighbours and weights)",
                              xlabel="B (rebuilt)")
