"""Figures of the study's analyses (:mod:`regeo.stages.analyses`): loss curves, neighbourhood settling,
low/high-ID tokens, rank knee, RQ3 correlations, redundancy against size."""

from __future__ import annotations

import numpy as np
import pandas as pd

from regeo.figures.common import plt, register_colors

_STYLES = ["-", "--", ":", "-."]


def _preset_styles(presets) -> dict:
    return {p: _STYLES[i % len(_STYLES)] for i, p in enumerate(sorted(set(presets)))}


def plot_loss_curves(logs: pd.DataFrame):
    """Training (left) and validation (right) loss by step: per (subset, preset) the mean over
    seeds, the band the seeds' min to max."""
    colors = register_colors(list(logs["subset"].unique()))
    styles = _preset_styles(logs["preset"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, column, title in ((axes[0], "loss", "training loss (batch)"), (axes[1], "val_loss", "validation loss")):
        part = logs.dropna(subset=[column])
        for (subset, preset), rows in part.groupby(["subset", "preset"]):
            by_step = rows.groupby("step")[column]
            mean, lo, hi = by_step.mean(), by_step.min(), by_step.max()
            n_seeds = rows["seed"].nunique()
            ax.plot(mean.index, mean.values, styles[preset], color=colors[subset],
                    label=f"{subset} {preset} ({n_seeds} seed{'s' if n_seeds > 1 else ''})")
            if n_seeds > 1:
                ax.fill_between(mean.index, lo.values, hi.values, color=colors[subset], alpha=0.2, lw=0)
        ax.set_xlabel("step")
        ax.set_title(title)
    axes[0].set_ylabel("cross-entropy (nats)")
    axes[1].legend(fontsize=7)
    fig.suptitle("Loss per run: mean over seeds, band = seed min to max")
    fig.tight_layout()
    return fig


def plot_settling(curve: pd.DataFrame, settled: pd.DataFrame):
    """Left: mean overlap (Jaccard at k) of every token's neighbourhood with its final one, per run,
    with intervals and the chance level; right: the step each probe token settles, per run."""
    colors = register_colors(list(curve["subset"].unique()))
    styles = {s: _STYLES[i % len(_STYLES)] for i, s in enumerate(sorted(curve["seed"].unique()))}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [1, 1.2]})
    ax = axes[0]
    mean = curve[curve["token"] == "<all>"]
    for run, rows in mean.groupby("run"):
        rows = rows.sort_values("step")
        x = rows["step"].clip(lower=0.5)
        ax.plot(x, rows["jaccard"], styles[rows["seed"].iloc[0]], color=colors[rows["subset"].iloc[0]],
                label=f"{run}", lw=1.2)
        ax.fill_between(x, rows["ci_low"], rows["ci_high"], color=colors[rows["subset"].iloc[0]], alpha=0.2, lw=0)
    ax.axhline(mean["chance"].mean(), color="grey", ls=":", label="chance (unrelated spaces)")
    ax.set_xscale("log")
    ax.set_xlabel("step (0 drawn at 0.5)")
    k, n = int(mean["k"].iloc[0]), int(mean["n_tokens"].median())
    ax.set_ylabel(f"Jaccard at k={k} with the final neighbourhood")
    ax.set_title(f"all seen tokens (n ~ {n}), mean with 95 % interval")
    ax.legend(fontsize=6, ncol=2)
    ax = axes[1]
    probes = settled[settled["token"] != "<all>"]
    if not probes.empty:
        grid = probes.pivot_table(index="token", columns="run", values="settled_step")
        order = probes.drop_duplicates("token").set_index("token")["probe_register"]
        grid = grid.loc[sorted(grid.index, key=lambda t: (order.get(t, ""), t))]
        image = ax.imshow(grid.values, aspect="auto", cmap="viridis")
        ax.set_yticks(range(len(grid.index)), [f"{t!r} ({order.get(t, '')})" for t in grid.index], fontsize=7)
        ax.set_xticks(range(len(grid.columns)), grid.columns, rotation=60, ha="right", fontsize=7)
        for (i, j), value in np.ndenumerate(grid.values):
            if np.isfinite(value):
                ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=6, color="w")
        fig.colorbar(image, ax=ax, label="settled step")
    threshold = settled["threshold"].iloc[0]
    everyone = settled[settled["token"] == "<all>"]
    ax.set_title(f"probe tokens: first step with Jaccard >= {threshold} from then on\n"
                 f"median over all tokens: {everyone['settled_step'].min():.0f}-{everyone['settled_step'].max():.0f} "
                 "across runs", fontsize=9)
    fig.tight_layout()
    return fig


