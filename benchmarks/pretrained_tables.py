"""The tables of docs/pretrained.md, from a results directory of `--configfile config/pretrained.yaml`.

Run by hand after the pipeline:

    .venv/bin/python benchmarks/pretrained_tables.py [--results results] [--run smollm2-135m]

Every value is printed with its interval and null and with the token or passage count it used,
as the tables in the doc show them; the steering tables reuse benchmarks/steering_tables.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from steering_tables import interval, map_table, transfer_table, verdict  # noqa: E402


def ci(value, low, high, digits: int = 3) -> str:
    return f"{value:.{digits}g} [{low:.{digits}g}, {high:.{digits}g}]"


def span(values: pd.Series, digits: int = 3) -> str:
    return f"{values.min():.{digits}g}-{values.max():.{digits}g}"


def against_null(r) -> str:
    """An ID row's last cells: covariance null, redundancy against the null, and its token set."""
    redundancy = ci(r.redundancy_vs_null, r.redundancy_vs_null_ci_low, r.redundancy_vs_null_ci_high, 2)
    return f"{r.null_covariance:.1f} | {redundancy} | {r.n_tokens} ({r.token_set})"


def id_table(table: pd.DataFrame) -> str:
    last = table[(table.step == table.step.max()) & (table.embeddings == "input")]
    lines = ["| estimator | k | ID [95 %] | isotropic null | covariance null | redundancy vs null [95 %] | tokens (set) |",
             "| --- | ---: | --- | ---: | ---: | --- | --- |"]
    for _, r in last.iterrows():
        lines.append(f"| {r.estimator} | {r.k} | {ci(r.value, r.ci_low, r.ci_high)} | {r.null_isotropic:.1f} | "
                     f"{against_null(r)} |")
    return "\n".join(lines)


def id_comparison_table(table: pd.DataFrame, run: str) -> str:
    rows = table[(table.embeddings == "input") & (table.estimator == "mle") & (table.k == 20)]
    lines = ["| run | ID [95 %] | covariance null | redundancy vs null [95 %] | tokens (set) |",
             "| --- | --- | ---: | --- | --- |"]
    for _, r in rows.iterrows():
        lines.append(f"| {r.run} | {ci(r.value, r.ci_low, r.ci_high)} | {against_null(r)} |")
    return "\n".join(lines)


def similarity_table(table: pd.DataFrame, run: str) -> str:
    rows = table[table.embeddings == "input"]
    with_run = rows[(rows.run_a == run) | (rows.run_b == run)]
    lines = ["| pair | tokens | cos-sim correlation [95 %] | rows permuted | linear CKA [95 %] | rows permuted |",
             "| --- | ---: | --- | ---: | --- | ---: |"]
    for _, r in with_run.iterrows():
        other = r.run_b if r.run_a == run else r.run_a
        lines.append(f"| {run} – {other} | {r.n_tokens} | "
                     f"{ci(r.cosine_similarity_correlation, r.cosine_similarity_correlation_ci_low, r.cosine_similarity_correlation_ci_high)} | "
                     f"{r.cosine_similarity_correlation_null_permuted:.3f} | "
                     f"{ci(r.linear_cka, r.linear_cka_ci_low, r.linear_cka_ci_high)} | {r.linear_cka_null_permuted:.3f} |")
    trained = rows[(rows.run_a != run) & (rows.run_b != run)]
    lines.append(f"\ntrained runs among themselves (input): correlation {span(trained.cosine_similarity_correlation)}, "
                 f"CKA {span(trained.linear_cka)}, tokens {trained.n_tokens.min()}-{trained.n_tokens.max()}")
    return "\n".join(lines)


def lle_table(table: pd.DataFrame, run: str) -> str:
    rows = table[(table.embeddings == "input") & ((table.run_a == run) | (table.run_b == run))]
    lines = ["| A → B (B rebuilt with A's weights) | tokens | relative error [95 %] | random weights | rows permuted | "
             "kNN Jaccard [95 %] | rows permuted |", "| --- | ---: | --- | ---: | ---: | --- | ---: |"]
    for _, r in rows.iterrows():
        lines.append(f"| {r.run_a} → {r.run_b} | {r.n_tokens} | "
                     f"{ci(r.relative_error, r.relative_error_ci_low, r.relative_error_ci_high)} | "
                     f"{r.random_relative_error:.3f} | {r.relative_error_null_permuted:.3f} | "
                     f"{ci(r.jaccard, r.jaccard_ci_low, r.jaccard_ci_high)} | {r.jaccard_null_permuted:.4f} |")
    return "\n".join(lines)


