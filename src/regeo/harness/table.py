"""One tidy table of a harness run: a row per (model, task, filter, metric).

``source`` says where a row's value comes from: ``harness`` (``results["results"]``, the harness's
value and stderr, for tasks and groups alike) or ``proxy`` (:mod:`regeo.harness.proxies`, from
the per-sample log-likelihoods of every multiple-choice task; a group's proxies pool the
documents of its multiple-choice tasks, the size-weighted mean the harness uses for MMLU).

Each row carries what makes it reproducible: ``lm_eval_version``; ``task_version`` (the task
YAML's metadata version); ``task_digest``, the sha256 of the task's config as the harness
logged it (few-shot count included), with the YAML's own path left out and each local data file
replaced by the sha256 of its bytes, so it follows the task's content, not where the results
directory lives (lm-eval 0.4.x logs no task hash of its own); and ``docs_digest``, the sha256 of
the harness's per-document hashes in document order, which pins the documents scored (a
``limit`` changes it). A group's digests hash its tasks' digests.
"""

from __future__ import annotations

import hashlib
import json
import math
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from regeo.harness.proxies import PROXIES, mean_and_stderr, sample_proxies
from regeo.harness.run import HarnessRun

COLUMNS = ["model", "task", "filter", "metric", "value", "stderr", "n", "source", "num_fewshot", "task_version",
           "task_digest", "docs_digest", "lm_eval_version"]


def harness_table(model: str, run: HarnessRun) -> pd.DataFrame:
    """Every metric of every task and group of ``run`` (harness rows), then the proxies of every
    multiple-choice task and of every group with such tasks (proxy rows); columns ``COLUMNS``."""
    results = run.results
    leaves = {name: _leaves(name, results.get("group_subtasks", {})) for name in results["results"]}
    digests = {task: config_digest(config) for task, config in results["configs"].items()}
    docs = {task: docs_digest(samples) for task, samples in results.get("samples", {}).items()}
    common = {"model": model, "lm_eval_version": results.get("lm_eval_version") or metadata.version("lm_eval")}
    rows = []

    def meta(name: str) -> dict:
        tasks = leaves[name]
        return {**common, "task": name,
                "num_fewshot": results.get("n-shot", {}).get(name),
                "task_version": _version(results.get("versions", {}).get(name)),
                "task_digest": digests.get(name) or _combined({t: digests.get(t) for t in tasks}),
                "docs_digest": docs.get(name) or _combined({t: docs.get(t) for t in tasks})}

    for name, values in results["results"].items():
        n = sum(results.get("n-samples", {}).get(t, {}).get("effective", 0) for t in leaves[name])
        for key, value in values.items():
            if "," not in key:  # alias, name, sample_len
                continue
            metric, filter_name = key.split(",", 1)
            if metric.endswith("_stderr"):
                continue
            rows.append({**meta(name), "filter": filter_name, "metric": metric, "value": _number(value),
                         "stderr": _number(values.get(f"{metric}_stderr,{filter_name}")), "n": n,
                         "source": "harness"})

    proxies = {task: sample_proxies(results["samples"][task], run.tasks[task], run.token_count)
               for task, config in results["configs"].items()
               if config.get("output_type") == "multiple_choice" and task in results.get("samples", {})}
    for name in results["results"]:
        mc = [t for t in leaves[name] if t in proxies]
        if not mc:
            continue
        for filter_name in sorted({f for t in mc for f in proxies[t]}):
            for metric in PROXIES:
                pooled = np.concatenate([proxies[t][filter_name][metric] for t in mc if filter_name in proxies[t]])
                value, stderr = mean_and_stderr(pooled)
                rows.append({**meta(name), "filter": filter_name, "metric": metric, "value": value,
                             "stderr": stderr, "n": len(pooled), "source": "proxy"})
    return pd.DataFrame(rows, columns=COLUMNS)


def config_digest(config: dict) -> str:
    """sha256 of a task config as the harness logs it, its YAML path dropped and each existing
    local data file replaced by the sha256 of its bytes."""
    config = json.loads(json.dumps(config, default=str))
    (config.get("metadata") or {}).pop("config_source", None)
    files = (config.get("dataset_kwargs") or {}).get("data_files")
    if isinstance(files, dict):
        config["dataset_kwargs"]["data_files"] = {split: _file_digest(f) for split, f in files.items()}
    elif files is not None:
        config["dataset_kwargs"]["data_files"] = _file_digest(files)
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def docs_digest(samples: list[dict]) -> str:
    """sha256 of the harness's document and target hashes of one task's samples, in document order."""
    first_filter = samples[0].get("filter") if samples else None
    chosen = sorted((s for s in samples if s.get("filter") == first_filter), key=lambda s: s["doc_id"])
    text = "\n".join(f"{s['doc_id']}:{s['doc_hash']}:{s['target_hash']}" for s in chosen)
    return hashlib.sha256(text.encode()).hexdigest()


def _file_digest(entry):
    if isinstance(entry, list):
        return [_file_digest(e) for e in entry]
    path = Path(entry) if isinstance(entry, str) and "://" not in entry else None
    if path is not None and path.is_file():
        return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    return entry


def _leaves(name: str, group_subtasks: dict) -> list[str]:
    if name not in group_subtasks:
        return [name]
    return [leaf for child in group_subtasks[name] for leaf in _leaves(child, group_subtasks)]


def _combined(digests: dict) -> str | None:
    if not digests or any(d is None for d in digests.values()):
        return None
    return hashlib.sha256(json.dumps(digests, sort_keys=True).encode()).hexdigest()


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):  # the harness writes "N/A" where it computed no stderr
        return math.nan


def _version(value):
    return None if value is None else str(value)
