"""The before/after tables of docs/validity.md, from a results directory (and an older one).

Run by hand on the default pipeline's outputs, e.g.

    .venv/bin/python benchmarks/validity_tables.py --after results --before /path/to/old/results

``--before`` is a results directory written by the code before the validity controls (ID on
every seen token, no nulls or intervals); without it only the new tables are printed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd


def read_ids(results: Path) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p) for p in sorted((results / "geometry" / "id").glob("*.parquet"))
                      if not p.name.endswith(".tokens.parquet")], ignore_index=True)


def pick(table: pd.DataFrame, estimator: str, k: int, embeddings: str = "input") -> pd.DataFrame:
    rows = table[(table["estimator"] == estimator) & (table["k"] == k) & (table["embeddings"] == embeddings)]
    if "metric" in rows:
        rows = rows[rows["metric"] == "euclidean"]
    return rows


def fmt_ci(value, low, high, digits=1) -> str:
    if not np.isfinite(value):
        return "n/a"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def before_final(before: pd.DataFrame | None, run: str, k: int, column: str, digits: int) -> str:
    """``column (n_tokens)`` of a run's last dump in the older table, or "" without one."""
    if before is None:
        return ""
    rows = pick(before[before["run"] == run], "mle", k)
    rows = rows[rows["step"] == rows["step"].max()]
    return f"{rows[column].iloc[0]:.{digits}f} ({int(rows['n_tokens'].iloc[0])})" if len(rows) else ""


def table(rows: list[str], with_before: bool) -> str:
    """The rows as markdown; without a before run, without its (empty) last column."""
    if not with_before:
        rows = [row.rsplit("|", 2)[0] + "|" for row in rows]
    return "\n".join(rows)


