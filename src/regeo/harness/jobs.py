"""The two entry points the benchmark rules call: the local task files (one job for all models)
and one model's table (one job per final model)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from regeo.harness.config import HarnessConfig, next_sentence_spec
from regeo.harness.local_tasks import LOCAL_TASKS
from regeo.harness.task_files import write_local_tasks
from regeo.io import write_json, write_parquet

log = logging.getLogger(__name__)


def build_local_tasks(local_tasks: dict, tasks: list[str], val_docs: dict[str, str | Path],
                      out_dir: str | Path) -> dict:
    """regeo's local tasks among ``tasks`` (``harness.tasks``), built from the subsets' val
    documents (subset -> val.parquet) with ``harness.local_tasks`` into ``out_dir``; the manifest."""
    manifest = write_local_tasks(val_docs, out_dir, next_sentence_spec(local_tasks), tasks)
    for name, task in manifest["tasks"].items():
        log.info("%s: %d items (%s)", name, task["items"], task["items_per_subset"])
    return manifest


def model_benchmarks(params: dict, model: str, model_dir: str | Path, tokenizer_dir: str | Path,
                     task_dir: str | Path | None, out_path: str | Path,
                     results_path: str | Path | None = None, step: int | None = None) -> pd.DataFrame:
    """The benchmark table of one saved model (:func:`regeo.harness.table.harness_table`) at
    ``out_path``. ``params``: the harness section (``local_tasks`` may be left out); ``model``:
    the run's name, the table's model column; ``task_dir``: the local tasks' directory (None when
    the config names none); ``results_path``: where to keep the harness's own results as JSON,
    without the per-sample logs (optional); ``step``: the training step of a model saved during
    training (``training.save_models_at``), kept as a ``step`` column (a final model's table has none)."""
    import torch

    from regeo.harness.run import load_hf_model, run_harness
    from regeo.harness.table import harness_table

    cfg = HarnessConfig.from_params(params)
    if task_dir is None and any(t in LOCAL_TASKS for t in cfg.tasks):
        raise ValueError(f"harness.tasks names regeo's local tasks ({', '.join(LOCAL_TASKS)}), "
                         f"but no task directory was given")
    torch.set_num_threads(cfg.threads)
    lm = load_hf_model(model_dir, tokenizer_dir, cfg.device, cfg.batch_size)
    run = run_harness(lm, cfg.tasks, task_dir, cfg.num_fewshot, cfg.limit, cfg.seed, cfg.bootstrap_iters,
                      cfg.offline)
    table = harness_table(model, run)
    if step is not None:
        table["step"] = step
    write_parquet(table, out_path)
    if results_path is not None:
        write_json({k: v for k, v in run.results.items() if k != "samples"}, results_path)
    for row in table[table["metric"].isin(["acc", "norm_correct_prob"])].itertuples():
        log.info("%s on %s: %s %.4f +- %.4f", model, row.task, row.metric, row.value, row.stderr)
    return table
