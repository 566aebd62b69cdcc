"""One steering-transfer job: carry each concept's vector from a source model into a target model.

For each concept: the source's CAA vector v_A at block l_A (``cfg.layer_relative_depth``), the
Emb2Emb map M fit on the shared vocabulary's token embeddings, and on the target at the block
l_B of the same relative depth the conditions

- ``native``: the target's own CAA vector v_B at l_B (the ceiling),
- ``transferred``: M v_A rescaled to |v_B|,
- ``random``: ``cfg.n_random`` seeded Gaussian vectors rescaled to |v_B|,
- ``none``: no steering (the reference every effect is measured from),

scored over ``cfg.alphas`` by :func:`regeo.steering.score.score_conditions`.

Columns of the table (one row per concept, condition, random draw and alpha):
source, target (run names), concept, condition, draw, alpha; vector_norm, cosine_to_native;
loglik_positive, loglik_negative, target_mass (raw, under steering); loglik_shift,
target_mass_shift (effects, see :mod:`regeo.steering.score`); efficiency_loglik,
efficiency_mass, and efficiency / efficiency_flag for the concept's primary metric;
provenance: vector_kind, layer_source, n_layers_source, layer_target, n_layers_target, d_source,
d_target, embeddings, map_r2, map_rank, n_shared_tokens, source_vector_norm, mapped_vector_norm
(|M v_A| before rescaling: how much of v_A the map keeps).
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from regeo.devices import resolve_device
from regeo.io import RegeoInputError
from regeo.steering.concepts import Concept
from regeo.steering.config import SteeringConfig
from regeo.steering.emb2emb import LinearMap, fit_models_map
from regeo.steering.inject import decoder_layers, layer_at_depth, match_layer
from regeo.steering.score import Condition, Heldout, generation_records, score_conditions
from regeo.steering.text import encode_texts, target_token_ids
from regeo.steering.vectors import steering_vector, token_steering_vector
from regeo.vocab import shared_vocabulary

log = logging.getLogger(__name__)


def load_model(model_dir: str | Path, device: torch.device | str = "cpu"):
    """(model, tokenizer) from a ``save_pretrained`` directory: safetensors only, no remote code, float32, eval."""
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise RegeoInputError(f"{model_dir}: not a saved model (no config.json)")
    model = AutoModelForCausalLM.from_pretrained(model_dir, use_safetensors=True, local_files_only=True,
                                                 trust_remote_code=False)
    model = model.to(device=device, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True, trust_remote_code=False)
    return model, tokenizer


def concept_vector(model, tokenizer, concept: Concept, layer: int, cfg: SteeringConfig,
                   device=None) -> torch.Tensor:
    """The concept's CAA vector (d,) in this model at block ``layer`` (texts or next-token kind)."""
    if concept.vector == "texts":
        return steering_vector(model, tokenizer, concept.positive, concept.negative, layer,
                               cfg.max_length, cfg.batch_size, device)
    return token_steering_vector(model, tokenizer, concept.positive + concept.negative,
                                 target_token_ids(tokenizer, concept.target_tokens), layer,
                                 cfg.max_length, cfg.batch_size, device)


def rescale(vector: torch.Tensor, norm: float) -> torch.Tensor:
    """``vector`` scaled to ``norm`` (a zero vector stays zero: its effect is then 0, not a crash)."""
    current = float(vector.double().norm())
    return vector * (norm / current) if current > 0 else torch.zeros_like(vector)


def random_vector(d: int, norm: float, seed: int, concept_name: str, draw: int) -> torch.Tensor:
    """Gaussian direction (d,) float32 of the given norm; the seed mixes in a stable hash of the concept
    name, so adding or reordering concepts leaves every other concept's baseline unchanged."""
    rng = np.random.default_rng([seed, zlib.crc32(concept_name.encode()), draw])
    return rescale(torch.from_numpy(rng.standard_normal(d)).float(), norm)


