"""registers.method column: a corpus's own genre labels mapped to CORE codes."""

from __future__ import annotations

import pandas as pd
import pytest

from regeo.config import ConfigError, validate_config
from regeo.data.label_column import read_label_column
from regeo.data.labeling import label_documents
from regeo.io import RegeoInputError
from regeo.registers import LabelingRules

MAP = {"news": "ne", "howto": ["HI", "IN"], "review": "rv"}


def shard(tmp_path, labels):
    path = tmp_path / "00000.parquet"
    pd.DataFrame({"doc_id": [f"d{i}" for i in range(len(labels))], "text": ["x" * 300] * len(labels),
                  "genre": labels}).to_parquet(path)
    return path


def test_labels_map_to_core_codes_and_then_to_classes(tmp_path):
    path = shard(tmp_path, ["news", "howto", "review", "OP", "na"])  # the last two are CORE codes already
    probabilities = read_label_column(path, "genre", MAP)
    documents = pd.read_parquet(path)
    table = label_documents(documents, probabilities, LabelingRules(threshold=0.4, keep_subregisters=("ne",),
                                                                    keep_hybrids=("HI-IN",), min_chars=200))
    assert table["register"].tolist() == ["ne", "HI-IN", "OP", "OP", "NA"]
    assert probabilities.loc[1, ["prob_HI", "prob_IN", "prob_NA"]].tolist() == [1.0, 1.0, 0.0]


def test_an_unmapped_value_names_the_file_row_and_value(tmp_path):
    path = shard(tmp_path, ["news", "poetry", "news"])
    with pytest.raises(RegeoInputError) as err:
        read_label_column(path, "genre", MAP)
    assert str(path) in str(err.value) and "row 1 (doc_id 'd1')" in str(err.value) and "'poetry'" in str(err.value)
    with pytest.raises(RegeoInputError, match="row 0 .*label missing"):
        read_label_column(shard(tmp_path, [None, "news"]), "genre", MAP)


def test_unmapped_values_are_dropped_or_given_a_default(tmp_path):
    path = shard(tmp_path, ["news", "poetry"])
    dropped = read_label_column(path, "genre", MAP, unmapped="drop")
    assert dropped.filter(like="prob_").iloc[1].sum() == 0.0  # no label: no subset takes it
    given = read_label_column(path, "genre", MAP, unmapped="ly")
    assert given.loc[1, "prob_LY"] == 1.0 and given.filter(like="prob_").iloc[1].sum() == 1.0


def test_a_missing_column_names_the_file_and_field(tmp_path):
    with pytest.raises(RegeoInputError, match=r"missing column\(s\) \['category'\].*registers.label_field"):
        read_label_column(shard(tmp_path, ["news"]), "category", MAP)


@pytest.mark.parametrize("registers, message", [
    ({"label_map": {"news": "newsy"}}, r"config.registers.label_map.news: \['newsy'\] not CORE"),
    ({"label_map": {"news": "ne"}, "unmapped_label": "other"}, "config.registers.unmapped_label: 'other'"),
])
def test_config_errors_name_the_field(registers, message):
    cfg = {"corpus": {"source": "local", "paths": ["docs/*.parquet"]}, "registers": {"method": "column", **registers}}
    with pytest.raises(ConfigError, match=message):
        validate_config(cfg)
