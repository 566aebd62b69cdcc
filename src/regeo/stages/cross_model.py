"""Cross-model geometry tables: global similarity and LLE comparison of every pair of final models
(:mod:`regeo.pairs` gives the aligned matrices), and each run's similarity to its own final state
over training, on the run's seen tokens.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from regeo.dumps import read_dump, steps_of
from regeo.geometry.lle import compare_lle_both_ways
from regeo.geometry.similarity import global_similarity
from regeo.io import write_parquet
from regeo.pairs import RunFiles, final_model_pairs, nonzero_rows, pair_columns
from regeo.vocab import read_seen_mask

log = logging.getLogger(__name__)

PAIR_COLUMNS = ["run_a", "run_b", "subset_a", "subset_b", "preset_a", "preset_b", "seed_a", "seed_b", "relation",
                "embeddings", "n_tokens", "n_sampled"]
SIMILARITY_VALUES = ["cosine_similarity_correlation", "linear_cka"]
LLE_VALUES = ["cross_error", "own_error", "random_error", "relative_error", "random_relative_error", "jaccard"]


def global_similarity_table(params: dict, min_count: int, runs: dict[str, dict], out_path: str | Path) -> pd.DataFrame:
    """One row per unordered pair of final models and compared matrix (the measures are symmetric)."""
    rows = []
    for a, b, which, X_a, X_b in final_model_pairs(RunFiles.table(runs), params["embeddings"], min_count):
        values = global_similarity(X_a, X_b, params["sample_size"], params["seed"])
        rows.append({**pair_columns(a, b), "embeddings": which, "n_tokens": X_a.shape[0],
                     "n_sampled": values["n"], **{key: values[key] for key in SIMILARITY_VALUES}})
    table = pd.DataFrame(rows, columns=PAIR_COLUMNS + SIMILARITY_VALUES)
    table["min_count"] = min_count
    table["sample_size"] = pd.array([params["sample_size"]] * len(table), dtype="Int64")
    table["sample_seed"] = params["seed"]
    write_parquet(table, out_path)
    return table


def _sample_rows(n: int, sample_size: int | None, seed: int) -> np.ndarray:
    if sample_size is None or sample_size >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=sample_size, replace=False))


def lle_comparison_table(params: dict, min_count: int, runs: dict[str, dict], out_path: str | Path) -> pd.DataFrame:
    """One row per ordered pair (A, B) of final models and matrix: B rebuilt with A's LLE weights."""
    rows = []
    for a, b, which, X_a, X_b in final_model_pairs(RunFiles.table(runs), params["embeddings"], min_count):
        sample = _sample_rows(X_a.shape[0], params["sample_size"], params["seed"])
        both = compare_lle_both_ways(X_a[sample], X_b[sample], params["k"], params["reg"], params["seed"],
                                     metric=params["metric"])
        for (source, target), values in zip(((a, b), (b, a)), both):
            rows.append({**pair_columns(source, target), "embeddings": which, "n_tokens": X_a.shape[0],
                         "n_sampled": values["n"], **{key: values[key] for key in LLE_VALUES}})
    table = pd.DataFrame(rows, columns=PAIR_COLUMNS + LLE_VALUES)
    for key in ("k", "reg", "metric", "seed"):
        table[key] = params[key]
    table["min_count"] = min_count
    write_parquet(table, out_path)
    return table


def similarity_over_training(params: dict, min_count: int, run: str, subset: str, dumps: list[str],
                             counts_path: str | Path | None, out_path: str | Path) -> pd.DataFrame:
    """Every dump of one run against its last dump: one row per (step, matrix), on the run's seen tokens."""
    by_step = steps_of(dumps)
    final = read_dump(by_step[max(by_step)])
    n_rows = final.input.shape[0]
    seen = read_seen_mask(counts_path, min_count)
    keep = np.arange(n_rows) if seen is None else np.flatnonzero(seen[:n_rows])
    rows = []
    for step, path in by_step.items():
        current = final if step == max(by_step) else read_dump(path)
        for which, matrix in current.matrices(params["embeddings"]).items():
            X, X_final = matrix.numpy()[keep], final.matrix(which).numpy()[keep]
            nonzero = nonzero_rows(X, X_final)  # e.g. the pad token's row, kept at 0 by nn.Embedding
            values = global_similarity(X[nonzero], X_final[nonzero], params["sample_size"], params["seed"])
            rows.append({"run": run, "subset": subset, "step": step, "embeddings": which,
                         "n_tokens": int(nonzero.sum()),
                         "n_sampled": values["n"], **{key: values[key] for key in SIMILARITY_VALUES}})
    table = pd.DataFrame(rows)
    table["min_count"] = min_count
    write_parquet(table, out_path)
    return table
