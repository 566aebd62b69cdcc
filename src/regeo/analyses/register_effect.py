"""Do registers differ in ID (or in a property of the space) more than seeds do? One seed-blocked
permutation test per measure.

Runs of one seed share their initial weights and batch order whatever their register, so the runs
of a preset are not exchangeable: the statistic is the register F after the seed (a two-way
additive model), and register labels are permuted only among runs of the same seed (with 5
subsets and 2 seeds: 5! x 5! relabellings, 120 distinct groupings, so p >= 1/120). Every
(embeddings, metric, estimator, k) of the main preset is one test of the table's family, adjusted
together (Holm or Benjamini-Hochberg). The properties on the common tokens (rule
``properties_comparison``) are a table and family of their own, per (embeddings, property).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from regeo.stats import adjust, blocked_f, permutation_test

MEASURE = ["embeddings", "metric", "estimator", "k"]
PROPERTY_MEASURE = ["embeddings", "property"]


def register_tests(id_comparison: pd.DataFrame, adjustment: str, n_draws: int, seed: int, level: float,
                   max_exact: int, measure_columns: list[str] = MEASURE, family: str = "register_tests") -> pd.DataFrame:
    """Per measure (``measure_columns``: an ID table's by default) of each preset with at least two
    subsets: F of register after seed, the seed-blocked permutation p, its minimum attainable
    value, the adjusted p across the family (every row of the table, named ``family``), the
    design's counts, and the subsets' means beside the seed spread."""
    rows = []
    for (preset, *measure), part in id_comparison.groupby(["preset", *measure_columns], sort=True):
        part = part.sort_values(["subset", "seed"])
        values, subsets, seeds = (part["value"].to_numpy(np.float64), part["subset"].to_numpy(),
                                  part["seed"].to_numpy())
        if len(np.unique(subsets)) < 2:
            continue
        result = permutation_test(lambda labels: blocked_f(values, labels, seeds), subsets, seeds, n_draws, seed,
                                  max_exact)
        means = part.groupby("subset")["value"].mean()
        seed_range = part.groupby("subset")["value"].agg(lambda v: v.max() - v.min()).max()
        rows.append({"preset": preset, **dict(zip(measure_columns, measure)), "n_runs": len(part),
                     "n_subsets": len(means), "n_seeds": len(np.unique(seeds)), "design": "seed-blocked",
                     "f_statistic": result.statistic, "p_value": result.p_value, "p_min": result.p_min,
                     "n_permutations": result.n_permutations, "exact": result.exact,
                     "subset_mean_range": float(means.max() - means.min()),
                     "largest_seed_range": float(seed_range)})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["adjustment"] = adjustment
    table["family"] = family
    table["p_adjusted"] = adjust(table["p_value"], adjustment)
    table["significant"] = table["p_adjusted"] < level
    return table
