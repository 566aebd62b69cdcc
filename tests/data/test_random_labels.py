"""registers.method random: pseudo-registers for the negative control (issue 27)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from regeo.data.labeling import PROB_PREFIX
from regeo.data.random_labels import random_label
from regeo.stages.data import make_probabilities

LABELS = ["NA", "OP", "IN", "ID", "HI"]


def test_labels_are_uniform_stable_and_follow_the_seed():
    ids = [f"doc-{i}" for i in range(5000)]
    counts = Counter(random_label(i, LABELS, 0) for i in ids)
    assert set(counts) == set(LABELS)
    # chi-square with 4 df: 18.5 is its 0.999 quantile (the observed statistic here is printed on failure)
    chi2 = sum((c - 1000) ** 2 / 1000 for c in counts.values())
    assert chi2 < 18.5, chi2
    assert [random_label(i, LABELS, 0) for i in ids[:50]] == [random_label(i, LABELS, 0) for i in ids[:50]]
    other_seed = [random_label(i, LABELS, 1) for i in ids]
    assert np.mean([a == b for a, b in zip(other_seed, (random_label(i, LABELS, 0) for i in ids))]) < 0.3


def test_the_registers_stage_writes_one_hot_probabilities(tmp_path):
    shard = tmp_path / "00000.parquet"
    pd.DataFrame({"doc_id": [f"d{i}" for i in range(40)], "text": ["x" * 300] * 40}).to_parquet(shard)
    out = tmp_path / "probs.parquet"
    make_probabilities({"method": "random", "random_labels": LABELS, "random_seed": 3}, shard, out, tmp_path / "s")
    probs = pd.read_parquet(out)
    columns = [PROB_PREFIX + label for label in LABELS]
    assert (probs[columns].sum(axis=1) == 1.0).all() and probs.drop(columns=["doc_id", *columns]).sum().sum() == 0
    chosen = probs[columns].idxmax(axis=1).str.removeprefix(PROB_PREFIX)
    assert chosen.tolist() == [random_label(f"d{i}", LABELS, 3) for i in range(40)]