def plot_low_high_id(listed: pd.DataFrame, coherence: pd.DataFrame):
    """Left: cross-seed neighbourhood overlap of the low- and high-ID token groups per run, with
    intervals and chance; middle: the difference low - high with its interval against the matched
    noise null (grey band: the null draws' 95 % range, tick: their mean; p beside); right: one
    run's lowest and highest per-token-ID tokens and neighbours."""
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8), gridspec_kw={"width_ratios": [1, 0.9, 1.3]})
    ax = axes[0]
    if not coherence.empty:
        c = coherence.sort_values("run").reset_index(drop=True)
        y = np.arange(len(c))
        labels = [f"{r} vs {p}" for r, p in zip(c["run"], c["partner"])]
        for name, offset, color in (("low", -0.15, "tab:blue"), ("high", 0.15, "tab:red")):
            ax.errorbar(c[f"jaccard_{name}"], y + offset,
                        xerr=[c[f"jaccard_{name}"] - c[f"{name}_ci_low"], c[f"{name}_ci_high"] - c[f"jaccard_{name}"]],
                        fmt="o", color=color, ms=4, capsize=2, label=f"{name}-ID group")
            if f"null_jaccard_{name}" in c:
                ax.plot(c[f"null_jaccard_{name}"], y + offset, "x", color=color, ms=5,
                        label=f"{name}: matched noise null")
        ax.axvline(c["chance"].mean(), color="grey", ls=":", label="chance")
        ax.set_yticks(y, labels, fontsize=7)
        ax.set_xlabel(f"Jaccard at k={int(c['k'].iloc[0])}: same token, other seed")
        unit = f", {c['bootstrap_unit'].iloc[0]} bootstrap" if "bootstrap_unit" in c else ""
        ax.set_title(f"coherence ({int(c['n_low'].iloc[0])} tokens per group{unit})", fontsize=9)
        ax.legend(fontsize=6)
        ax = axes[1]
        ax.errorbar(c["difference"], y, xerr=[c["difference"] - c["difference_ci_low"],
                                             c["difference_ci_high"] - c["difference"]],
                    fmt="o", color="k", ms=4, capsize=2, label="observed low - high")
        if "null_mean" in c and c["null_mean"].notna().any():
            ax.barh(y, c["null_high"] - c["null_low"], left=c["null_low"], height=0.5, color="grey", alpha=0.35,
                    label=f"matched noise null, 95 % of {int(c['n_null_draws'].max())} draws")
            ax.plot(c["null_mean"], y, "|", color="grey", ms=12, mew=2, label="null mean")
            for yi, row in zip(y, c.itertuples()):
                if np.isfinite(row.p_value):
                    right = np.nanmax([row.difference, row.difference_ci_high, row.null_high])
                    adjusted = getattr(row, "p_adjusted", np.nan)
                    text = f"p={row.p_value:.2g}" + (f", adj. {adjusted:.2g}" if np.isfinite(adjusted) else "")
                    ax.annotate(text, (right, yi), xytext=(4, 0), textcoords="offset points", va="center",
                                fontsize=6)
        ax.axvline(0, color="grey", ls=":", lw=0.8)
        ax.set_yticks(y, [""] * len(y))
        ax.set_ylim(axes[0].get_ylim())  # the rows of the left panel
        ax.set_xlabel("Jaccard difference, low - high ID")
        ax.set_title("against A + isotropic noise of the same overall overlap" if "null_mean" in c
                     else "low - high", fontsize=9)
        ax.legend(fontsize=6)
    else:
        ax.text(0.5, 0.5, "no seed pairs: no cross-seed coherence", ha="center", transform=ax.transAxes)
        axes[1].axis("off")
    ax = axes[2]
    ax.axis("off")
    if not listed.empty:
        run = sorted(listed["run"].unique())[0]
        rows = listed[listed["run"] == run]
        lines = [f"{run}: {rows['id_column'].iloc[0]} per token, among the {rows['frequent_tokens'].iloc[0]} "
                 f"most frequent of {rows['n_tokens'].iloc[0]} tokens"]
        for group in ("low", "high"):
            lines.append(f"{group}est ID:")
            for r in rows[rows["group"] == group].head(8).itertuples():
                lines.append(f"  {r.token!r:>14} {r.id_value:5.1f}  -> " + " ".join(repr(t) for t in list(r.neighbours)[:5]))
        ax.text(0, 1, "\n".join(lines), va="top", family="monospace", fontsize=7)
    fig.tight_layout()
    return fig


