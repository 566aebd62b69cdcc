"""regeo's next-sentence tasks: real held-out text, seeded, written atomically, and loaded by the
harness as it ships."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import replace

import pandas as pd
import pytest
import yaml

from regeo.harness.local_tasks import LOCAL_TASKS, OTHER_SUBSETS, SAME_SUBSET
from regeo.harness.next_sentence import document_passages
from regeo.harness.sentences import split_sentences
from regeo.harness.task_files import MANIFEST, read_passages, write_local_tasks
from regeo.io import RegeoInputError


def _items(task_dir, name):
    return [json.loads(line) for line in (task_dir / f"{name}.jsonl").read_text().splitlines()]


def _squash(text):
    return re.sub(r"\s+", " ", text)


def test_sentences_end_at_stops_before_capitals_and_at_line_breaks():
    text = 'He said "Stop." Then he left!  The 3 men (and Dr. who?) stayed.\nHEADLINE\n\nA new line. ok then.'
    assert split_sentences(text) == ['He said "Stop."', "Then he left!", "The 3 men (and Dr. who?) stayed.",
                                     "HEADLINE", "A new line. ok then."]


def test_a_passage_is_followed_by_its_answer_in_the_document(val_docs, spec):
    docs = pd.read_parquet(val_docs["NA"])
    passages = [p for doc_id, text in zip(docs["doc_id"], docs["text"])
                for p in document_passages("NA", doc_id, text, spec)]
    assert passages
    texts = dict(zip(docs["doc_id"], docs["text"].map(_squash)))
    for p in passages:
        assert f"{p.context} {p.answer}" in texts[p.doc_id]
        assert spec.min_sentence_chars <= len(p.answer) <= spec.max_sentence_chars
        assert len(p.context) <= spec.max_context_chars


def test_items_hold_the_true_next_sentence_among_distractors_of_the_right_kind(val_docs, spec, task_dir):
    passages = read_passages(val_docs, spec)
    answers = {(p.subset, p.doc_id, p.context): p.answer for ps in passages.values() for p in ps}
    subset_of = {p.answer: p.subset for ps in passages.values() for p in ps}
    doc_of = {p.answer: p.doc_id for ps in passages.values() for p in ps}
    for name, kind in LOCAL_TASKS.items():
        items = _items(task_dir, name)
        assert Counter(item["subset"] for item in items) == {s: spec.items_per_subset for s in val_docs}
        for item in items:
            choices, gold = item["choices"], item["choices"][item["label"]]
            assert len(choices) == spec.n_choices == len(set(choices))
            assert gold == answers[item["subset"], item["doc_id"], item["context"]]
            wrong = [c for i, c in enumerate(choices) if i != item["label"]]
            if kind == SAME_SUBSET:
                assert all(subset_of[c] == item["subset"] and doc_of[c] != item["doc_id"] for c in wrong)
            else:
                assert all(subset_of[c] != item["subset"] for c in wrong)
        # the gold position is drawn uniformly: every position is used
        assert set(item["label"] for item in items) == set(range(spec.n_choices))


def test_the_files_are_seeded_and_the_seed_changes_them(val_docs, spec, task_dir, tmp_path):
    manifest = write_local_tasks(val_docs, tmp_path / "again", spec, list(LOCAL_TASKS))
    for name in LOCAL_TASKS:
        assert (tmp_path / "again" / f"{name}.jsonl").read_bytes() == (task_dir / f"{name}.jsonl").read_bytes()
    assert manifest == json.loads((task_dir / MANIFEST).read_text())
    other = write_local_tasks(val_docs, tmp_path / "reseeded", replace(spec, seed=spec.seed + 1), list(LOCAL_TASKS))
    assert all(other["tasks"][n]["sha256"] != manifest["tasks"][n]["sha256"] for n in LOCAL_TASKS)


def test_only_the_named_local_tasks_are_built(val_docs, spec, tmp_path):
    name = next(n for n, kind in LOCAL_TASKS.items() if kind == OTHER_SUBSETS)
    manifest = write_local_tasks(val_docs, tmp_path / "one", spec, [name, "hellaswag"])
    assert list(manifest["tasks"]) == [name]
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == sorted([f"{name}.jsonl", f"{name}.yaml", MANIFEST])


def test_the_task_yaml_names_its_data_by_absolute_path(task_dir):
    for name in LOCAL_TASKS:
        config = yaml.safe_load((task_dir / f"{name}.yaml").read_text())
        assert config["task"] == name and config["output_type"] == "multiple_choice"
        assert config["dataset_path"] == "json"
        assert config["dataset_kwargs"]["data_files"]["test"] == str((task_dir / f"{name}.jsonl").resolve())


def test_a_build_that_fails_leaves_no_task_directory(val_docs, spec, tmp_path):
    with pytest.raises(RegeoInputError, match=r"subset 'NA': no validation passage.*harness\.local_tasks"):
        write_local_tasks(val_docs, tmp_path / "tasks", replace(spec, context_sentences=40), list(LOCAL_TASKS))
    with pytest.raises(RegeoInputError, match="at least two subsets"):
        write_local_tasks({"ne": val_docs["ne"]}, tmp_path / "tasks", spec, list(LOCAL_TASKS))
    assert list(tmp_path.iterdir()) == []


def test_the_harness_loads_the_local_tasks_offline(task_dir, spec):
    from lm_eval.tasks import TaskManager

    from regeo.harness.offline import hub_offline

    with hub_offline(True):
        loaded = TaskManager(include_path=str(task_dir), include_defaults=False).load(list(LOCAL_TASKS))["tasks"]
    assert set(loaded) == set(LOCAL_TASKS)
    for name, task in loaded.items():
        docs = list(task.test_docs())
        assert docs == _items(task_dir, name)
        doc = docs[0]
        assert task.doc_to_text(doc) == doc["context"] and task.doc_to_choice(doc) == doc["choices"]
        assert task.doc_to_target(doc) == doc["label"]
        assert task.config.target_delimiter == " "
