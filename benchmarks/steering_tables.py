"""Markdown tables of docs/steering.md from a run's results/steering/ tables.

Run by hand after the pipeline: ``.venv/bin/python benchmarks/steering_tables.py [results/steering]``.
Reads native.parquet, transfer.parquet, transfer_by_relation.parquet and alignment_depth.parquet.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd


def interval(row, column: str, digits: int = 3) -> str:
    value, low, high = row[column], row[f"{column}_ci_low"], row[f"{column}_ci_high"]
    if not np.isfinite(value):
        return "–"
    return f"{value:.{digits}g} [{low:.{digits}g}, {high:.{digits}g}]"


def p_text(row) -> str:
    """p (floor), adjusted p and the verdict."""
    if not np.isfinite(row.p_value):
        return "– | – |"
    if not np.isfinite(row.p_adjusted):
        return f"{row.p_value:.2g} | not tested (self) |"
    adjusted = f"{row.p_adjusted:.2g}"
    verdict = "" if row.significant else " (n.s.)"
    return f"{row.p_value:.2g} | {adjusted}{verdict} |"


def native_table(native: pd.DataFrame) -> str:
    lines = ["| target | concept | effect per unit alpha | first order | z (label perm.) | p | p adj. (Holm) | "
             "flag |", "| --- | --- | --- | --- | ---: | ---: | ---: | --- |"]
    for _, row in native.iterrows():
        flag = "first_order_null_off" if row.null_check_error > 1 else "ok"
        lines.append(f"| {row.target} | {row.concept} | {interval(row, 'effect')} | {interval(row, 'first_order')} | "
                     f"{row.z_permutation:.1f} | {p_text(row)} {flag} |")
    return "\n".join(lines)


def transfer_table(transfer: pd.DataFrame) -> str:
    rows = transfer[transfer["default_map"]]
    lines = ["| pair | relation | concept | transferred | z (label perm.) | p | p adj. (Holm) | ratio | "
             "ceiling share | flag |", "| --- | --- | --- | --- | ---: | ---: | ---: | --- | --- | --- |"]
    for _, row in rows.iterrows():
        lines.append(f"| {row.source} → {row.target} | {row.relation} | {row.concept} | {interval(row, 'effect')} | "
                     f"{row.z_permutation:.1f} | {p_text(row)} {interval(row, 'transfer_ratio', 2)} | "
                     f"{interval(row, 'ceiling_share', 2)} | {row.flag} |")
    return "\n".join(lines)


def variants_table(transfer: pd.DataFrame) -> str:
    rows = transfer[(transfer["condition"] == "transferred") & (transfer["source"] != transfer["target"])]
    lines = ["| pair | concept | map rows | R² held out | top-1 | transferred | p | p adj. | ratio | p pairing |",
             "| --- | --- | --- | ---: | ---: | --- | ---: | ---: | --- | ---: |"]
    for _, row in rows.iterrows():
        lines.append(f"| {row.source} → {row.target} | {row.concept} | {row['map']} | {row.map_r2_heldout:.3f} | "
                     f"{row.map_top1_heldout:.3f} | {interval(row, 'effect')} | {p_text(row)} "
                     f"{interval(row, 'transfer_ratio', 2)} | {row.p_pairing:.2g} |")
    return "\n".join(lines)


def map_table(transfer: pd.DataFrame) -> str:
    pairs = transfer.drop_duplicates(["source", "target", "map"]).set_index(["source", "target", "map"]).sort_index()
    lines = ["| pair | shared tokens (fit / held out) | R² held out: output / input / both | top-1: output / input / "
             "both | shuffled R² | hidden-state map R² (positions fit / held out) |",
             "| --- | --- | --- | --- | ---: | --- |"]
    for source, target in dict.fromkeys(zip(transfer["source"], transfer["target"])):
        part = pairs.loc[(source, target)]
        rows = [r for r in ("output", "input", "both") if r in part.index]
        r2 = " / ".join(f"{part.loc[r, 'map_r2_heldout']:.3f}" for r in rows)
        top1 = " / ".join(f"{part.loc[r, 'map_top1_heldout']:.3f}" for r in rows)
        shuffled = part.loc[[m for m in part.index if m.startswith("shuffled_")][0]]
        hidden = part.loc["hidden_states"]
        lines.append(f"| {source} → {target} | {part.loc[rows[0], 'n_map_fit']} / {part.loc[rows[0], 'n_map_heldout']} "
                     f"| {r2} | {top1} | {shuffled.map_r2_heldout:.3f} | {hidden.map_r2_heldout:.3f} "
                     f"({hidden.n_map_fit} / {hidden.n_map_heldout}) |")
    return "\n".join(lines)


def relation_table(by_relation: pd.DataFrame) -> str:
    rows = by_relation[by_relation["default_map"]]
    lines = ["| relation | models | concept | pairs | transfer ratio per pair | A → B minus B → A [paired 95 %] |",
             "| --- | --- | --- | ---: | --- | --- |"]
    for _, row in rows.iterrows():
        difference = "–"
        if "direction_difference" in row and np.isfinite(row.get("direction_difference", np.nan)):
            difference = (f"{row.direction_difference:.2f} [{row.direction_difference_ci_low:.2f}, "
                          f"{row.direction_difference_ci_high:.2f}]" + (" differ" if row.directions_differ else ""))
        lines.append(f"| {row.relation} | {row.models} | {row.concept} | {row.n_pairs} | "
                     f"{row.transfer_ratio_min:.2f} to {row.transfer_ratio_max:.2f} | {difference} |")
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
    native = pd.read_parquet(root / "native.parquet")
    transfer = pd.read_parquet(root / "transfer.parquet")
    by_relation = pd.read_parquet(root / "transfer_by_relation.parquet")
    depth = pd.read_parquet(root / "alignment_depth.parquet")
    print(native_table(native), transfer_table(transfer), variants_table(transfer), map_table(transfer),
          relation_table(by_relation), depth_table(depth), sep="\n\n")
    checks = pd.concat([native["null_check_error"], transfer.loc[transfer["default_map"], "null_check_error"]])
    print("\nnull_check_error: max", f"{checks.max():.2f}", "median", f"{checks.median():.2f}")


if __name__ == "__main__":
    main()
