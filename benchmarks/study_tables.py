"""The tables of docs/findings.md, from a results directory's study analyses (results/analyses/).

Run by hand on the default pipeline's outputs:

    .venv/bin/python benchmarks/study_tables.py --results results
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def ci(value, low, high, digits=3) -> str:
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--results", type=Path, default=Path("results"))
    a = parser.parse_args().results / "analyses"

    logs = sorted((a.parents[0] / "runs").glob("*/train_log.csv"))
    print("### Loss (last step)\n\n| run | train loss (last 10 steps) | val loss |\n| --- | ---: | ---: |")
    for path in logs:
        t = pd.read_csv(path)
        print(f"| {path.parent.name} | {t['loss'].tail(10).mean():.3f} | {t['val_loss'].dropna().iloc[-1]:.3f} |")

    s = pd.read_parquet(a / "neighbourhood_settling.parquet")
    every = s[s["token"] == "<all>"]
    steps = sorted(every["step"].unique())
    print("\n### Neighbourhood overlap with the final one (all tokens, mean [95 % CI])\n")
    print("| run | n | " + " | ".join(f"step {x}" for x in steps) + " |")
    print("| --- | ---: | " + " | ".join("---:" for _ in steps) + " |")
    for run, rows in every.groupby("run"):
        rows = rows.set_index("step")
        print(f"| {run} | {rows['n_tokens'].iloc[0]} | " + " | ".join(
            ci(rows.loc[x, 'jaccard'], rows.loc[x, 'ci_low'], rows.loc[x, 'ci_high'], 2) for x in steps) + " |")
    print(f"\nchance: {every['chance'].min():.4f}-{every['chance'].max():.4f}, k = {every['k'].iloc[0]}")
    settled = pd.read_parquet(a / "neighbourhood_settled.parquet")
    med = settled[settled["token"] == "<all>"]
    print("\nmedian settled step (all tokens):", ", ".join(
        f"{r.run} {r.settled_step:.0f} [{r.ci_low:.0f}, {r.ci_high:.0f}]" for r in med.itertuples()))
    probes = settled[settled["token"] != "<all>"].pivot_table(index="token", columns="run", values="settled_step")
    print("\n" + probes.to_markdown(floatfmt=".0f"))

    c = pd.read_parquet(a / "id_coherence.parquet")
    print("\n### Cross-seed coherence, low vs high per-token ID\n")
    print("| run vs partner | n tokens | low | high | low - high | chance | mean log count low / high |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in c.itertuples():
        print(f"| {r.run} vs {r.partner} | {r.n_tokens} ({r.n_low} per group) | {ci(r.jaccard_low, r.low_ci_low, r.low_ci_high)} | "
              f"{ci(r.jaccard_high, r.high_ci_low, r.high_ci_high)} | {ci(r.difference, r.difference_ci_low, r.difference_ci_high)} | "
              f"{r.chance:.4f} | {r.mean_log_count_low:.2f} / {r.mean_log_count_high:.2f} |")
    listed = pd.read_parquet(a / "low_high_id.parquet")
    run = sorted(listed["run"])[0]
    print(f"\n{run}, lowest and highest {listed['id_column'].iloc[0]}:")
    for r in listed[listed["run"] == run].itertuples():
        print(f"  {r.group:4} {r.token!r:>14} {r.id_value:5.1f} count {r.count:5d} -> {' '.join(map(repr, list(r.neighbours)[:6]))}")

    k = pd.read_parquet(a / "rank_knee_summary.parquet")
    curve = pd.read_parquet(a / "rank_knee.parquet")
    print("\n### Rank knee\n\n| run | d | knee r* [CI] | excess at r = d/2 (SVD) | random subspace at r* or d/2 | val windows |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in k.itertuples():
        half = curve[(curve["run"] == r.run) & (curve["method"] == "svd") & (curve["rank"] == r.d // 2)].iloc[0]
        print(f"| {r.run} | {r.d} | {r.knee_svd} [{r.knee_svd_ci_low:.0f}, {r.knee_svd_ci_high:.0f}] | "
              f"{ci(half.excess, half.excess_ci_low, half.excess_ci_high)} | rank {r.null_rank}: "
              f"{ci(r.excess_random_at_null_rank, r.excess_random_ci_low, r.excess_random_ci_high)} | {r.n_windows} |")
    print("\nexcess by rank (SVD, mean over runs of the preset):")
    svd = curve[curve["method"] == "svd"].groupby(["preset", "rank"])["excess"].agg(["mean", "min", "max"])
    print(svd.round(3).to_markdown())

    rq3 = pd.read_parquet(a / "rq3_correlations.parquet")
    print("\n### RQ3\n")
    print(rq3[["preset", "geometry", "loss", "n_subsets", "n_runs", "rho", "ci_low", "ci_high", "null_low",
               "null_high", "p_value", "p_min", "p_adjusted", "verdict"]].round(3).to_markdown(index=False))
    print(f"\nunits: subsets (seeds averaged); adjustment: {rq3['adjustment'].iloc[0]} within each preset")

    size = pd.read_parquet(a / "redundancy_by_size.parquet")
    print("\n### Redundancy by size (common tokens)\n")
    agg = size.groupby(["preset", "d", "estimator", "k"]).agg(
        runs=("run", "nunique"), raw=("redundancy", "mean"), raw_min=("redundancy", "min"),
        raw_max=("redundancy", "max"), null_raw=("null_redundancy", "mean"), vs_null=("redundancy_vs_null", "mean"),
        vs_null_min=("redundancy_vs_null", "min"), vs_null_max=("redundancy_vs_null", "max"),
        widest_ci=("redundancy_vs_null_ci_high", "max"))
    print(agg.round(3).to_markdown())
    print(f"\nn tokens: {size['n_tokens'].iloc[0]} ({size['token_set'].iloc[0]})")


if __name__ == "__main__":
    main()
