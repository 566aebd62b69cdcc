"""The tables over all steering pairs: native effects once per (target, concept), transfers per
(pair, concept, map) with p adjusted across each family, the spread over the pairs of a relation,
and alignment through depth.

Each pair job computes its own rows (:func:`regeo.steering.transfer.run_transfer`), because the
intervals need the bootstrap replicates, which only the job has; the summary rule
(``steering_summary``) joins them, adjusts the p-values and writes:

``native.parquet``, one row per (target, layer_target, concept): B's own vector. Every pair job
into a target recomputes it from the same texts and seeds, so the pairs' rows agree (a check
logs any that do not) and one is kept (``n_pair_jobs``: how many computed it). Family: every row
of the table.

``transfer.parquet``, one row per (source, target, concept, map): A's vector carried into B by
``map``: ``output``/``input``/``both`` (the Emb2Emb fit rows; ``default_map`` marks
``steering.embeddings``, the others are ``steering.map_variants``), ``hidden_states`` (the
ceiling) and ``shuffled_<rows>`` (the shuffled-pairs baseline, first order only). Families: per
``map``, its non-self rows (a map's variants are other analyses of the same question, so the
default map's adjusted p does not depend on how many variants are reported; self-transfer is
plumbing, not a test: its ``p_adjusted`` is NaN).

Columns of both (the native table has no map, ratio or mapped-null columns):

- ``effect`` (per unit alpha over the sweep, odd part) and ``first_order`` (g . v), each with
  ``_ci_low``/``_ci_high``: bootstrap over vector passages, the maps' fit units and held-out
  passages (:mod:`regeo.steering.effects` for how the sweep gets the first two);
- the label-permutation test of the first-order slope: ``p_value`` ((1 + b) / (1 + B), two-sided),
  ``p_min`` (its floor), ``n_permutations``, ``z_permutation``; ``p_adjusted`` with
  ``adjustment`` (holm or bh) and ``family``; ``significant`` (``p_adjusted`` below
  1 - ``confidence``); ``null_permutation_mean``/``sd``;
- extra nulls, not read for significance: ``p_isotropic``/``z_isotropic`` and (transfers)
  ``p_mapped``/``z_mapped`` against ``n_null`` random directions, with their means and sds;
- ``null_check_error``: the largest distance, in null sds, between a checked null draw's swept
  and first-order slopes (the default map's transfer rows and the native rows);
- transfers: ``transfer_ratio`` (effect / the native effect in B), ``ceiling_share`` (effect /
  the hidden-state map's effect; not clipped: an embedding map can beat the ceiling) with
  intervals on the same replicates; the map's checks (``map_fit_unit``, ``n_map_fit``,
  ``n_map_heldout``, ``map_r2_fit``, ``map_r2_heldout``, ``map_top1_heldout``,
  ``map_top10_heldout``, ``map_rank``); ``native_significant`` (the native table's verdict for
  the pair's target) and ``flag``: ``native_not_significant`` (the target has no direction of
  its own for the concept: its ratios mean nothing), ``first_order_null_off`` (a checked null
  draw more than 1 null sd off) or ``ok``.

``transfer_by_relation.parquet``: per relation, concept and map, the spread of the transfer
ratio over the pairs of that relation between the same two kinds of model (subset and preset,
either direction, any seeds): with several seeds, the ratio across seed pairs is the spread to
read first, before any one pair's interval. Where the relation holds one pair of runs transferred
both ways, ``direction_difference`` (A -> B minus B -> A) with its paired interval and
``directions_differ`` (the interval excludes 0): two directions are compared by the paired
bootstrap of their difference, not by whether their intervals overlap (DESIGN.md, "Intervals").

Pure pandas (and :mod:`regeo.stats`): the rule and the figures read it without torch.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from regeo.io import read_parquet, write_parquet
from regeo.stats import adjust

log = logging.getLogger(__name__)
METRIC_LABELS = {"loglik": "log-lik. shift per unit alpha\n(pos - neg, nats/token)",
                 "logodds": "target log-odds shift\nper unit alpha"}
NATIVE_KEY = ["target", "layer_target", "concept", "method"]
DEFAULT_METHOD = "mean_difference"  # regeo.steering.methods.MEAN_DIFFERENCE, without importing torch


def _read(paths: list[str]) -> pd.DataFrame:
    """The tables concatenated; a table from before vector methods is the default method's."""
    table = pd.concat([read_parquet(p) for p in paths], ignore_index=True) if paths else pd.DataFrame()
    if not table.empty and "method" not in table:
        table["method"] = DEFAULT_METHOD
    return table


