"""One steering-transfer job: carry each concept's vector from a source model into a target model, with its checks.

Per pair: the Emb2Emb map M fit on a random ``1 - map_heldout_fraction`` of the shared seen
tokens (``embeddings``: input, output or both rows) and checked on the rest (R^2, retrieval), a
shuffled-pairs map (the same rows, pairs permuted before the fit) and the hidden-state map H
(fit on paired residual states of the concepts' vector texts at the two steering layers, checked
on the held-out texts). Per concept, at the target's block l_B of the source's relative depth:

- ``native``: B's own CAA vector v_B (the reference),
- ``transferred``: M v_A, ``hidden_map``: H v_A, ``shuffled_map``: M_shuffled v_A,

each rescaled to |v_B|, and two nulls of ``n_null`` random directions of that norm (isotropic in
B, and source-side directions through M; :mod:`regeo.steering.nulls`). Every vector is scored to
first order from one backward pass (:mod:`regeo.steering.first_order`); the four conditions and
``null_checks`` draws of each null are also swept over ``alphas``. Every effect and ratio gets a
bootstrap interval over held-out passages (:mod:`regeo.steering.bootstrap`), all on the same
replicates.

The effect of a condition ("effect per unit alpha") is the least-squares slope through the
origin of its effect on alpha, on the part of the effect that is odd in alpha where the grid has
+-alpha pairs: (e(a) - e(-a)) / 2 cancels what any push of the residual stream costs whatever
its direction. Its first-order counterpart is g . v. z-scores and p-values compare both with
the first-order null draws; the swept null draws check that the first-order null holds at the
swept alphas (``null_check_error``, in null standard deviations).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from regeo.devices import resolve_device
from regeo.io import RegeoInputError
from regeo.steering.bootstrap import passage_weights, percentile_interval
from regeo.steering.concepts import Concept
from regeo.steering.config import SteeringConfig
from regeo.steering.emb2emb import LinearMap, fit_linear_map, fit_rows, r2_of, retrieval, split_pairs
from regeo.steering.first_order import passage_gradients
from regeo.steering.hidden import EMBEDDING_LAYER, paired_states, text_states
from regeo.steering.inject import decoder_layers, layer_at_depth, match_layer
from regeo.steering.nulls import isotropic_draws, mapped_draws, p_value, z_score
from regeo.steering.next_token import not_compared, null_comparison, sweep_passages, top_tokens
from regeo.steering.score import Heldout, cosine, generation_records, statistic
from regeo.steering.text import encode_texts, target_token_ids
from regeo.steering.vectors import steering_vector, token_steering_vector
from regeo.token_sets import shared_vocabulary

log = logging.getLogger(__name__)

CONDITIONS = ("native", "transferred", "hidden_map", "shuffled_map")
SWEPT = ("native", "transferred", "hidden_map")  # the shuffled map is read to first order only


def load_model(model_dir: str | Path, device: torch.device | str = "cpu"):
    """(model, tokenizer) from a ``save_pretrained`` directory: safetensors only, no remote code, float32, eval."""
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise RegeoInputError(f"{model_dir}: not a saved model (no config.json)")
    model = AutoModelForCausalLM.from_pretrained(model_dir, use_safetensors=True, local_files_only=True,
                                                 trust_remote_code=False)
    model = model.to(device=device, dtype=torch.float32).eval()
    for param in model.parameters():
        param.requires_grad_(False)  # first-order scores differentiate the injected shift only
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True, trust_remote_code=False)
    return model, tokenizer


def concept_vector(model, tokenizer, concept: Concept, layer: int, cfg: SteeringConfig,
                   device=None) -> torch.Tensor:
    """The concept's CAA vector (d,) in this model at block ``layer`` (texts or next-token kind)."""
    if concept.vector == "texts":
        return steering_vector(model, tokenizer, concept.positive, concept.negative, layer,
                               cfg.max_length, cfg.batch_size, device, cfg.vector_skip_positions)
    return token_steering_vector(model, tokenizer, concept.positive + concept.negative,
                                 target_token_ids(tokenizer, concept.target_tokens), layer,
                                 cfg.max_length, cfg.batch_size, device, cfg.vector_skip_positions)


def rescale(vector: torch.Tensor, norm: float) -> torch.Tensor:
    """``vector`` scaled to ``norm`` (a zero vector stays zero: its effect is then 0, not a crash)."""
    current = float(vector.double().norm())
    return vector * (norm / current) if current > 0 else torch.zeros_like(vector)