def redundancy_table(after: pd.DataFrame, before: pd.DataFrame | None, k: int) -> str:
    last = after[after["step"] == after.groupby("run")["step"].transform("max")]
    rows = ["| run | n tokens | MLE | isotropic null | covariance null | 1 - ID/d | 1 - ID/ID_null | before: 1 - ID/d (n) |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in pick(last, "mle", k).sort_values("run").itertuples():
        old = before_final(before, r.run, k, "redundancy", 3)
        rows.append(f"| {r.run} | {r.n_tokens} | {fmt_ci(r.value, r.ci_low, r.ci_high)} | {r.null_isotropic:.1f} | "
                    f"{r.null_covariance:.1f} | {r.redundancy:.3f} | "
                    f"{fmt_ci(r.redundancy_vs_null, r.redundancy_vs_null_ci_low, r.redundancy_vs_null_ci_high, 3)} | {old} |")
    return table(rows, before is not None)


def early_table(after: pd.DataFrame, before: pd.DataFrame | None, run: str, k: int) -> str:
    a = pick(after[after["run"] == run], "mle", k).set_index("step")
    b = None if before is None else pick(before[before["run"] == run], "mle", k).set_index("step")
    rows = ["| step | n tokens (seen by step) | MLE | isotropic null | covariance null | before: MLE (n, all seen) |",
            "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    for step, r in a.sort_index().iterrows():
        old = "" if b is None or step not in b.index else f"{b.loc[step, 'value']:.1f} ({int(b.loc[step, 'n_tokens'])})"
        rows.append(f"| {step} | {int(r.n_tokens)} | {fmt_ci(r.value, r.ci_low, r.ci_high)} | "
                    f"{r.null_isotropic:.1f} | {r.null_covariance:.1f} | {old} |")
    return table(rows, before is not None)


def comparison_table(comparison: pd.DataFrame, before: pd.DataFrame | None, k: int) -> str:
    rows = ["| subset | preset | seed | n tokens | MLE (common tokens) | TwoNN (common tokens) | isotropic null (MLE) | before: MLE, own seen set (n) |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    mle, twonn = pick(comparison, "mle", k), pick(comparison, "twonn", 2)
    for r in mle.sort_values(["preset", "subset", "seed"]).itertuples():
        t = twonn[twonn["run"] == r.run].iloc[0]
        old = before_final(before, r.run, k, "value", 1)
        rows.append(f"| {r.subset} | {r.preset} | {r.seed} | {r.n_tokens} | {fmt_ci(r.value, r.ci_low, r.ci_high)} | "
                    f"{fmt_ci(t.value, t.ci_low, t.ci_high)} | {r.null_isotropic:.1f} | {old} |")
    return table(rows, before is not None)


def register_spread(comparison: pd.DataFrame, k: int) -> str:
    """Per subset of the main preset: mean over seeds and the seed range, against the spread of subsets."""
    mle = pick(comparison, "mle", k)
    main = mle["preset"].mode().iloc[0]
    mle = mle[mle["preset"] == main]
    stats = mle.groupby("subset")["value"].agg(["mean", "min", "max", "count"])
    seed_range = (stats["max"] - stats["min"]).max()
    lines = ["| subset | mean over seeds | seed range | widest interval half-width |",
             "| --- | ---: | ---: | ---: |"]
    for subset, s in stats.iterrows():
        half = ((mle.loc[mle["subset"] == subset, "ci_high"] - mle.loc[mle["subset"] == subset, "ci_low"]) / 2).max()
        lines.append(f"| {subset} | {s['mean']:.2f} | {s['min']:.2f}-{s['max']:.2f} | {half:.2f} |")
    lines.append("")
    lines.append(f"Largest seed range within a subset: {seed_range:.2f}; range of the subsets' means: "
                 f"{stats['mean'].max() - stats['mean'].min():.2f}.")
    return "\n".join(lines)


def register_test_table(registers: pd.DataFrame) -> str:
    """The seed-blocked register tests (``register_tests.parquet``): F, p, its floor and the
    adjusted p of every ID measure of each preset, the family adjusted together."""
    rows = ["| preset | embeddings | metric | estimator | k | F (register after seed) | p | minimum p | adjusted p | relabellings |",
            "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in registers.sort_values(["preset", "embeddings", "metric", "estimator", "k"]).itertuples():
        rows.append(f"| {r.preset} | {r.embeddings} | {r.metric} | {r.estimator} | {r.k} | {r.f_statistic:.2f} | "
                    f"{r.p_value:.3f} | {r.p_min:.4f} | {r.p_adjusted:.3f} | {r.n_permutations:,}"
                    f"{'' if r.exact else ' drawn'} |")
    family = f"{len(registers)} tests, {registers['adjustment'].iloc[0]}" if len(registers) else "none"
    return "\n".join(rows) + f"\n\nFamily: every row ({family}); design: {registers['design'].iloc[0]}."


def similarity_table(similarity: pd.DataFrame) -> str:
    sim = similarity[similarity["embeddings"] == "input"]
    groups = {"seeds (same register, other seed)": sim["relation"] == "seeds",
              "registers, other seed": (sim["relation"] == "registers") & (sim["seed_a"] != sim["seed_b"]),
              "registers, same seed": (sim["relation"] == "registers") & (sim["seed_a"] == sim["seed_b"])}
    rows = ["| pairs (input embeddings, tiny preset) | n | cosine-sim. correlation: mean [min, max] over pairs | largest CI half-width | at init | rows permuted |",
            "| --- | ---: | ---: | ---: | ---: | ---: |"]
    tiny = (sim["preset_a"] == sim["preset_a"].mode().iloc[0]) & (sim["preset_a"] == sim["preset_b"])
    name = "cosine_similarity_correlation"
    for label, mask in groups.items():
        part = sim[mask & tiny]
        if part.empty:
            continue
        half = ((part[f"{name}_ci_high"] - part[f"{name}_ci_low"]) / 2).max()
        rows.append(f"| {label} | {len(part)} | {part[name].mean():.3f} [{part[name].min():.3f}, {part[name].max():.3f}] | "
                    f"{half:.3f} | {part[f'{name}_at_init'].mean():.3f} | {part[f'{name}_null_permuted'].mean():.3f} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--after", type=Path, default=Path("results"))
    parser.add_argument("--before", type=Path)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--run", default="ne-tiny-s0")
    args = parser.parse_args()
    after = read_ids(args.after)
    before = read_ids(args.before) if args.before else None
    print(f"## Redundancy against the null (final dumps, MLE k={args.k}, input embeddings)\n")
    print(redundancy_table(after, before, args.k))
    print(f"\n## Early steps with per-dump token sets ({args.run}, MLE k={args.k}, input embeddings)\n")
    print(early_table(after, before, args.run, args.k))
    comparison = pd.read_parquet(args.after / "geometry" / "id_comparison.parquet")
    print("\n## Registers on the same tokens (final dumps, input embeddings)\n")
    print(comparison_table(comparison, before, args.k))
    print()
    print(register_spread(comparison, args.k))
    print()
    print("\n## Register tests, seed-blocked (results/analyses/register_tests.parquet)\n")
    print(register_test_table(pd.read_parquet(args.after / "analyses" / "register_tests.parquet")))
    print("\n## Global similarity by relation (final dumps)\n")
    print(similarity_table(pd.read_parquet(args.after / "geometry" / "global_similarity.parquet")))


if __name__ == "__main__":
    main()
