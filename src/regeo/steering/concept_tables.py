"""One concept's share of a steering pair job: its vectors in both models, every condition's effect in
the target with its tests and intervals, the sweep, the next-token tables.

Per concept, at the target's block l_B of the source's relative depth:

1. (the pair job) the vector texts as per-unit activations in A and B
   (:mod:`regeo.steering.activations`), every condition's vector per bootstrap replicate
   (:mod:`regeo.steering.conditions`);
2. the null vectors of every condition;
3. one backward pass over the held-out passages scores all of them to first order
   (:mod:`regeo.steering.first_order`);
4. the swept conditions (native, transferred through each Emb2Emb map, the hidden-state map) at
   every alpha, ``null_checks`` draws of the label-permutation nulls (in B; through the default
   map from A) and of the isotropic one at the largest +-alpha, and ``kl_null_draws`` more
   isotropic draws at one sign for the next-token KL's null, all in the same forward passes
   (:func:`regeo.steering.next_token.sweep_passages`);
5. effects, tests and ratios (:mod:`regeo.steering.effects`): a native row (B's own vector) and a
   transfer row per map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from regeo.steering.activations import UnitActivations, unit_activations
from regeo.steering.bootstrap import passage_weights, percentile_interval, with_point
from regeo.steering.concepts import Concept
from regeo.steering.conditions import HIDDEN, NATIVE, TRANSFERRED, Condition, conditions, null_vectors
from regeo.steering.first_order import PassageGradients
from regeo.steering.methods import MEAN_DIFFERENCE, coherence, method_vectors
from regeo.steering.steerability import first_order_passage_effects, steerability_columns, swept_passage_effects
from regeo.steering.config import SteeringConfig
from regeo.steering.effects import interval_columns, null_test_columns, odd_slope, paired_slopes, ratio_columns
from regeo.steering.first_order import passage_gradients
from regeo.steering.maps import PairMaps
from regeo.steering.next_token import not_compared, null_comparison, sweep_passages, top_tokens
from regeo.steering.score import Heldout, cosine, statistic
from regeo.steering.text import encode_texts, target_token_ids


@dataclass(frozen=True)
class Setting:
    """One swept (vector, alpha): the condition it belongs to (or the null it is a draw of)."""

    condition: str  # a condition's name, or a checked null's: "null_label", "null_pairing", "null_isotropic"
    map: str  # the condition's map; for a permutation draw the map its vectors went through ("" in B)
    key: str  # the condition whose vectors or nulls hold it
    draw: int
    vector: torch.Tensor
    alpha: float


@dataclass
class ConceptTables:
    """One concept's share of a pair job's outputs."""

    sweep: pd.DataFrame
    native: dict
    transfer: list[dict]
    vectors: dict[str, torch.Tensor]
    next_token: pd.DataFrame
    top_tokens: pd.DataFrame
    passages: pd.DataFrame  # per held-out passage and swept condition: its own effect (regeo.steering.steerability)


@dataclass(frozen=True)
class HeldoutPass:
    """A concept's held-out passages in the target with the one backward pass over them and the
    bootstrap draws of them: shared by every method scored at the same block."""

    heldout: Heldout
    grads: PassageGradients
    weights: np.ndarray  # (1 + R, P) draw counts, row 0 the sample


def heldout_pass(concept: Concept, model_b, tok_b, layer_b: int, cfg: SteeringConfig, device) -> HeldoutPass:
    heldout = Heldout(positive=encode_texts(tok_b, concept.heldout_positive, cfg.max_length),
                      negative=encode_texts(tok_b, concept.heldout_negative, cfg.max_length),
                      target_ids=target_token_ids(tok_b, concept.target_tokens))
    grads = passage_gradients(model_b, layer_b, heldout, cfg.batch_size, device)
    weights = with_point(passage_weights(heldout.is_positive, cfg.bootstrap_replicates, cfg.seed, concept.name))
    return HeldoutPass(heldout, grads, weights)


def scored_conditions(maps: PairMaps, method: str) -> list[Condition]:
    """The conditions a method is scored with: every one for the default method; B's own vector and
    the default map's transfer for the others (the rest asks about maps, not vectors)."""
    conds = conditions(maps)
    if method == MEAN_DIFFERENCE:
        return conds
    return [c for c in conds if c.name == NATIVE or (c.name == TRANSFERRED and c.default)]