def evaluation_table(table: pd.DataFrame) -> str:
    bpb = table.pivot(index="run", columns="eval_subset", values="bits_per_byte")
    tokens = table.pivot(index="run", columns="eval_subset", values="tokens")
    subsets = list(bpb.columns)
    lines = ["| run | " + " | ".join(subsets) + " | val tokens per split |", "| --- |" + " ---: |" * len(subsets) + " --- |"]
    for run in bpb.index:
        counts = tokens.loc[run]
        lines.append(f"| {run} | " + " | ".join(f"{bpb.loc[run, s]:.2f}" for s in subsets)
                     + f" | {counts.min()}-{counts.max()} |")
    return "\n".join(lines)


def native_sweep_table(sweep: pd.DataFrame) -> str:
    rows = sweep[sweep.condition.isin(["native", "null_isotropic"])]
    lines = ["| concept | condition | alpha | effect [95 %] | first-order prediction | log-lik. shift | log-odds shift |",
             "| --- | --- | ---: | --- | ---: | ---: | ---: |"]
    for _, r in rows.iterrows():
        lines.append(f"| {r.concept} | {r.condition} | {r.alpha:g} | {ci(r.effect, r.ci_low, r.ci_high)} | "
                     f"{r.first_order:.3g} | {r.loglik_shift:.3g} | {r.logodds_shift:.3g} |")
    return "\n".join(lines)


def native_table(summary: pd.DataFrame) -> str:
    lines = ["| pair | concept | layer (of n) | native effect [95 %] | z (isotropic null) | first order [95 %] | "
             "z first order | null sd | null check error (null sds) | held-out passages (tokens) |",
             "| --- | --- | --- | --- | --- | --- | ---: | ---: | ---: | --- |"]
    for _, r in summary.iterrows():
        lines.append(f"| {r.source} → {r.target} | {r.concept} | {r.layer_target} ({r.n_layers_target}) | "
                     f"{interval(r, 'native_effect')} | {verdict(r.native_z, r.native_significant)} | "
                     f"{interval(r, 'native_first_order')} | {r.native_z_first_order:.1f} | {r.null_isotropic_sd:.3g} | "
                     f"{r.null_check_error:.2f} | {r.n_heldout_positive} + {r.n_heldout_negative} ({r.n_heldout_tokens}) |")
    return "\n".join(lines)


def timings(results: Path, run: str) -> str:
    lines = ["| job | wall s | peak RSS MB |", "| --- | ---: | ---: |"]
    wanted = [p for p in sorted((results / "benchmarks").rglob("*.tsv")) if run in p.name or p.stem in (
        "evaluate", "global_similarity", "lle_comparison", "id_comparison")]
    for path in wanted:
        row = pd.read_csv(path, sep="\t").iloc[-1]
        lines.append(f"| {path.parent.name}/{path.stem} | {row.s:.0f} | {row.max_rss:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--run", default="smollm2-135m")
    args = parser.parse_args()
    r, run = args.results, args.run
    geometry = r / "geometry"
    print(f"## ID of {run} (last dump)\n\n{id_table(pd.read_parquet(geometry / 'id' / f'{run}.parquet'))}")
    print(f"\n## ID comparison (MLE k 20)\n\n{id_comparison_table(pd.read_parquet(geometry / 'id_comparison.parquet'), run)}")
    print(f"\n## Global similarity\n\n{similarity_table(pd.read_parquet(geometry / 'global_similarity.parquet'), run)}")
    print(f"\n## LLE\n\n{lle_table(pd.read_parquet(geometry / 'lle_comparison.parquet'), run)}")
    print(f"\n## Bits per byte\n\n{evaluation_table(pd.read_parquet(r / 'eval' / 'cross_register.parquet'))}")
    summary = pd.read_parquet(r / "steering" / "transfer.parquet")
    mine = summary[(summary.source == run) | (summary.target == run)]
    print(f"\n## Native steering\n\n{native_table(summary[summary.source == summary.target])}")
    print(f"\n## Native sweep in {run}\n\n"
          f"{native_sweep_table(pd.read_parquet(r / 'steering' / f'{run}__{run}.parquet'))}")
    print(f"\n## Transfer\n\n{transfer_table(mine)}\n\n{map_table(mine)}")
    print("\nshared token strings per pair:", ", ".join(
        f"{a} -> {b}: {n}" for a, b, n in mine.drop_duplicates(["source", "target"])[["source", "target", "n_shared_tokens"]].itertuples(index=False)))
    print(f"\n## Job times\n\n{timings(r, run)}")


if __name__ == "__main__":
    main()
