"""Cross-model geometry: global similarity and LLE comparison of every pair of final models, and
each run's similarity to its own final state over training.

The tokens of a pair are those both vocabularies hold (the same ids when the runs share a
tokenizer, the string intersection otherwise: ``regeo.steering.emb2emb.shared_vocabulary``) and
both runs saw at least ``min_count`` times in training: unseen rows never leave their
initialisation and would look alike in every model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from regeo.geometry.lle import compare_lle_both_ways
from regeo.geometry.similarity import global_similarity
from regeo.vocab import seen_mask as seen_token_mask
from regeo.io import RegeoInputError, load_tensors, read_parquet, write_parquet
from regeo.steering.emb2emb import shared_vocabulary
from regeo.tokenizer import load_tokenizer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunFiles:
    """One model's files for the cross-model tables (``params.runs[name]`` of the rules)."""

    name: str
    subset: str
    preset: str
    seed: int
    dump: str  # its final embedding dump
    tokenizer: str  # its tokenizer directory
    counts: str | None = None  # per-token training counts (token_id, count); None: every token is seen

    @classmethod
    def table(cls, runs: dict[str, dict]) -> list["RunFiles"]:
        return [cls(name=name, **fields) for name, fields in runs.items()]


def relation(a: RunFiles, b: RunFiles) -> str:
    """seeds: same subset and preset (the noise floor); registers: same preset; presets: otherwise."""
    if a.preset != b.preset:
        return "presets"
    return "seeds" if a.subset == b.subset else "registers"


