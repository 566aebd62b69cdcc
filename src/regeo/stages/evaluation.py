"""Every final model's loss on every subset's validation split."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import torch
from transformers import AutoModelForCausalLM

from regeo.devices import resolve_device
from regeo.io import write_parquet
from regeo.loss import mean_loss
from regeo.tokens import load_tokens

log = logging.getLogger(__name__)


def cross_register_eval(params: dict, models: dict[str, str], runs: dict[str, dict], val_bins: dict[str, str],
                        out_path: str | Path, threads: int = 1) -> None:
    """``models``: run -> model dir; ``runs``: run -> {subset, preset, seed}; ``val_bins``: subset -> val.bin."""
    torch.set_num_threads(threads)
    device = resolve_device(params["device"], "training.device")
    rows = []
    for run, model_dir in models.items():
        model = AutoModelForCausalLM.from_pretrained(model_dir, use_safetensors=True).to(device)
        for subset, path in val_bins.items():
            loss = mean_loss(model, load_tokens(path), params["batch_size"], params["seq_len"],
                             params["max_batches"], device, None)
            rows.append({"run": run, **runs[run], "eval_subset": subset, "loss": loss})
            log.info("%s on %s: %.4f", run, subset, loss)
    write_parquet(pd.DataFrame(rows), out_path)
