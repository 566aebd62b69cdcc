"""Cross-model geometry tables: global similarity and LLE comparison of every pair of final models
(:mod:`regeo.pairs` gives the aligned matrices), and each run's similarity to its own final state
over training, on the run's seen tokens.

Every value is read against two nulls and carries an interval:

- ``*_null_permuted``: the same measure with B's rows in a random order (seeded by the sample
  seed), i.e. two models of these shapes and spectra whose tokens do not correspond;
- ``*_at_init`` (global similarity): the same measure on the two runs' first dumps (step 0, the
  initialisation) and the same tokens: runs of one seed start from one initialisation, so a
  pair's similarity is only what it gained or kept over that. The LLE table has no such column:
  at initialisation a same-seed pair is one matrix (ratio 1, overlap 1) and another-seed pair
  two unrelated ones, which its rows-permuted null already gives;
- ``*_ci_low``/``*_ci_high``: bootstrap over tokens (``geometry.bootstrap``).

``postprocess`` (``geometry.postprocess``): each pair is read on its raw rows (``postprocess`` =
``raw``) and again after each configured postprocessing (``standardised``, ``abtt``; see
:mod:`regeo.geometry.postprocess`), each matrix postprocessed on its own over the pair's tokens.
The nulls get the same postprocessing (the initial dumps are postprocessed on their own; the
postprocessing does not depend on the row order, so the permuted null is the postprocessed B
permuted). The global similarity's intervals refit the postprocessing in every resample; the LLE
intervals resample the per-token terms with the postprocessing fixed, as they do the neighbours.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from regeo.dumps import read_dump, steps_of
from regeo.geometry.intervals import section_bootstrap
from regeo.geometry.lle import compare_lle_both_ways
from regeo.geometry.nulls import derangement
from regeo.geometry.postprocess import ABTT, RAW, postprocess as apply_postprocess, top_components
from regeo.geometry.similarity import global_similarity, global_similarity_intervals
from regeo.io import write_parquet
from regeo.pairs import RunFiles, final_model_pairs, nonzero_rows, pair_columns
from regeo.token_sets import read_seen_mask

log = logging.getLogger(__name__)

PAIR_COLUMNS = ["run_a", "run_b", "subset_a", "subset_b", "preset_a", "preset_b", "seed_a", "seed_b", "relation",
                "same_init", "embeddings", "postprocess", "n_tokens", "n_sampled"]
SIMILARITY_VALUES = ["cosine_similarity_correlation", "linear_cka"]
LLE_VALUES = ["cross_error", "own_error", "random_error", "relative_error", "random_relative_error", "jaccard"]
REMOVED = ["abtt_components_a", "abtt_components_b"]
LLE_READ = ["relative_error", "jaccard"]  # the values the figure reads, with their nulls


def _with_intervals(values: dict, intervals: dict | None, names: list[str]) -> dict:
    out = {}
    for name in names:
        out[name] = values[name]
        out[f"{name}_ci_low"] = np.nan if intervals is None else intervals[f"{name}_ci_low"]
        out[f"{name}_ci_high"] = np.nan if intervals is None else intervals[f"{name}_ci_high"]
    return out


def _interval_columns(names: list[str]) -> list[str]:
    return [c for name in names for c in (name, f"{name}_ci_low", f"{name}_ci_high")]


def _readings(postprocess: dict) -> list[str]:
    """``raw`` first, then the configured postprocessings (``geometry.postprocess.methods``)."""
    return [RAW, *postprocess["methods"]]


def _removed(method: str, X_a: np.ndarray, X_b: np.ndarray, components: int | None) -> dict:
    """The D all-but-the-top removed from each side (its own width decides it), else missing."""
    if method != ABTT:
        return {"abtt_components_a": pd.NA, "abtt_components_b": pd.NA}
    return {"abtt_components_a": top_components(X_a.shape[1], components),
            "abtt_components_b": top_components(X_b.shape[1], components)}


def global_similarity_table(params: dict, min_count: int, bootstrap: dict, runs: dict[str, dict],
                            out_path: str | Path, postprocess: dict | None = None) -> pd.DataFrame:
    """One row per unordered pair of final models, compared matrix and postprocessing (the
    measures are symmetric)."""
    boot = section_bootstrap(bootstrap)
    size, seed = params["sample_size"], params["seed"]
    postprocess = postprocess or {"methods": [], "components": None}
    components = postprocess["components"]
    rows = []
    for done, pair in enumerate(final_model_pairs(RunFiles.table(runs), params["embeddings"], min_count), start=1):
        started = time.perf_counter()
        X_a, X_b = pair.X_a, pair.X_b
        permutation = derangement(X_b.shape[0], seed)
        init = pair.at_init()
        keep = None if init is None else nonzero_rows(*init)
        for method in _readings(postprocess):
            values = global_similarity(X_a, X_b, size, seed, method, components)
            intervals = None if boot is None else global_similarity_intervals(
                X_a, X_b, boot, size, seed, postprocess=method, components=components)
            permuted = global_similarity(X_a, X_b[permutation], size, seed, method, components)
            at_init = None
            if init is not None and keep.sum() >= 3:
                at_init = global_similarity(init[0][keep], init[1][keep], size, seed, method, components)
            row = {**pair_columns(pair.a, pair.b), "embeddings": pair.which, "postprocess": method,
                   "n_tokens": X_a.shape[0], "n_sampled": values["n"],
                   **_with_intervals(values, intervals, SIMILARITY_VALUES), **_removed(method, X_a, X_b, components)}
            for name in SIMILARITY_VALUES:
                row[f"{name}_null_permuted"] = permuted[name]
                row[f"{name}_at_init"] = np.nan if at_init is None else at_init[name]
            rows.append(row)
        log.info("global similarity, matrix pair %d (%s): %s and %s (%s), %d tokens, %.1f s", done,
                 _pairs(runs), pair.a.name, pair.b.name, pair.which, X_a.shape[0], time.perf_counter() - started)
    nulls = [f"{name}_{null}" for name in SIMILARITY_VALUES for null in ("null_permuted", "at_init")]
    table = pd.DataFrame(rows, columns=PAIR_COLUMNS + _interval_columns(SIMILARITY_VALUES) + nulls + REMOVED)
    table["min_count"] = min_count
    table["sample_size"] = pd.array([size] * len(table), dtype="Int64")
    table["sample_seed"] = seed
    table["bootstrap_replicates"] = bootstrap["replicates"]
    for column in REMOVED:
        table[column] = table[column].astype("Int64")
    write_parquet(table, out_path)
    return table


def _pairs(runs: dict) -> str:
    """'N x matrices' for the progress lines: a pair of tied models compares one matrix, others up to two."""
    return f"of {len(runs) * (len(runs) - 1) // 2} run pairs x their matrices"


def _sample_rows(n: int, sample_size: int | None, seed: int) -> np.ndarray:
    if sample_size is None or sample_size >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=sample_size, replace=False))


def lle_comparison_table(params: dict, min_count: int, bootstrap: dict, runs: dict[str, dict],
                         out_path: str | Path, postprocess: dict | None = None) -> pd.DataFrame:
    """One row per ordered pair (A, B) of final models, matrix and postprocessing: B rebuilt with
    A's LLE weights."""
    boot = section_bootstrap(bootstrap)
    k, reg, seed, metric = params["k"], params["reg"], params["seed"], params["metric"]
    postprocess = postprocess or {"methods": [], "components": None}
    components = postprocess["components"]
    rows = []
    for done, pair in enumerate(final_model_pairs(RunFiles.table(runs), params["embeddings"], min_count), start=1):
        started = time.perf_counter()
        sample = _sample_rows(pair.X_a.shape[0], params["sample_size"], seed)
        for method in _readings(postprocess):
            X_a, X_b = pair.X_a[sample], pair.X_b[sample]
            if method != RAW:
                X_a, X_b = apply_postprocess(X_a, method, components), apply_postprocess(X_b, method, components)
            both = compare_lle_both_ways(X_a, X_b, k, reg, seed, metric=metric, bootstrap=boot,
                                         null_permutation=derangement(X_b.shape[0], seed))
            for values, (source, target), (S, T) in zip(both, ((pair.a, pair.b), (pair.b, pair.a)),
                                                        ((X_a, X_b), (X_b, X_a))):
                row = {**pair_columns(source, target), "embeddings": pair.which, "postprocess": method,
                       "n_tokens": pair.X_a.shape[0], "n_sampled": values["n"],
                       **_with_intervals(values, values if boot else None, LLE_VALUES), **_removed(method, S, T, components)}
                rows.append(row | {f"{name}_null_permuted": values[f"{name}_null_permuted"] for name in LLE_READ})
        log.info("LLE comparison, matrix pair %d (%s): %s and %s (%s), %d tokens, %.1f s", done,
                 _pairs(runs), pair.a.name, pair.b.name, pair.which, len(sample), time.perf_counter() - started)
    nulls = [f"{name}_null_permuted" for name in LLE_READ]
    table = pd.DataFrame(rows, columns=PAIR_COLUMNS + _interval_columns(LLE_VALUES) + nulls + REMOVED)
    for key in ("k", "reg", "metric", "seed"):
        table[key] = params[key]
    table["min_count"] = min_count
    table["bootstrap_replicates"] = bootstrap["replicates"]
    for column in REMOVED:
        table[column] = table[column].astype("Int64")
    write_parquet(table, out_path)
    return table


def similarity_over_training(params: dict, min_count: int, bootstrap: dict, run: str, subset: str, dumps: list[str],
                             counts_path: str | Path | None, out_path: str | Path) -> pd.DataFrame:
    """Every dump of one run against its last dump: one row per (step, matrix), on the run's seen tokens,
    with bootstrap intervals over tokens."""
    boot = section_bootstrap(bootstrap)
    size, seed = params["sample_size"], params["seed"]
    by_step = steps_of(dumps)
    final = read_dump(by_step[max(by_step)])
    n_rows = final.input.shape[0]
    seen = read_seen_mask(counts_path, min_count)
    keep = np.arange(n_rows) if seen is None else np.flatnonzero(seen[:n_rows])
    rows = []
    for done, (step, path) in enumerate(by_step.items(), start=1):
        started = time.perf_counter()
        current = final if step == max(by_step) else read_dump(path)
        for which, matrix in current.matrices(params["embeddings"]).items():
            X, X_final = matrix.numpy()[keep], final.matrix(which).numpy()[keep]
            nonzero = nonzero_rows(X, X_final)  # e.g. the pad token's row, kept at 0 by nn.Embedding
            X, X_final = X[nonzero], X_final[nonzero]
            values = global_similarity(X, X_final, size, seed)
            intervals = None
            if boot is not None and step != max(by_step):  # the final dump against itself is 1 exactly
                intervals = global_similarity_intervals(X, X_final, boot, size, seed)
            rows.append({"run": run, "subset": subset, "step": step, "embeddings": which,
                         "n_tokens": int(nonzero.sum()), "n_sampled": values["n"],
                         **_with_intervals(values, intervals, SIMILARITY_VALUES)})
        log.info("run %s dump %d/%d, step %d: %d tokens, %.1f s", run, done, len(by_step), step,
                 rows[-1]["n_tokens"], time.perf_counter() - started)
    table = pd.DataFrame(rows)
    table["min_count"] = min_count
    table["bootstrap_replicates"] = bootstrap["replicates"]
    write_parquet(table, out_path)
    return table
