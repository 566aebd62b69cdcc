"""Tiny tokenizer, two synthetic registers, and tiny Llama models trained on them (seconds on a CPU).

"news" and "opinion" texts share function words but differ in content words and sentence shape,
so a model trained on both for a few dozen steps separates them; that makes native steering
effects real numbers, not noise, and gives the transfer tests something to transfer.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

EOS, UNK = "<|endoftext|>", "<unk>"
FUNCTION = ["the", "a", "is", "was", "and", "of", "on", "in", "to", "."]
# Many content words, so that the vocabulary (about 200 tokens) exceeds the widest model (128): a
# centred least-squares map is only determined on the span of the embedding rows, and the
# identity tests need that span to be the whole space, as it is with a real 4096-token vocabulary.
NEWS_NOUNS = ["minister", "bank", "police", "government", "market", "court", "council", "company"] + [
    f"city{i}" for i in range(72)]
NEWS_VERBS = ["said", "announced", "reported", "confirmed", "denied", "approved"]
NEWS_TAIL = ["today", "monday", "tuesday", "yesterday", "rates", "plans", "figures", "deal"]
OPINION_NOUNS = ["film", "book", "story", "album", "show", "ending", "acting", "plot"] + [
    f"title{i}" for i in range(72)]
OPINION_ADJ = ["wonderful", "boring", "brilliant", "awful", "beautiful", "dull", "great", "silly"]
OPINION_LEAD = ["i", "think", "honestly", "really", "love", "hate", "feel", "my"]
WORDS = FUNCTION + NEWS_NOUNS + NEWS_VERBS + NEWS_TAIL + OPINION_NOUNS + OPINION_ADJ + OPINION_LEAD
POSITIVE_ADJ = ["wonderful", "brilliant", "beautiful", "great"]  # a target token set


def news_sentence(rng: random.Random) -> str:
    c = rng.choice
    return c([f"the {c(NEWS_NOUNS)} {c(NEWS_VERBS)} the {c(NEWS_TAIL)} on {c(NEWS_TAIL)} .",
              f"a {c(NEWS_NOUNS)} of the {c(NEWS_NOUNS)} {c(NEWS_VERBS)} {c(NEWS_TAIL)} .",
              f"the {c(NEWS_NOUNS)} in the {c(NEWS_NOUNS)} {c(NEWS_VERBS)} to the {c(NEWS_NOUNS)} "
              f"{c(NEWS_TAIL)} ."])


def opinion_sentence(rng: random.Random) -> str:
    c = rng.choice
    return c([f"i think the {c(OPINION_NOUNS)} was {c(OPINION_ADJ)} .",
              f"honestly i {c(['love', 'hate'])} the {c(OPINION_NOUNS)} and the {c(OPINION_NOUNS)} is "
              f"{c(OPINION_ADJ)} .",
              f"really the {c(OPINION_NOUNS)} is {c(OPINION_ADJ)} and i feel {c(OPINION_ADJ)} .",
              f"my {c(OPINION_NOUNS)} was {c(OPINION_ADJ)} ."])


def texts(kind: str, n: int, seed: int, sentences: int = 4) -> list[str]:
    rng = random.Random(f"{kind}-{seed}")
    make = news_sentence if kind == "news" else opinion_sentence
    return [" ".join(make(rng) for _ in range(sentences)) for _ in range(n)]


def word_tokenizer(words: list[str] = WORDS) -> PreTrainedTokenizerFast:
    """A whitespace word-level tokenizer; ``words`` order fixes the ids (after EOS=0 and UNK=1)."""
    vocab = {EOS: 0, UNK: 1, **{w: i + 2 for i, w in enumerate(words)}}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=EOS, unk_token=UNK, pad_token=EOS)


def tiny_llama(vocab_size: int, hidden: int = 64, layers: int = 2, tied: bool = False,
               seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                         num_attention_heads=4, intermediate_size=2 * hidden, max_position_embeddings=128,
                         tie_word_embeddings=tied, rms_norm_eps=1e-5, bos_token_id=0, eos_token_id=0,
                         pad_token_id=0)
    return LlamaForCausalLM(config).eval()


def train(model: LlamaForCausalLM, tokenizer, steps: int = 60, seed: int = 0, seq_len: int = 40,
          batch_size: int = 16, lr: float = 1e-2) -> LlamaForCausalLM:
    """A few dozen Adam steps on an equal mix of news and opinion texts (each sequence one register)."""
    corpus = texts("news", 200, seed=100 + seed) + texts("opinion", 200, seed=100 + seed)
    ids = [tokenizer.encode(t)[:seq_len] for t in corpus]
    ids = torch.tensor([x + [0] * (seq_len - len(x)) for x in ids])  # (N, T); texts fill seq_len
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        batch = ids[torch.randint(len(ids), (batch_size,), generator=generator)]  # (B, T)
        loss = model(input_ids=batch, labels=batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def permute_hidden(model: LlamaForCausalLM, perm: torch.Tensor) -> LlamaForCausalLM:
    """An exact re-parametrisation: residual-stream dimension j of the copy is dimension perm[j] of ``model``.

    Every weight that reads the residual stream has its input columns permuted, every weight that
    writes it has its output rows permuted, and the RMSNorm gains (elementwise, and RMS is
    permutation invariant) are permuted: the function is unchanged.
    """
    copy = LlamaForCausalLM(model.config).eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    for key, value in state.items():
        if key.endswith(("embed_tokens.weight", "lm_head.weight")):  # (V, d)
            state[key] = value[:, perm]
        elif key.endswith("norm.weight"):  # (d,): input/post-attention norms and the final norm
            state[key] = value[perm]
        elif key.endswith(("q_proj.weight", "k_proj.weight", "v_proj.weight", "gate_proj.weight",
                           "up_proj.weight")):
            state[key] = value[:, perm]  # (out, d): reads the residual stream
        elif key.endswith(("o_proj.weight", "down_proj.weight")):
            state[key] = value[perm, :]  # (d, in): writes the residual stream
    copy.load_state_dict(state)
    if model.config.tie_word_embeddings:
        copy.tie_weights()
    return copy


def save(model, tokenizer, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def identity_llama(tokenizer, hidden: int = 64, layers: int = 4, seed: int = 0) -> LlamaForCausalLM:
    """A Llama whose blocks write nothing (attention output and MLP down projections zero): every
    block's output is its input, so the residual stream at every layer is the token embedding, the
    gradient of a score with respect to a shift is the same at every layer, and whatever a hook
    writes is all that differs between layers."""
    model = tiny_llama(len(tokenizer), hidden, layers, seed=seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(("o_proj.weight", "down_proj.weight")):
                param.zero_()
    return model


def plant_at_layer(model: LlamaForCausalLM, marker_id: int, layer: int, direction: torch.Tensor,
                   scale: float) -> list:
    """Write ``scale * direction`` into the output of block ``layer`` at the positions of ``marker_id``
    and take it out again at the output of block ``layer + 1`` (when there is one): the concept
    exists at that one layer only. Returns the hook handles. Hooks registered later (steering,
    capture) run after these, so an injected shift is never erased."""
    state = {}

    def remember(_module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        state["mask"] = (ids == marker_id).unsqueeze(-1).to(direction.dtype)  # (B, T, 1)

    def shifted(sign):
        def hook(_module, _inputs, output):
            hidden = output[0] if isinstance(output, tuple) else output
            hidden = hidden + sign * scale * state["mask"] * direction
            return (hidden,) + output[1:] if isinstance(output, tuple) else hidden
        return hook

    blocks = model.model.layers
    handles = [model.register_forward_pre_hook(remember, with_kwargs=True),
               blocks[layer].register_forward_hook(shifted(1.0))]
    if layer + 1 < len(blocks):
        handles.append(blocks[layer + 1].register_forward_hook(shifted(-1.0)))
    return handles