def _method_family(name: str | pd.Series, method: pd.Series) -> pd.Series:
    """A family per method: the default method's keeps its name (its adjusted p does not depend on
    how many further methods are reported), a further method's is suffixed with it."""
    return pd.Series(np.where(method == DEFAULT_METHOD, name, name + " / " + method), index=method.index)


def _adjusted(table: pd.DataFrame, tested: pd.Series, family: pd.Series, adjustment: str) -> pd.DataFrame:
    """``p_adjusted`` within each family of the ``tested`` rows, ``significant`` on it."""
    table = table.copy()
    table["p_adjusted"] = np.nan
    table["adjustment"] = adjustment
    table["family"] = family.where(tested, "not tested (self-transfer)")
    for name in family[tested].unique():
        members = tested & (family == name)
        table.loc[members, "p_adjusted"] = adjust(table.loc[members, "p_value"].to_numpy(), adjustment)
    table["significant"] = table["p_adjusted"] < 1 - table["confidence"]
    return table


def native_table(natives: pd.DataFrame, adjustment: str) -> pd.DataFrame:
    """The pairs' native rows once per (target, layer_target, concept), adjusted across the table."""
    if natives.empty:
        return natives
    groups = natives.groupby(NATIVE_KEY, sort=False)
    for key, part in groups:
        spread = (part[["effect", "first_order", "p_value"]].max() - part[["effect", "first_order", "p_value"]].min())
        if (spread.abs() > 1e-9 * (1 + part[["effect", "first_order", "p_value"]].abs().max())).any():
            log.warning("native rows of %s differ between pair jobs by %s; the first is kept", key, spread.to_dict())
    table = groups.head(1).reset_index(drop=True)
    table["n_pair_jobs"] = groups.size().to_numpy()
    return _adjusted(table, pd.Series(True, index=table.index), _method_family("native", table["method"]), adjustment)


def transfer_table(transfers: pd.DataFrame, native: pd.DataFrame, adjustment: str) -> pd.DataFrame:
    """The pairs' transfer rows, adjusted per map over the non-self rows, with the native verdict and a flag."""
    if transfers.empty:
        return transfers
    tested = transfers["source"] != transfers["target"]
    table = _adjusted(transfers, tested, _method_family("transfer: " + transfers["map"], transfers["method"]),
                      adjustment)
    verdict = native.set_index(NATIVE_KEY)["significant"]
    table["native_significant"] = [bool(verdict.get(key, False)) for key in zip(*(table[k] for k in NATIVE_KEY))]
    table["flag"] = np.where(~table["native_significant"], "native_not_significant",
                             np.where(table["null_check_error"] > 1, "first_order_null_off", "ok"))
    return table


def direction_difference(forward: pd.Series, backward: pd.Series, confidence: float) -> dict:
    """The two directions of one pair of runs, A -> B against B -> A: the difference of their transfer
    ratios with a paired percentile interval. Paired: both jobs draw replicate r from the same seeds
    and keys (the concept's vector and held-out passages, the map's tokens, the ceiling's passages),
    so replicate r resamples the same passages and token pairs in both."""
    a, b = np.asarray(forward["transfer_ratio_replicates"]), np.asarray(backward["transfer_ratio_replicates"])
    difference = float(forward["transfer_ratio"] - backward["transfer_ratio"])
    if a.size == 0 or a.size != b.size:
        return {"direction_difference": difference, "direction_difference_ci_low": np.nan,
                "direction_difference_ci_high": np.nan, "directions_differ": False}
    replicates = a - b
    replicates = replicates[np.isfinite(replicates)]
    tail = (1 - confidence) / 2
    low, high = np.quantile(replicates, [tail, 1 - tail]) if replicates.size else (np.nan, np.nan)
    return {"direction_difference": difference, "direction_difference_ci_low": float(low),
            "direction_difference_ci_high": float(high), "directions_differ": bool(low > 0 or high < 0)}


