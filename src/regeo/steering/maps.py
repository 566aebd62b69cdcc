"""Every map of a steering pair, with its held-out checks and what its bootstrap replicates need.

- **Emb2Emb maps** (:mod:`regeo.steering.emb2emb`), one per fit rows: the default
  (``embeddings``: output, the unembedding rows Lee et al. fit on; a tied model's output rows are
  its input rows) and each of ``map_variants`` (input, both stacked). All are fit on the same
  seeded random ``1 - map_heldout_fraction`` of the shared tokens and checked on the rest (R^2,
  top-1/top-10 retrieval among all shared tokens).
- **A shuffled-pairs map**: the default rows with the pairs permuted before the fit (a baseline).
- **The hidden-state map** (the ceiling; :mod:`regeo.steering.hidden`): least squares from A's
  to B's residual states at the two steering layers, fit on the concepts' *ceiling* passages,
  which share no document with the vector or held-out passages
  (:mod:`regeo.steering.passages`), and checked on the held-out passages. A ceiling fit on the
  vector passages themselves would be fit in sample on the very states the vector is a mean of.
- **Alignment through depth**: at the embedding output and at every block of A, the default map's
  R^2 and cosine on B's held-out states, and a map fit at that depth on the ceiling passages.

Bootstrap replicates (:mod:`regeo.steering.map_replicates`) refit an Emb2Emb map on a draw of its
fit token pairs (a token's input and output rows together when stacked), and the ceiling map on a
draw of its passages (a passage's positions together).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from regeo.steering.concepts import Concept
from regeo.steering.config import SteeringConfig
from regeo.steering.emb2emb import LinearMap, fit_linear_map, fit_rows, r2_of, retrieval, split_pairs
from regeo.steering.hidden import EMBEDDING_LAYER, paired_counts, paired_states, text_states
from regeo.steering.inject import decoder_layers, match_layer
from regeo.steering.map_replicates import MapReplicates, map_replicates


@dataclass
class MapChecks:
    """A map, what it does on rows it was not fit on, and its replicates (None: not resampled)."""

    emb_map: LinearMap
    r2_heldout: float
    top1: float = float("nan")
    top10: float = float("nan")
    n_fit: int = 0  # token pairs (Emb2Emb) or paired positions (hidden states) fit on
    n_heldout: int = 0
    replicates: MapReplicates | None = None


@dataclass
class PairMaps:
    embedding: dict[str, MapChecks]  # fit rows -> map; the default map first
    shuffled: MapChecks
    hidden: MapChecks
    ceiling_texts: list[str]  # the passages the hidden-state maps were fit on
    depth: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def default(self) -> MapChecks:
        return next(iter(self.embedding.values()))


def _stacked(index: np.ndarray, n: int, which: str) -> np.ndarray:
    """Row indices of token pairs ``index`` in :func:`fit_rows`' output (both blocks when stacked)."""
    return np.concatenate([index, index + n]) if which == "both" else index


def embedding_maps(model_a, model_b, ids_a, ids_b, cfg: SteeringConfig, device="cpu"
                   ) -> tuple[dict[str, MapChecks], MapChecks]:
    """The Emb2Emb maps of the default rows and of each variant, and the shuffled-pairs baseline of
    the default rows, all on the same token split, all checked on the held-out tokens."""
    fit, heldout = split_pairs(len(ids_a), cfg.map_heldout_fraction, cfg.seed)
    maps, shuffled = {}, None
    for which in (cfg.embeddings, *cfg.map_variants):
        rows_a, rows_b = fit_rows(model_a, which, ids_a), fit_rows(model_b, which, ids_b)
        fit_rows_, heldout_rows = _stacked(fit, len(ids_a), which), _stacked(heldout, len(ids_a), which)
        emb_map = fit_linear_map(rows_a[fit_rows_], rows_b[fit_rows_], cfg.ridge)
        ranks = retrieval(emb_map, rows_a[heldout_rows], rows_b, heldout_rows)
        token_of_row = np.tile(np.arange(len(fit)), 2 if which == "both" else 1)  # a token's rows together
        maps[which] = MapChecks(emb_map, r2_of(emb_map, rows_a[heldout_rows], rows_b[heldout_rows]), ranks[1],
                                ranks[10], n_fit=len(fit), n_heldout=len(heldout),
                                replicates=map_replicates(rows_a[fit_rows_].numpy(), rows_b[fit_rows_].numpy(),
                                                          token_of_row, cfg.ridge, device))
        if which == cfg.embeddings:
            shuffled_order = np.random.default_rng([cfg.seed, 1]).permutation(fit_rows_)
            shuffled_map = fit_linear_map(rows_a[fit_rows_], rows_b[shuffled_order], cfg.ridge)
            ranks = retrieval(shuffled_map, rows_a[heldout_rows], rows_b, heldout_rows)
            shuffled = MapChecks(shuffled_map, r2_of(shuffled_map, rows_a[heldout_rows], rows_b[heldout_rows]),
                                 ranks[1], ranks[10], n_fit=len(fit), n_heldout=len(heldout))
    return maps, shuffled


