"""regeo's own harness tasks as files: one jsonl of items and one task YAML per task, and a
``tasks.json`` manifest, written together into one task directory (``TaskManager(include_path=
that directory)`` finds them).

The YAML names its data file by absolute path: the harness hands ``data_files`` to
``datasets.load_dataset``, which resolves a relative path against the working directory, not
against the YAML. The directory is built beside its final name and renamed into place, so a
killed job never leaves a YAML pointing at a half-written jsonl.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Iterable

import yaml

from regeo.harness.local_tasks import LOCAL_TASKS, TASK_VERSION
from regeo.harness.next_sentence import NextSentenceSpec, document_passages, next_sentence_items
from regeo.io import RegeoInputError, atomic_dir, read_columns

MANIFEST = "tasks.json"


def task_config(name: str, data_file: str | Path) -> dict:
    """The harness task config (the YAML's content) of local task ``name`` reading ``data_file``.

    Zero-shot by default; a few-shot run draws its examples from the same items, never the
    item being scored (the harness's rule for a task with only a test split). The choices follow
    the context after one space (the harness's default target delimiter).
    """
    return {
        "task": name,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(Path(data_file).resolve())}},
        "test_split": "test",
        "output_type": "multiple_choice",
        "doc_to_text": "context",
        "doc_to_choice": "choices",
        "doc_to_target": "label",
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True},
                        {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True}],
        "metadata": {"version": TASK_VERSION},
    }


def read_passages(val_docs: dict[str, str | Path], spec: NextSentenceSpec) -> dict:
    """Subset -> its passages, from each subset's ``val.parquet`` (columns ``doc_id`` and ``text``)."""
    passages = {}
    for subset, path in sorted(val_docs.items()):
        docs = read_columns(path, ["doc_id", "text"])
        passages[subset] = [p for doc_id, text in zip(docs["doc_id"], docs["text"])
                            for p in document_passages(subset, doc_id, text, spec)]
    return passages


def write_local_tasks(val_docs: dict[str, str | Path], out_dir: str | Path, spec: NextSentenceSpec,
                      tasks: Iterable[str]) -> dict:
    """Build the local tasks named in ``tasks`` (other names are left to the harness) from the
    subsets' validation documents into ``out_dir``: ``{task}.jsonl``, ``{task}.yaml`` and
    ``tasks.json`` (the spec, and per task its items per subset and the jsonl's sha256).
    Returns the manifest. ``val_docs``: subset -> val.parquet."""
    names = [t for t in dict.fromkeys(tasks) if t in LOCAL_TASKS]
    if not names:
        raise RegeoInputError(f"harness.tasks names none of regeo's local tasks ({', '.join(LOCAL_TASKS)})")
    passages = read_passages(val_docs, spec)
    final = Path(out_dir).resolve()
    manifest = {"spec": asdict(spec), "task_version": TASK_VERSION,
                "passages": {subset: len(p) for subset, p in passages.items()}, "tasks": {}}
    with atomic_dir(final) as tmp:
        for name in names:
            items = next_sentence_items(passages, spec, LOCAL_TASKS[name])
            lines = "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items)
            (tmp / f"{name}.jsonl").write_text(lines, encoding="utf-8")
            config = task_config(name, final / f"{name}.jsonl")
            (tmp / f"{name}.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
            per_subset = {}
            for item in items:
                per_subset[item["subset"]] = per_subset.get(item["subset"], 0) + 1
            manifest["tasks"][name] = {"distractors": LOCAL_TASKS[name], "items": len(items),
                                       "items_per_subset": per_subset,
                                       "sha256": hashlib.sha256(lines.encode("utf-8")).hexdigest()}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest
