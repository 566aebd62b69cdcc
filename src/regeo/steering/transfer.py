"""One steering-transfer job: carry each concept's vector from a source model into a target model, with its checks.

Per pair (:mod:`regeo.steering.maps`): the Emb2Emb maps (the default fit rows, ``embeddings``:
output, Lee et al.'s; and each of ``map_variants``) fit on a random ``1 - map_heldout_fraction``
of the shared seen tokens and checked on the rest (R^2, retrieval), a shuffled-pairs map, and the
hidden-state map H (the ceiling), fit on the concepts' ceiling passages and checked on the
held-out ones; and the bootstrap draws of the maps' fit units, shared by the pair's concepts.

Per concept (:mod:`regeo.steering.concept_tables`), at the target's block l_B of the source's
relative depth: B's own vector v_B (``native``), A's vector through each map (``transferred``,
``hidden_map``, ``shuffled_map``), each rescaled to |v_B|; every effect tested against the
label-permutation null of its own texts (:mod:`regeo.steering.permutation`) at first order,
with random directions as extra columns; every effect and ratio with a bootstrap interval over
vector passages, the maps' fit units and held-out passages (:mod:`regeo.steering.bootstrap`).

Every method of ``methods`` (:mod:`regeo.steering.methods`) builds its vectors from the same units
and replicate draws and is scored on the same held-out pass; the default method (mean difference)
gets every condition, the others B's own vector and the default map's transfer.

The job's tables: the sweep (one row per concept, method, condition, map, draw and alpha), a
native row per concept and method and a transfer row per concept, method and map (their p-values
are adjusted across pairs by :mod:`regeo.steering.summary`), depth alignment, the layer sweep
(:mod:`regeo.steering.depth_sweep`), the per-passage effects (:mod:`regeo.steering.steerability`),
the next-token tables (default method), generations (default method).
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
from regeo.steering.bootstrap import passage_weights, unit_weights, with_point
from regeo.steering.concept_tables import concept_units, heldout_pass, score_concept
from regeo.steering.conditions import NATIVE, TRANSFERRED, condition_vectors, replicate_vectors
from regeo.steering.concepts import Concept
from regeo.steering.config import SteeringConfig
from regeo.steering.depth_sweep import depth_effects
from regeo.steering.inject import decoder_layers, layer_at_depth, match_layer
from regeo.steering.maps import MapChecks, PairMaps, pair_maps
from regeo.steering.methods import MEAN_DIFFERENCE
from regeo.steering.score import generation_records
from regeo.steering.text import encode_texts
from regeo.token_sets import shared_vocabulary

log = logging.getLogger(__name__)


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
class Transfer:
    """What a pair job writes: the sweep, the native and transfer rows, depth alignment, generations,
    and the vectors and maps (tensors with their metadata)."""

    sweep: pd.DataFrame
    native: pd.DataFrame  # one row per concept: B's own vector
    summary: pd.DataFrame  # one row per concept and map: A's vector carried into B
    depth: pd.DataFrame
    records: list[dict]
    vectors: dict[str, torch.Tensor]
    maps: dict[str, torch.Tensor]
    metadata: dict[str, str]
    next_token: pd.DataFrame = field(default_factory=pd.DataFrame)  # KL per setting (regeo.steering.next_token)
    top_tokens: pd.DataFrame = field(default_factory=pd.DataFrame)  # risers and most probable tokens per setting
    passages: pd.DataFrame = field(default_factory=pd.DataFrame)  # per held-out passage effects (steerability)
    depth_effects: pd.DataFrame = field(default_factory=pd.DataFrame)  # the layer sweep (regeo.steering.depth_sweep)
    ceiling_texts: list[str] = field(default_factory=list)  # the passages the hidden-state map was fit on


def _map_columns(checks: MapChecks, unit: str) -> dict:
    """A map's description and held-out checks, for the rows of the conditions it carries."""
    return {"map_fit_unit": unit, "n_map_fit": checks.n_fit, "n_map_heldout": checks.n_heldout,
            "map_r2_fit": checks.emb_map.r2, "map_r2_heldout": checks.r2_heldout, "map_top1_heldout": checks.top1,
            "map_top10_heldout": checks.top10, "map_rank": checks.emb_map.rank_a}


