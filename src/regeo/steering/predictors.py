"""Does transfer follow from the embeddings? What can be known before steering against the transfer
ratio, over every pair, concept and method (rule ``steering_predictors``).

Predictors, each known without steering the target:

- ``map_r2_heldout``: the default Emb2Emb map's R^2 on held-out shared tokens (one value per pair);
- ``map_top1_heldout``: its retrieval accuracy there (the mapped row's nearest target row is its own);
- ``logit_lens_agreement``: the share of the source vector's top-k logit-lens tokens in A that are
  among the transferred vector's top-k in B (by token string; :mod:`regeo.steering.readings`, the
  default method's vectors, which are the ones read).

The outcome is the default map's ``transfer_ratio`` of every non-self row of ``transfer.parquet``
(every concept and method). The statistic is Spearman's rank correlation over the rows with both.

The test. Rows of one pair share its map, and its concepts and methods share its models, so the
exchangeable unit is the pair: a permutation gives pair i's predictor values (per concept and
method where the predictor has them) to pair pi(i), keeping each pair's block of rows together.
With few pairs every permutation is used (exact; the identity among them), else
``permutations`` random ones; p = (1 + b) / (1 + B), two-sided on |rho|, with its floor. Pairs that
share a model (A -> B and B -> A, or two pairs into one target) are still not independent, and a
permutation of pairs does not remove that: with the default's 6 non-self pairs over 4 runs, read
the p as a description of these pairs, not of a population of model pairs. Holm (or BH) across the
predictors (the table is one family).
"""

from __future__ import annotations

import itertools
import logging
import math

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from regeo.stats import adjust, minimum_p, permutation_p

log = logging.getLogger(__name__)
PAIR = ["source", "target"]
PREDICTORS = ("map_r2_heldout", "map_top1_heldout", "logit_lens_agreement")


def logit_lens_agreement(readings: pd.DataFrame) -> pd.DataFrame:
    """Per (source, target, concept): the share of the source vector's logit-lens tokens (in A) found
    among the transferred vector's (in B), by token string."""
    if readings.empty:
        return pd.DataFrame(columns=[*PAIR, "concept", "logit_lens_agreement"])
    lens = readings[readings["list"] == "logit_lens"]
    rows = []
    for (source, target, concept), part in lens.groupby([*PAIR, "concept"], sort=False):
        a = set(part.loc[part["vector"] == "source_native", "token"])
        b = set(part.loc[part["vector"] == "transferred", "token"])
        k = max(len(a), 1)
        rows.append(dict(source=source, target=target, concept=concept,
                         logit_lens_agreement=len(a & b) / k if a and b else np.nan))
    return pd.DataFrame(rows)


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 3:
        return float("nan")
    rx, ry = rankdata(x[keep]), rankdata(y[keep])
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def _pair_permutations(n: int, permutations: int, seed: int) -> tuple[np.ndarray, bool]:
    """(B, n) permutations of n pairs, and whether they are all of them (identity included)."""
    if math.factorial(n) <= permutations + 1:
        return np.array(list(itertools.permutations(range(n)))), True
    rng = np.random.default_rng([seed, n])
    return np.array([rng.permutation(n) for _ in range(permutations)]), False


def predictor_table(transfer: pd.DataFrame, readings: pd.DataFrame, permutations: int, seed: int,
                    adjustment: str) -> pd.DataFrame:
    """One row per predictor: Spearman's rho with the transfer ratio, its pair-permutation p with the
    floor, and p adjusted across the predictors (module docstring)."""
    if transfer.empty:
        return pd.DataFrame()
    rows = transfer[transfer["default_map"].astype(bool) & (transfer["source"] != transfer["target"])].copy()
    if "method" not in rows:
        rows["method"] = "mean_difference"
    rows = rows.merge(logit_lens_agreement(readings), on=[*PAIR, "concept"], how="left")
    # The readings are of the default method's vectors only.
    rows.loc[rows["method"] != "mean_difference", "logit_lens_agreement"] = np.nan
    pairs = list(dict.fromkeys(zip(rows["source"], rows["target"])))
    if len(pairs) < 3:
        return pd.DataFrame()
    index = {pair: i for i, pair in enumerate(pairs)}
    pair_of = np.array([index[p] for p in zip(rows["source"], rows["target"])])  # (n_rows,)
    ratio = rows["transfer_ratio"].to_numpy(dtype=np.float64)
    order, exhaustive = _pair_permutations(len(pairs), permutations, seed)
    out = []
    for name in PREDICTORS:
        # (pair, concept, method) -> value: a permutation moves a pair's whole block.
        values = {(p, c, m): v for p, c, m, v in zip(pair_of, rows["concept"], rows["method"], rows[name])}
        x = rows[name].to_numpy(dtype=np.float64)
        observed = _spearman(x, ratio)
        null = np.array([_spearman(np.array([values.get((perm[p], c, m), np.nan)
                                             for p, c, m in zip(pair_of, rows["concept"], rows["method"])]), ratio)
                         for perm in order])
        if exhaustive:  # the identity is one of them: compare with the others
            null = null[~(order == np.arange(len(pairs))).all(1)]
        finite = null[np.isfinite(null)]
        ok = np.isfinite(observed) and finite.size > 0
        out.append(dict(predictor=name, outcome="transfer_ratio", statistic="spearman", rho=observed,
                        n_rows=int((np.isfinite(x) & np.isfinite(ratio)).sum()), n_pairs=len(pairs),
                        p_value=permutation_p(abs(observed), np.abs(finite)) if ok else np.nan,
                        p_min=minimum_p(abs(observed), np.abs(finite)) if ok else np.nan,
                        n_permutations=int(finite.size), exhaustive=exhaustive, permuted_unit="pair",
                        rows="default map, non-self pairs, every concept and method"))
    table = pd.DataFrame(out)
    table["p_adjusted"] = adjust(table["p_value"].to_numpy(), adjustment)
    table["adjustment"] = adjustment
    table["family"] = "transfer predictors"
    confidence = float(transfer["confidence"].iloc[0]) if "confidence" in transfer else 0.95
    table["significant"] = table["p_adjusted"] < 1 - confidence
    return table


def predictors_files(transfer_path, readings_path, out_path, permutations: int, seed: int, adjustment: str
                     ) -> pd.DataFrame:
    """Rule ``steering_predictors``."""
    from regeo.io import read_parquet, write_parquet

    table = predictor_table(read_parquet(transfer_path), read_parquet(readings_path), permutations, seed, adjustment)
    write_parquet(table, out_path)
    for row in table.itertuples():
        log.info("%s vs transfer ratio: Spearman %.3f over %d rows of %d pairs, p %.3g (floor %.3g, adjusted %.3g)%s",
                 row.predictor, row.rho, row.n_rows, row.n_pairs, row.p_value, row.p_min, row.p_adjusted,
                 "" if row.significant else " not significant")
    return table
