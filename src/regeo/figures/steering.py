"""Steering transfer figures: effect vs alpha with intervals and the null band, transfer ratios, alignment through depth."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from statistics import NormalDist

from regeo.steering.summary import METRIC_LABELS

# Condition -> (colour, line style, label).
STYLES = {
    "native": ("black", "-", "native (B's own vector)"),
    "transferred": ("tab:blue", "-", "transferred (M v_A, default embedding map)"),
    "hidden_map": ("tab:green", "--", "hidden-state map (ceiling)"),
    "shuffled_map": ("tab:purple", ":", "shuffled-pairs map (first order)"),
}


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


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def default_method(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of the default vector method (mean difference; tables from before methods have only it)."""
    return table[table["method"] == "mean_difference"] if "method" in table else table


def default_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of the default method and of the default map's transferred vector, and of every condition
    that is not transferred; the default map is the first transferred map of the table (the pair
    jobs write it first)."""
    table = default_method(table)
    transferred = table["condition"] == "transferred"
    if not transferred.any():
        return table
    default = table.loc[transferred, "map"].iloc[0]
    return table[~transferred | (table["map"] == default)]


def verdict(row) -> str:
    """The adjusted p of a transfer row, or "n.s."."""
    if not np.isfinite(row["p_adjusted"]):
        return "self (not tested)"
    return f"p adj. {row['p_adjusted']:.2g}" + ("" if row["significant"] else " n.s.")


def _pair_concept_grid(table: pd.DataFrame, row_height: float):
    """(fig, axes, pairs, concepts): one row per (source, target) pair and one column per concept
    of ``table``, in order of appearance, sharing the alpha axis."""
    pairs = list(dict.fromkeys(zip(table["source"], table["target"])))
    concepts = list(dict.fromkeys(table["concept"]))
    fig, axes = plt.subplots(len(pairs), len(concepts),
                             figsize=(3.3 * len(concepts) + 0.6, row_height * len(pairs) + 0.8),
                             squeeze=False, sharex=True)
    return fig, axes, pairs, concepts


def plot_steering_effects(sweep: pd.DataFrame, summary: pd.DataFrame):
    """Rows: (source, target) pairs; columns: concepts; each panel the concept's primary effect vs alpha.

    Lines with bootstrap bands for the swept conditions (the default map's transferred vector), the
    shuffled map to first order, grey: the band the transferred vector's label-permutation null
    spans at each alpha (first order, +-z sd), and the checked null draws at full alpha as grey crosses.
    """
    if sweep.empty:
        return _placeholder("no steering pairs configured (steering.pairs)")
    sweep = default_rows(sweep)
    summary = default_method(summary)
    fig, axes, pairs, concepts = _pair_concept_grid(sweep, row_height=2.3)
    for r, (source, target) in enumerate(pairs):
        for c, concept in enumerate(concepts):
            ax = axes[r][c]
            part = sweep[(sweep["source"] == source) & (sweep["target"] == target) & (sweep["concept"] == concept)]
            rows_of = summary[(summary["source"] == source) & (summary["target"] == target)
                              & (summary["concept"] == concept)].set_index("condition")
            if part.empty or "transferred" not in rows_of.index:
                ax.set_axis_off()
                continue
            info = default_rows(rows_of.reset_index()).set_index("condition").loc["transferred"]
            grid = np.sort(part["alpha"].unique())
            z = _z(float(info["confidence"]))
            line = np.linspace(min(grid.min(), 0), max(grid.max(), 0), 50)
            ax.fill_between(line, line * (info["null_permutation_mean"] - z * info["null_permutation_sd"]),
                            line * (info["null_permutation_mean"] + z * info["null_permutation_sd"]), color="0.85",
                            label="label-permutation null (first order)", zorder=0)
            if "shuffled_map" in rows_of.index:
                ax.plot(line, line * rows_of.loc["shuffled_map", "first_order"], STYLES["shuffled_map"][1],
                        color=STYLES["shuffled_map"][0], linewidth=1, label=STYLES["shuffled_map"][2])
            for condition in ("native", "transferred", "hidden_map"):
                rows = part[part["condition"] == condition].sort_values("alpha")
                if rows.empty:
                    continue
                color, style, label = STYLES[condition]
                ax.fill_between(rows["alpha"], rows["ci_low"], rows["ci_high"], color=color, alpha=0.18, linewidth=0)
                ax.plot(rows["alpha"], rows["effect"], style, color=color, marker="o", markersize=2.5,
                        linewidth=2.4 if condition == "native" else 1.2, label=label)
            checks = part[part["condition"].str.startswith("null_")]
            ax.plot(checks["alpha"], checks["effect"], "x", color="0.45", markersize=4, label="null draws, full alpha")
            ax.axhline(0, color="0.7", linewidth=0.6, zorder=0)
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=7)
            ax.set_title(f"{source} → {target} ({info['relation']})\n{concept}: transferred, {verdict(info)}",
                         fontsize=8)
            if c == 0:
                ax.set_ylabel(METRIC_LABELS[info["metric"]].replace(" per unit alpha", ""), fontsize=7)
            if r == len(pairs) - 1:
                ax.set_xlabel("alpha (multiples of |v_B|)", fontsize=8)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=min(len(labels), 4), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.8 / (2.3 * len(pairs) + 0.8)))
    return fig


XLIM = (-0.6, 1.6)
# (condition, ratio column) -> (colour, label)
RATIOS = {("transferred", "transfer_ratio"): ("tab:blue", "transferred / native"),
          ("transferred", "ceiling_share"): ("tab:orange", "transferred / hidden-state map (ceiling share)"),
          ("hidden_map", "transfer_ratio"): ("tab:green", "hidden-state map / native")}


def plot_transfer_ratios(summary: pd.DataFrame):
    """One panel per concept: per pair the default map's transfer ratio and ceiling share and the hidden
    map's ratio, with intervals; small grey marks: the map variants' transfer ratios."""
    if summary.empty:
        return _placeholder("no steering pairs configured (steering.pairs)")
    summary = default_method(summary)
    variants = summary[(summary["condition"] == "transferred") & ~summary["default_map"].astype(bool)]
    summary = default_rows(summary)
    concepts = list(dict.fromkeys(summary["concept"]))
    pairs = list(dict.fromkeys(zip(summary["source"], summary["target"])))
    fig, axes = plt.subplots(1, len(concepts), figsize=(4.2 * len(concepts) + 1.5, 0.45 * len(pairs) + 1.8),
                             squeeze=False, sharey=True)
    for c, concept in enumerate(concepts):
        ax = axes[0][c]
        part = summary[summary["concept"] == concept].set_index(["source", "target", "condition"])
        for i, pair in enumerate(pairs):
            if (*pair, "transferred") not in part.index:
                continue
            for k, ((condition, ratio), (color, _)) in enumerate(RATIOS.items()):
                row = part.loc[(*pair, condition)]
                y = i + (k - 1) * 0.22
                low, high = row[f"{ratio}_ci_low"], row[f"{ratio}_ci_high"]
                # A ratio's percentile interval need not contain its point value (a denominator near 0
                # makes the replicates heavy-tailed), so the two are drawn separately; both clipped.
                ax.hlines(y, *np.clip([low, high], *XLIM), color=color, linewidth=1)
                ax.plot(np.clip(row[ratio], *XLIM), y, "o", color=color, markersize=3.5)
            others = variants[(variants["source"] == pair[0]) & (variants["target"] == pair[1])
                              & (variants["concept"] == concept)]
            ax.plot(np.clip(others["transfer_ratio"], *XLIM), np.full(len(others), i - 0.22), "|", color="0.4",
                    markersize=6)
            row = part.loc[(*pair, "transferred")]
            mark = "" if row["flag"] == "ok" else f" [{row['flag']}]"
            ax.text(1.02, i, f"{verdict(row)}{mark}", transform=ax.get_yaxis_transform(), va="center", fontsize=6.5)
        ax.axvline(0, color="0.6", linewidth=0.6)
        ax.axvline(1, color="0.6", linewidth=0.6, linestyle=":")
        ax.set_yticks(range(len(pairs)), [f"{a} → {b}" for a, b in pairs], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(*XLIM)
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(axis="x", labelsize=7)
        ax.set_title(concept, fontsize=9)
        ax.set_xlabel("ratio of effects per unit alpha (clipped to [-0.6, 1.6])", fontsize=7)
    handles = [plt.Line2D([], [], marker="o", color=color, linestyle="", label=label) for color, label in RATIOS.values()]
    handles.append(plt.Line2D([], [], marker="|", color="0.4", linestyle="", label="other fit rows (map variants)"))
    fig.legend(handles=handles, loc="upper center", ncol=2, fontsize=7.5, frameon=False)
    fig.tight_layout(rect=(0, 0, 0.93, 1 - 0.7 / (0.45 * len(pairs) + 1.8)))
    return fig


def plot_alignment_depth(depth: pd.DataFrame, effects: pd.DataFrame | None = None):
    """Left: held-out R^2 of B's hidden states predicted from A's through the embedding map, per relative
    depth; dashed: a map fit on the hidden states of that depth itself (the ceiling). Right, one panel
    per concept (the layer sweep, ``depth_effects``): the native (black, per target) and transferred
    (the pair's colour) first-order effect by depth with bootstrap intervals; a ring marks each
    line's best depth."""
    if depth.empty:
        return _placeholder("no steering pairs configured (steering.pairs)")
    effects = pd.DataFrame() if effects is None else effects
    concepts = list(dict.fromkeys(effects["concept"])) if not effects.empty else []
    fig, axes = plt.subplots(1, 1 + len(concepts), figsize=(6.4 + 3.4 * len(concepts), 3.8), squeeze=False)
    ax = axes[0][0]
    pairs = [p for p in dict.fromkeys(zip(depth["source"], depth["target"])) if p[0] != p[1]]
    colors = dict(zip(pairs, plt.get_cmap("tab20")(np.linspace(0, 1, max(len(pairs), 1)))))
    for (source, target), color in colors.items():
        part = depth[(depth["source"] == source) & (depth["target"] == target)].sort_values("relative_depth")
        ax.plot(part["relative_depth"], part["embedding_map_r2"], "-o", color=color, markersize=3,
                label=f"{source} → {target}")
        ax.plot(part["relative_depth"], part["fitted_map_r2"], "--", color=color, linewidth=0.9)
    ax.axhline(0, color="0.6", linewidth=0.6)
    # Both limits: a far-negative R^2 (a wider source's states) would otherwise stretch the top margin too.
    top = float(np.nanmax(depth[["embedding_map_r2", "fitted_map_r2"]].to_numpy())) + 0.05
    ax.set_ylim(bottom=max(-1.0, float(np.nanmin(depth["embedding_map_r2"])) - 0.05), top=max(top, 0.05))
    ax.set_xlabel("relative depth (0: embedding output; (l + 1) / n: block l)", fontsize=8)
    ax.set_ylabel("held-out R² of B's states", fontsize=8)
    ax.set_title("Does embedding alignment persist into the residual stream?\nsolid: the embedding map; "
                 "dashed: a map fit at that depth", fontsize=8.5)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6.5, ncol=2)
    for c, concept in enumerate(concepts):
        ax = axes[0][1 + c]
        part = effects[effects["concept"] == concept]
        native = part[part["condition"] == "native"].drop_duplicates(["target", "layer_target"])
        lines = [(f"{t} native", "black", "-", rows) for t, rows in native.groupby("target", sort=False)]
        transferred = part[(part["condition"] == "transferred") & (part["source"] != part["target"])]
        lines += [(f"{a} → {b}", colors.get((a, b), "0.5"), "--", rows)
                  for (a, b), rows in transferred.groupby(["source", "target"], sort=False)]
        for label, color, style, rows in lines:
            rows = rows.sort_values("relative_depth_target")
            x = rows["relative_depth_target"].to_numpy()
            ax.errorbar(x, rows["effect"], yerr=[rows["effect"] - rows["effect_ci_low"],
                                                 rows["effect_ci_high"] - rows["effect"]],
                        fmt=style, color=color, marker="o", markersize=2.5, linewidth=1, capsize=1.5, label=label)
            best = rows[rows["is_best"].astype(bool)]
            ax.plot(best["relative_depth_target"], best["effect"], "o", mfc="none", mec=color, markersize=7)
        ax.axhline(0, color="0.6", linewidth=0.6)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("relative depth of B's block", fontsize=8)
        ax.set_ylabel(METRIC_LABELS.get(part["metric"].iloc[0], "effect") + " (first order)", fontsize=7)
        ax.set_title(f"{concept}: effect by depth (ring: best depth)", fontsize=8.5)
        if c == len(concepts) - 1:
            ax.legend(fontsize=5.5)
    fig.tight_layout()
    return fig


def plot_next_token_kl(kl: pd.DataFrame):
    """Rows: (source, target) pairs; columns: concepts; each panel the mean next-token KL(steered ||
    unsteered) over held-out positions against alpha, per swept condition with its bootstrap band.

    Grey boxes at the largest |alpha|: the isotropic null band (random directions of the native
    norm, every draw's replicates pooled); grey crosses: the null draws themselves.
    """
    if kl.empty:
        return _placeholder("no steering pairs configured (steering.pairs)")
    kl = default_rows(kl)
    fig, axes, pairs, concepts = _pair_concept_grid(kl, row_height=2.2)
    for r, (source, target) in enumerate(pairs):
        for c, concept in enumerate(concepts):
            ax = axes[r][c]
            part = kl[(kl["source"] == source) & (kl["target"] == target) & (kl["concept"] == concept)]
            if part.empty:
                ax.set_axis_off()
                continue
            grid = np.abs(part["alpha"])
            top = float(grid.max())
            compared = part[part["compared_to_null"]]
            width = 0.12 * top
            for alpha, row in compared.drop_duplicates("alpha").set_index("alpha").iterrows():
                ax.add_patch(plt.Rectangle((alpha - width, row["null_isotropic_kl_low"]), 2 * width,
                                           row["null_isotropic_kl_high"] - row["null_isotropic_kl_low"],
                                           color="0.82", zorder=0, linewidth=0,
                                           label="isotropic null band" if alpha == compared["alpha"].iloc[0] else None))
            nulls = part[part["condition"] == "null_isotropic"]
            ax.plot(nulls["alpha"], nulls["kl"], "x", color="0.45", markersize=4, label="isotropic null draws")
            for condition in ("native", "transferred", "hidden_map"):
                rows = part[part["condition"] == condition]
                if rows.empty:
                    continue
                if not (rows["alpha"] == 0).any():  # no vector, no change: KL 0 exactly, drawn so
                    rows = pd.concat([rows, pd.DataFrame({"alpha": [0.0], "kl": [0.0], "kl_ci_low": [0.0],
                                                          "kl_ci_high": [0.0]})], ignore_index=True)
                rows = rows.sort_values("alpha")
                color, style, label = STYLES[condition]
                ax.fill_between(rows["alpha"], rows["kl_ci_low"], rows["kl_ci_high"], color=color, alpha=0.18,
                                linewidth=0)
                ax.plot(rows["alpha"], rows["kl"], style, color=color, marker="o", markersize=2.5,
                        linewidth=2.4 if condition == "native" else 1.2, label=label)
            verdicts = []
            for name in ("native", "transferred"):
                rows = compared[compared["condition"] == name]
                if not rows.empty:
                    above = sorted(rows.loc[rows["above_isotropic_band"].astype(bool), "alpha"])
                    verdicts.append(f"{name} " + (f"above at {', '.join(f'{a:g}' for a in above)}" if above else "n.s."))
            summary_text = "; ".join(verdicts)
            ax.set_ylim(bottom=0)
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=7)
            ax.set_title(f"{source} → {target}, {concept}\nvs null: {summary_text or 'none'}", fontsize=7)
            if c == 0:
                ax.set_ylabel("KL(steered || unsteered)\nnats per position", fontsize=7)
            if r == len(pairs) - 1:
                ax.set_xlabel("alpha (multiples of |v_B|)", fontsize=8)
    handles, labels = [], []
    for ax in axes.flat:
        for h, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(h)
                labels.append(label)
    fig.legend(handles, labels, loc="upper center", ncol=min(len(labels), 5), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.8 / (2.2 * len(pairs) + 0.8)))
    return fig