def _map_tensors(maps: PairMaps) -> dict[str, torch.Tensor]:
    named = {"embedding": maps.default, "shuffled": maps.shuffled, "hidden": maps.hidden}
    named.update({f"embedding_{rows}": checks for rows, checks in list(maps.embedding.items())[1:]})
    tensors = {}
    for name, checks in named.items():
        tensors[f"{name}.weight"] = checks.emb_map.weight.float().contiguous()
        tensors[f"{name}.mean_source"] = checks.emb_map.mean_a.float().contiguous()
        tensors[f"{name}.mean_target"] = checks.emb_map.mean_b.float().contiguous()
    return tensors


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
    emb = maps.default
    log.info("%s -> %s: %d shared tokens, %s-row map R^2 %.3f held out (%.3f fit), top-1 %.3f; hidden-state map "
             "R^2 %.3f (fit on %d ceiling passages); layer %d/%d -> %d/%d", source, target, len(ids_a),
             cfg.embeddings, emb.r2_heldout, emb.emb_map.r2, emb.top1, maps.hidden.r2_heldout,
             len(maps.ceiling_texts), layer_a, n_a, layer_b, n_b)
    # One draw of the maps' fit units per replicate, shared by the concepts (row 0: the sample).
    map_draws = unit_weights(emb.n_fit, cfg.bootstrap_replicates, cfg.seed, "map tokens")
    ceiling_draws = unit_weights(len(maps.ceiling_texts), cfg.bootstrap_replicates, cfg.seed, "ceiling passages")

    pair = {"source": source, "target": target, "layer_source": layer_a, "n_layers_source": n_a,
            "layer_target": layer_b, "n_layers_target": n_b, "d_source": emb.emb_map.d_a,
            "d_target": emb.emb_map.d_b, "n_shared_tokens": len(ids_a)}
    map_columns = {rows: _map_columns(checks, "tokens") for rows, checks in maps.embedding.items()}
    units, replicates = {}, {}
    for concept in concepts:
        units_a = concept_units(model_a, tok_a, concept, layer_a, cfg, device)
        same_place = model_b is model_a and layer_b == layer_a  # self-transfer: B's units are A's
        units_b = units_a if same_place else concept_units(model_b, tok_b, concept, layer_b, cfg, device)
        # One draw of the vector passages per replicate, the same texts in both models and methods.
        draws = with_point(passage_weights(units_b.passage_positive, cfg.bootstrap_replicates, cfg.seed,
                                           f"{concept.name}/vector"))
        units[concept.name] = units_a, units_b
        for method in cfg.methods:
            replicates[concept.name, method] = (replicate_vectors(units_a, draws, method, cfg.probe_l2),
                                                replicate_vectors(units_b, draws, method, cfg.probe_l2))
    vectors = condition_vectors(replicates, maps, map_draws, ceiling_draws)

    sweeps, natives, rows, records, saved, next_tokens, tops, passages = [], [], [], [], {}, [], [], []
    for concept in concepts:
        units_a, units_b = units[concept.name]
        prepared = heldout_pass(concept, model_b, tok_b, layer_b, cfg, device)
        for method in cfg.methods:
            tables = score_concept(concept, units_a, units_b, vectors[concept.name, method], maps, model_b, tok_b,
                                   layer_b, cfg, device, method, prepared)
            sweeps.append(tables.sweep)
            passages.append(tables.passages)
            natives.append({**{k: pair[k] for k in ("target", "layer_target", "n_layers_target", "d_target")},
                            **tables.native})
            for row in tables.transfer:
                checks = {"hidden_map": _map_columns(maps.hidden, "positions"),
                          "shuffled_map": _map_columns(maps.shuffled, "tokens")}.get(row["condition"])
                rows.append({**pair, **row, **(checks or map_columns[row["map"]])})
            next_tokens.append(tables.next_token)
            tops.append(tables.top_tokens)
            # The default method's tensors keep their names; a further method's carry it as a suffix.
            suffix = "" if method == MEAN_DIFFERENCE else f"@{method}"
            saved[f"{concept.name}.source{suffix}"] = torch.from_numpy(
                replicates[concept.name, method][0][0]).float()
            saved.update({f"{concept.name}.{name}{suffix}": v.clone() for name, v in tables.vectors.items()
                          if method == MEAN_DIFFERENCE or name in (NATIVE, TRANSFERRED)})
            if method == MEAN_DIFFERENCE:
                generated = {name: tables.vectors[name] for name in ("native", "transferred")}
                for record in generation_records(model_b, tok_b, _prompts(tok_b, concept, cfg), generated,
                                                 cfg.alphas, layer_b, cfg.max_new_tokens, device):
                    records.append(dict(source=source, target=target, concept=concept.name, **record))

    depth_table = depth_effects(model_a, tok_a, model_b, tok_b, concepts, maps, map_draws, cfg, device)
    sweep = pd.concat(sweeps, ignore_index=True)
    sweep.insert(0, "target", target)
    sweep.insert(0, "source", source)
    for key in ("layer_source", "layer_target"):
        sweep[key] = pair[key]
    sweep.attrs["steering_config"] = asdict(cfg)
    depth = maps.depth.assign(source=source, target=target, embeddings=cfg.embeddings)
    metadata = {"source": source, "target": target, "layer_source": str(layer_a), "layer_target": str(layer_b),
                "fit_rows": cfg.embeddings, "variants": ",".join(cfg.map_variants), "concepts": ",".join(names),
                "note": "weight (d_target, d_source) maps column vectors: v_target = weight @ v_source; "
                        "embedding.* is the default map (fit_rows), embedding_{rows}.* the variants, "
                        "hidden.* is fit on residual states of the ceiling passages at the two layers"}
    named = {"source": source, "target": target}
    next_token = pd.concat([t for t in next_tokens if not t.empty], ignore_index=True).assign(**named, layer_target=layer_b)
    top_table = pd.concat([t for t in tops if not t.empty], ignore_index=True).assign(**named)
    passage_table = pd.concat(passages, ignore_index=True).assign(**named, layer_target=layer_b)
    return Transfer(sweep=sweep, native=pd.DataFrame(natives), summary=pd.DataFrame(rows), depth=depth,
                    records=records, vectors=saved, maps=_map_tensors(maps), metadata=metadata,
                    next_token=next_token, top_tokens=top_table, ceiling_texts=maps.ceiling_texts,
                    passages=passage_table, depth_effects=depth_table.assign(**named) if not depth_table.empty
                    else depth_table)