def _settings(conds: list[Condition], point: dict[str, torch.Tensor], nulls: dict, cfg: SteeringConfig,
              checked: bool = True) -> tuple[list[tuple[Setting, np.ndarray]], list[Setting]]:
    """The swept settings: per condition or checked null draw its alpha grid, and the KL-only draws."""
    alphas = np.asarray(cfg.alphas, dtype=np.float64)
    top = np.abs(alphas).max()
    check_alphas = alphas[np.abs(alphas) == top]
    grids = [(Setting(c.name, c.map, c.key, 0, point[c.key], 0.0), alphas) for c in conds if c.swept]
    default = next(c for c in conds if c.name == TRANSFERRED)
    if not checked:
        return grids, []
    for k in range(cfg.null_checks):
        for condition, key, kind in (("null_label", NATIVE, "label"), ("null_pairing", default.key, "pairing"),
                                     ("null_isotropic", NATIVE, "isotropic")):
            vector = torch.from_numpy(nulls[key][kind][k]).float()
            rows = default.map if key == default.key else ""
            grids.append((Setting(condition, rows, key, k, vector, 0.0), check_alphas))
    # Further isotropic draws for the KL's null only, at one sign of the largest |alpha| (the
    # isotropic null is symmetric in sign); they are in no other table.
    kl_alpha = top if top in alphas else -top
    kl_only = [Setting("null_isotropic", "", NATIVE, k, torch.from_numpy(nulls[NATIVE]["isotropic"][k]).float(),
                       float(kl_alpha)) for k in range(cfg.null_checks, cfg.null_checks + cfg.kl_null_draws)]
    return grids, kl_only


