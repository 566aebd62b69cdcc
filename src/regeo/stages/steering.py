"""Steering transfer between two final models (rule ``steering``, one job per (source, target) pair).

From the config's concepts and the subsets' val splits to concepts
(:func:`regeo.steering.concepts.build_concepts`), the map's fitting tokens (the pair's shared
seen tokens, :mod:`regeo.vocab`), :func:`regeo.steering.transfer.run_transfer` on the pair, its
tables, generations, vectors and maps on disk. The tables over all pairs are
:func:`regeo.steering.summary.summarise_files`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from regeo.io import save_tensors, write_jsonl, write_parquet
from regeo.steering.concepts import build_concepts
from regeo.steering.config import SteeringConfig
from regeo.steering.transfer import run_transfer
from regeo.vocab import TokenAligner, relation

log = logging.getLogger(__name__)


def fit_token_ids(source_model: str | Path, target_model: str | Path, source_counts: str | Path | None,
                  target_counts: str | Path | None, min_count: int) -> np.ndarray | None:
    """Source ids of the shared tokens both runs saw at least ``min_count`` times; None keeps every shared token.

    Rows of unseen tokens keep their random initialisation in both models: fitting the map on
    them asks it to carry one random cloud onto another. A model directory holds its tokenizer.
    """
    if min_count == 0 or (source_counts is None and target_counts is None):
        return None
    ids_a, _ = TokenAligner(min_count).pair(source_model, source_counts, target_model, target_counts)
    log.info("map fit on %d shared tokens (seen >= %d times by both runs)", ids_a.size, min_count)
    return ids_a


def steering_pair(params: dict, source_model: str, target_model: str, val_paths: dict[str, str],
                  counts: dict[str, str | None], runs: dict[str, dict], outputs: dict[str, str | Path],
                  threads: int = 1) -> None:
    """One (source, target) job: every concept transferred, scored and checked; its files written.

    ``params``: the steering section; ``val_paths``: subset -> val.parquet; ``counts``:
    {"source", "target"} -> counts.parquet or None; ``runs``: {"source", "target"} -> {name,
    subset, preset, seed}; ``outputs``: paths of ``sweep``, ``summary``, ``depth``, ``samples``,
    ``vectors`` and ``maps``.
    """
    torch.set_num_threads(threads)
    cfg = SteeringConfig.from_params(params)
    concepts = build_concepts(params["concepts"], val_paths, params["passage_chars"], params["texts_per_side"])
    fit_ids = fit_token_ids(source_model, target_model, counts["source"], counts["target"], params["min_count"])
    source, target = runs["source"], runs["target"]
    result = run_transfer(source_model, target_model, concepts, cfg, source=source["name"],
                          target=target["name"], fit_token_ids=fit_ids)
    described = {"relation": relation(source, target)}
    for side, run in (("source", source), ("target", target)):
        for key in ("subset", "preset", "seed"):
            described[f"{side}_{key}"] = run[key]
    for name in ("sweep", "summary", "depth"):
        write_parquet(getattr(result, name).assign(**described), outputs[name])
    write_jsonl(result.records, outputs["samples"])
    save_tensors(result.vectors, outputs["vectors"], metadata={**result.metadata, "kind": "steering vectors",
                                                               "names": "{concept}.{source|native|transferred|"
                                                                        "hidden_map|shuffled_map}"})
    save_tensors(result.maps, outputs["maps"], metadata={**result.metadata, "kind": "linear maps"})
    for row in result.summary.itertuples():
        log.info("%s -> %s %s: transferred %.4g [%.4g, %.4g] (z %.1f), native %.4g (z %.1f), ceiling share %.2f",
                 source["name"], target["name"], row.concept, row.transferred_effect, row.transferred_effect_ci_low,
                 row.transferred_effect_ci_high, row.transferred_z_mapped, row.native_effect, row.native_z,
                 row.ceiling_share)