def hidden_maps(states_a, states_b, fit_texts: Sequence[int], heldout_texts: Sequence[int], layer_a: int,
                layer_b: int, n_a: int, n_b: int, embedding: LinearMap, ridge: float, device="cpu"
                ) -> tuple[MapChecks, pd.DataFrame]:
    """The hidden-state map at the steering layers (fit on ``fit_texts``, checked on ``heldout_texts``)
    with its replicates, and alignment through depth (one row per A layer)."""
    rows, ceiling = [], None
    for la in [EMBEDDING_LAYER, *range(n_a)]:
        lb = EMBEDDING_LAYER if la == EMBEDDING_LAYER else match_layer(la, n_a, n_b)
        X, Y = paired_states(states_a, states_b, la, lb, fit_texts)
        Xh, Yh = paired_states(states_a, states_b, la, lb, heldout_texts)
        fitted = fit_linear_map(X, Y, ridge)
        r2_fitted = r2_of(fitted, Xh, Yh)
        predicted = (Xh - Xh.mean(0)) @ embedding.weight.numpy().T
        target = Yh - Yh.mean(0)
        cosines = (predicted * target).sum(1) / np.maximum(
            np.linalg.norm(predicted, axis=1) * np.linalg.norm(target, axis=1), 1e-300)
        rows.append(dict(layer_source=la, layer_target=lb, relative_depth=0.0 if la < 0 else (la + 1) / n_a,
                         embedding_map_r2=r2_of(embedding, Xh, Yh), embedding_map_cosine=float(cosines.mean()),
                         fitted_map_r2=r2_fitted, n_fit_positions=len(X), n_heldout_positions=len(Xh)))
        if la == layer_a:
            passage_of_row = np.repeat(np.arange(len(fit_texts)), paired_counts(states_a, states_b, fit_texts))
            ceiling = MapChecks(fitted, r2_fitted, n_fit=len(X), n_heldout=len(Xh),
                                replicates=map_replicates(X, Y, passage_of_row, ridge, device))
    assert ceiling is not None
    return ceiling, pd.DataFrame(rows)


def ceiling_texts(concepts: Sequence[Concept]) -> list[str]:
    """The concepts' ceiling passages, each once, in order; an error when there are none."""
    texts = list(dict.fromkeys(t for c in concepts for t in c.ceiling))
    if not texts:
        from regeo.io import RegeoInputError

        raise RegeoInputError("no concept has ceiling texts: the hidden-state ceiling map needs passages of its "
                              "own, disjoint from the vector and held-out passages (Concept.ceiling)")
    return texts


def pair_maps(model_a, tok_a, model_b, tok_b, ids_a, ids_b, concepts: Sequence[Concept], layer_a: int,
              layer_b: int, cfg: SteeringConfig, device) -> PairMaps:
    """Every map of a pair with its checks (module docstring)."""
    embedding, shuffled = embedding_maps(model_a, model_b, ids_a, ids_b, cfg, device)
    fit_texts = ceiling_texts(concepts)
    heldout = list(dict.fromkeys(t for c in concepts for t in c.heldout_positive + c.heldout_negative))
    texts = fit_texts + heldout
    states_a = text_states(model_a, tok_a, texts, cfg.max_length, cfg.batch_size, device)
    states_b = states_a if model_b is model_a else text_states(model_b, tok_b, texts, cfg.max_length,
                                                                cfg.batch_size, device)
    n_a, n_b = len(decoder_layers(model_a)), len(decoder_layers(model_b))
    fit_index, heldout_index = range(len(fit_texts)), range(len(fit_texts), len(texts))
    default = next(iter(embedding.values()))
    hidden, depth = hidden_maps(states_a, states_b, fit_index, heldout_index, layer_a, layer_b, n_a, n_b,
                                default.emb_map, cfg.ridge, device)
    return PairMaps(embedding, shuffled, hidden, fit_texts, depth)