def relation_table(transfer: pd.DataFrame) -> pd.DataFrame:
    """The transfer ratio's spread over the non-self pairs of each relation between two kinds of model,
    and, for each pair of runs transferred both ways, the paired difference of the two directions."""
    rows = transfer[transfer["source"] != transfer["target"]]
    if rows.empty:
        return pd.DataFrame()
    kinds = [" / ".join(sorted([f"{a_s}-{a_p}", f"{b_s}-{b_p}"]))
             for a_s, a_p, b_s, b_p in zip(rows["source_subset"], rows["source_preset"], rows["target_subset"],
                                           rows["target_preset"])]
    rows = rows.assign(models=kinds)
    out = []
    for (relation, models, concept, method, map_), part in rows.groupby(["relation", "models", "concept", "method", "map"],
                                                                         sort=False):
        ratios = part["transfer_ratio"]
        row = dict(relation=relation, models=models, concept=concept, method=method, map=map_,
                   default_map=bool(part["default_map"].iloc[0]), n_pairs=len(part),
                   pairs="; ".join(f"{a} → {b}" for a, b in zip(part["source"], part["target"])),
                   transfer_ratio_mean=float(ratios.mean()), transfer_ratio_min=float(ratios.min()),
                   transfer_ratio_max=float(ratios.max()),
                   transfer_ratio_sd=float(ratios.std(ddof=1)) if len(part) > 1 else np.nan,
                   effect_mean=float(part["effect"].mean()), n_significant=int(part["significant"].sum()),
                   n_native_significant=int(part["native_significant"].sum()))
        by_pair = part.set_index(["source", "target"])
        both_ways = [(a, b) for a, b in by_pair.index if a < b and (b, a) in by_pair.index]
        if len(both_ways) == 1 and "transfer_ratio_replicates" in part:  # one pair of runs, both directions
            a, b = both_ways[0]
            row.update(direction_difference(by_pair.loc[(a, b)], by_pair.loc[(b, a)],
                                            float(part["confidence"].iloc[0])), direction=f"{a} → {b} minus {b} → {a}")
        out.append(row)
    return pd.DataFrame(out)


def depth_effect_table(depth_effects: pd.DataFrame, adjustment: str) -> pd.DataFrame:
    """The pairs' layer-sweep rows (:mod:`regeo.steering.depth_sweep`) with p adjusted per condition:
    the native rows once per (target, concept, depth) (every pair job into a target recomputes
    them), the transfer rows over the non-self pairs."""
    if depth_effects.empty:
        return depth_effects
    table = depth_effects.copy()
    table["p_adjusted"] = np.nan
    table["adjustment"] = adjustment
    native = table["condition"] == "native"
    first = native & ~table.duplicated(["target", "concept", "method", "layer_target"])
    transfer = ~native & (table["source"] != table["target"])
    table["family"] = np.where(native, "depth: native", np.where(transfer, "depth: transferred",
                                                                 "not tested (self-transfer)"))
    table.loc[first, "p_adjusted"] = adjust(table.loc[first, "p_value"].to_numpy(), adjustment)
    adjusted = table.loc[first].set_index(["target", "concept", "method", "layer_target"])["p_adjusted"]
    keys = list(zip(table["target"], table["concept"], table["method"], table["layer_target"]))
    table.loc[native, "p_adjusted"] = [adjusted.get(k, np.nan) for k, is_native in zip(keys, native) if is_native]
    if transfer.any():
        table.loc[transfer, "p_adjusted"] = adjust(table.loc[transfer, "p_value"].to_numpy(), adjustment)
    table["significant"] = table["p_adjusted"] < 1 - table["confidence"]
    return table


def summarise_files(summary_paths: list[str], native_paths: list[str], depth_paths: list[str], transfer_path,
                    native_path, relation_path, depth_path, adjustment: str, *, depth_effect_paths=(),
                    depth_effect_path=None, passage_paths=(), passage_path=None) -> pd.DataFrame:
    """The pairs' tables joined, adjusted and written: rule ``steering_summary``."""
    native = native_table(_read(native_paths), adjustment)
    transfer = transfer_table(_read(summary_paths), native, adjustment)
    write_parquet(native, native_path)
    write_parquet(transfer, transfer_path)
    write_parquet(relation_table(transfer) if not transfer.empty else pd.DataFrame(), relation_path)
    write_parquet(_read(depth_paths), depth_path)
    if depth_effect_path is not None:
        write_parquet(depth_effect_table(_read(list(depth_effect_paths)), adjustment), depth_effect_path)
    if passage_path is not None:
        write_parquet(_read(list(passage_paths)), passage_path)
    native = native[native["method"] == DEFAULT_METHOD] if not native.empty else native
    for row in native.itertuples():
        log.info("native %s %s: effect %.4g [%.4g, %.4g], p %.2g (adjusted %.2g)%s", row.target, row.concept,
                 row.effect, row.effect_ci_low, row.effect_ci_high, row.p_value, row.p_adjusted,
                 "" if row.significant else " not significant")
    headline = transfer[transfer["default_map"].astype(bool) & (transfer["method"] == DEFAULT_METHOD)] \
        if not transfer.empty else transfer
    for row in headline.itertuples():
        log.info("%s -> %s %s: transferred %.4g, p %.2g (adjusted %.2g), ratio %.2f [%.2f, %.2f], ceiling share "
                 "%.2f%s", row.source, row.target, row.concept, row.effect, row.p_value, row.p_adjusted,
                 row.transfer_ratio, row.transfer_ratio_ci_low, row.transfer_ratio_ci_high, row.ceiling_share,
                 "" if row.significant else " not significant")
    return transfer
