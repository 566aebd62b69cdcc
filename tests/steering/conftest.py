"""Session fixtures: tiny Llama models trained on two synthetic registers, saved as the pipeline saves them."""

from __future__ import annotations

import contextlib

import pytest
import torch
from steering_models import (POSITIVE_ADJ, WORDS, permute_hidden, save, texts, tiny_llama, train,
                             word_tokenizer)
from transformers import LlamaForCausalLM


@contextlib.contextmanager
def torch_threads(n: int):
    """One intra-op thread for these tiny models: on a shared 2-core machine, two threads that must
    meet at every op's barrier stall for whole time slices whenever another process holds a core
    (seen: 50x slower training); one thread at worst shares its core. Restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="session")
def tokenizer():
    return word_tokenizer()


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory, tokenizer):
    """Saved runs: ``a`` 64x2, ``b`` 128x4, ``tied`` 64x2 tied, ``perm`` (a permuted)."""
    with torch_threads(1):
        return _train_and_save(tmp_path_factory.mktemp("runs"), tokenizer)


def _train_and_save(root, tokenizer):
    dirs = {}
    a = train(tiny_llama(len(tokenizer), 64, 2, seed=1), tokenizer, seed=1)
    dirs["a"] = save(a, tokenizer, root / "a" / "model")
    dirs["b"] = save(train(tiny_llama(len(tokenizer), 128, 4, seed=3), tokenizer, seed=3), tokenizer,
                     root / "b" / "model")
    dirs["tied"] = save(train(tiny_llama(len(tokenizer), 64, 2, tied=True, seed=4), tokenizer, seed=4), tokenizer,
                        root / "tied" / "model")
    perm = torch.randperm(64, generator=torch.Generator().manual_seed(0))
    dirs["perm"] = save(permute_hidden(a, perm), tokenizer, root / "perm" / "model")
    dirs["perm_index"] = perm
    return dirs


@pytest.fixture(scope="session")
def reordered_dir(tmp_path_factory, model_dirs, tokenizer):
    """Model ``a`` under a second tokenizer: the same words at other ids, plus two words ``a`` lacks.

    The function on strings is unchanged, so a string-intersection map must be the identity.
    """
    words_b = list(reversed(WORDS)) + ["extra1", "extra2"]
    tok_b = word_tokenizer(words_b)
    a = LlamaForCausalLM.from_pretrained(model_dirs["a"]).eval()
    torch.manual_seed(7)
    b = tiny_llama(len(tok_b), 64, 2, seed=7)
    state = {k: v.clone() for k, v in a.state_dict().items()}
    vocab_a, vocab_b = tokenizer.get_vocab(), tok_b.get_vocab()
    for key in ("model.embed_tokens.weight", "lm_head.weight"):
        rows = b.state_dict()[key].clone()  # (V_b, d): the extra words keep their random rows
        for word, id_a in vocab_a.items():
            rows[vocab_b[word]] = state[key][id_a]
        state[key] = rows
    b.load_state_dict(state)
    return save(b, tok_b, tmp_path_factory.mktemp("runs") / "reordered" / "model")


@pytest.fixture(scope="session")
def concepts():
    """A text concept (news vs opinion) and a token-set concept (positive adjectives); the ceiling
    map's texts are a third sample of both registers."""
    ceiling = texts("news", 16, 3) + texts("opinion", 16, 3)
    return [
        dict(name="news_vs_opinion", positive=texts("news", 20, 1), negative=texts("opinion", 20, 1),
             heldout_positive=texts("news", 16, 2), heldout_negative=texts("opinion", 16, 2), ceiling=ceiling,
             target_tokens=POSITIVE_ADJ),
        dict(name="positive_adj", vector="tokens", positive=texts("opinion", 20, 1), negative=texts("news", 20, 1),
             heldout_positive=texts("opinion", 16, 2), heldout_negative=texts("news", 16, 2), ceiling=ceiling,
             target_tokens=POSITIVE_ADJ),
    ]
