"""The register classifier on a tiny randomly initialised XLM-R with the real model's label set."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from regeo.config import schema_defaults
from regeo.data import classifier as clf
from regeo.data.classifier import ClassifierConfig, classify, clear_state, resolve_device_dtype
from regeo.data.labeling import probability_columns
from regeo.io import RegeoInputError
from regeo.registers import ALL_LABELS

# config.json id2label of TurkuNLP/web-register-classification-multilingual: the labels_all list of
# TurkuNLP/pytorch-registerlabeling (main registers, then sub-registers), output i -> label.
TURKU_LABELS = ["MT", "LY", "SP", "ID", "NA", "HI", "IN", "OP", "IP", "it", "ne", "sr", "nb", "re", "en",
                "ra", "dtp", "fi", "lt", "rv", "ob", "rs", "av", "ds", "ed"]
MAX_POSITIONS = 34  # XLM-R style: 32 usable tokens after the padding offset of 2
PIECES = ["▁the", "▁a", "▁of", "▁and", "▁to", "▁in", "▁is", "▁news", "▁recipe", "▁how", "▁review",
          "▁we", "ing", "ed", "er", "s", "▁"] + list("abcdefghijklmnopqrstuvwxyz.,!?0123456789")


def build_tokenizer():
    from transformers import XLMRobertaTokenizer

    # A Unigram vocabulary in XLM-R's layout: <s> <pad> </s> <unk> ... <mask>.
    vocab = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += [(p, -1.0 - i / 10) for i, p in enumerate(PIECES)] + [("<mask>", 0.0)]
    return XLMRobertaTokenizer(vocab=vocab)


def build_model(vocab_size: int, labels=TURKU_LABELS, seed: int = 0):
    from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification

    config = XLMRobertaConfig(
        vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=MAX_POSITIONS, pad_token_id=1, bos_token_id=0, eos_token_id=2,
        initializer_range=0.3, problem_type="multi_label_classification",
        id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)})
    torch.manual_seed(seed)
    return XLMRobertaForSequenceClassification(config).eval()


def save_classifier(directory, labels=TURKU_LABELS, with_tokenizer: bool = True):
    tokenizer = build_tokenizer()
    build_model(len(tokenizer), labels).save_pretrained(directory)
    if with_tokenizer:
        tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny classifier with tokenizer, saved like a hub repository would hold it."""
    return save_classifier(tmp_path_factory.mktemp("tiny-register-classifier"))


@pytest.fixture(scope="module")
def documents():
    rng = np.random.default_rng(0)
    words = ["the", "news", "recipe", "how", "to", "review", "we", "cooking", "matches", "in", "of", "and",
             "tested", "opinion", "report", "café", "résumé", "日本"]
    texts = [" ".join(rng.choice(words, size=int(n))) for n in rng.integers(1, 60, size=23)]
    texts[5] = ""  # an empty text still gets probabilities (it is only <s></s>)
    texts[7] = texts[3]  # identical texts at different positions
    return pd.DataFrame({"doc_id": [f"d{i:02d}" for i in range(len(texts))], "text": texts})


def schema_config(**kw) -> ClassifierConfig:
    """The schema's classifier settings with ``kw`` (config or library fields) changed."""
    return replace(ClassifierConfig.from_params(schema_defaults("registers")), **kw)


def config(model_dir, **kw) -> ClassifierConfig:
    return schema_config(model=str(model_dir), tokenizer=None, **kw)


def test_defaults_name_the_turku_model_and_xlmr_tokenizer():
    cfg = schema_config()
    assert cfg.model == "TurkuNLP/web-register-classification-multilingual"
    assert cfg.tokenizer == "FacebookAI/xlm-roberta-large"
    assert (cfg.revision, cfg.max_length, cfg.trust_remote_code) == (None, None, False)
    assert resolve_device_dtype(schema_config(device="cpu")) == ("cpu", "float32")
    assert resolve_device_dtype(schema_config(device="cuda:0")) == ("cuda:0", "bfloat16")
    assert resolve_device_dtype(schema_config(device="cuda", dtype="float32")) == ("cuda", "float32")
    with pytest.raises(RegeoInputError, match="dtype"):
        schema_config(dtype="int8")
    with pytest.raises(RegeoInputError, match="batch_size"):
        schema_config(batch_size=0)


def test_table_shape_order_and_range(model_dir, documents):
    table = classify(documents, config(model_dir, batch_size=4), progress=False)
    assert list(table.columns) == ["doc_id", *probability_columns()]
    assert table["doc_id"].tolist() == documents["doc_id"].tolist()
    values = table[probability_columns()].to_numpy()
    assert values.shape == (len(documents), len(ALL_LABELS)) and values.dtype == np.float64
    assert ((values > 0) & (values < 1)).all()
    assert values.std() > 0.01  # documents and labels differ: not one constant
    np.testing.assert_array_equal(values[7], values[3])