def _prompts(tokenizer, concept: Concept, cfg: SteeringConfig) -> list[list[int]]:
    """Generation prompts (token ids): the concept's own, else starts of held-out negative texts first
    (steering towards the positive side shows best where the text starts on the other side)."""
    if cfg.n_generate == 0:
        return []
    if concept.prompts:
        return encode_texts(tokenizer, concept.prompts[: cfg.n_generate], cfg.max_length)
    texts = concept.heldout_negative + concept.heldout_positive
    return [ids[: cfg.prompt_tokens] for ids in encode_texts(tokenizer, texts, cfg.max_length)][: cfg.n_generate]


@dataclass
class MapChecks:
    """A map and what it does on tokens (or positions) it was not fit on."""

    emb_map: LinearMap
    r2_heldout: float
    top1: float = float("nan")
    top10: float = float("nan")
    n_fit: int = 0
    n_heldout: int = 0


@dataclass
class PairMaps:
    embedding: MapChecks
    shuffled: MapChecks
    hidden: MapChecks
    depth: pd.DataFrame = field(default_factory=pd.DataFrame)


def _stacked(index: np.ndarray, n: int, which: str) -> np.ndarray:
    """Row indices of token pairs ``index`` in :func:`fit_rows`' output (both blocks when stacked)."""
    return np.concatenate([index, index + n]) if which == "both" else index


def _embedding_maps(model_a, model_b, ids_a, ids_b, cfg: SteeringConfig) -> tuple[MapChecks, MapChecks]:
    """The Emb2Emb map and its shuffled-pairs baseline, both fit on the same random split, both checked."""
    rows_a, rows_b = fit_rows(model_a, cfg.embeddings, ids_a), fit_rows(model_b, cfg.embeddings, ids_b)
    fit, heldout = split_pairs(len(ids_a), cfg.map_heldout_fraction, cfg.seed)
    fit_rows_, heldout_rows = _stacked(fit, len(ids_a), cfg.embeddings), _stacked(heldout, len(ids_a), cfg.embeddings)
    shuffled_order = np.random.default_rng([cfg.seed, 1]).permutation(fit_rows_)
    checks = []
    for targets in (rows_b[fit_rows_], rows_b[shuffled_order]):
        emb_map = fit_linear_map(rows_a[fit_rows_], targets, cfg.ridge)
        ranks = retrieval(emb_map, rows_a[heldout_rows], rows_b, heldout_rows)
        checks.append(MapChecks(emb_map, r2_of(emb_map, rows_a[heldout_rows], rows_b[heldout_rows]),
                                ranks[1], ranks[10], n_fit=len(fit), n_heldout=len(heldout)))
    return checks[0], checks[1]


def _hidden_maps(states_a, states_b, fit_texts, heldout_texts, layer_a, layer_b, n_a, n_b,
                 embedding: LinearMap, ridge: float) -> tuple[MapChecks, pd.DataFrame]:
    """The hidden-state map at the steering layers, and alignment through depth (one row per A layer)."""
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
            ceiling = MapChecks(fitted, r2_fitted, n_fit=len(X), n_heldout=len(Xh))
    assert ceiling is not None
    return ceiling, pd.DataFrame(rows)


def pair_maps(model_a, tok_a, model_b, tok_b, ids_a, ids_b, concepts: Sequence[Concept], layer_a: int,
              layer_b: int, cfg: SteeringConfig, device) -> PairMaps:
    """Every map of a pair with its checks (module docstring)."""
    embedding, shuffled = _embedding_maps(model_a, model_b, ids_a, ids_b, cfg)
    fit_texts = list(dict.fromkeys(t for c in concepts for t in c.positive + c.negative))
    heldout = list(dict.fromkeys(t for c in concepts for t in c.heldout_positive + c.heldout_negative))
    texts = fit_texts + heldout
    states_a = text_states(model_a, tok_a, texts, cfg.max_length, cfg.batch_size, device)
    states_b = states_a if model_b is model_a else text_states(model_b, tok_b, texts, cfg.max_length,
                                                                cfg.batch_size, device)
    n_a, n_b = len(decoder_layers(model_a)), len(decoder_layers(model_b))
    fit_index, heldout_index = range(len(fit_texts)), range(len(fit_texts), len(texts))
    hidden, depth = _hidden_maps(states_a, states_b, fit_index, heldout_index, layer_a, layer_b, n_a, n_b,
                                 embedding.emb_map, cfg.ridge)
    return PairMaps(embedding, shuffled, hidden, depth)


