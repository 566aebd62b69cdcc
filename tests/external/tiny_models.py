"""Tiny random causal LMs saved locally, one directory per revision: stand-ins for a hub model's
checkpoints (e.g. Pythia's step branches), which the tests cannot download."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, LlamaConfig, LlamaForCausalLM

from regeo.tokenizer import train_bpe

WORDS = ("the model reads news reports and recipes and reviews of films while the crowd "
         "sings lyrics about rain and light in the old town square every evening").split()
PAD_ROWS = 5  # vocabulary padding past the tokenizer, as Pythia pads 50277 tokens to 50304 rows


def tiny_tokenizer():
    texts = [" ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(40)) for i in range(60)]
    return train_bpe(texts, vocab_size=300)


def tiny_model(vocab_rows: int, seed: int, arch: str = "neox"):
    torch.manual_seed(seed)
    if arch == "neox":  # Pythia's architecture: separate input and output matrices
        config = GPTNeoXConfig(vocab_size=vocab_rows, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=32, max_position_embeddings=64)
        return GPTNeoXForCausalLM(config).eval()
    config = LlamaConfig(vocab_size=vocab_rows, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32, max_position_embeddings=64, tie_word_embeddings=True)
    return LlamaForCausalLM(config).eval()


def save_revisions(root: Path, steps, arch: str = "neox", tokenizer=None) -> dict[int, Path]:
    """root/step{S} for each step: a different random model each, the same tokenizer beside it."""
    tokenizer = tokenizer or tiny_tokenizer()
    out = {}
    for step in steps:
        directory = Path(root) / f"step{step}"
        tiny_model(len(tokenizer) + PAD_ROWS, seed=1000 + step, arch=arch).save_pretrained(directory)
        tokenizer.save_pretrained(directory)
        out[step] = directory
    return out
