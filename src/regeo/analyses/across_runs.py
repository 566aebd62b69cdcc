"""Across runs: does the space predict performance (RQ3), and does redundancy grow with size
(Kataiwa et al.)? Tables of the pipeline in, tables out.

RQ3 correlates, across the runs of one preset, each run's final ID relative to its isotropic null
(per estimator, from ``id_comparison``: every run on the same tokens) and its mean similarity to
the runs of other seeds (``global_similarity``: other initialisations, so the shared start does
not count) with its validation loss on its own register and averaged over every register
(``cross_register``). The unit is the subset, not the run: a subset's seeds share their
documents, so each subset's variables are averaged over its seeds before Spearman's rho is taken
across subsets; its interval resamples subsets and its null permutes the losses over subsets
(:mod:`regeo.stats`: p = (1 + b) / (1 + B), the minimum attainable p beside it, Holm or BH across
each preset's family). With 5 subsets no p can go below 2/120 = 0.017 and the null band is nearly
[-1, 1]: the verdict says so. The final dump's properties (``prop_*``) are geometry variables too,
and every other one is also read beyond effective rank (a partial Spearman correlation): across
models effective rank tracks training choices (arXiv 2602.20433), so a variable that only
restates it predicts nothing new.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from regeo.geometry.intervals import TokenBootstrap
from regeo.geometry.postprocess import raw_rows
from regeo.stats import (adjust, block_relabellings, minimum_p, pearson_rows, permutation_p, rank_residuals, spearman,
                         spearman_rows)

# The final dump's properties (input embeddings) RQ3 reads as geometry variables, ``prop_{name}``.
PROPERTY_VARIABLES = ("effective_rank", "mean_cosine", "isoscore", "rogue_share_top1")
# The confound every other geometry variable is read against (arXiv 2602.20433: across models the
# effective rank tracks training choices): does a variable predict performance beyond it?
CONTROL = "prop_effective_rank"
GEOMETRY_PREFIXES = ("id_", "similarity", "prop_")
_RESIDUAL_TOL = 1e-9  # rank residuals below this are float noise of an exact fit


def measured(id_comparison: pd.DataFrame, measures: list[dict] | None) -> pd.DataFrame:
    """The rows of the ID ``measures`` ({estimator, k, metric}; the table's first metric where a
    measure names none); all rows for None."""
    if measures is None or id_comparison.empty:
        return id_comparison
    first = id_comparison["metric"].iloc[0]
    wanted = {(m["estimator"], int(m["k"]), m.get("metric") or first) for m in measures}
    keys = zip(id_comparison["estimator"], id_comparison["k"], id_comparison["metric"])
    return id_comparison[[(e, int(k), metric) in wanted for e, k, metric in keys]]


def final_properties(properties: pd.DataFrame, embeddings: str = "input") -> pd.DataFrame:
    """One row per run (index), ``prop_{name}`` of :data:`PROPERTY_VARIABLES` at its last dump."""
    rows = properties[(properties["embeddings"] == embeddings) & properties["property"].isin(PROPERTY_VARIABLES)]
    last = rows.groupby("run")["step"].transform("max")
    final = rows[rows["step"] == last]
    wide = final.pivot_table(index="run", columns="property", values="value", dropna=False)
    return wide.reindex(columns=list(PROPERTY_VARIABLES)).add_prefix("prop_")


def run_variables(id_comparison: pd.DataFrame, similarity: pd.DataFrame, evaluation: pd.DataFrame,
                  embeddings: str = "input", measures: list[dict] | None = None,
                  benchmarks: pd.DataFrame | None = None, properties: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per trained run: subset, preset, seed, ``id_{estimator}_k{k}`` = value / isotropic
    null (of the ID ``measures``; every row for None), ``similarity`` (mean cosine-similarity
    correlation to runs of another seed), with ``properties`` (the runs' properties tables) the final
    dump's ``prop_{name}`` (:func:`final_properties`), the performance measures ``loss_own`` and
    ``loss_mean``, and with ``benchmarks`` (the harness table) a ``bench_{task}_{metric}`` per task
    (regeo.harness.ranking.benchmark_columns)."""
    id_comparison = measured(id_comparison, measures)
    ids = id_comparison[(id_comparison["embeddings"] == embeddings)
                        & (id_comparison["metric"] == id_comparison["metric"].iloc[0])].copy()
    ids["variable"] = "id_" + ids["estimator"] + "_k" + ids["k"].astype(str)
    ids["relative"] = ids["value"] / ids["null_isotropic"]
    wide = ids.pivot_table(index="run", columns="variable", values="relative")
    similarity = raw_rows(similarity)  # RQ3 reads the raw rows; the postprocessed ones are their check
    sim = similarity[(similarity["embeddings"] == embeddings) & (similarity["seed_a"] != similarity["seed_b"])]
    both = pd.concat([sim[["run_a", "cosine_similarity_correlation"]].set_axis(["run", "s"], axis=1),
                      sim[["run_b", "cosine_similarity_correlation"]].set_axis(["run", "s"], axis=1)])
    wide["similarity"] = both.groupby("run")["s"].mean()
    if properties is not None and len(properties):
        wide = wide.join(final_properties(properties, embeddings), how="left")
    own = evaluation[evaluation["eval_subset"] == evaluation["subset"]].set_index("run")["loss"]
    runs = evaluation.drop_duplicates("run").set_index("run")[["subset", "preset", "seed"]]
    out = runs.join(wide, how="inner")
    out["loss_own"] = own
    out["loss_mean"] = evaluation.groupby("run")["loss"].mean()
    if benchmarks is not None and len(benchmarks):
        from regeo.harness.ranking import benchmark_columns

        out = out.join(benchmark_columns(benchmarks).set_index("run"), how="left")
    return out.reset_index()