def _odd_slope(effects: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """(R,) least-squares slopes through the origin of ``effects`` (R, n_alpha) on alpha (odd parts if possible)."""
    positive = [i for i, a in enumerate(alphas) if a > 0 and -a in alphas]
    if positive:
        negative = [int(np.flatnonzero(alphas == -alphas[i])[0]) for i in positive]
        values, grid = (effects[:, positive] - effects[:, negative]) / 2, alphas[positive]
    else:
        values, grid = effects, alphas
    return values @ grid / float(grid @ grid)


@dataclass
class Transfer:
    """What a pair job writes: the sweep table, the per-concept summary, depth alignment, generations,
    and the vectors and maps (tensors with their metadata)."""

    sweep: pd.DataFrame
    summary: pd.DataFrame
    depth: pd.DataFrame
    records: list[dict]
    vectors: dict[str, torch.Tensor]
    maps: dict[str, torch.Tensor]
    metadata: dict[str, str]
    next_token: pd.DataFrame = field(default_factory=pd.DataFrame)  # KL per setting (regeo.steering.next_token)
    top_tokens: pd.DataFrame = field(default_factory=pd.DataFrame)  # risers and most probable tokens per setting


@dataclass
class ConceptTables:
    """One concept's share of a pair job's outputs."""

    sweep: pd.DataFrame
    summary: dict
    vectors: dict[str, torch.Tensor]
    next_token: pd.DataFrame
    top_tokens: pd.DataFrame


def _score_concept(concept: Concept, v_a, v_b, maps: PairMaps, model_b, tok_b, layer_b: int,
                   cfg: SteeringConfig, device) -> ConceptTables:
    """Sweep rows, summary row and vectors of one concept in the target (module docstring)."""
    native_norm = float(v_b.double().norm())
    vectors = {"native": v_b.float(),
               "transferred": rescale(maps.embedding.emb_map.apply(v_a).float(), native_norm),
               "hidden_map": rescale(maps.hidden.emb_map.apply(v_a).float(), native_norm),
               "shuffled_map": rescale(maps.shuffled.emb_map.apply(v_a).float(), native_norm)}
    nulls = {"isotropic": isotropic_draws(v_b.shape[0], cfg.n_null, native_norm, cfg.seed, concept.name),
             "mapped": mapped_draws(maps.embedding.emb_map.weight.numpy(), cfg.n_null, native_norm, cfg.seed,
                                    concept.name)}
    heldout = Heldout(positive=encode_texts(tok_b, concept.heldout_positive, cfg.max_length),
                      negative=encode_texts(tok_b, concept.heldout_negative, cfg.max_length),
                      target_ids=target_token_ids(tok_b, concept.target_tokens))
    metric = concept.primary_metric
    grads = passage_gradients(model_b, layer_b, heldout, cfg.batch_size, device)
    weights = np.vstack([np.ones(len(heldout.passages)),
                         passage_weights(heldout.is_positive, cfg.bootstrap_replicates, cfg.seed, concept.name)])
    stacked = np.vstack([np.stack([v.double().numpy() for v in vectors.values()]), nulls["isotropic"],
                         nulls["mapped"]])  # (4 + 2 n_null, d_b)
    slopes = grads.slopes(metric, stacked, weights)  # (1 + R, K)
    n_cond = len(vectors)

    def column(name: str, draw: int) -> int:
        """Column of ``slopes`` that holds a condition's or a null draw's first-order slope."""
        if name in vectors:
            return list(vectors).index(name)
        return n_cond + draw + (cfg.n_null if name == "null_mapped" else 0)

    null_values = {"isotropic": slopes[0, n_cond:n_cond + cfg.n_null],
                   "mapped": slopes[0, n_cond + cfg.n_null:]}
    null_sd = float(null_values["isotropic"].std(ddof=1))

    # Full sweeps: native, transferred and hidden_map over every alpha; the shuffled map is a
    # baseline read to first order; the checked null draws at the largest +-alpha only.
    alphas = np.asarray(cfg.alphas, dtype=np.float64)
    check_alphas = alphas[np.abs(alphas) == np.abs(alphas).max()]
    swept = [(name, 0, vectors[name], alphas) for name in SWEPT]
    swept += [(f"null_{kind}", k, torch.from_numpy(nulls[kind][k]).float(), check_alphas)
              for kind in ("isotropic", "mapped") for k in range(cfg.null_checks)]
    # Further isotropic draws (of the same 64) for the KL's null only, at one sign of the largest
    # |alpha| (the null is symmetric in sign); they are in no other table.
    kl_alpha = np.abs(alphas).max() if np.abs(alphas).max() in alphas else -np.abs(alphas).max()
    kl_only = [("null_isotropic", k, torch.from_numpy(nulls["isotropic"][k]).float(), np.array([kl_alpha]))
               for k in range(cfg.null_checks, cfg.null_checks + cfg.kl_null_draws)]
    settings = [(name, draw, vector, float(alpha)) for name, draw, vector, grid in swept + kl_only for alpha in grid]
    measured = sweep_passages(model_b, heldout, [(vector, alpha) for _, _, vector, alpha in settings], layer_b,
                              cfg.batch_size, device)
    scored = iter(measured.scores)
    base = grads.scores
    sweep_rows, effects_of = [], {}
    for name, draw, vector, grid in swept:
        per_alpha = []
        for alpha in grid:
            scores = next(scored)
            effect = statistic(scores, metric, weights) - statistic(base, metric, weights)  # (1 + R,)
            per_alpha.append(effect)
            low, high = percentile_interval(effect[1:], cfg.confidence)
            shifts = {f"{m}_shift": float(statistic(scores, m, weights[:1])[0] - statistic(base, m, weights[:1])[0])
                      for m in ("loglik", "logodds", "mass")}
            sweep_rows.append(dict(concept=concept.name, condition=name, draw=draw, alpha=float(alpha),
                                   metric=metric, effect=float(effect[0]), ci_low=float(low), ci_high=float(high),
                                   first_order=float(alpha * slopes[0, column(name, draw)]), **shifts,
                                   vector_norm=float(vector.double().norm()),
                                   cosine_to_native=cosine(vector, v_b)))
        effects_of[(name, draw)] = _odd_slope(np.stack(per_alpha, axis=1), grid)  # (1 + R,)

    row: dict = {"concept": concept.name, "metric": metric, "vector_kind": concept.vector,
                 "n_heldout_positive": len(heldout.positive), "n_heldout_negative": len(heldout.negative),
                 "n_heldout_tokens": int(base.n_positions.sum()), "n_null": cfg.n_null,
                 "bootstrap_replicates": cfg.bootstrap_replicates, "confidence": cfg.confidence}
    for kind, values in null_values.items():
        row[f"null_{kind}_mean"], row[f"null_{kind}_sd"] = float(values.mean()), float(values.std(ddof=1))
    for k, name in enumerate(vectors):
        first = slopes[:, k]
        sweep_slope = effects_of[(name, 0)] if name in SWEPT else np.full_like(first, np.nan)
        for label, values in (("effect", sweep_slope), ("first_order", first)):
            low, high = percentile_interval(values[1:], cfg.confidence)
            row[f"{name}_{label}"], row[f"{name}_{label}_ci_low"], row[f"{name}_{label}_ci_high"] = (
                float(values[0]), float(low), float(high))
        for kind in ("isotropic", "mapped"):
            suffix = "" if kind == "isotropic" else "_mapped"
            # The swept effect against the first-order null (valid where null_check_error is small),
            # and the first-order slope against it (always like for like).
            row[f"{name}_z{suffix}"] = float(z_score(sweep_slope[0], null_values[kind]))
            row[f"{name}_p{suffix}"] = p_value(float(sweep_slope[0]), null_values[kind])
            row[f"{name}_z_first_order{suffix}"] = float(z_score(first[0], null_values[kind]))
            row[f"{name}_p_first_order{suffix}"] = p_value(float(first[0]), null_values[kind])
        row[f"{name}_cosine_to_native"] = cosine(vectors[name], v_b)
    errors = [abs(effects_of[(f"null_{kind}", k)][0] - slopes[0, column(f"null_{kind}", k)])
              for kind in ("isotropic", "mapped") for k in range(cfg.null_checks)]
    row["null_check_error"] = float(max(errors) / null_sd) if errors and null_sd > 0 else float("nan")
    with np.errstate(invalid="ignore", divide="ignore"):
        for ratio, (top, bottom) in {"transfer_ratio": ("transferred", "native"),
                                     "ceiling_share": ("transferred", "hidden_map"),
                                     "hidden_map_ratio": ("hidden_map", "native")}.items():
            values = effects_of[(top, 0)] / effects_of[(bottom, 0)]
            low, high = percentile_interval(values[1:], cfg.confidence)
            row[ratio], row[f"{ratio}_ci_low"], row[f"{ratio}_ci_high"] = float(values[0]), float(low), float(high)
    level = 1 - cfg.confidence
    row["native_significant"] = bool(row["native_p"] < level)
    row["transferred_significant"] = bool(row["transferred_p_mapped"] < level)
    row["flag"] = ("native_not_above_null" if not row["native_significant"]
                   else "first_order_null_off" if row["null_check_error"] > 1 else "ok")
    next_token, tops = _next_token_tables(concept.name, settings, measured, weights, v_b, tok_b, cfg)
    return ConceptTables(pd.DataFrame(sweep_rows), row, vectors, next_token, tops)


def _next_token_tables(concept: str, settings, measured, weights: np.ndarray, v_b, tok_b,
                       cfg: SteeringConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The KL rows (every setting, the null comparison at the largest |alpha|) and the top-token rows
    of one concept (:mod:`regeo.steering.next_token`)."""
    top = max(abs(alpha) for *_, alpha in settings)
    kl = [statistic(scores, "kl", weights) for scores in measured.scores]  # each (1 + R,)
    null = np.array([kl[s] for s, (name, _, _, alpha) in enumerate(settings)
                     if name == "null_isotropic" and abs(alpha) == top])  # (n, 1 + R)
    n_passages = len(measured.scores[0].n_positions) if settings else 0
    rows, tops = [], []
    for s, (name, draw, vector, alpha) in enumerate(settings):
        low, high = percentile_interval(kl[s][1:], cfg.confidence)
        row = dict(concept=concept, condition=name, draw=draw, alpha=alpha, kl=float(kl[s][0]),
                   kl_ci_low=float(low), kl_ci_high=float(high), vector_norm=float(vector.double().norm()),
                   cosine_to_native=cosine(vector, v_b), token_set="held-out passages, every position",
                   n_passages=n_passages, n_positions=measured.n_positions)
        row.update(null_comparison(kl[s], null, cfg.confidence) if name in SWEPT and abs(alpha) == top
                   else not_compared())
        rows.append(row)
        steered = measured.mean_probs[s]
        for kind, ids in top_tokens(measured.reference_probs, steered, cfg.top_tokens).items():
            for rank, token in enumerate(ids, start=1):
                tops.append(dict(concept=concept, condition=name, draw=draw, alpha=alpha, list=kind, rank=rank,
                                 token_id=token, token=tok_b.decode([token]),
                                 p_unsteered=float(measured.reference_probs[token]), p_steered=float(steered[token]),
                                 change=float(steered[token] - measured.reference_probs[token]),
                                 n_positions=measured.n_positions))
    return pd.DataFrame(rows), pd.DataFrame(tops)


def run_transfer(source_model_dir: str | Path, target_model_dir: str | Path, concepts: Sequence[dict | Concept],
                 cfg: SteeringConfig, *, source: str = "source", target: str = "target",
                 fit_token_ids: Sequence[int] | None = None) -> Transfer:
    """Score every concept's transfer from the source model to the target model (module docstring).

    ``source``/``target`` name the two runs in the tables. ``fit_token_ids``: optional source-model
    token ids the maps may use (e.g. tokens seen in training: unseen rows stay at their random
    initialisation); pairs of the shared vocabulary whose source id is not listed are left out.
    ``sweep.attrs["steering_config"]`` holds ``asdict(cfg)``.
    """
    concepts = [c if isinstance(c, Concept) else Concept.from_dict(c) for c in concepts]
    names = [c.name for c in concepts]
    if len(set(names)) != len(names):
        raise RegeoInputError(f"concept names must be unique, got {names}")
    device = resolve_device(cfg.device, "steering device")
    model_a, tok_a = load_model(source_model_dir, device)
    same_dir = Path(source_model_dir).resolve() == Path(target_model_dir).resolve()
    model_b, tok_b = (model_a, tok_a) if same_dir else load_model(target_model_dir, device)

    ids_a, ids_b = shared_vocabulary(tok_a, tok_b)
    if fit_token_ids is not None:
        keep = np.isin(ids_a, np.asarray(fit_token_ids, dtype=np.int64))
        ids_a, ids_b = ids_a[keep], ids_b[keep]
    n_a, n_b = len(decoder_layers(model_a)), len(decoder_layers(model_b))
    layer_a = layer_at_depth(cfg.layer_relative_depth, n_a)
    layer_b = match_layer(layer_a, n_a, n_b)
    maps = pair_maps(model_a, tok_a, model_b, tok_b, ids_a, ids_b, concepts, layer_a, layer_b, cfg, device)
    emb = maps.embedding
    log.info("%s -> %s: %d shared tokens, map R^2 %.3f held out (%.3f fit), top-1 %.3f; hidden map R^2 %.3f; "
             "layer %d/%d -> %d/%d", source, target, len(ids_a), emb.r2_heldout, emb.emb_map.r2, emb.top1,
             maps.hidden.r2_heldout, layer_a, n_a, layer_b, n_b)

    pair = {"source": source, "target": target, "embeddings": cfg.embeddings, "layer_source": layer_a,
            "n_layers_source": n_a, "layer_target": layer_b, "n_layers_target": n_b, "d_source": emb.emb_map.d_a,
            "d_target": emb.emb_map.d_b, "n_shared_tokens": len(ids_a), "n_map_fit_tokens": emb.n_fit,
            "n_map_heldout_tokens": emb.n_heldout, "map_r2_fit": emb.emb_map.r2, "map_r2_heldout": emb.r2_heldout,
            "map_top1_heldout": emb.top1, "map_top10_heldout": emb.top10, "map_rank": emb.emb_map.rank_a,
            "shuffled_map_r2_heldout": maps.shuffled.r2_heldout, "shuffled_map_top1_heldout": maps.shuffled.top1,
            "hidden_map_r2_heldout": maps.hidden.r2_heldout, "n_hidden_fit_positions": maps.hidden.n_fit,
            "n_hidden_heldout_positions": maps.hidden.n_heldout}
    sweeps, rows, records, saved, next_tokens, tops = [], [], [], {}, [], []
    for concept in concepts:
        with torch.no_grad():
            v_a = concept_vector(model_a, tok_a, concept, layer_a, cfg, device)  # (d_a,)
            same_place = model_b is model_a and layer_b == layer_a  # self-transfer: v_B is v_A
            v_b = v_a if same_place else concept_vector(model_b, tok_b, concept, layer_b, cfg, device)  # (d_b,)
        tables = _score_concept(concept, v_a, v_b, maps, model_b, tok_b, layer_b, cfg, device)
        vectors = tables.vectors
        sweeps.append(tables.sweep)
        rows.append({**pair, **tables.summary})
        next_tokens.append(tables.next_token)
        tops.append(tables.top_tokens)
        saved[f"{concept.name}.source"] = v_a.float().clone()  # its own storage: v_B is v_A in self-transfer
        saved.update({f"{concept.name}.{name}": v.clone() for name, v in vectors.items()})
        generated = {name: vectors[name] for name in ("native", "transferred")}
        for record in generation_records(model_b, tok_b, _prompts(tok_b, concept, cfg), generated, cfg.alphas,
                                         layer_b, cfg.max_new_tokens, device):
            records.append(dict(source=source, target=target, concept=concept.name, **record))

    sweep = pd.concat(sweeps, ignore_index=True)
    sweep.insert(0, "target", target)
    sweep.insert(0, "source", source)
    for key in ("embeddings", "layer_source", "layer_target"):
        sweep[key] = pair[key]
    sweep.attrs["steering_config"] = asdict(cfg)
    depth = maps.depth.assign(source=source, target=target, embeddings=cfg.embeddings)
    tensors = {}
    for name, checks in (("embedding", maps.embedding), ("shuffled", maps.shuffled), ("hidden", maps.hidden)):
        tensors[f"{name}.weight"] = checks.emb_map.weight.float().contiguous()
        tensors[f"{name}.mean_source"] = checks.emb_map.mean_a.float().contiguous()
        tensors[f"{name}.mean_target"] = checks.emb_map.mean_b.float().contiguous()
    metadata = {"source": source, "target": target, "layer_source": str(layer_a), "layer_target": str(layer_b),
                "fit_rows": cfg.embeddings, "concepts": ",".join(names),
                "note": "weight (d_target, d_source) maps column vectors: v_target = weight @ v_source; "
                        "hidden.* is fit on residual states at the two layers, embedding.* on token embeddings"}
    named = {"source": source, "target": target}
    next_token = pd.concat(next_tokens, ignore_index=True).assign(**named, layer_target=layer_b)
    top_table = pd.concat(tops, ignore_index=True).assign(**named)
    return Transfer(sweep=sweep, summary=pd.DataFrame(rows), depth=depth, records=records, vectors=saved,
                    maps=tensors, metadata=metadata, next_token=next_token, top_tokens=top_table)
