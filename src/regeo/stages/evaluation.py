"""Every final model's loss on every subset's validation split, in nats per token and bits per byte.

A trained run reads the val token files (the shared tokenizer's ids). An external run has its own
tokenizer, so it reads the same val documents tokenized with it (joined by its EOS, every
document of the split); nats per token then differ in what a token is, and bits per byte of the
UTF-8 text is the number that compares across tokenizers.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from transformers import AutoModelForCausalLM

from regeo.devices import resolve_device
from regeo.io import RegeoInputError, read_parquet, write_parquet
from regeo.loss import loss_totals
from regeo.tokenizer import load_tokenizer, token_byte_lengths
from regeo.tokens import encode_documents, load_tokens

log = logging.getLogger(__name__)

SHARED_TOKENIZER = "shared"


def cross_register_eval(params: dict, models: dict[str, str], runs: dict[str, dict], val_bins: dict[str, str],
                        out_path: str | Path, threads: int = 1, tokenizer_dir: str | Path | None = None,
                        external: dict[str, dict] | None = None, val_docs: dict[str, str] | None = None) -> None:
    """``models``: trained run -> model dir; ``runs``: run -> {subset, preset, seed}; ``val_bins``:
    subset -> val.bin; ``tokenizer_dir``: the shared tokenizer (for the bytes of its tokens);
    ``external``: external run -> {settings: ExternalRun.settings(), tokenizer: its saved tokenizer};
    ``val_docs``: subset -> val.parquet (needed when there are external runs)."""
    torch.set_num_threads(threads)
    device = resolve_device(params["device"], "training.device")
    rows = []
    shared_bytes = token_byte_lengths(load_tokenizer(tokenizer_dir)) if tokenizer_dir is not None else None
    for run, model_dir in models.items():
        model = AutoModelForCausalLM.from_pretrained(model_dir, use_safetensors=True).to(device)
        for subset, path in val_bins.items():
            rows.append(_row(run, runs[run], subset, SHARED_TOKENIZER,
                             _totals(model, load_tokens(path), params, device, shared_bytes)))
    if external:
        from regeo.external import final_model_and_tokenizer

        if not val_docs:
            raise RegeoInputError("evaluation: external runs need the subsets' val documents")
        for run, spec in external.items():
            model, tokenizer = final_model_and_tokenizer(spec["settings"], spec["tokenizer"])
            model = model.to(device)
            lengths = token_byte_lengths(tokenizer)
            for subset, path in val_docs.items():
                ids = encode_documents(tokenizer, read_parquet(path, columns=["text"])["text"].tolist(), None, str(path))
                rows.append(_row(run, runs[run], subset, run, _totals(model, ids, params, device, lengths)))
            del model
    write_parquet(pd.DataFrame(rows), out_path)


def _totals(model, tokens, params, device, lengths):
    return loss_totals(model, tokens, params["batch_size"], params["seq_len"], params["max_batches"], device,
                       None, lengths)


def _row(run: str, fields: dict, subset: str, tokenizer: str, totals) -> dict:
    log.info("%s on %s: %.4f nats/token, %.4f bits/byte (%d tokens, %d bytes)", run, subset,
             totals.nats_per_token, totals.bits_per_byte, totals.tokens, totals.bytes)
    return {"run": run, **fields, "eval_subset": subset, "loss": totals.nats_per_token,
            "bits_per_byte": totals.bits_per_byte, "tokens": totals.tokens, "bytes": totals.bytes,
            "tokenizer": tokenizer}
