"""The resumable state of one training run: model, optimizer, log rows and the step they belong to.

It lives in the run's ``state_dir``, never a declared output (Snakemake deletes those before a
retry), and is saved atomically: a kill during a save leaves the previous state whole.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pandas as pd
import torch

from regeo.io import RegeoInputError, atomic_dir, load_tensors, save_tensors, write_json

log = logging.getLogger(__name__)


class RunState:
    """The resumable state of one run under ``root``, written by the config of ``fingerprint``."""

    def __init__(self, root: Path, fingerprint: str, log_columns: list[str]) -> None:
        self.root = root
        self.fingerprint = fingerprint
        self.log_columns = log_columns
        self.latest = root / "latest"
        self.dumps = root / "embeddings"

    def load(self, model, optimizer) -> tuple[int, list[dict]]:
        """Restore the latest state if it belongs to this config; returns (step, log rows)."""
        info_path = self.latest / "progress.json"
        if not info_path.is_file():
            return 0, []
        info = json.loads(info_path.read_text())
        if info.get("fingerprint") != self.fingerprint:
            log.warning("state in %s is from another config (%s != %s); starting over",
                        self.root, info.get("fingerprint"), self.fingerprint)
            shutil.rmtree(self.root)
            return 0, []
        model.load_state_dict(load_tensors(self.latest / "model.safetensors"))
        try:
            optimizer.load_state_dict(torch.load(self.latest / "optimizer.pt", weights_only=True))
        except Exception as err:
            raise RegeoInputError(f"{self.latest / 'optimizer.pt'}: unreadable optimizer state: {err}") from err
        rows = pd.read_csv(self.latest / "log.csv").to_dict("records") if info["step"] > 0 else []
        return int(info["step"]), rows

    def save(self, step: int, model, optimizer, rows: list[dict]) -> None:
        with atomic_dir(self.latest) as tmp:
            save_tensors(_unshared(model.state_dict()), tmp / "model.safetensors")
            torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
            pd.DataFrame(rows, columns=self.log_columns).to_csv(tmp / "log.csv", index=False)
            write_json({"step": step, "fingerprint": self.fingerprint}, tmp / "progress.json")


def _unshared(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors with a copy of each one that shares storage with an earlier one: a tied model
    holds one matrix under two names, which safetensors refuses to write (a GPU model's tensors
    are copied apart on their way to the CPU anyway)."""
    seen: set[int] = set()
    out = {}
    for name, tensor in tensors.items():
        pointer = tensor.untyped_storage().data_ptr()
        out[name] = tensor.clone() if pointer in seen else tensor
        seen.add(pointer)
    return out