def score_concept(concept: Concept, units_a: UnitActivations, units_b: UnitActivations, vectors: dict[str, np.ndarray],
                  maps: PairMaps, model_b, tok_b, layer_b: int, cfg: SteeringConfig, device,
                  method: str = MEAN_DIFFERENCE, prepared: HeldoutPass | None = None) -> ConceptTables:
    """Sweep rows, native row, transfer rows and vectors of one concept's ``method`` in the target
    (module docstring); the further methods get B's own and the default map's transfer, with
    ``method_permutations`` relabellings and no null checks or next-token tables.

    ``vectors``: key -> (1 + R, d_B), every condition's vector per replicate
    (:func:`regeo.steering.conditions.condition_vectors`); ``prepared``: the held-out pass, when the
    caller scores several methods on it.
    """
    R = cfg.bootstrap_replicates
    default = method == MEAN_DIFFERENCE
    conds = scored_conditions(maps, method)
    point = {key: torch.from_numpy(v[0]).float() for key, v in vectors.items()}
    nulls = null_vectors(units_a, units_b, maps, float(np.linalg.norm(vectors[NATIVE][0])),
                         cfg.n_permutations if default else cfg.method_permutations, cfg.n_null, cfg.seed,
                         concept.name, method, cfg.probe_l2, only={c.key for c in conds})

    prepared = prepared or heldout_pass(concept, model_b, tok_b, layer_b, cfg, device)
    heldout, grads, weights = prepared.heldout, prepared.grads, prepared.weights
    metric = concept.primary_metric
    keys = [c.key for c in conds]
    first = {key: paired_slopes(grads, metric, vectors[key], weights) for key in keys}  # each (1 + R,)
    fixed = {key: grads.slopes(metric, vectors[key][:1], weights)[:, 0] for key in keys}
    null_slopes = {key: {kind: grads.slopes(metric, draws, weights[:1])[0] for kind, draws in kinds.items()}
                   for key, kinds in nulls.items()}

    grids, kl_only = _settings(conds, point, nulls, cfg, checked=default)
    settings = [Setting(s.condition, s.map, s.key, s.draw, s.vector, float(a)) for s, grid in grids for a in grid]
    settings += kl_only
    measured = sweep_passages(model_b, heldout, [(s.vector, s.alpha) for s in settings], layer_b, cfg.batch_size,
                              device)
    base = grads.scores
    scored = iter(measured.scores)
    sweep_rows, effects, check_errors, per_passage = [], {}, {}, {}
    for setting, grid in grids:
        is_null = setting.condition.startswith("null_")
        kind = setting.condition.removeprefix("null_")
        slope = (null_slopes[setting.key][kind][setting.draw] if is_null else first[setting.key])
        # Replicate r of a condition's effect adds, at first order, what its replicate vector changes.
        resampling = np.zeros(1 + R) if is_null else first[setting.key] - fixed[setting.key]  # (1 + R,)
        per_alpha, swept_scores = [], []
        for alpha in grid:
            scores = next(scored)
            swept_scores.append(scores)
            effect = statistic(scores, metric, weights) - statistic(base, metric, weights) + alpha * resampling
            per_alpha.append(effect)
            low, high = percentile_interval(effect[1:], cfg.confidence)
            shifts = {f"{m}_shift": float(statistic(scores, m, weights[:1])[0] - statistic(base, m, weights[:1])[0])
                      for m in ("loglik", "logodds", "mass")}
            sweep_rows.append(dict(concept=concept.name, method=method, condition=setting.condition,
                                   map=setting.map, draw=setting.draw, alpha=float(alpha), metric=metric,
                                   effect=float(effect[0]), ci_low=float(low), ci_high=float(high),
                                   first_order=float(alpha * np.atleast_1d(slope)[0]), **shifts,
                                   vector_norm=float(setting.vector.double().norm()),
                                   cosine_to_native=cosine(setting.vector, point[NATIVE])))
        swept = odd_slope(np.stack(per_alpha, axis=1), grid)  # (1 + R,)
        if is_null:
            null = null_slopes[setting.key][kind]
            sd = float(null.std(ddof=1))
            check_errors.setdefault(setting.key, []).append(abs(swept[0] - slope) / sd if sd > 0 else np.nan)
        else:
            effects[setting.key] = swept
            per_passage[setting.key] = swept_passage_effects(base, swept_scores, grid, metric)  # (P,)

    described = {"concept": concept.name, "metric": metric, "vector_kind": concept.vector,
                 "vector_unit": "passage" if units_b.kind == "texts" else "position",
                 "n_vector_passages": units_b.n_passages, "n_vector_units_positive": int(units_b.positive.sum()),
                 "n_vector_units_negative": int((~units_b.positive).sum()),
                 "n_heldout_positive": len(heldout.positive), "n_heldout_negative": len(heldout.negative),
                 "n_heldout_tokens": int(base.n_positions.sum()), "n_null": cfg.n_null,
                 "bootstrap_replicates": R, "confidence": cfg.confidence}
    nan = np.full(1 + R, np.nan)
    # Coherence of the vector's own passage differences: B's for B's vector, A's (before any map)
    # for a carried one, what is known of it before steering.
    source_vector = method_vectors(units_a, method, units_a.positive[None], probe_l2=cfg.probe_l2)[0]
    rows, passage_rows = {}, []
    for condition in conds:
        key = condition.key
        effect = effects.get(key, nan)
        passage_first = first_order_passage_effects(grads, metric, vectors[key])  # (P, 1 + R)
        swept_passages = per_passage.get(key, np.full(len(heldout.passages), np.nan))
        row = {**described, "method": method, "condition": condition.name, "map": condition.map,
               **interval_columns("effect", effect, cfg.confidence),
               **interval_columns("first_order", first[key], cfg.confidence),
               **null_test_columns(condition.name, float(first[key][0]), null_slopes[key]),
               "vector_norm": float(point[key].double().norm()), "cosine_to_native": cosine(point[key], point[NATIVE]),
               "null_check_error": _largest(check_errors.get(key, [])),
               # A first-order-only condition's passages are read at first order.
               **steerability_columns(swept_passages if key in per_passage else passage_first[:, 0], passage_first,
                                      weights, cfg.confidence),
               "coherence": (coherence(units_b, vectors[NATIVE][0]) if condition.name == NATIVE
                             else coherence(units_a, source_vector))}
        if condition.name != NATIVE:
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = effect / effects[NATIVE]
            row.update(default_map=condition.name == TRANSFERRED and condition.default,
                       **ratio_columns("transfer_ratio", effect, effects[NATIVE], cfg.confidence),
                       **ratio_columns("ceiling_share", effect if condition.name != HIDDEN else nan,
                                       effects.get(HIDDEN, nan), cfg.confidence),
                       # The replicates, for paired comparisons across pair jobs: every job draws
                       # replicate r of a concept from the same seeds and keys (regeo.steering.summary).
                       transfer_ratio_replicates=ratio[1:].tolist())
        rows[key] = row
        if condition.swept:
            passage_rows += [dict(concept=concept.name, method=method, condition=condition.name, map=condition.map,
                                  passage=p, side="positive" if positive else "negative", n_tokens=int(n),
                                  metric=metric, effect=float(swept_passages[p]),
                                  first_order=float(passage_first[p, 0]))
                             for p, (positive, n) in enumerate(zip(heldout.is_positive, base.n_positions))]
    if default:
        next_token, tops = _next_token_tables(concept.name, conds, settings, measured, weights, point[NATIVE], tok_b,
                                              cfg)
    else:  # the next-token tables read the default method only: their null draws are swept for it
        next_token, tops = pd.DataFrame(), pd.DataFrame()
    native = rows.pop(NATIVE)
    return ConceptTables(pd.DataFrame(sweep_rows), native, list(rows.values()), point, next_token, tops,
                         pd.DataFrame(passage_rows))


