import json

import numpy as np
import pytest

from regeo.data.subsets import SubsetSpec, cut_subset
from regeo.io import RegeoInputError
from regeo.tokenizer import gpt2_tokenizer, train_bpe
from regeo.tokens import load_tokens, tokenize_subset


def spec(name="ne", train=20_000, val=4_000, seed=0, shares=None):
    return SubsetSpec(name, shares or {name: 1.0}, train, val, 3.0, seed)


def test_subset_is_disjoint_deterministic_and_budgeted(small_corpus):
    documents, registers = small_corpus
    train, val, stats = cut_subset(documents, registers, spec())
    assert set(train["doc_id"]).isdisjoint(val["doc_id"])
    assert (train["register"] == "ne").all() and (val["register"] == "ne").all()
    assert train["text"].str.len().sum() >= 20_000 * 3.0
    again, _, _ = cut_subset(documents, registers, spec())
    assert again["doc_id"].tolist() == train["doc_id"].tolist()
    other, _, _ = cut_subset(documents, registers, spec(seed=1))
    assert other["doc_id"].tolist() != train["doc_id"].tolist()
    assert stats["train"]["documents"] == len(train) and stats["registers"]["ne"]["share"] == 1.0


def test_val_split_does_not_depend_on_train_budget(small_corpus):
    documents, registers = small_corpus
    _, val_small, _ = cut_subset(documents, registers, spec(train=10_000))
    _, val_large, _ = cut_subset(documents, registers, spec(train=40_000))
    assert val_small["doc_id"].tolist() == val_large["doc_id"].tolist()


def test_mix_respects_shares(small_corpus):
    documents, registers = small_corpus
    train, _, stats = cut_subset(documents, registers, spec("mix", shares={"ne": 0.5, "NA": 0.5}))
    chars = train.groupby("register")["text"].apply(lambda t: t.str.len().sum())
    assert set(chars.index) == {"ne", "NA"}
    assert 0.8 < chars["ne"] / chars["NA"] < 1.25


def test_short_register_names_the_register(small_corpus):
    documents, registers = small_corpus
    with pytest.raises(ValueError, match="subset 'NA': register 'NA' has .* documents"):
        cut_subset(documents, registers, spec("NA", train=5_000_000))


def test_bpe_is_deterministic(small_corpus):
    texts = small_corpus[0]["text"].head(200).tolist()
    a, b = train_bpe(texts, 400), train_bpe(texts, 400)
    assert len(a) == 400 and a.backend_tokenizer.to_str() == b.backend_tokenizer.to_str()
    assert a.decode(a("The BBC reported it.")["input_ids"]) == "The BBC reported it."


def test_gpt2_tokenizer_from_package_matches_gpt2():
    tok = gpt2_tokenizer("package")
    assert len(tok) == 50257 and tok.eos_token_id == 50256
    # Reference ids of GPT-2 for this string.
    assert tok("Hello world")["input_ids"] == [15496, 995]


def test_token_files_are_exact_and_checked(tmp_path, small_corpus, small_tokenizer):
    documents, registers = small_corpus
    train, val, _ = cut_subset(documents, registers, spec())
    paths = [tmp_path / n for n in ("train.bin", "val.bin", "counts.parquet", "meta.json")]
    meta = tokenize_subset(small_tokenizer, train, val, 20_000, 4_000, *paths)
    ids = load_tokens(paths[0])
    assert len(ids) == 20_000 and ids.dtype == np.uint16 and meta["val"]["n_tokens"] == 4_000
    assert int(ids.max()) < len(small_tokenizer)
    with open(paths[0], "r+b") as handle:  # truncate: the loader must name the file
        handle.truncate(1000)
    with pytest.raises(RegeoInputError, match="train.bin: 1000 bytes, expected 20000 tokens"):
        load_tokens(paths[0])


def test_token_budget_shortfall_is_an_error(tmp_path, small_corpus, small_tokenizer):
    documents, registers = small_corpus
    train, val, _ = cut_subset(documents, registers, spec())
    paths = [tmp_path / n for n in ("train.bin", "val.bin", "counts.parquet", "meta.json")]
    with pytest.raises(RegeoInputError, match="below the budget"):
        tokenize_subset(small_tokenizer, train.head(2), val, 20_000, 4_000, *paths)
    assert not paths[0].exists()  # nothing half-written under the final name