def test_probabilities_are_the_sigmoid_of_each_documents_own_logits(model_dir, documents):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    table = classify(documents, config(model_dir, batch_size=5), progress=False)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    for i in (0, 5, 11, 22):
        encoded = tokenizer(documents["text"][i], truncation=True, max_length=MAX_POSITIONS - 2, return_tensors="pt")
        with torch.no_grad():
            expected = torch.sigmoid(model(**encoded).logits[0]).numpy()
        got = table.loc[i, ["prob_" + label for label in TURKU_LABELS]].to_numpy(np.float32)
        np.testing.assert_allclose(got, expected, atol=1e-5)


def test_long_documents_are_truncated_at_the_model_limit(model_dir):
    long = pd.DataFrame({"doc_id": ["long", "longer"], "text": ["the news " * 200, "the news " * 2000]})
    table = classify(long, config(model_dir), progress=False)
    # Both are cut to the same first 32 tokens, so their probabilities agree.
    np.testing.assert_allclose(table.iloc[0, 1:].to_numpy(float), table.iloc[1, 1:].to_numpy(float), atol=1e-6)
    with pytest.raises(RegeoInputError, match="max_length 40 exceeds the model's limit of 32"):
        classify(long, config(model_dir, max_length=40), progress=False)
    shorter = classify(long, config(model_dir, max_length=8), progress=False)
    assert not np.allclose(shorter.iloc[0, 1:].to_numpy(float), table.iloc[0, 1:].to_numpy(float))


def test_batch_size_does_not_change_the_result(model_dir, documents):
    tables = [classify(documents, config(model_dir, batch_size=bs), progress=False) for bs in (1, 3, 64)]
    for other in tables[1:]:
        assert other["doc_id"].tolist() == tables[0]["doc_id"].tolist()
        np.testing.assert_allclose(other[probability_columns()].to_numpy(), tables[0][probability_columns()].to_numpy(),
                                   atol=1e-5)


def test_resume_after_an_interruption_gives_identical_output(model_dir, documents, tmp_path, monkeypatch):
    cfg = config(model_dir, batch_size=2, flush_every=3)  # 12 batches, flushed after 3, 6, 9, 12
    reference = classify(documents, cfg, progress=False)
    state = tmp_path / "0.state.parquet"
    real = clf._predict_batch
    calls = []

    def crash_on_the_eighth_batch(loaded, texts):
        calls.append(len(texts))
        if len(calls) == 8:
            raise KeyboardInterrupt("killed")
        return real(loaded, texts)

    monkeypatch.setattr(clf, "_predict_batch", crash_on_the_eighth_batch)
    with pytest.raises(KeyboardInterrupt):
        classify(documents, cfg, progress=False, state_path=state)
    parts = sorted(p.name for p in state.glob("part-*.parquet"))
    assert parts == ["part-0000000-0000002.parquet", "part-0000003-0000005.parquet"]
    assert not [p for p in state.iterdir() if p.name.endswith(".tmp")]

    calls.clear()
    monkeypatch.setattr(clf, "_predict_batch", lambda loaded, texts: calls.append(len(texts)) or real(loaded, texts))
    resumed = classify(documents, cfg, progress=False, state_path=state)
    assert len(calls) == 12 - 6  # only the batches after the last flush
    pd.testing.assert_frame_equal(resumed, reference)
    assert sorted(p.name for p in state.glob("part-*.parquet"))[-1] == "part-0000009-0000011.parquet"

    # A complete state answers without loading the model at all.
    monkeypatch.setattr(clf, "load_classifier", lambda *a: pytest.fail("model loaded for a complete state"))
    pd.testing.assert_frame_equal(classify(documents, cfg, progress=False, state_path=state), reference)
    clear_state(state)
    assert not state.exists()


def test_state_of_other_input_or_settings_is_discarded(model_dir, documents, tmp_path, caplog):
    state = tmp_path / "state"
    classify(documents.head(10), config(model_dir, batch_size=2), progress=False, state_path=state)
    meta = json.loads((state / "meta.json").read_text())
    assert meta["n_documents"] == 10 and meta["batch_size"] == 2
    for cfg in (config(model_dir, batch_size=2), config(model_dir, batch_size=3)):
        with caplog.at_level(logging.WARNING, logger="regeo.data.classifier"):
            table = classify(documents, cfg, progress=False, state_path=state)
        assert "starting over" in caplog.text
        caplog.clear()
        pd.testing.assert_frame_equal(table, classify(documents, cfg, progress=False))