def _largest(errors: list[float]) -> float:
    """The largest finite check error (NaN where there is none)."""
    finite = [e for e in errors if np.isfinite(e)]
    return float(max(finite)) if finite else float("nan")


def _next_token_tables(concept: str, conds: list[Condition], settings: list[Setting], measured, weights: np.ndarray,
                       v_b, tok_b, cfg: SteeringConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The KL rows (every setting, the isotropic null band at the largest |alpha|) and the top-token
    rows of one concept (:mod:`regeo.steering.next_token`)."""
    top = max(abs(s.alpha) for s in settings)
    swept = {c.name for c in conds if c.swept}
    kl = [statistic(scores, "kl", weights) for scores in measured.scores]  # each (1 + R,)
    isotropic = [s for s, setting in enumerate(settings)
                 if setting.condition == "null_isotropic" and abs(setting.alpha) == top]
    null = np.array([kl[s] for s in isotropic])  # (n, 1 + R)
    n_directions = len({settings[s].draw for s in isotropic})
    n_passages = len(measured.scores[0].n_positions) if settings else 0
    rows, tops = [], []
    for s, setting in enumerate(settings):
        low, high = percentile_interval(kl[s][1:], cfg.confidence)
        row = dict(concept=concept, condition=setting.condition, map=setting.map, draw=setting.draw,
                   alpha=setting.alpha, kl=float(kl[s][0]), kl_ci_low=float(low), kl_ci_high=float(high),
                   vector_norm=float(setting.vector.double().norm()), cosine_to_native=cosine(setting.vector, v_b),
                   token_set="held-out passages, every position", n_passages=n_passages,
                   n_positions=measured.n_positions)
        compared = setting.condition in swept and abs(setting.alpha) == top
        row.update(null_comparison(kl[s], null, cfg.confidence, n_directions) if compared else not_compared())
        rows.append(row)
        steered = measured.mean_probs[s]
        for kind, ids in top_tokens(measured.reference_probs, steered, cfg.top_tokens).items():
            for rank, token in enumerate(ids, start=1):
                tops.append(dict(concept=concept, condition=setting.condition, map=setting.map, draw=setting.draw,
                                 alpha=setting.alpha, list=kind, rank=rank, token_id=token,
                                 token=tok_b.decode([token]), p_unsteered=float(measured.reference_probs[token]),
                                 p_steered=float(steered[token]),
                                 change=float(steered[token] - measured.reference_probs[token]),
                                 n_positions=measured.n_positions))
    return pd.DataFrame(rows), pd.DataFrame(tops)


def concept_units(model, tokenizer, concept: Concept, layer: int, cfg: SteeringConfig, device=None
                  ) -> UnitActivations:
    """The concept's vector texts as units at block ``layer`` (:mod:`regeo.steering.activations`)."""
    if concept.vector == "texts":
        positive = encode_texts(tokenizer, concept.positive, cfg.max_length)
        negative = encode_texts(tokenizer, concept.negative, cfg.max_length)
        return unit_activations(model, positive + negative, layer, cfg.batch_size, device,
                                cfg.vector_skip_positions, n_positive=len(positive))
    texts = encode_texts(tokenizer, concept.positive + concept.negative, cfg.max_length)
    return unit_activations(model, texts, layer, cfg.batch_size, device, cfg.vector_skip_positions,
                            target_ids=target_token_ids(tokenizer, concept.target_tokens))
