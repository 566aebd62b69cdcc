"""Across runs: does the space predict performance (RQ3), and does redundancy grow with size
(Kataiwa et al.)? Tables of the pipeline in, tables out.

RQ3 correlates, across the runs of one preset, each run's final ID relative to its isotropic null
(per estimator, from ``id_comparison``: every run on the same tokens) and its mean similarity to
the runs of other seeds (``global_similarity``: other initialisations, so the shared start does
not count) with its validation loss on its own register and averaged over every register
(``cross_register``). Spearman's rho, with a bootstrap interval that resamples subsets (a
subset's seeds together: they share their documents, so they are not independent runs) and a
permutation null (the losses shuffled over runs). With few subsets the null band is nearly
[-1, 1] and nothing can be concluded: the verdict says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from regeo.geometry.intervals import TokenBootstrap


def spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(b,) Spearman's rank correlation of each row pair of two (b, n) arrays (average ranks for
    ties, which resamples with repeated runs have); NaN where a row is constant."""
    rx = pd.DataFrame(np.atleast_2d(x)).rank(axis=1).to_numpy()
    ry = pd.DataFrame(np.atleast_2d(y)).rank(axis=1).to_numpy()
    rx = rx - rx.mean(1, keepdims=True)
    ry = ry - ry.mean(1, keepdims=True)
    norm = np.sqrt((rx ** 2).sum(1) * (ry ** 2).sum(1))
    return np.divide((rx * ry).sum(1), norm, out=np.full(len(rx), np.nan), where=norm > 0)


def spearman(x, y) -> float:
    """Spearman's rank correlation of two sequences; NaN when either is constant."""
    return float(spearman_rows(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))[0])


def run_variables(id_comparison: pd.DataFrame, similarity: pd.DataFrame, evaluation: pd.DataFrame,
                  embeddings: str = "input") -> pd.DataFrame:
    """One row per trained run: subset, preset, seed, ``id_{estimator}_k{k}`` = value / isotropic
    null, ``similarity`` (mean cosine-similarity correlation to runs of another seed),
    ``loss_own`` and ``loss_mean``."""
    ids = id_comparison[(id_comparison["embeddings"] == embeddings)
                        & (id_comparison["metric"] == id_comparison["metric"].iloc[0])].copy()
    ids["variable"] = "id_" + ids["estimator"] + "_k" + ids["k"].astype(str)
    ids["relative"] = ids["value"] / ids["null_isotropic"]
    wide = ids.pivot_table(index="run", columns="variable", values="relative")
    sim = similarity[(similarity["embeddings"] == embeddings) & (similarity["seed_a"] != similarity["seed_b"])]
    both = pd.concat([sim[["run_a", "cosine_similarity_correlation"]].set_axis(["run", "s"], axis=1),
                      sim[["run_b", "cosine_similarity_correlation"]].set_axis(["run", "s"], axis=1)])
    wide["similarity"] = both.groupby("run")["s"].mean()
    own = evaluation[evaluation["eval_subset"] == evaluation["subset"]].set_index("run")["loss"]
    runs = evaluation.drop_duplicates("run").set_index("run")[["subset", "preset", "seed"]]
    out = runs.join(wide, how="inner")
    out["loss_own"] = own
    out["loss_mean"] = evaluation.groupby("run")["loss"].mean()
    return out.reset_index()


def rq3_correlations(variables: pd.DataFrame, boot: TokenBootstrap, min_subsets: int) -> pd.DataFrame:
    """Per (preset, geometry variable, loss): rho, its subset-bootstrap interval, the 95 % band of
    the permutation null, its p-value, n runs and subsets, and a verdict."""
    geometry = [c for c in variables.columns if c.startswith("id_") or c == "similarity"]
    rows = []
    for preset, runs in variables.groupby("preset"):
        for g in geometry:
            for loss in ("loss_own", "loss_mean"):
                part = runs[[g, loss, "subset"]].dropna()
                n, n_subsets = len(part), part["subset"].nunique()
                row = {"preset": preset, "geometry": g, "loss": loss, "n_runs": n, "n_subsets": n_subsets,
                       "rho": np.nan, "ci_low": np.nan, "ci_high": np.nan, "null_low": np.nan,
                       "null_high": np.nan, "p_value": np.nan}
                if n >= 3:
                    x, y = part[g].to_numpy(), part[loss].to_numpy()
                    row["rho"] = spearman(x, y)
                    groups = [np.flatnonzero(part["subset"].to_numpy() == s) for s in part["subset"].unique()]
                    rng = np.random.default_rng(boot.seed)
                    # a subset's seeds are resampled together: they share their documents
                    picks = np.stack([np.concatenate([groups[i] for i in rng.integers(0, len(groups), len(groups))])
                                      for _ in range(boot.replicates)]) if len({len(group) for group in groups}) == 1 else None
                    if picks is not None:
                        reps = spearman_rows(x[picks], y[picks])
                    else:  # subsets with different numbers of runs: resamples differ in length
                        reps = np.array([spearman(x[p], y[p]) for p in (
                            np.concatenate([groups[i] for i in rng.integers(0, len(groups), len(groups))])
                            for _ in range(boot.replicates))])
                    null = spearman_rows(np.broadcast_to(x, (boot.replicates, n)),
                                         np.stack([rng.permutation(y) for _ in range(boot.replicates)]))
                    reps = reps[np.isfinite(reps)]
                    if reps.size:
                        row["ci_low"], row["ci_high"] = boot.percentiles(reps)
                    row["null_low"], row["null_high"] = boot.percentiles(null)
                    row["p_value"] = float((np.abs(null) >= abs(row["rho"]) - 1e-12).mean())
                if n_subsets < min_subsets:
                    row["verdict"] = f"too few runs: {n_subsets} subsets (at least {min_subsets} needed)"
                else:
                    significant = row["p_value"] < 1 - boot.confidence
                    row["verdict"] = "significant" if significant else "not significant"
                rows.append(row)
    return pd.DataFrame(rows)


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


def with_ids(knees: pd.DataFrame, id_comparison: pd.DataFrame, embeddings: str = "input") -> pd.DataFrame:
    """The rank-knee summary with each run's IDs on the common tokens as ``id_{estimator}_k{k}``."""
    ids = id_comparison[(id_comparison["embeddings"] == embeddings)
                        & (id_comparison["metric"] == id_comparison["metric"].iloc[0])]
    wide = ids.assign(variable="id_" + ids["estimator"] + "_k" + ids["k"].astype(str)).pivot_table(
        index="run", columns="variable", values="value")
    return knees.join(wide, on="run")