def _prompts(tokenizer, concept: Concept, cfg: SteeringConfig) -> list[list[int]]:
    """Generation prompts (token ids): the concept's own, else starts of held-out negative texts first
    (steering towards the positive side shows best where the text starts on the other side)."""
    if cfg.n_generate == 0:
        return []
    if concept.prompts:
        return encode_texts(tokenizer, concept.prompts[: cfg.n_generate], cfg.max_length)
    texts = concept.heldout_negative + concept.heldout_positive
    return [ids[: cfg.prompt_tokens] for ids in encode_texts(tokenizer, texts, cfg.max_length)][: cfg.n_generate]


def run_transfer(source_model_dir: str | Path, target_model_dir: str | Path, concepts: Sequence[dict | Concept],
                 cfg: SteeringConfig, *, source: str = "source", target: str = "target",
                 fit_token_ids: Sequence[int] | None = None) -> tuple[pd.DataFrame, list[dict]]:
    """Score every concept's transfer from the source model to the target model.

    ``source``/``target`` name the two runs in the table and the records (the rule's run names).
    ``fit_token_ids``: optional source-model token ids the map is fit on (e.g. tokens seen in
    training: unseen rows stay at their random initialisation); pairs of the shared vocabulary
    whose source id is not listed are left out. Returns the tidy table (columns in the module
    docstring) and the generation records for a JSONL file. ``df.attrs["steering_config"]`` holds
    ``asdict(cfg)``.
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
    emb_map: LinearMap = fit_models_map(model_a, model_b, ids_a, ids_b, cfg.embeddings, cfg.ridge)
    n_a, n_b = len(decoder_layers(model_a)), len(decoder_layers(model_b))
    layer_a = layer_at_depth(cfg.layer_relative_depth, n_a)
    layer_b = match_layer(layer_a, n_a, n_b)
    log.info("%s -> %s: %d shared tokens, map R^2 %.3f, layer %d/%d -> %d/%d", source, target,
             emb_map.n_tokens, emb_map.r2, layer_a, n_a, layer_b, n_b)

    tables, records = [], []
    for concept in concepts:
        with torch.no_grad():
            v_a = concept_vector(model_a, tok_a, concept, layer_a, cfg, device)  # (d_a,)
            same_place = model_b is model_a and layer_b == layer_a  # self-transfer: v_B is v_A
            v_b = v_a if same_place else concept_vector(model_b, tok_b, concept, layer_b, cfg, device)  # (d_b,)
        native_norm = float(v_b.double().norm())
        mapped = emb_map.apply(v_a)  # (d_b,)
        conditions = [Condition("native", v_b), Condition("transferred", rescale(mapped, native_norm))]
        conditions += [Condition("random", random_vector(v_b.shape[0], native_norm, cfg.seed, concept.name, k), k)
                       for k in range(cfg.n_random)]
        heldout = Heldout(positive=encode_texts(tok_b, concept.heldout_positive, cfg.max_length),
                          negative=encode_texts(tok_b, concept.heldout_negative, cfg.max_length),
                          target_ids=target_token_ids(tok_b, concept.target_tokens))
        table = score_conditions(model_b, layer_b, conditions, cfg.alphas, heldout, cfg.batch_size, device,
                                 cfg.min_native_effect, primary=concept.primary_metric)
        table.insert(0, "concept", concept.name)
        table.insert(0, "target", target)
        table.insert(0, "source", source)
        table["vector_kind"] = concept.vector
        table["layer_source"], table["n_layers_source"] = layer_a, n_a
        table["layer_target"], table["n_layers_target"] = layer_b, n_b
        table["d_source"], table["d_target"] = emb_map.d_a, emb_map.d_b
        table["embeddings"], table["map_r2"], table["map_rank"] = cfg.embeddings, emb_map.r2, emb_map.rank_a
        table["n_shared_tokens"] = emb_map.n_tokens
        table["source_vector_norm"] = float(v_a.double().norm())
        table["mapped_vector_norm"] = float(mapped.double().norm())  # |M v_A| before rescaling
        tables.append(table)

        generation_conditions = [c for c in conditions if c.name != "random" or c.draw == 0]
        for record in generation_records(model_b, tok_b, _prompts(tok_b, concept, cfg), generation_conditions,
                                         cfg.alphas, layer_b, cfg.max_new_tokens, device):
            records.append(dict(source=source, target=target, concept=concept.name, **record))

    frame = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    frame.attrs["steering_config"] = asdict(cfg)
    return frame, records
