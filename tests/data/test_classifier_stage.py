"""The register_probabilities stage with the classifier: its resumable state is gone once the
shard's probabilities are written, and a state left by a killed job is resumed first."""

from __future__ import annotations

import functools

import pandas as pd
import pytest

from regeo.data import classifier as clf
from regeo.data.labeling import probability_columns
from regeo.io import write_parquet
from regeo.stages.data import make_probabilities
from test_classifier import save_classifier


@pytest.fixture(scope="module")
def registers(tmp_path_factory):
    model = save_classifier(tmp_path_factory.mktemp("tiny-register-classifier"))
    return {"method": "classifier", "classifier_model": str(model), "classifier_revision": None,
            "classifier_tokenizer": None, "classifier_batch_size": 2}


@pytest.fixture
def shard(tmp_path):
    texts = ["the news report of the day", "how to cook a recipe", "we review the film", "a b c", "in of and"]
    path = tmp_path / "00000.parquet"
    write_parquet(pd.DataFrame({"doc_id": [f"d{i}" for i in range(len(texts))], "text": texts}), path)
    return path


def test_state_is_removed_once_the_output_is_written(registers, shard, tmp_path):
    out, state = tmp_path / "probabilities" / "00000.parquet", tmp_path / "probabilities" / "00000.state"
    make_probabilities(registers, shard, out, state)
    table = pd.read_parquet(out)
    assert list(table.columns) == ["doc_id", *probability_columns()] and len(table) == 5
    assert not state.exists()


def test_a_killed_job_resumes_from_its_state_then_removes_it(registers, shard, tmp_path, monkeypatch):
    out, state = tmp_path / "probabilities.parquet", tmp_path / "probabilities.state"
    reference = tmp_path / "reference.parquet"
    make_probabilities(registers, shard, reference, tmp_path / "reference.state")
    real, calls = clf._predict_batch, []

    def killed_at_the_third_batch(loaded, texts):
        calls.append(len(texts))
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        return real(loaded, texts)

    # Flush after every batch (the default, 50, would flush this small shard only at its end).
    monkeypatch.setattr(clf, "ClassifierConfig", functools.partial(clf.ClassifierConfig, flush_every=1))
    monkeypatch.setattr(clf, "_predict_batch", killed_at_the_third_batch)
    with pytest.raises(KeyboardInterrupt):
        make_probabilities(registers, shard, out, state)
    assert state.is_dir() and not out.exists()  # the state survives the kill
    calls.clear()
    monkeypatch.setattr(clf, "_predict_batch", lambda loaded, texts: calls.append(len(texts)) or real(loaded, texts))
    make_probabilities(registers, shard, out, state)
    assert calls == [1]  # 3 batches of 2, 2, 1 documents: only the last one was left
    pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(reference))
    assert not state.exists()
