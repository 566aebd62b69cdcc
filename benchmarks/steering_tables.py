"""Markdown tables of docs/steering.md from a run's results/steering/transfer.parquet and alignment_depth.parquet.

Run by hand after the pipeline: ``.venv/bin/python benchmarks/steering_tables.py [results/steering]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd


def interval(row, column: str, digits: int = 3) -> str:
    value, low, high = row[column], row[f"{column}_ci_low"], row[f"{column}_ci_high"]
    return f"{value:.{digits}g} [{low:.{digits}g}, {high:.{digits}g}]"


def verdict(z: float, significant: bool) -> str:
    return f"{z:.1f}" if significant else f"{z:.1f} (n.s.)"


def transfer_table(summary: pd.DataFrame) -> str:
    lines = ["| pair | relation | concept | native | transferred | z (mapped null) | z first order | "
             "ratio | ceiling share | flag |", "| --- | --- | --- | --- | --- | ---: | ---: | --- | --- | --- |"]
    for _, row in summary.iterrows():
        lines.append(
            f"| {row.source} → {row.target} | {row.relation} | {row.concept} | {interval(row, 'native_effect')} "
            f"(z {verdict(row.native_z, row.native_significant)}) | {interval(row, 'transferred_effect')} | "
            f"{verdict(row.transferred_z_mapped, row.transferred_significant)} | "
            f"{row.transferred_z_first_order_mapped:.1f} | {interval(row, 'transfer_ratio', 2)} | "
            f"{interval(row, 'ceiling_share', 2)} | {row.flag} |")
    return "\n".join(lines)


def map_table(summary: pd.DataFrame) -> str:
    pairs = summary.drop_duplicates(["source", "target"])
    lines = ["| pair | shared tokens (fit / held out) | R² fit | R² held out | top-1 | top-10 | shuffled R² | "
             "shuffled top-1 | hidden-state map R² (positions fit / held out) |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for _, row in pairs.iterrows():
        lines.append(
            f"| {row.source} → {row.target} | {row.n_map_fit_tokens} / {row.n_map_heldout_tokens} | "
            f"{row.map_r2_fit:.3f} | {row.map_r2_heldout:.3f} | {row.map_top1_heldout:.3f} | "
            f"{row.map_top10_heldout:.3f} | {row.shuffled_map_r2_heldout:.3f} | {row.shuffled_map_top1_heldout:.3f} | "
            f"{row.hidden_map_r2_heldout:.3f} ({row.n_hidden_fit_positions} / {row.n_hidden_heldout_positions}) |")
    return "\n".join(lines)


def depth_table(depth: pd.DataFrame) -> str:
    depth = depth[depth.source != depth.target]
    lines = ["| pair | depth | embedding map R² | cosine | map fit at that depth R² |", "| --- | ---: | ---: | ---: | ---: |"]
    for _, row in depth.iterrows():
        lines.append(f"| {row.source} → {row.target} | {row.relative_depth:.2f} | {row.embedding_map_r2:.3f} | "
                     f"{row.embedding_map_cosine:.3f} | {row.fitted_map_r2:.3f} |")
    return "\n".join(lines)


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "results/steering")
    summary = pd.read_parquet(root / "transfer.parquet")
    print(transfer_table(summary), map_table(summary), depth_table(pd.read_parquet(root / "alignment_depth.parquet")),
          sep="\n\n")
    checks = summary[["source", "target", "concept", "null_check_error", "native_first_order", "native_effect"]]
    print("\nnull_check_error: max", f"{checks.null_check_error.max():.2f}", "median", f"{checks.null_check_error.median():.2f}")


if __name__ == "__main__":
    main()
