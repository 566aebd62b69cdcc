"""Pairs of final models for the cross-model tables, each aligned on its shared seen tokens.

The tokens of a pair are those both vocabularies hold and both runs saw at least ``min_count``
times in training (:mod:`regeo.token_sets`): unseen rows never leave their initialisation and would
look alike in every model. ``regeo.geometry`` takes arrays and returns numbers; this module
reads the dumps, tokenizers and count tables that give it those arrays.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from regeo.dumps import Dump, read_dump
from regeo.io import RegeoInputError
from regeo.token_sets import TokenAligner, relation, same_initialisation

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
    init_dump: str | None = None  # its first dump (step 0 for trained runs: the initialisation)

    @classmethod
    def table(cls, runs: dict[str, dict]) -> list["RunFiles"]:
        return [cls(name=name, **fields) for name, fields in runs.items()]

    def identity(self) -> dict:
        return {"name": self.name, "subset": self.subset, "preset": self.preset, "seed": self.seed}


def pair_columns(a: RunFiles, b: RunFiles) -> dict:
    """The columns that say which two runs a row compares and how they are related."""
    return {"run_a": a.name, "run_b": b.name, "subset_a": a.subset, "subset_b": b.subset,
            "preset_a": a.preset, "preset_b": b.preset, "seed_a": a.seed, "seed_b": b.seed,
            "relation": relation(a.identity(), b.identity()),
            "same_init": same_initialisation(a.identity(), b.identity())}


def nonzero_rows(*matrices: np.ndarray) -> np.ndarray:
    """(n,) bool: rows that are non-zero in every matrix.

    An all-zero row has no direction (cosine similarity is undefined) and is no learned embedding:
    e.g. the row of the model's pad token (``padding_idx``), which nn.Embedding keeps at 0.
    """
    return np.logical_and.reduce([np.abs(X).max(axis=1) > 0 for X in matrices])


def compared_matrices(dump_a: Dump, dump_b: Dump, embeddings) -> list[str]:
    """The matrices of a pair to compare: output only where at least one model has its own."""
    return [which for which in embeddings if which == "input" or not (dump_a.tied and dump_b.tied)]


@dataclass(frozen=True)
class PairMatrices:
    """One compared matrix of a pair: the rows of the pair's shared seen tokens, all-zero rows left out."""

    a: RunFiles
    b: RunFiles
    which: str  # "input" or "output"
    X_a: np.ndarray  # (n, d_a) float32
    X_b: np.ndarray  # (n, d_b) float32
    ids_a: np.ndarray  # (n,) the rows' token ids in A's vocabulary
    ids_b: np.ndarray  # (n,) in B's

    def at_init(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The same rows of both runs' first dumps (None when a run has none): the null a
        similarity is read against, since runs of one seed start from one initialisation."""
        if self.a.init_dump is None or self.b.init_dump is None:
            return None
        return (read_dump(self.a.init_dump).matrix(self.which).numpy()[self.ids_a],
                read_dump(self.b.init_dump).matrix(self.which).numpy()[self.ids_b])


def final_model_pairs(runs: list[RunFiles], embeddings, min_count: int,
                      only: Iterable[tuple[str, str]] | None = None) -> Iterator[PairMatrices]:
    """Every unordered pair (a before b in run order), per compared matrix; ``only``: just these
    (a, b) pairs of run names, in the same order (a block of the table, regeo.costs).

    Each model's dump is read once as ``a`` and once per partner as ``b``, so memory holds two
    models at a time.
    """
    aligner = TokenAligner(min_count)
    wanted = None if only is None else {tuple(pair) for pair in only}
    if wanted is not None:
        ordered = {(a.name, b.name) for i, a in enumerate(runs) for b in runs[i + 1:]}
        unknown = sorted(wanted - ordered)
        if unknown:
            raise RegeoInputError(f"pairs {unknown} are not pairs (a before b) of the runs {[r.name for r in runs]}")
    for i, a in enumerate(runs):
        partners = [b for b in runs[i + 1:] if wanted is None or (a.name, b.name) in wanted]
        if not partners:
            continue
        dump_a = read_dump(a.dump)
        for b in partners:
            dump_b = read_dump(b.dump)
            ids_a, ids_b = aligner.pair(a.tokenizer, a.counts, b.tokenizer, b.counts,
                                        dump_a.input.shape[0], dump_b.input.shape[0])
            log.info("%s vs %s: %d shared tokens seen at least %d times by both", a.name, b.name, ids_a.size,
                     min_count)
            if ids_a.size < 3:
                raise RegeoInputError(f"{a.name} and {b.name} share only {ids_a.size} tokens seen at least "
                                      f"{min_count} times by both; lower geometry.id.min_count")
            for which in compared_matrices(dump_a, dump_b, embeddings):
                X_a, X_b = dump_a.matrix(which).numpy()[ids_a], dump_b.matrix(which).numpy()[ids_b]
                keep = nonzero_rows(X_a, X_b)
                if not keep.all():
                    log.info("%s vs %s (%s): %d all-zero rows left out", a.name, b.name, which, (~keep).sum())
                yield PairMatrices(a, b, which, X_a[keep], X_b[keep], ids_a[keep], ids_b[keep])


def common_token_ids(runs: list[RunFiles], min_count: int, rows: dict[str, int] | None = None) -> dict[str, np.ndarray]:
    """{run: ids} of the tokens every run holds and saw at least ``min_count`` times, aligned:
    ``ids[a][i]`` and ``ids[b][i]`` are the same token (string) in every run's vocabulary.

    The first run's vocabulary orders them. ``rows``: each run's embedding rows (ids past them
    are dropped). One table can then compare every run on the same tokens.
    """
    if not runs:
        return {}
    rows = rows or {}
    aligner = TokenAligner(min_count)
    ref = runs[0]
    maps = {}
    keep = None
    for run in runs:
        ids_ref, ids_run = aligner.pair(ref.tokenizer, ref.counts, run.tokenizer, run.counts,
                                        rows.get(ref.name), rows.get(run.name))
        maps[run.name] = dict(zip(ids_ref.tolist(), ids_run.tolist()))
        keep = set(maps[run.name]) if keep is None else keep & set(maps[run.name])
    common = np.array(sorted(keep), dtype=np.int64)
    return {run.name: np.array([maps[run.name][i] for i in common.tolist()], dtype=np.int64) for run in runs}