def test_hub_loading_calls(monkeypatch, model_dir, documents):
    """The default config asks the hub for the TurkuNLP model and xlm-roberta-large's tokenizer."""
    import transformers

    calls = []
    real_model = transformers.AutoModelForSequenceClassification.from_pretrained
    real_tokenizer = transformers.AutoTokenizer.from_pretrained

    def model_from_hub(name, **kwargs):
        calls.append(("model", name, kwargs))
        return real_model(model_dir, dtype=kwargs["dtype"])

    def tokenizer_from_hub(name, **kwargs):
        calls.append(("tokenizer", name, kwargs))
        return real_tokenizer(model_dir)

    monkeypatch.setattr(transformers.AutoModelForSequenceClassification, "from_pretrained", model_from_hub)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", tokenizer_from_hub)
    table = classify(documents.head(3), schema_config(revision="abc123", device="cpu"), progress=False)
    assert calls == [
        ("model", "TurkuNLP/web-register-classification-multilingual",
         {"revision": "abc123", "dtype": torch.float32, "trust_remote_code": False}),
        ("tokenizer", "FacebookAI/xlm-roberta-large", {"revision": None, "trust_remote_code": False}),
    ]
    assert len(table) == 3


def test_a_model_without_tokenizer_files_is_refused_not_run_on_unk(tmp_path, documents):
    # What the TurkuNLP repository looks like: config.json and weights only.
    bare = save_classifier(tmp_path / "bare", with_tokenizer=False)
    refused = r"no vocabulary beyond its 5 special tokens.*registers\.classifier_tokenizer|cannot load the tokenizer"
    with pytest.raises(RegeoInputError, match=refused):
        classify(documents, config(bare), progress=False)


def test_label_names_map_case_insensitively_in_any_order(tmp_path, documents, model_dir):
    # A model whose outputs are permuted and spelled in other cases gives the same columns.
    permuted = [TURKU_LABELS[i] for i in np.random.default_rng(1).permutation(len(TURKU_LABELS))]
    spelled = [name.swapcase() if i % 3 == 0 else name for i, name in enumerate(permuted)]
    directory = save_classifier(tmp_path / "permuted", labels=spelled)
    table = classify(documents, config(directory), progress=False)
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(directory).eval()
    encoded = AutoTokenizer.from_pretrained(directory)(documents["text"][0], truncation=True,
                                                       max_length=MAX_POSITIONS - 2, return_tensors="pt")
    with torch.no_grad():
        logits = model(**encoded).logits[0]
    for j, name in enumerate(permuted):
        assert table.loc[0, "prob_" + name] == pytest.approx(float(torch.sigmoid(logits[j])), abs=1e-5)


def test_unknown_labels_are_named_and_absent_labels_are_zero(tmp_path, documents, caplog):
    unknown = save_classifier(tmp_path / "unknown", labels=["LABEL_0", "news", *TURKU_LABELS[2:]])
    with pytest.raises(RegeoInputError, match=r"id2label: label name\(s\) \['LABEL_0', 'news'\] are not CORE"):
        classify(documents, config(unknown), progress=False)
    english = save_classifier(tmp_path / "english", labels=TURKU_LABELS[1:])  # the English model has no MT
    with caplog.at_level(logging.WARNING, logger="regeo.data.classifier"):
        table = classify(documents, config(english), progress=False)
    assert (table["prob_MT"] == 0.0).all() and (table["prob_LY"] > 0).all()
    assert "no output for label(s) ['MT']" in caplog.text


def test_input_errors_and_empty_input(model_dir, monkeypatch):
    with pytest.raises(RegeoInputError, match=r"missing column\(s\) \['text'\]"):
        classify(pd.DataFrame({"doc_id": ["a"]}), config(model_dir), progress=False)
    with pytest.raises(RegeoInputError, match=r"text is not a string for 1 document\(s\), e.g. \['b'\]"):
        classify(pd.DataFrame({"doc_id": ["a", "b"], "text": ["x", None]}), config(model_dir), progress=False)
    with pytest.raises(RegeoInputError, match=r"doc_id repeats, e.g. \['a'\]"):
        classify(pd.DataFrame({"doc_id": ["a", "a"], "text": ["x", "y"]}), config(model_dir), progress=False)
    monkeypatch.setattr(clf, "load_classifier", lambda *a: pytest.fail("model loaded for no documents"))
    empty = classify(pd.DataFrame({"doc_id": [], "text": []}), config(model_dir), progress=False)
    assert list(empty.columns) == ["doc_id", *probability_columns()] and len(empty) == 0
