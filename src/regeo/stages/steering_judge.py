"""What the pair jobs' saved vectors do downstream: judged generations per pair (rule
``steering_judge``), the cards over all pairs (``steering_cards``) and the vectors as llama.cpp
control vectors (``steering_control_vectors``).

A judge job reads a pair's vectors file and its target model, never the source: the vectors are
already in B's space (:mod:`regeo.steering.judged`). Its register judge is fit once per job on the
steering subsets' train text (tfidf) or loaded (classifier), and its held-out accuracy on their val
passages goes into every row.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from regeo.io import (RegeoInputError, atomic_dir, load_tensors, read_parquet, read_tables, tensor_metadata,
                      write_jsonl, write_parquet, write_text)
from regeo.steering.concepts import build_concepts
from regeo.steering.judge_config import JudgeConfig, contrast_subsets
from regeo.steering.passages import SIDES, passages, read_val_texts, spread

log = logging.getLogger(__name__)


def train_passages(path: str | Path, passage_chars: int, n: int) -> list[str]:
    """``n`` passages of a subset's train documents, spread evenly over them."""
    texts = read_parquet(path, columns=["text"])["text"].tolist()
    return spread([p for text in texts for p in passages(text, passage_chars)], n)


def fitted_judge(cfg: JudgeConfig, params: dict, subsets: list[str], val_paths: dict[str, str],
                 train_paths: dict[str, str], classifier_params: dict | None):
    """The fitted judge over ``subsets`` and its held-out accuracy on their val passages."""
    from regeo.steering.judges import heldout_accuracy, make_judge

    if not subsets:
        return None, {"accuracy": np.nan, "n_heldout": 0, "by_subset": {}}
    train = None
    if cfg.judge == "tfidf":
        missing = [s for s in subsets if s not in train_paths]
        if missing:
            raise RegeoInputError(f"steering.judge.judge tfidf: no train split given for subsets {missing}")
        train = {s: train_passages(train_paths[s], params["passage_chars"], cfg.train_passages) for s in subsets}
    judge = make_judge(cfg.judge, subsets, train, classifier_params, params["seed"])
    val = {}
    for s in subsets:
        texts = read_val_texts(val_paths[s], params["passage_chars"], params["texts_per_side"])
        val[s] = [p for side in SIDES for p in getattr(texts, side)]
    accuracy = heldout_accuracy(judge, val)
    log.info("%s judge over %s: held-out accuracy %.3f on %d val passages (%s)", cfg.judge, subsets,
             accuracy["accuracy"], accuracy["n_heldout"],
             ", ".join(f"{s} {a:.2f}" for s, a in accuracy["by_subset"].items()))
    return judge, accuracy


