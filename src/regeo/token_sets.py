"""Token sets: which rows of an embedding matrix an analysis reads, and how two runs' rows align.

One concept, one name: a run's *seen* tokens are the ids its training data holds at least
``min_count`` times (``counts.parquet`` of its subset). Embedding rows of unseen tokens never
leave their initialisation (only weight decay moves them), so they form an isotropic random
cloud that would dominate neighbour-based estimates and look alike in every model. A run without
a count table (an external model, whose training data is not ours) has every token seen.

Two runs align on their *shared* tokens: the same ids when they share a tokenizer, the string
intersection of the two vocabularies otherwise. Their *shared seen* ids are the shared tokens
both runs saw (and both matrices have a row for).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from regeo.io import RegeoInputError, read_parquet


def _check_count(value, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def seen_mask(counts, min_count: int) -> np.ndarray:
    """(vocab,) bool: token ids counted at least ``min_count`` times; ``min_count=0`` keeps every id."""
    counts = np.asarray(counts)
    if counts.ndim != 1:
        raise ValueError(f"counts must be a 1-D array of per-id counts, got shape {counts.shape}")
    if counts.dtype.kind not in "iuf":
        raise ValueError(f"counts must be numbers, got dtype {counts.dtype}")
    if counts.size and not (np.isfinite(counts).all() and counts.min() >= 0):
        raise ValueError("counts must be finite and non-negative")
    return counts >= _check_count(min_count, "min_count", 0)


def read_counts(counts_path: str | Path) -> np.ndarray:
    """(vocab,) per-id counts of a ``counts.parquet`` (token_id, count); ids must run 0..n-1."""
    counts = read_parquet(counts_path, columns=["token_id", "count"]).sort_values("token_id")
    if not np.array_equal(counts["token_id"].to_numpy(), np.arange(len(counts))):
        raise RegeoInputError(f"{counts_path}: token_id must run 0..n-1 without gaps")
    return counts["count"].to_numpy()


def read_seen_mask(counts_path: str | Path | None, min_count: int) -> np.ndarray | None:
    """(vocab,) bool mask of a run's seen ids; None without a count table (every token seen)."""
    if counts_path is None:
        return None
    return seen_mask(read_counts(counts_path), min_count)


def shared_vocabulary(tok_a, tok_b) -> tuple[np.ndarray, np.ndarray]:
    """Aligned id arrays (n,) int64 of the tokens both tokenizers have.

    Identical vocabularies (the pipeline's shared tokenizer): the same ids, all of them. Otherwise
    the string intersection of the two vocabularies (token strings as the tokenizers store them,
    e.g. GPT-2's "Ġword"), in the order of A's ids.
    """
    vocab_a, vocab_b = tok_a.get_vocab(), tok_b.get_vocab()  # str -> id, added tokens included
    if vocab_a == vocab_b:
        ids = np.array(sorted(vocab_a.values()), dtype=np.int64)
        return ids, ids.copy()
    shared = sorted(set(vocab_a) & set(vocab_b), key=vocab_a.__getitem__)
    ids_a = np.array([vocab_a[s] for s in shared], dtype=np.int64)
    ids_b = np.array([vocab_b[s] for s in shared], dtype=np.int64)
    return ids_a, ids_b