def shared_seen_ids(ids_a: np.ndarray, ids_b: np.ndarray, rows_a: int, rows_b: int,
                    seen_a: np.ndarray | None, seen_b: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Aligned token ids (n,) of two models, kept where both have an embedding row and saw the token.

    ``ids_a[i]`` and ``ids_b[i]`` are the same token (string); ``seen_*`` are boolean masks over
    each tokenizer's ids (None: all seen). Ids past a mask count as unseen, ids past a matrix's
    rows are dropped (a tokenizer larger than its model's embedding has no row for them).
    """
    keep = (ids_a < rows_a) & (ids_b < rows_b)
    for ids, seen in ((ids_a, seen_a), (ids_b, seen_b)):
        if seen is not None:
            inside = ids < len(seen)
            keep &= inside
            keep[inside] &= seen[ids[inside]]
    return ids_a[keep], ids_b[keep]


def seen_tokens(counts_path: str | Path | None, min_count: int) -> np.ndarray | None:
    """(vocab,) bool mask of the ids seen at least ``min_count`` times; None without a count table."""
    if counts_path is None:
        return None
    counts = read_parquet(counts_path, columns=["token_id", "count"]).sort_values("token_id")
    if not np.array_equal(counts["token_id"].to_numpy(), np.arange(len(counts))):
        raise RegeoInputError(f"{counts_path}: token_id must run 0..n-1 without gaps")
    return seen_token_mask(counts["count"].to_numpy(), min_count)


class TokenAligner:
    """The shared seen tokens of any two runs; each tokenizer and count table is read once."""

    def __init__(self, min_count: int):
        self.min_count = min_count
        self._tokenizers: dict[str, object] = {}
        self._seen: dict[str, np.ndarray | None] = {}

    def _tokenizer(self, path: str):
        if path not in self._tokenizers:
            self._tokenizers[path] = load_tokenizer(path)
        return self._tokenizers[path]

    def seen(self, run: RunFiles) -> np.ndarray | None:
        if run.counts not in self._seen:
            self._seen[run.counts] = seen_tokens(run.counts, self.min_count)
        return self._seen[run.counts]

    def pair(self, a: RunFiles, b: RunFiles, rows_a: int, rows_b: int) -> tuple[np.ndarray, np.ndarray]:
        if Path(a.tokenizer) == Path(b.tokenizer):  # one tokenizer: the same ids, no string matching
            ids = np.arange(len(self._tokenizer(a.tokenizer)), dtype=np.int64)
            ids_a, ids_b = ids, ids.copy()
        else:
            ids_a, ids_b = shared_vocabulary(self._tokenizer(a.tokenizer), self._tokenizer(b.tokenizer))
        return shared_seen_ids(ids_a, ids_b, rows_a, rows_b, self.seen(a), self.seen(b))


def embedding_matrices(dump: str | Path) -> dict[str, np.ndarray | None]:
    """{"input": (V, d) float32, "output": (V, d) float32 or None when tied to the input}."""
    tensors = load_tensors(dump, keys=("input",))
    output = tensors.get("output")
    return {"input": tensors["input"].float().numpy(),
            "output": None if output is None else output.float().numpy()}


def nonzero_rows(*matrices: np.ndarray) -> np.ndarray:
    """(n,) bool: rows that are non-zero in every matrix.

    An all-zero row has no direction (cosine similarity is undefined) and is no learned embedding:
    e.g. the row of the model's pad token (``padding_idx``), which nn.Embedding keeps at 0.
    """
    return np.logical_and.reduce([np.abs(X).max(axis=1) > 0 for X in matrices])


def pair_matrix(matrices: dict, which: str) -> np.ndarray:
    """A model's ``which`` matrix; a tied model's output matrix is its input matrix."""
    return matrices["input"] if which == "output" and matrices["output"] is None else matrices[which]


PAIR_COLUMNS = ["run_a", "run_b", "subset_a", "subset_b", "preset_a", "preset_b", "seed_a", "seed_b", "relation",
                "embeddings", "n_tokens", "n_sampled"]
SIMILARITY_VALUES = ["cosine_similarity_correlation", "linear_cka"]
LLE_VALUES = ["cross_error", "own_error", "random_error", "relative_error", "random_relative_error", "jaccard"]


def _pair_columns(a: RunFiles, b: RunFiles) -> dict:
    return {"run_a": a.name, "run_b": b.name, "subset_a": a.subset, "subset_b": b.subset,
            "preset_a": a.preset, "preset_b": b.preset, "seed_a": a.seed, "seed_b": b.seed,
            "relation": relation(a, b)}


def _pairs(runs: list[RunFiles], embeddings: list[str], min_count: int):
    """Every unordered pair (a before b in run order), per compared matrix: (a, b, which, X_a, X_b).

    Output matrices are compared unless both models tie them to their input. Each model's dump is
    read once as ``a`` and once per partner as ``b``, so memory holds two models at a time.
    """
    aligner = TokenAligner(min_count)
    for i, a in enumerate(runs):
        mats_a = embedding_matrices(a.dump)
        for b in runs[i + 1:]:
            mats_b = embedding_matrices(b.dump)
            ids_a, ids_b = aligner.pair(a, b, mats_a["input"].shape[0], mats_b["input"].shape[0])
            log.info("%s vs %s: %d shared tokens seen at least %d times by both", a.name, b.name, ids_a.size,
                     min_count)
            if ids_a.size < 3:
                raise RegeoInputError(f"{a.name} and {b.name} share only {ids_a.size} tokens seen at least "
                                      f"{min_count} times by both; lower geometry.id.min_count")
            for which in embeddings:
                if which == "output" and mats_a["output"] is None and mats_b["output"] is None:
                    continue
                X_a, X_b = pair_matrix(mats_a, which)[ids_a], pair_matrix(mats_b, which)[ids_b]
                keep = nonzero_rows(X_a, X_b)
                if not keep.all():
                    log.info("%s vs %s (%s): %d all-zero rows left out", a.name, b.name, which, (~keep).sum())
                yield a, b, which, X_a[keep], X_b[keep]


def global_similarity_table(params: dict, min_count: int, runs: dict[str, dict], out_path: str | Path) -> pd.DataFrame:
    """One row per unordered pair of final models and compared matrix (the measures are symmetric)."""
    rows = []
    for a, b, which, X_a, X_b in _pairs(RunFiles.table(runs), params["embeddings"], min_count):
        values = global_similarity(X_a, X_b, params["sample_size"], params["seed"])
        rows.append({**_pair_columns(a, b), "embeddings": which, "n_tokens": X_a.shape[0],
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
    for a, b, which, X_a, X_b in _pairs(RunFiles.table(runs), params["embeddings"], min_count):
        sample = _sample_rows(X_a.shape[0], params["sample_size"], params["seed"])
        both = compare_lle_both_ways(X_a[sample], X_b[sample], params["k"], params["reg"], params["seed"],
                                     metric=params["metric"])
        for (source, target), values in zip(((a, b), (b, a)), both):
            rows.append({**_pair_columns(source, target), "embeddings": which, "n_tokens": X_a.shape[0],
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
    dumps = sorted(dumps)  # step{S:07d} names sort by step
    final = embedding_matrices(dumps[-1])
    n_rows = final["input"].shape[0]
    seen = seen_tokens(counts_path, min_count)
    keep = np.arange(n_rows) if seen is None else np.flatnonzero(seen[:n_rows])
    rows = []
    for path in dumps:
        step = int(Path(path).stem.removeprefix("step"))
        current = final if path == dumps[-1] else embedding_matrices(path)
        for which in params["embeddings"]:
            if which == "output" and final["output"] is None:
                continue
            X, X_final = current[which][keep], final[which][keep]
            nonzero = nonzero_rows(X, X_final)  # e.g. the pad token's row, kept at 0 by nn.Embedding
            values = global_similarity(X[nonzero], X_final[nonzero], params["sample_size"], params["seed"])
            rows.append({"run": run, "subset": subset, "step": step, "embeddings": which,
                         "n_tokens": int(nonzero.sum()),
                         "n_sampled": values["n"], **{key: values[key] for key in SIMILARITY_VALUES}})
    table = pd.DataFrame(rows)
    table["min_count"] = min_count
    write_parquet(table, out_path)
    return table
