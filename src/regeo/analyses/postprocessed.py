"""Does a shared geometry survive the rogue dimensions? The global similarity and LLE comparison
of every pair of final models, raw beside standardised and all-but-the-top (issue 29), summarised
per pair type, with a test of the change.

Pair types (:func:`pair_type`): another seed of the same subset and width (the noise floor),
another register of another seed, another register of the same seed (the same initialisation,
which no register claim may rest on) and another width.

The test of one (table, matrix, measure, postprocessing, pair type): the mean over pairs of the
change d = postprocessed - raw, against its sign flips. Within a pair the two readings are the
labels that are exchangeable under "the postprocessing changes nothing", so each pair is a block
and flipping the sign of d_i swaps them; p = (1 + b) / (1 + B), two-sided, with its floor (every
flip enumerated when there are few pairs). Pairs share models, so they are not independent
units: a small p says the change is consistent across these pairs, not across other models.
The whole table is one family, adjusted with ``analyses.adjustment``.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from regeo.geometry.postprocess import RAW
from regeo.stats import adjust, minimum_p, permutation_p

# (table, measure): whether larger means more shared geometry
MEASURES = {("global_similarity", "cosine_similarity_correlation"): True,
            ("global_similarity", "linear_cka"): True,
            ("lle_comparison", "relative_error"): False,
            ("lle_comparison", "jaccard"): True}
PAIR_TYPES = ("seeds", "registers, other seed", "registers, same seed", "presets")
_EXACT_UP_TO = 14  # pairs: 2^14 sign patterns are enumerated, more are drawn


def pair_type(table: pd.DataFrame) -> pd.Series:
    """Each row's pair type (module docstring), from ``relation`` and the seeds."""
    same_seed = table["seed_a"] == table["seed_b"]
    kind = table["relation"].map({"seeds": "seeds", "presets": "presets", "self": "self"})
    registers = table["relation"] == "registers"
    kind[registers & ~same_seed] = "registers, other seed"
    kind[registers & same_seed] = "registers, same seed"
    return kind


def unordered(table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """One row per unordered pair, matrix and postprocessing: the two directions of an ordered
    (LLE) table averaged, so a pair counts once; a symmetric table is unchanged."""
    first, second = table["run_a"].where(table["run_a"] < table["run_b"], table["run_b"]), \
        table["run_b"].where(table["run_a"] < table["run_b"], table["run_a"])
    keyed = table.assign(pair=first + " | " + second, pair_type=pair_type(table))
    keys = ["pair", "pair_type", "embeddings", "postprocess"]
    return keyed.groupby(keys, sort=True)[columns].mean().reset_index()


def sign_flip_test(changes: np.ndarray, draws: int, seed: int) -> tuple[float, float, int]:
    """(p, floor, B) of |mean(changes)| against its sign flips (exact up to 2^14 patterns)."""
    m = len(changes)
    if m <= _EXACT_UP_TO:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=m)))[1:]  # the first is the identity
    else:
        signs = np.where(np.random.default_rng(seed).random((draws, m)) < 0.5, -1.0, 1.0)
    observed = abs(float(changes.mean()))
    null = np.abs(signs @ changes / m)
    return permutation_p(observed, null), minimum_p(observed, null), len(null)


def postprocess_tests(tables: dict[str, pd.DataFrame], adjustment: str, draws: int, seed: int) -> pd.DataFrame:
    """One row per (table, embeddings, measure, postprocess, pair type): the mean raw and
    postprocessed values over the pairs, their permuted nulls, the mean change, the fraction of
    pairs where it shrinks the shared geometry, and the sign-flip p, its floor and adjusted p."""
    rows = []
    for (name, measure), larger_shared in MEASURES.items():
        table = tables.get(name)
        if table is None or "postprocess" not in table or table.empty:
            continue
        columns = [measure, f"{measure}_null_permuted"]
        pairs = unordered(table[table["relation"] != "self"], columns)
        for (embeddings, kind), part in pairs.groupby(["embeddings", "pair_type"], sort=True):
            wide = part.pivot(index="pair", columns="postprocess", values=columns)
            for method in sorted(set(part["postprocess"]) - {RAW}):
                changes = (wide[(measure, method)] - wide[(measure, RAW)]).dropna().to_numpy()
                if not len(changes):
                    continue
                p, floor, flips = sign_flip_test(changes, draws, seed)
                shrinks = changes < 0 if larger_shared else changes > 0
                rows.append({"table": name, "embeddings": embeddings, "measure": measure, "postprocess": method,
                             "pair_type": kind, "n_pairs": len(changes),
                             "raw": float(wide[(measure, RAW)].mean()), "postprocessed": float(wide[(measure, method)].mean()),
                             "raw_null_permuted": float(wide[(f"{measure}_null_permuted", RAW)].mean()),
                             "postprocessed_null_permuted": float(wide[(f"{measure}_null_permuted", method)].mean()),
                             "change": float(changes.mean()), "larger_is_shared": larger_shared,
                             "share_of_pairs_shrinking": float(shrinks.mean()),
                             "p": p, "p_floor": floor, "sign_flips": flips})
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out["p_adjusted"] = adjust(out["p"].to_numpy(), adjustment)
    out["adjustment"] = adjustment
    out["significant"] = out["p_adjusted"] < 0.05
    return out