def plot_rank_knee(curve: pd.DataFrame, summary: pd.DataFrame):
    """Loss excess over the full model against embedding rank, per run (truncated SVD), the
    random-subspace null at one rank (crosses), the tolerance, and each run's knee beside its IDs."""
    colors = register_colors(list(curve["subset"].unique()))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    ax = axes[0]
    floor = 1e-3
    for run, rows in curve.groupby("run"):
        color = colors[rows["subset"].iloc[0]]
        part = rows[rows["method"] == "svd"].sort_values("rank")
        ax.plot(part["rank"], part["excess"].clip(lower=floor), "-o", color=color, label=run, lw=1, ms=2)
        ax.fill_between(part["rank"], part["excess_ci_low"].clip(lower=floor), part["excess_ci_high"].clip(lower=floor),
                        color=color, alpha=0.15, lw=0)
        null = rows[rows["method"] == "random"]
        ax.plot(null["rank"], null["excess"].clip(lower=floor), "x", color=color, ms=7)
    tolerance = summary["tolerance"].iloc[0]
    ax.axhline(tolerance, color="k", ls="--", lw=0.8, label=f"tolerance {tolerance} nats")
    ax.set(xscale="log", yscale="log", xlabel="rank r of the embeddings",
           ylabel=f"val loss excess over the full model (nats, floor {floor})",
           title="truncated SVD (95 % interval); x: random subspace of the same rank")
    ax.set_xscale("log", base=2)
    ax.legend(fontsize=6, ncol=2)
    ax = axes[1]
    s = summary.sort_values("run").reset_index(drop=True)
    y = np.arange(len(s))
    ax.errorbar(s["knee_svd"], y, xerr=[s["knee_svd"] - s["knee_svd_ci_low"], s["knee_svd_ci_high"] - s["knee_svd"]],
                fmt="o", color="k", capsize=2, label="knee r* (SVD), 95 % interval")
    for column, marker, label in (("id_mle_k20", "s", "MLE ID (k=20), common tokens"), ("id_twonn_k2", "^", "TwoNN ID")):
        if column in s:
            ax.plot(s[column], y, marker, mfc="none", label=label)
    ax.plot(s["d"], y, "|", color="tab:red", ms=10, mew=2, label="width d")
    ax.set_yticks(y, s["run"], fontsize=7)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("rank / dimension")
    ax.set_title(f"knee: smallest rank within {tolerance} nats; {int(s['n_windows'].iloc[0])} val windows", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_rq3(variables: pd.DataFrame, correlations: pd.DataFrame):
    """Left: Spearman rho across subsets (seeds averaged) of each geometry variable with each
    performance measure (losses and benchmark proxies; per preset), bootstrap interval over subsets, the permutation null's band and the adjusted p; right: MLE ID vs own-register loss per run, the
    seeds of a subset joined."""
    c = correlations.dropna(subset=["rho"]).reset_index(drop=True)
    # a line of labels per correlation: the properties add a row per variable and measure
    fig, axes = plt.subplots(1, 2, figsize=(12, max(4.8, 1.2 + 0.12 * len(c))), gridspec_kw={"width_ratios": [1.3, 1]})
    ax = axes[0]
    labels = [f"{r.geometry} / {r.performance} ({r.preset}, {r.n_subsets} subsets, adj. p {r.p_adjusted:.2f})"
              for r in c.itertuples()]
    y = np.arange(len(c))
    ax.barh(y, c["null_high"] - c["null_low"], left=c["null_low"], color="lightgrey", label="permutation null, 95 %")
    ax.errorbar(c["rho"], y, xerr=[c["rho"] - c["ci_low"], c["ci_high"] - c["rho"]], fmt="o", color="k", ms=4,
                capsize=2, label="rho across subsets, bootstrap over subsets")
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_yticks(y, labels, fontsize=6)
    ax.set_xlim(-1.05, 1.05)
    ax.set_xlabel("Spearman rho across subsets")
    verdicts = sorted(set(correlations["verdict"]))
    ax.set_title("; ".join(verdicts), fontsize=8)
    ax.legend(fontsize=7, loc="lower left")
    ax = axes[1]
    column = "id_mle_k20" if "id_mle_k20" in variables else next(c for c in sorted(variables) if c.startswith("id_mle"))
    colors = register_colors(list(variables["subset"].unique()))
    for (subset, preset), rows in variables.groupby(["subset", "preset"]):
        ax.plot(rows[column], rows["loss_own"], "o-" if preset == variables["preset"].mode()[0] else "s--",
                color=colors[subset], label=f"{subset} {preset}")
    ax.set_xlabel(f"{column}: ID / isotropic null")
    ax.set_ylabel("val loss, own register (nats)")
    ax.set_title("each point a run; a subset's seeds joined (the seed spread)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_redundancy_vs_size(size: pd.DataFrame, reference: dict | None = None):
    """Redundancy against the width d per estimator: raw 1 - ID/d with the isotropic null's own
    raw redundancy (left), and 1 - ID/null with its interval (right); one point per run.
    ``reference`` ({low, high, label}): a published range of raw redundancy, shaded on the left
    panel, which is the quantity such ranges report."""
    estimators = [(e, k) for e, k in size[["estimator", "k"]].drop_duplicates().itertuples(index=False)]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    if reference:
        axes[0].axhspan(reference["low"], reference["high"], color="0.85", zorder=0,
                        label=f"{reference['label']}: {reference['low']:.0%}-{reference['high']:.0%}")
    for j, (est, k) in enumerate(estimators):
        rows = size[(size["estimator"] == est) & (size["k"] == k)]
        jitter = 1 + 0.03 * (j - len(estimators) / 2)
        color = plt.get_cmap("tab10")(j % 10)
        axes[0].plot(rows["d"] * jitter, rows["redundancy"], "o", color=color, ms=4, label=f"{est} k={k}")
        null = rows.groupby("d")["null_redundancy"].mean()
        axes[0].plot(null.index * jitter, null.values, "_", color=color, ms=14, mew=2)
        axes[1].errorbar(rows["d"] * jitter, rows["redundancy_vs_null"],
                         yerr=[rows["redundancy_vs_null"] - rows["redundancy_vs_null_ci_low"],
                               rows["redundancy_vs_null_ci_high"] - rows["redundancy_vs_null"]],
                         fmt="o", color=color, ms=4, capsize=2, label=f"{est} k={k}")
    # Models of one width (Pythia-1b and -1.4b are both 2048 wide) share a tick.
    widths = size.groupby("d")["preset"].agg(lambda p: " / ".join(dict.fromkeys(x.split("/")[-1] for x in p)))
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xticks(widths.index, [f"{p}\nd={d}" for d, p in widths.items()], fontsize=7)
    runs = size.groupby("preset")["run"].nunique()
    axes[0].set(ylabel="1 - ID / d", title="raw redundancy; bars: the isotropic null's own")
    axes[1].set(ylabel="1 - ID / ID(isotropic null)", title="redundancy against the null, 95 % interval")
    axes[1].axhline(0, color="grey", lw=0.5)
    axes[0].legend(fontsize=7)
    n_tokens = size["n_tokens"]
    tokens = (f"{n_tokens.iloc[0]} common tokens" if (size["token_set"] == "common").all()
              else f"each run at its last dump on its own tokens ({n_tokens.min()}-{n_tokens.max()})")
    fig.suptitle("Runs per preset: " + ", ".join(f"{p.split('/')[-1]} {n}" for p, n in runs.items())
                 + f"; {tokens}", fontsize=9)
    fig.tight_layout()
    return fig