def performance_columns(variables: pd.DataFrame) -> list[str]:
    """The performance measures of a run_variables table: the losses, then the benchmark proxies."""
    return ["loss_own", "loss_mean"] + [c for c in variables.columns if c.startswith("bench_")]


def subset_means(variables: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """One row per (preset, subset): ``columns`` averaged over the subset's seeds, and how many
    runs each mean has. A subset's seeds share their documents, so the subset is RQ3's unit."""
    grouped = variables.groupby(["preset", "subset"], sort=True)
    means = grouped[columns].mean()
    means["n_runs"] = grouped.size()
    return means.reset_index()


def rq3_correlations(variables: pd.DataFrame, boot: TokenBootstrap, min_subsets: int, adjustment: str,
                     max_exact: int) -> pd.DataFrame:
    """Per (preset, geometry variable, performance measure: a loss or a benchmark proxy, see
    :func:`performance_columns`): Spearman's rho across *subsets* (each subset's
    variables averaged over its seeds), its bootstrap interval over subsets, the 95 % band of the
    permutation null (losses permuted over subsets: every one of the n! orders when there are at
    most ``max_exact``, else ``boot.replicates`` draws), p = (1 + b) / (1 + B) two-sided with its
    minimum attainable value, the p adjusted across the preset's family of tests, and a verdict
    read from the adjusted p. Beside each (but effective rank itself), when the table has
    :data:`CONTROL`: the partial Spearman correlation controlling for it, its permutation p and that
    p adjusted across the same family (:func:`partial_correlation`)."""
    geometry = [c for c in variables.columns if c.startswith(GEOMETRY_PREFIXES)]
    level = 1 - boot.confidence
    rows = []
    for preset, runs in variables.groupby("preset", sort=True):
        for g in geometry:
            for measure in performance_columns(variables):
                units = subset_means(runs[[g, measure, "subset", "preset"]].dropna(), [g, measure])
                n_subsets = len(units)
                row = {"preset": preset, "geometry": g, "performance": measure, "unit": "subset",
                       "n_runs": int(units["n_runs"].sum()), "n_subsets": n_subsets, "rho": np.nan,
                       "ci_low": np.nan, "ci_high": np.nan, "null_low": np.nan, "null_high": np.nan,
                       "p_value": np.nan, "p_min": np.nan, "n_permutations": 0, "exact": False}
                if n_subsets >= 3:
                    x, y = units[g].to_numpy(np.float64), units[measure].to_numpy(np.float64)
                    row["rho"] = spearman(x, y)
                    rng = np.random.default_rng(boot.seed)
                    picks = rng.integers(0, n_subsets, (boot.replicates, n_subsets))
                    reps = spearman_rows(x[picks], y[picks])
                    reps = reps[np.isfinite(reps)]
                    if reps.size:
                        row["ci_low"], row["ci_high"] = boot.percentiles(reps)
                    orders, exact = block_relabellings(np.zeros(n_subsets), boot.replicates, boot.seed, max_exact)
                    null = spearman_rows(np.broadcast_to(x, orders.shape), y[orders])
                    row["null_low"], row["null_high"] = boot.percentiles(null)
                    observed = abs(row["rho"])
                    row.update(p_value=permutation_p(observed, np.abs(null)), p_min=minimum_p(observed, np.abs(null)),
                               n_permutations=len(null), exact=exact)
                if CONTROL in variables and g != CONTROL:
                    row.update(partial_correlation(runs, g, measure, boot, max_exact))
                rows.append(row)
    table = pd.DataFrame(rows)
    table["adjustment"] = adjustment
    table["family"] = "rq3:" + table["preset"].astype(str)
    table["p_adjusted"] = np.nan
    for _, index in table.groupby("preset").groups.items():
        table.loc[index, "p_adjusted"] = adjust(table.loc[index, "p_value"], adjustment)
    if "p_partial_effective_rank" in table:
        table["p_partial_adjusted"] = np.nan
        for _, index in table.groupby("preset").groups.items():
            table.loc[index, "p_partial_adjusted"] = adjust(table.loc[index, "p_partial_effective_rank"], adjustment)
    table["verdict"] = [
        f"too few subsets: {n} (at least {min_subsets} needed)" if n < min_subsets
        else "significant" if p < level else "not significant"
        for n, p in zip(table["n_subsets"], table["p_adjusted"])]
    return table


def _residual_correlation(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(b,) Pearson correlation of the residual x with each row of y (b, n); 0 where a residual is
    nothing (the variable is a monotone function of the control: nothing is left beyond it)."""
    if not np.any(x) or not np.any(y):
        return np.zeros(len(np.atleast_2d(y)))
    return pearson_rows(np.broadcast_to(x, np.shape(y)), y)


def partial_correlation(runs: pd.DataFrame, geometry: str, measure: str, boot: TokenBootstrap,
                        max_exact: int) -> dict:
    """The partial Spearman correlation of ``geometry`` and ``measure`` across subsets (means over
    seeds) controlling for :data:`CONTROL`: both ranked, each rank vector residualised on the
    control's ranks, the residuals correlated; its null permutes the measure's residual over the
    subsets (p = (1 + b) / (1 + B), two-sided). NaN with fewer than 4 subsets: with 3, two
    residuals on one degree of freedom always correlate +-1."""
    units = subset_means(runs[[geometry, measure, CONTROL, "subset", "preset"]].dropna(),
                         [geometry, measure, CONTROL])
    out = {"rho_partial_effective_rank": np.nan, "p_partial_effective_rank": np.nan}
    if len(units) < 4:
        return out
    x = _snapped(rank_residuals(units[geometry], units[CONTROL]))
    y = _snapped(rank_residuals(units[measure], units[CONTROL]))
    orders, _ = block_relabellings(np.zeros(len(units)), boot.replicates, boot.seed, max_exact)
    rho = float(_residual_correlation(x, y[None, :])[0])
    null = np.abs(_residual_correlation(x, y[orders]))
    out["rho_partial_effective_rank"] = rho
    out["p_partial_effective_rank"] = permutation_p(abs(rho), null)
    return out


def _snapped(residuals: np.ndarray) -> np.ndarray:
    return np.where(np.abs(residuals) < _RESIDUAL_TOL, 0.0, residuals)


def redundancy_by_size(id_comparison: pd.DataFrame, embeddings: str = "input") -> pd.DataFrame:
    """Per run and ID estimator (not local PCA, which is no redundancy; the first metric): the width d, the raw
    redundancy 1 - ID/d, the null's own raw redundancy 1 - null/d (what noise of the same shape
    reports), and the redundancy against the null with its interval, on the common tokens."""
    t = id_comparison[(id_comparison["embeddings"] == embeddings) & (id_comparison["estimator"] != "local_pca")
                      & (id_comparison["metric"] == id_comparison["metric"].iloc[0])]
    out = t[["run", "subset", "preset", "seed", "estimator", "k", "value", "ci_low", "ci_high", "null_isotropic",
             "redundancy", "redundancy_vs_null", "redundancy_vs_null_ci_low", "redundancy_vs_null_ci_high",
             "n_tokens", "metric", "token_set"]].copy()
    out.insert(4, "d", t["ceiling"].astype(int))
    out["null_redundancy"] = 1 - t["null_isotropic"] / t["ceiling"]
    return out.sort_values(["d", "run", "estimator", "k"]).reset_index(drop=True)


def at_last_dump(id_tables: pd.DataFrame) -> pd.DataFrame:
    """Each run's rows of its ID table at its own last dump, on the run's own token set (an external
    run: its whole vocabulary), for :func:`redundancy_by_size` where no common token set is wanted:
    Kataiwa et al. read each model's redundancy on its own vocabulary."""
    last = id_tables.groupby("run")["step"].transform("max")
    return id_tables[id_tables["step"] == last].reset_index(drop=True)


def with_ids(knees: pd.DataFrame, id_comparison: pd.DataFrame, embeddings: str = "input") -> pd.DataFrame:
    """The rank-knee summary with each run's IDs on the common tokens as ``id_{estimator}_k{k}``."""
    ids = id_comparison[(id_comparison["embeddings"] == embeddings)
                        & (id_comparison["metric"] == id_comparison["metric"].iloc[0])]
    wide = ids.assign(variable="id_" + ids["estimator"] + "_k" + ids["k"].astype(str)).pivot_table(
        index="run", columns="variable", values="value")
    return knees.join(wide, on="run")