def shared_seen_ids(ids_a: np.ndarray, ids_b: np.ndarray, rows_a: int | None, rows_b: int | None,
                    seen_a: np.ndarray | None, seen_b: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Aligned token ids (n,) of two models, kept where both have an embedding row and saw the token.

    ``ids_a[i]`` and ``ids_b[i]`` are the same token (string); ``seen_*`` are boolean masks over
    each tokenizer's ids (None: all seen). Ids past a mask count as unseen, ids past a matrix's
    rows are dropped (a tokenizer larger than its model's embedding has no row for them);
    ``rows_*`` None: no such limit.
    """
    keep = np.ones(len(ids_a), dtype=bool)
    for ids, rows in ((ids_a, rows_a), (ids_b, rows_b)):
        if rows is not None:
            keep &= ids < rows
    for ids, seen in ((ids_a, seen_a), (ids_b, seen_b)):
        if seen is not None:
            inside = ids < len(seen)
            keep &= inside
            keep[inside] &= seen[ids[inside]]
    return ids_a[keep], ids_b[keep]


def relation(a: dict, b: dict) -> str:
    """How two runs ({name, subset, preset, ...}) differ: self (the same run), presets (another
    size), seeds (same subset and preset: the noise floor), registers (another subset)."""
    if a["name"] == b["name"]:
        return "self"
    if a["preset"] != b["preset"]:
        return "presets"
    return "seeds" if a["subset"] == b["subset"] else "registers"


def same_initialisation(a: dict, b: dict) -> bool:
    """Whether two different runs ({name, preset, seed, ...}) started from the same weights: a
    trained run's seed fixes its initial weights and batch order whatever its subset, so runs of
    one preset and one seed share them. Such a pair is labelled in every pair table and is no
    evidence for a register claim (its geometry is alike from step 0)."""
    return a["name"] != b["name"] and a["preset"] == b["preset"] and a["seed"] == b["seed"]


class TokenAligner:
    """The shared seen tokens of any two runs; each tokenizer and count table is read once.

    A run is given by its tokenizer directory and its count table (None: every token seen).
    """

    def __init__(self, min_count: int):
        self.min_count = min_count
        self._tokenizers: dict[str, object] = {}
        self._seen: dict[str | None, np.ndarray | None] = {}

    def tokenizer(self, path: str | Path):
        from regeo.tokenizer import load_tokenizer

        key = str(path)
        if key not in self._tokenizers:
            self._tokenizers[key] = load_tokenizer(path)
        return self._tokenizers[key]

    def seen(self, counts: str | Path | None) -> np.ndarray | None:
        key = None if counts is None else str(counts)
        if key not in self._seen:
            self._seen[key] = read_seen_mask(counts, self.min_count)
        return self._seen[key]

    def pair(self, tokenizer_a, counts_a, tokenizer_b, counts_b, rows_a: int | None = None,
             rows_b: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Aligned (ids_a, ids_b) of the tokens both runs share and saw."""
        if Path(tokenizer_a) == Path(tokenizer_b):  # one tokenizer: the same ids, no string matching
            ids = np.arange(len(self.tokenizer(tokenizer_a)), dtype=np.int64)
            ids_a, ids_b = ids, ids.copy()
        else:
            ids_a, ids_b = shared_vocabulary(self.tokenizer(tokenizer_a), self.tokenizer(tokenizer_b))
        return shared_seen_ids(ids_a, ids_b, rows_a, rows_b, self.seen(counts_a), self.seen(counts_b))



def seen_by_dump(schedule: dict, train_bin: str | Path, vocab_size: int, min_count: int) -> dict[int, np.ndarray]:
    """{step: (vocab_size,) bool} of the tokens that were an input at least ``min_count`` times
    before each dump step of a trained run.

    ``schedule``: the run's seed, batch_size, seq_len and dump steps. The batches are a function
    of (seed, step) (:func:`regeo.train.data.input_counts` replays them), so no model is needed;
    step 0 precedes every update and has no seen token.
    """
    from regeo.tokens import load_tokens
    from regeo.train.data import input_counts

    counts = input_counts(load_tokens(train_bin), schedule["steps"], schedule["seed"], schedule["batch_size"],
                          schedule["seq_len"], vocab_size)  # (n_steps, vocab_size)
    return {int(step): seen_mask(row, min_count) for step, row in zip(sorted(schedule["steps"]), counts)}


def dump_token_sets(run: str, steps: list[int], schedule: dict | None, train_bin: str | Path | None,
                    vocab_rows: int, min_count: int) -> tuple[dict[int, np.ndarray], str]:
    """({step: (vocab_rows,) bool}, token_set) of a run's dumps, as every per-dump table reads them:
    a trained run's tokens seen by each step (:func:`seen_by_dump`, "seen_by_step"), an external
    run's every row ("all": its training data is not ours; ``train_bin`` is None)."""
    if train_bin is None:
        return {step: np.ones(vocab_rows, dtype=bool) for step in steps}, "all"
    if sorted(schedule["steps"]) != list(steps):
        raise RegeoInputError(f"run {run}: the dumps' steps {list(steps)} are not the schedule's "
                              f"{sorted(schedule['steps'])}")
    return seen_by_dump(schedule, train_bin, vocab_rows, min_count), "seen_by_step"


def frequency_strata(counts: dict[str, np.ndarray], n_bins: int, seed: int) -> dict[str, np.ndarray]:
    """{run: positions} of equal-size, equally frequency-profiled token samples, one per run.

    ``counts[run]``: (n,) the run's training counts of the n common tokens (aligned across runs).
    Bins: ``n_bins`` equal-population bins of the pooled log counts (the same edges for every run);
    each run then gets, from each bin, as many of its tokens as the scarcest run has there, drawn
    at random (seeded). So every run is analysed at the same n with the same distribution of its
    own token frequencies: a register difference that survives is not one of frequency profile
    (embedding norms track frequency, and Euclidean ID moves with norms).
    """
    runs = list(counts)
    logs = {run: np.log1p(np.asarray(c, dtype=np.float64)) for run, c in counts.items()}
    pooled = np.concatenate(list(logs.values()))
    edges = np.unique(np.quantile(pooled, np.linspace(0, 1, n_bins + 1)[1:-1]))
    bins = {run: np.searchsorted(edges, values, side="right") for run, values in logs.items()}
    rng = np.random.default_rng(seed)
    chosen: dict[str, list[np.ndarray]] = {run: [] for run in runs}
    for b in range(len(edges) + 1):
        members = {run: np.flatnonzero(bins[run] == b) for run in runs}
        take = min(len(m) for m in members.values())
        for run in runs:
            if take:
                chosen[run].append(np.sort(rng.choice(members[run], take, replace=False)))
    return {run: np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64) for run, parts in chosen.items()}

