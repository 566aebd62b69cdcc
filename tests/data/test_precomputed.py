"""Precomputed (HPLT v2 style) register probabilities: hand-made rows whose labels and classes are known."""

from __future__ import annotations

import json
import logging

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from regeo.config import schema_defaults
from regeo.data.labeling import label_documents, probability_columns
from regeo.data.precomputed import core_label, core_label_map, read_precomputed
from regeo.io import RegeoInputError
from regeo.registers import ALL_LABELS, LabelingRules, assign_class, labels_from_probabilities

# (probabilities above the background of 0.01, labels at threshold 0.4, class under the study's rules)
CASES = [
    ({"NA": 0.91, "ne": 0.88}, {"NA", "ne"}, "ne"),                      # ne kept as its own class
    ({"NA": 0.10, "ne": 0.52}, {"NA", "ne"}, "ne"),                      # a child implies its parent
    ({"HI": 0.62, "IN": 0.55}, {"HI", "IN"}, "HI-IN"),                   # the one kept hybrid
    ({"HI": 0.70, "re": 0.45}, {"HI", "re"}, "HI"),                      # re is not kept: its parent
    ({"NA": 0.45, "OP": 0.50}, {"NA", "OP"}, None),                      # other hybrids are dropped
    ({"IN": 0.80, "dtp": 0.41}, {"IN", "dtp"}, "dtp"),                   # dtp kept as its own class
    ({"IN": 0.39}, set(), None),                                         # under the threshold
    ({"IN": 0.40}, {"IN"}, "IN"),                                        # the threshold itself holds
    ({"en": 0.71}, {"IN", "en"}, "IN"),                                  # en implies IN, not kept
    ({"HI": 0.50, "dtp": 0.50}, {"HI", "IN", "dtp"}, "HI-IN"),           # dtp's parent makes HI+IN
    ({"MT": 0.95}, {"MT"}, "MT"),
    ({"SP": 0.20, "it": 0.90}, {"SP", "it"}, "SP"),
    ({"IP": 0.60, "ds": 0.60, "OP": 0.41, "rv": 0.39}, {"IP", "ds", "OP"}, None),
    ({"NA": 0.90, "ne": 0.60, "dtp": 0.50}, {"NA", "ne", "IN", "dtp"}, None),
    ({}, set(), None),                                                   # nothing holds
]
# The TurkuNLP multilingual model's label order: main registers, then sub-registers.
MODEL_ORDER = ["MT", "LY", "SP", "ID", "NA", "HI", "IN", "OP", "IP", "it", "ne", "sr", "nb", "re", "en",
               "ra", "dtp", "fi", "lt", "rv", "ob", "rs", "av", "ds", "ed"]


def hplt_probabilities(high: dict, rename=lambda name: name) -> dict:
    """All 25 labels, as HPLT's register_probabilities gives them (rounded to 4 decimals)."""
    return {rename(label): round(high.get(label, 0.01), 4) for label in MODEL_ORDER}


def check_cases(table: pd.DataFrame) -> None:
    rules = LabelingRules.from_params(schema_defaults("registers"))
    assert list(table.columns) == ["doc_id", *probability_columns()]
    assert table["doc_id"].tolist() == [f"doc{i}" for i in range(len(CASES))]
    for (high, expected_labels, expected_class), row in zip(CASES, table.itertuples(index=False)):
        probs = {label: getattr(row, "prob_" + label) for label in ALL_LABELS}
        labels = labels_from_probabilities(probs, rules.threshold)
        assert labels == expected_labels, high
        assert assign_class(labels, rules) == expected_class, high


def test_the_model_order_is_the_core_label_set():
    assert sorted(MODEL_ORDER) == sorted(ALL_LABELS)
    assert len({label.lower() for label in ALL_LABELS}) == len(ALL_LABELS)  # case-insensitive is unambiguous


def test_hplt_jsonl_with_dict_values(tmp_path):
    path = tmp_path / "eng_Latn.jsonl"
    path.write_text("".join(json.dumps({"id": f"doc{i}", "register_probabilities": hplt_probabilities(high)}) + "\n"
                            for i, (high, _, _) in enumerate(CASES)))
    check_cases(read_precomputed(path, id_field="id"))


@pytest.mark.parametrize("encoding", ["struct", "json-string", "map"])
def test_parquet_column_as_struct_json_string_or_map(tmp_path, encoding):
    values = [hplt_probabilities(high) for high, _, _ in CASES]
    if encoding == "struct":
        column = pa.array(values)
    elif encoding == "json-string":
        column = pa.array([json.dumps(v) for v in values])
    else:
        column = pa.array([list(v.items()) for v in values], type=pa.map_(pa.string(), pa.float32()))
    table = pa.table({"doc_id": [f"doc{i}" for i in range(len(CASES))], "text": ["t"] * len(CASES),
                      "register_probabilities": column})
    pq.write_table(table, tmp_path / "shard.parquet")
    check_cases(read_precomputed(tmp_path / "shard.parquet"))


