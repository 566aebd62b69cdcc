"""The layer sweep: which depth steers best, natively and through the map (rule ``steering``'s
``depth_effects`` table).

"Which layer?" is the question practitioners of steering ask most. At each configured relative
depth (``steering.sweep_depths``) the source's block l_A at that depth and the target's block at
the same relative depth (:func:`regeo.steering.inject.match_layer`) get what the main depth gets,
for the default method (mean difference) and the default map: B's own vector and A's vector
carried by the Emb2Emb map, which is fit on token embeddings and so is the same map at every
depth (the map "carried to each depth", as :mod:`regeo.steering.maps` measures its alignment
there), rescaled to the native norm.

The effect at a depth is the first-order slope g . v (:mod:`regeo.steering.first_order`), the
statistic every test of the pair job reads, from one backward pass over the held-out passages
per depth instead of an alpha sweep per condition and depth; its label-permutation test and its
bootstrap interval are the main depth's (``n_permutations`` relabellings, replicates that
recompute the vectors from resampled passages, refit the map on resampled tokens and reweight
the held-out passages). Replicate r draws the same passages and tokens at every depth, so the
depths are compared on paired replicates: the best depth of a (pair, concept, condition) is the
argmax of the effect over depths, and its interval is the percentile interval of the replicates'
argmaxes (``best_depth_share``: the share of replicates whose argmax is the sample's), beside the
best effect (the maximum over depths, with its own interval).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from regeo.steering.bootstrap import passage_weights, percentile_interval, with_point
from regeo.steering.concept_tables import concept_units, heldout_pass
from regeo.steering.concepts import Concept
from regeo.steering.conditions import NATIVE, TRANSFERRED, replicate_vectors, rescale_rows
from regeo.steering.config import SteeringConfig
from regeo.steering.effects import interval_columns, paired_slopes
from regeo.steering.inject import decoder_layers, layer_at_depth, match_layer
from regeo.steering.map_replicates import apply_replicates
from regeo.steering.maps import PairMaps
from regeo.steering.permutation import permuted_vectors, two_sided_p


def sweep_layers(depths: Sequence[float], n_a: int, n_b: int) -> list[tuple[float, int, int]]:
    """(depth, block in A, block in B) per configured depth, in depth order; a depth landing on a pair
    of blocks an earlier one has is left out."""
    out, seen = [], set()
    for depth in sorted(depths):
        layer_a = layer_at_depth(depth, n_a)
        layers = (layer_a, match_layer(layer_a, n_a, n_b))
        if layers not in seen:
            seen.add(layers)
            out.append((float(depth), *layers))
    return out


def depth_effects(model_a, tok_a, model_b, tok_b, concepts: Sequence[Concept], maps: PairMaps,
                  map_draws: np.ndarray, cfg: SteeringConfig, device) -> pd.DataFrame:
    """One row per (concept, condition, depth): the first-order effect with its interval and
    label-permutation p, and the best depth of the (concept, condition) (module docstring)."""
    n_a, n_b = len(decoder_layers(model_a)), len(decoder_layers(model_b))
    layers = sweep_layers(cfg.sweep_depths, n_a, n_b)
    if not layers:
        return pd.DataFrame()
    emb = maps.default
    weight = emb.emb_map.weight.numpy()  # (d_B, d_A)
    units, sources, natives = {}, {}, {}
    for depth, layer_a, layer_b in layers:
        for concept in concepts:
            units_a = concept_units(model_a, tok_a, concept, layer_a, cfg, device)
            same_place = model_b is model_a and layer_b == layer_a
            units_b = units_a if same_place else concept_units(model_b, tok_b, concept, layer_b, cfg, device)
            # The main depth's draw keys: replicate r resamples the same passages at every depth.
            draws = with_point(passage_weights(units_b.passage_positive, cfg.bootstrap_replicates, cfg.seed,
                                               f"{concept.name}/vector"))
            key = (concept.name, depth)
            units[key] = units_a, units_b
            sources[key] = replicate_vectors(units_a, draws)
            natives[key] = replicate_vectors(units_b, draws)
    # One refit of the map per replicate serves every depth and concept.
    carried = apply_replicates(weight, emb.replicates, map_draws, sources)

    rows = []
    for depth, layer_a, layer_b in layers:
        for concept in concepts:
            key = (concept.name, depth)
            units_a, units_b = units[key]
            prepared = heldout_pass(concept, model_b, tok_b, layer_b, cfg, device)
            norms = np.linalg.norm(natives[key], axis=1)
            vectors = {NATIVE: natives[key], TRANSFERRED: rescale_rows(carried[key], norms)}
            permuted_a = permuted_vectors(units_a, cfg.n_permutations, cfg.seed, concept.name)
            permuted_b = (permuted_a if units_b is units_a
                          else permuted_vectors(units_b, cfg.n_permutations, cfg.seed, concept.name))
            nulls = {NATIVE: rescale_rows(permuted_b, norms[0]), TRANSFERRED: rescale_rows(permuted_a @ weight.T,
                                                                                            norms[0])}
            metric = concept.primary_metric
            for condition, vector in vectors.items():
                slopes = paired_slopes(prepared.grads, metric, vector, prepared.weights)  # (1 + R,)
                null = prepared.grads.slopes(metric, nulls[condition], prepared.weights[:1])[0]
                p, p_min = two_sided_p(float(slopes[0]), null)
                rows.append(dict(concept=concept.name, method="mean_difference", condition=condition,
                                 map=cfg.embeddings if condition == TRANSFERRED else "", metric=metric,
                                 sweep_depth=depth, layer_source=layer_a, n_layers_source=n_a,
                                 relative_depth_source=(layer_a + 1) / n_a, layer_target=layer_b,
                                 n_layers_target=n_b, relative_depth_target=(layer_b + 1) / n_b,
                                 **interval_columns("effect", slopes, cfg.confidence), p_value=p, p_min=p_min,
                                 n_permutations=int(null.size), effect_kind="first order (g . v)",
                                 bootstrap_replicates=cfg.bootstrap_replicates, confidence=cfg.confidence,
                                 effect_replicates=slopes))
    table = pd.DataFrame(rows)
    parts = [best_depth_columns(part, cfg.confidence) for _, part in table.groupby(["concept", "condition"],
                                                                                   sort=False)]
    return pd.concat(parts).sort_index().drop(columns="effect_replicates")


def best_depth_columns(part: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """``part`` (one concept and condition, a row per depth, with ``effect_replicates``) with the best
    depth and its interval over the paired replicates, and the best effect with its interval."""
    effects = np.stack(part["effect_replicates"].to_numpy())  # (n_depths, 1 + R)
    depths = part["sweep_depth"].to_numpy(dtype=np.float64)
    finite = np.isfinite(effects).any(0)  # (1 + R,)
    best = np.full(effects.shape[1], -1)
    best[finite] = np.nanargmax(np.where(np.isfinite(effects[:, finite]), effects[:, finite], -np.inf), axis=0)
    best_depth = np.where(best >= 0, depths[np.maximum(best, 0)], np.nan)  # (1 + R,)
    low, high = percentile_interval(best_depth[1:], confidence)
    with np.errstate(invalid="ignore"):
        best_effect = np.where(finite, np.nanmax(np.where(np.isfinite(effects), effects, -np.inf), axis=0), np.nan)
    replicates = best[1:][best[1:] >= 0]
    return part.assign(best_depth=best_depth[0], best_depth_ci_low=float(low), best_depth_ci_high=float(high),
                       best_depth_share=float(np.mean(replicates == best[0])) if replicates.size else np.nan,
                       is_best=depths == best_depth[0],
                       **interval_columns("best_effect", best_effect, confidence))
