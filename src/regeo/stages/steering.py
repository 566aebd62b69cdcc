"""Steering transfer between two final models (rule ``steering``, one job per (source, target) pair).

From the config's concepts and the subsets' val splits to concepts
(:func:`regeo.steering.concepts.build_concepts`), the map's fitting tokens (the pair's shared
seen tokens, :mod:`regeo.token_sets`), :func:`regeo.steering.transfer.run_transfer` on the pair, its
tables (the sweep, the summary, depth, the next-token KL and top tokens), generations, vectors
and maps on disk. The tables over all pairs are
:func:`regeo.steering.summary.summarise_files`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from regeo.io import save_tensors, write_jsonl, write_parquet, write_text
from regeo.steering.concepts import build_concepts
from regeo.steering.config import SteeringConfig
from regeo.steering.methods import MEAN_DIFFERENCE
from regeo.steering.transfer import run_transfer
from regeo.token_sets import TokenAligner, relation, same_initialisation

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
    subset, preset, seed}; ``outputs``: paths of ``sweep``, ``summary`` (the transfer rows),
    ``native``, ``depth``, ``next_token``, ``top_tokens``, ``passages`` (per held-out passage effects),
    ``depth_effects`` (the layer sweep), ``samples``, ``vectors`` and ``maps``.
    """
    torch.set_num_threads(threads)
    cfg = SteeringConfig.from_params(params)
    concepts = build_concepts(params["concepts"], val_paths, params["passage_chars"], params["texts_per_side"])
    fit_ids = fit_token_ids(source_model, target_model, counts["source"], counts["target"], params["min_count"])
    source, target = runs["source"], runs["target"]
    result = run_transfer(source_model, target_model, concepts, cfg, source=source["name"],
                          target=target["name"], fit_token_ids=fit_ids)
    described = {"relation": relation(source, target), "same_init": same_initialisation(source, target)}
    for side, run in (("source", source), ("target", target)):
        for key in ("subset", "preset", "seed"):
            described[f"{side}_{key}"] = run[key]
    for name in ("sweep", "summary", "depth", "next_token", "top_tokens", "passages", "depth_effects"):
        write_parquet(getattr(result, name).assign(**described), outputs[name])
    # B's own vector is B's alone: only the target's side describes it.
    write_parquet(result.native.assign(**{k: v for k, v in described.items() if k.startswith("target_")}),
                  outputs["native"])
    write_jsonl(result.records, outputs["samples"])
    save_tensors(result.vectors, outputs["vectors"], metadata={**result.metadata, "kind": "steering vectors",
                                                               "names": "{concept}.{source|native|transferred|"
                                                                        "transferred_{variant rows}|hidden_map|"
                                                                        "shuffled_map} (mean difference); "
                                                                        "{concept}.{source|native|transferred}"
                                                                        "@{method} (further methods)"})
    save_tensors(result.maps, outputs["maps"], metadata={**result.metadata, "kind": "linear maps"})
    natives = result.native[result.native["method"] == MEAN_DIFFERENCE].set_index("concept")
    headline = result.summary["default_map"] & (result.summary["method"] == MEAN_DIFFERENCE)
    for row in result.summary[headline].itertuples():
        native = natives.loc[row.concept]
        log.info("%s -> %s %s: transferred %.4g [%.4g, %.4g] (permutation p %.2g), native %.4g (p %.2g), "
                 "ratio %.2f, ceiling share %.2f", source["name"], target["name"], row.concept, row.effect,
                 row.effect_ci_low, row.effect_ci_high, row.p_value, native.effect, native.p_value,
                 row.transfer_ratio, row.ceiling_share)


def next_token_tables(kl_paths: list[str | Path], top_paths: list[str | Path], kl_out: str | Path,
                      tops_out: str | Path, html_out: str | Path) -> None:
    """Rule ``steering_next_token``: the pairs' next-token KL and top-token tables concatenated,
    and the top tokens of the swept conditions as an HTML table for the report."""
    from regeo.io import read_parquet
    from regeo.steering.next_token import tops_html

    kl = pd.concat([read_parquet(p) for p in kl_paths], ignore_index=True) if kl_paths else pd.DataFrame()
    tops = pd.concat([read_parquet(p) for p in top_paths], ignore_index=True) if top_paths else pd.DataFrame()
    write_parquet(kl, kl_out)
    write_parquet(tops, tops_out)
    write_text(tops_html(tops), html_out)
    top = kl[kl["compared_to_null"]] if "compared_to_null" in kl else kl.iloc[:0]
    for row in top.itertuples():
        log.info("%s -> %s %s %s alpha %g: KL %.4g [%.4g, %.4g] nats, isotropic null %.4g [%.4g, %.4g]%s",
                 row.source, row.target, row.concept, row.condition, row.alpha, row.kl, row.kl_ci_low,
                 row.kl_ci_high, row.null_isotropic_kl, row.null_isotropic_kl_low, row.null_isotropic_kl_high,
                 "" if row.above_isotropic_band else " (not above the isotropic band)")


def steering_readings(pairs: list[dict], vectors_paths: list[str | Path], results: str | Path,
                      counts: dict[str, str | None], k: int, table_out: str | Path, html_out: str | Path) -> None:
    """Rule ``steering_readings``: every pair's saved source, native and transferred vectors read in
    the final space of the run each lives in (:mod:`regeo.steering.readings`)."""
    from regeo.explain import open_space
    from regeo.steering.readings import pair_readings, readings_html

    if len(pairs) != len(vectors_paths):
        raise ValueError(f"{len(pairs)} pairs but {len(vectors_paths)} vector files")
    spaces = {}
    for pair in pairs:
        for run in (pair["source"], pair["target"]):
            if run not in spaces:
                spaces[run] = open_space(results, run, counts=counts.get(run))
    tables = [pair_readings(path, pair["source"], pair["target"], spaces, k)
              for pair, path in zip(pairs, vectors_paths)]
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    write_parquet(table, table_out)
    write_text(readings_html(table), html_out)