def steering_judge(params: dict, classifier_params: dict | None, target_model: str | Path, vectors_path: str | Path,
                   val_paths: dict[str, str], train_paths: dict[str, str], table_out: str | Path,
                   samples_out: str | Path, threads: int = 1) -> None:
    """Rule ``steering_judge``: one pair's judged rows (:mod:`regeo.steering.judged`) and completions."""
    from regeo.devices import resolve_device
    from regeo.steering.judged import judge_concept
    from regeo.steering.transfer import load_model

    torch.set_num_threads(threads)
    cfg = JudgeConfig.from_params(params["judge"])
    metadata = tensor_metadata(vectors_path)
    if "layer_target" not in metadata:
        raise RegeoInputError(f"{vectors_path}: no layer_target in its metadata (written by an older steering job?)")
    layer = int(metadata["layer_target"])
    tensors = load_tensors(vectors_path)
    concepts = build_concepts(params["concepts"], val_paths, params["passage_chars"], params["texts_per_side"])
    for concept in concepts:
        missing = [kind for kind in cfg.vectors if f"{concept.name}.{kind}" not in tensors]
        if missing:
            raise RegeoInputError(f"{vectors_path}: no vector {', '.join(f'{concept.name}.{k}' for k in missing)} "
                                  f"(steering.judge.vectors names {list(cfg.vectors)}; the file holds "
                                  f"{sorted(tensors)})")
    subsets = contrast_subsets(params["concepts"])
    judge, accuracy = fitted_judge(cfg, params, subsets, val_paths, train_paths, classifier_params)
    device = resolve_device(params["device"], "steering.device")
    model, tokenizer = load_model(target_model, device)
    specs = {spec["name"]: spec for spec in params["concepts"]}
    rows, records = [], []
    for concept in concepts:
        spec = specs[concept.name]
        contrast = spec["kind"] == "contrast"
        vectors = {kind: tensors[f"{concept.name}.{kind}"] for kind in cfg.vectors}
        found, texts = judge_concept(model, tokenizer, concept, vectors, layer, params, cfg, judge,
                                     subsets.index(spec["positive"]) if contrast else None, device)
        judged_by = cfg.judge if contrast else "target_tokens"
        described = {"source": metadata.get("source"), "target": metadata.get("target"), "layer_target": layer,
                     "judge": judged_by, "judge_accuracy": accuracy["accuracy"] if contrast else np.nan,
                     "judge_n_heldout": accuracy["n_heldout"] if contrast else 0,
                     "positive": spec.get("positive") or spec.get("texts"), "confidence": params["confidence"],
                     "bootstrap_replicates": params["bootstrap_replicates"]}
        rows += [{**described, **row} for row in found]
        records += [{"source": described["source"], "target": described["target"], **r} for r in texts]
    table = pd.DataFrame(rows)
    table.attrs["judge_config"] = json.dumps({**params["judge"], "judge_accuracy_by_subset": accuracy["by_subset"]})
    write_parquet(table, table_out)
    write_jsonl(records, samples_out)
    for row in table[table["alpha"] == max(cfg.alphas, key=abs)].itertuples():
        log.info("%s %s alpha %g %s: %+.4g [%+.4g, %+.4g] from alpha 0 (sign-flip p %.3g, floor %.3g)", row.concept,
                 row.vector, row.alpha, row.measure, row.change, row.change_ci_low, row.change_ci_high, row.p_value,
                 row.p_min)


def steering_cards(judged_paths: list[str | Path], transfer_path: str | Path, native_path: str | Path,
                   adjustment: str, cards_out: str | Path, judged_out: str | Path, html_out: str | Path) -> None:
    """Rule ``steering_cards``: every pair's judged rows in one table, and a card per (pair, concept,
    vector) with the effects (:mod:`regeo.steering.cards`)."""
    from regeo.steering.cards import build_cards, cards_html

    judged = read_tables(judged_paths) if judged_paths else pd.DataFrame()
    cards = build_cards(judged, read_parquet(transfer_path), read_parquet(native_path), adjustment)
    write_parquet(judged, judged_out)
    write_parquet(cards, cards_out)
    write_text(cards_html(cards), html_out)
    for row in cards.itertuples():
        log.info("card %s -> %s %s %s (alpha %g): effect %.3g; classifier shift %+.3g (adj. p %.2g), fluency %+.3g "
                 "(adj. p %.2g), loss %+.3g (adj. p %.2g)", row.source, row.target, row.concept, row.vector, row.alpha,
                 row.effect, row.concept_change, row.concept_p_adjusted, row.fluency_change, row.fluency_p_adjusted,
                 row.loss_change, row.loss_p_adjusted)


def model_type(model_dir: str | Path) -> str:
    """``config.model_type`` of a saved model (the control vector's model hint)."""
    config = Path(model_dir) / "config.json"
    if not config.is_file():
        raise RegeoInputError(f"{model_dir}: not a saved model (no config.json)")
    return json.loads(config.read_text())["model_type"]


def steering_control_vectors(pairs: list[dict], vectors_paths: list[str | Path], model_dirs: dict[str, str],
                             out_dirs: list[str | Path]) -> None:
    """Rule ``steering_control_vectors``: each pair's saved vectors as control-vector GGUF files
    (:mod:`regeo.steering.control_vectors`), one directory per pair."""
    from regeo.steering.control_vectors import export_pair

    if not len(pairs) == len(vectors_paths) == len(out_dirs):
        raise ValueError(f"{len(pairs)} pairs, {len(vectors_paths)} vector files and {len(out_dirs)} output folders")
    for pair, path, out in zip(pairs, vectors_paths, out_dirs):
        types = {side: model_type(model_dirs[pair[side]]) for side in ("source", "target")}
        with atomic_dir(out) as tmp:
            written = export_pair(path, tmp, types)
        log.info("%s -> %s: %d control vectors in %s", pair["source"], pair["target"], len(written), out)