def test_label_names_match_case_insensitively(tmp_path):
    # Main registers written in lower case and sub-registers in upper case still map exactly.
    flip = {label: label.swapcase() for label in MODEL_ORDER}
    path = tmp_path / "p.jsonl"
    path.write_text("".join(
        json.dumps({"doc_id": f"doc{i}", "register_probabilities": hplt_probabilities(high, flip.get)}) + "\n"
        for i, (high, _, _) in enumerate(CASES)))
    check_cases(read_precomputed(path))
    assert core_label(" na ") == "NA" and core_label("NE") == "ne" and core_label("DTP") == "dtp"
    assert core_label("news") is None


def test_corpus_shard_written_by_pandas_round_trips_through_labeling(tmp_path):
    # A corpus shard as the corpus stage writes it: documents with the data's own column kept.
    texts = [f"Document {i}. " + "Long enough to pass the minimum length. " * 6 for i in range(len(CASES))]
    shard = pd.DataFrame({"doc_id": [f"doc{i}" for i in range(len(CASES))], "text": texts, "source": "hplt",
                          "register_probabilities": [hplt_probabilities(h) for h, _, _ in CASES]})
    shard.to_parquet(tmp_path / "0.parquet", index=False)
    probabilities = read_precomputed(tmp_path / "0.parquet")
    labeled = label_documents(shard, probabilities, LabelingRules.from_params(schema_defaults("registers")))
    assert [None if pd.isna(c) else c for c in labeled["register"]] == [c for _, _, c in CASES]


def test_a_label_no_row_carries_gets_zero_with_a_warning(tmp_path, caplog):
    # The English-only TurkuNLP model has no MT label.
    path = tmp_path / "en.jsonl"
    rows = [{k: v for k, v in hplt_probabilities(high).items() if k != "MT"} for high, _, _ in CASES]
    path.write_text("".join(json.dumps({"doc_id": f"doc{i}", "register_probabilities": r}) + "\n"
                            for i, r in enumerate(rows)))
    with caplog.at_level(logging.WARNING, logger="regeo.data.precomputed"):
        table = read_precomputed(path)
    assert (table["prob_MT"] == 0.0).all()
    assert "label(s) ['MT']" in caplog.text
    assert table.loc[0, "prob_ne"] == pytest.approx(0.88)


def write_jsonl(path, records) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def good(i: int) -> dict:
    return {"doc_id": f"doc{i}", "register_probabilities": hplt_probabilities({"IN": 0.9})}


def probs_with(**changes) -> dict:
    return {**hplt_probabilities({}), **changes}


@pytest.mark.parametrize("bad, message", [
    (probs_with(XX=0.5), r"label name\(s\) \['XX'\] are not CORE"),
    (probs_with(NA=1.5), r"line 3 \(doc_id 'doc2'\): probability of 'NA' is 1.5, outside"),
    (probs_with(NA="high"), r"line 3 .*probability of 'NA' is 'high', not a number"),
    (None, r"line 3 \(doc_id 'doc2'\): no register probabilities"),
    ("{not json", r"line 3 .*not valid JSON"),
    ([0.1, 0.2], r"line 3 .*must be an object"),
    ({k: v for k, v in hplt_probabilities({}).items() if k != "ne"},
     r"line 3 .*no probability for label\(s\) \['ne'\], which other rows have"),
    (probs_with(NE=0.2), r"several label names map to the same CORE code"),
])
def test_bad_rows_are_named_by_file_and_line(tmp_path, bad, message):
    path = tmp_path / "bad.jsonl"
    write_jsonl(path, [good(0), good(1), {"doc_id": "doc2", "register_probabilities": bad}, good(3)])
    with pytest.raises(RegeoInputError, match=rf"bad\.jsonl: .*{message}"):
        read_precomputed(path)


def test_file_level_errors(tmp_path):
    with pytest.raises(RegeoInputError, match="does not exist"):
        read_precomputed(tmp_path / "missing.parquet")
    pd.DataFrame({"doc_id": ["a"], "text": ["t"]}).to_parquet(tmp_path / "no-probs.parquet")
    with pytest.raises(RegeoInputError, match=r"no-probs\.parquet: missing column\(s\) \['register_probabilities'\]"):
        read_precomputed(tmp_path / "no-probs.parquet")
    (tmp_path / "broken.jsonl").write_bytes(json.dumps(good(0)).encode() + b"\n{oops\n")
    with pytest.raises(RegeoInputError, match=r"broken\.jsonl: line 2: malformed JSON"):
        read_precomputed(tmp_path / "broken.jsonl")
    write_jsonl(tmp_path / "dup.jsonl", [good(0), good(0)])
    with pytest.raises(RegeoInputError, match=r"dup\.jsonl: doc_id repeats"):
        read_precomputed(tmp_path / "dup.jsonl")
    with pytest.raises(RegeoInputError, match=r"model config: label name\(s\) \['LABEL_0'\]"):
        core_label_map(["LABEL_0", "MT"], "model config")
