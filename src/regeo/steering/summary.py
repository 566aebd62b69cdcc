"""One row per (source, target, concept) from the pair tables: transfer efficiencies over the alpha sweep.

The per-alpha efficiency of :mod:`regeo.steering.score` divides two numbers that are both small
near alpha 0 and mixes in a part of the effect that does not depend on the vector's direction
(every push of the residual stream costs some log-likelihood). The summary instead takes, per
pair and concept, the least-squares slope of the transferred effect on the native effect over
the sweep, on the part of the effects that is odd in alpha where the grid is symmetric. Pure
pandas: the summary rule and the figures read it without loading torch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SUMMARY_KEYS = ["source", "target", "concept"]
PAIR_COLUMNS = ["relation", "source_subset", "source_preset", "source_seed", "target_subset", "target_preset",
                "target_seed", "vector_kind", "d_source", "d_target", "layer_source", "n_layers_source",
                "layer_target", "n_layers_target", "map_r2", "n_shared_tokens"]


def effect_column(vector_kind: str) -> str:
    """The primary effect of a concept: log-likelihood shift (texts) or target-mass shift (tokens)."""
    return "loglik_shift" if vector_kind == "texts" else "target_mass_shift"


def odd_part(effect: pd.Series) -> pd.Series | None:
    """(e(a) - e(-a)) / 2 at each alpha a > 0 whose -a is also swept; None when the grid has no such pair.

    Any push of the residual stream, a random one too, costs log-likelihood on both text sets
    alike and rarely by the same amount, so raw effects carry a part that does not change sign
    with alpha. The odd part cancels it and keeps what the direction of the vector does.
    """
    values = effect.groupby(level=-1).first() if isinstance(effect.index, pd.MultiIndex) else effect
    alphas = [a for a in values.index if a > 0 and -a in values.index]
    if not alphas:
        return None
    return pd.Series([(values[a] - values[-a]) / 2 for a in alphas], index=alphas)


def sweep_efficiency(effect: pd.Series, native: pd.Series, min_native_effect: float) -> float:
    """Least-squares slope through the origin of ``effect`` on the native effect over the alpha sweep.

    sum(e * n) / sum(n^2): one number per pair that weighs the alphas by how much the native
    vector does there, so an alpha where the native effect is near zero cannot blow it up. NaN
    when no alpha has a native effect of at least ``min_native_effect``.
    """
    e, n = effect.to_numpy(float), native.to_numpy(float)
    finite = np.isfinite(e) & np.isfinite(n)
    e, n = e[finite], n[finite]
    if not len(n) or np.abs(n).max() < min_native_effect:
        return float("nan")
    return float((e * n).sum() / (n * n).sum())


def headline_parts(effect: pd.Series) -> tuple[pd.Series, str]:
    """(values, basis) the headline numbers use: the odd parts where the grid has +-alpha pairs, else raw effects."""
    odd = odd_part(effect)
    return (odd, "odd") if odd is not None else (effect, "raw")


def strength(values: pd.Series) -> float:
    """Root mean square of effects: how much a vector does over the sweep, whatever the sign."""
    v = values.to_numpy(float)
    v = v[np.isfinite(v)]
    return float(np.sqrt((v * v).mean())) if len(v) else float("nan")


def summarise(table: pd.DataFrame, min_native_effect: float) -> pd.DataFrame:
    """One row per (source, target, concept): sweep efficiencies of the transferred and random vectors.

    The headline numbers use the odd parts of the effects (:func:`odd_part`) when the alpha grid
    has +-alpha pairs (``efficiency_basis`` "odd"), else the raw effects ("raw"). Columns: the
    pair's description (PAIR_COLUMNS); ``metric`` (the concept's primary effect);
    ``efficiency`` (transferred vs native, :func:`sweep_efficiency`); ``efficiency_flag``: "ok",
    "native_effect_near_zero" (no native effect reaches ``min_native_effect``: efficiency NaN) or "native_not_above_random" (the native vector does no more than a random one of its
    norm, so the concept has no direction of its own in the target and the ratio means little);
    ``efficiency_raw`` (the slope on raw effects); ``efficiency_median`` (median of the library's
    per-alpha efficiencies that are defined); ``random_efficiency`` (the same slope for the
    random vectors, mean over draws: the chance level); ``native_strength``, ``random_strength``
    (root mean square of the headline effects); ``cosine_to_native`` of the transferred vector;
    ``native_slope`` (raw native effect per unit alpha, least squares through the origin);
    ``n_alphas``.
    """
    rows = []
    for (source, target, concept), part in table.groupby(SUMMARY_KEYS, sort=False):
        first = part.iloc[0]
        effect = effect_column(first["vector_kind"])
        by_condition = {name: group.set_index(["draw", "alpha"]).sort_index()
                        for name, group in part.groupby("condition")}
        native_raw = by_condition["native"].loc[0][effect]  # indexed by alpha
        native, basis = headline_parts(native_raw)
        transferred = by_condition["transferred"].loc[0]
        random_efficiency, random_strength = float("nan"), float("nan")
        if "random" in by_condition:
            randoms = by_condition["random"]
            draws = [headline_parts(randoms.loc[d][effect])[0] for d in randoms.index.get_level_values("draw").unique()]
            random_efficiency = float(np.mean([sweep_efficiency(r, native, min_native_effect) for r in draws]))
            random_strength = float(np.mean([strength(r) for r in draws]))
        native_strength = strength(native)
        if not np.nanmax(np.abs(native.to_numpy(float)), initial=0.0) >= min_native_effect:
            flag = "native_effect_near_zero"  # the condition under which sweep_efficiency gives NaN
        elif native_strength <= random_strength:
            flag = "native_not_above_random"
        else:
            flag = "ok"
        alphas = native_raw.index.to_numpy(float)
        defined = transferred["efficiency"][transferred["efficiency_flag"] == "ok"]
        rows.append({
            "source": source, "target": target, "concept": concept,
            **{c: first[c] for c in PAIR_COLUMNS},
            "metric": effect,
            "efficiency": sweep_efficiency(headline_parts(transferred[effect])[0], native, min_native_effect),
            "efficiency_basis": basis,
            "efficiency_flag": flag,
            "efficiency_raw": sweep_efficiency(transferred[effect], native_raw, min_native_effect),
            "efficiency_median": float(defined.median()) if len(defined) else float("nan"),
            "random_efficiency": random_efficiency,
            "native_strength": native_strength,
            "random_strength": random_strength,
            "cosine_to_native": float(transferred["cosine_to_native"].iloc[0]),
            "native_slope": float((native_raw.to_numpy(float) * alphas).sum() / (alphas * alphas).sum())
            if (alphas != 0).any() else float("nan"),
            "n_alphas": len(alphas),
        })
    return pd.DataFrame(rows)


def summarise_files(table_paths: list[str], min_native_effect: float, out_path) -> pd.DataFrame:
    """The pair tables read, summarised (:func:`summarise`) and written: rule ``steering_summary``."""
    import logging

    from regeo.io import read_parquet, write_parquet

    tables = [read_parquet(p) for p in table_paths]
    summary = summarise(pd.concat(tables, ignore_index=True), min_native_effect) if tables else pd.DataFrame()
    write_parquet(summary, out_path)
    log = logging.getLogger(__name__)
    for row in summary.itertuples():
        log.info("%s -> %s %s: efficiency %.3f (random %.3f)", row.source, row.target, row.concept,
                 row.efficiency, row.random_efficiency)
    return summary
