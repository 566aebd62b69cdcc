"""Register probabilities from the TurkuNLP web-register classifier: batched, sorted by length, resumable.

The model, ``TurkuNLP/web-register-classification-multilingual`` (Henriksson et al. 2024), is
XLM-RoBERTa-large fine-tuned on the multilingual CORE corpora. It is multi-label: each output is an
independent sigmoid over its logit (trained with a per-label, focal binary cross-entropy; the
register study thresholds the probabilities at 0.4). Its ``config.id2label`` names 25 outputs by
their CORE codes, main registers first (MT LY SP ID NA HI IN OP IP), then sub-registers (it ne sr
nb re en ra dtp fi lt rv ob rs av ds ed), the order in which ``TurkuNLP/pytorch-registerlabeling``
builds its label list. Outputs are matched to CORE codes by name (case-insensitively), never by
position; a name that is no CORE code is an error. A CORE label the model lacks (the English-only
model has no MT) gets probability 0.0, with a warning.

The model repository holds ``config.json`` and ``model.safetensors`` but no tokenizer files; its
card and the authors' labeling scripts load xlm-roberta-large's tokenizer, hence the default
``tokenizer="FacebookAI/xlm-roberta-large"``. Beware: under transformers 5, ``AutoTokenizer`` on a
repository without tokenizer files does not fail, it builds an XLM-R tokenizer holding only its
five special tokens, which turns every word into ``<unk>``. Such a tokenizer is refused here.

Speed: documents are sorted by length, longest first (a batch that does not fit in memory fails at
once, not hours in), padded to the longest in their batch and truncated at the model's limit
(XLM-R: 514 positions minus the 2 the padding offset takes, so 512 tokens); bfloat16 on CUDA.
Results come back in the input order.

Resuming: with ``state_path``, the probabilities are flushed every ``flush_every`` batches into a
directory of parquet parts (``part-<first batch>-<last batch>.parquet``, each written atomically)
beside a ``meta.json`` holding a fingerprint of the input and the settings. A restarted call with
the same fingerprint continues after the last flushed batch; because the batches are a pure
function of the input and the batch size, the result is the same as an uninterrupted run. A state
with another fingerprint is discarded. The caller removes the state (:func:`clear_state`) once the
output is safely written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from regeo.data.labeling import PROB_PREFIX
from regeo.data.precomputed import core_label_map
from regeo.io import RegeoInputError, write_json, write_parquet
from regeo.params import section_fields
from regeo.registers import ALL_LABELS

log = logging.getLogger(__name__)

# Config key (registers section) -> ClassifierConfig field; the section's other keys label documents.
RENAME = {"classifier_model": "model", "classifier_revision": "revision", "classifier_tokenizer": "tokenizer",
          "classifier_batch_size": "batch_size"}
DTYPES = ("float32", "bfloat16", "float16")
# Models whose position ids start after the padding index, so that max_position_embeddings
# overstates the usable length by padding_idx + 1 (514 -> 512 for XLM-R).
_PADDING_OFFSET_MODELS = {"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "data2vec-text", "xmod"}
_PART = re.compile(r"part-(\d+)-(\d+)\.parquet")


@dataclass(frozen=True)
class ClassifierConfig:
    """The classifier_* values of the config's registers section (defaults: the schema's), then
    library-only settings with defaults of their own."""

    model: str  # hub id or local directory of the classifier
    revision: str | None  # model revision (branch, tag or commit) to pin; None: default branch
    tokenizer: str | None  # the model repo ships none (see module doc); None: load from `model`
    batch_size: int  # documents per forward pass
    tokenizer_revision: str | None = None  # tokenizer revision; with tokenizer=None, `revision` is used
    max_length: int | None = None  # tokens per document; None: the model's limit (512 for XLM-R)
    dtype: str | None = None  # "float32", "bfloat16" or "float16"; None: bfloat16 on CUDA, float32 elsewhere
    device: str | None = None  # torch device; None: "cuda" when available, else "cpu"
    trust_remote_code: bool = False  # never run code from the model repository unless asked
    flush_every: int = 50  # batches between writes of partial results to the resume state

    def __post_init__(self):
        if self.batch_size < 1:
            raise RegeoInputError(f"ClassifierConfig.batch_size: must be >= 1, got {self.batch_size}")
        if self.flush_every < 1:
            raise RegeoInputError(f"ClassifierConfig.flush_every: must be >= 1, got {self.flush_every}")
        if self.max_length is not None and self.max_length < 2:
            raise RegeoInputError(f"ClassifierConfig.max_length: must be >= 2 or None, got {self.max_length}")
        if self.dtype is not None and self.dtype not in DTYPES:
            raise RegeoInputError(f"ClassifierConfig.dtype: {self.dtype!r} is not one of {DTYPES}")

    @classmethod
    def from_params(cls, params: dict, **library) -> "ClassifierConfig":
        """From the register_probabilities rule's params or the whole registers section (its other
        keys are left out, a key the schema does not know is an error); ``library``: the fields no
        config key sets."""
        schema_fields = set(RENAME.values())
        own = {f.name for f in dataclasses.fields(cls)} - schema_fields
        if set(library) - own:
            raise RegeoInputError(f"ClassifierConfig.from_params: {', '.join(sorted(set(library) - own))} "
                                  "come from the config, not as arguments")
        return cls(**section_fields(cls, params, "registers", rename=RENAME, given=own), **library)


@dataclass
class LoadedClassifier:
    model: Any  # a transformers *ForSequenceClassification, in eval mode on `device`
    tokenizer: Any
    device: Any  # torch.device
    max_length: int  # tokens per document after truncation
    output_columns: np.ndarray  # (num_labels,) index into ALL_LABELS of each model output


def classify(texts_df: pd.DataFrame, cfg: ClassifierConfig, progress: bool = True,
             state_path: str | Path | None = None) -> pd.DataFrame:
    """Probabilities of every CORE label for each document of ``texts_df`` (columns doc_id, text).

    Returns ``doc_id`` plus one float column ``prob_<LABEL>`` per label of ``ALL_LABELS``, in the
    input's row order. ``state_path`` (a directory) makes the call resumable; see the module doc.
    """
    doc_ids, texts = _validate(texts_df)
    columns = [PROB_PREFIX + label for label in ALL_LABELS]
    if not texts:
        return pd.DataFrame({"doc_id": pd.Series([], dtype=object), **{c: pd.Series([], dtype="float64")
                                                                        for c in columns}})
    device, dtype = resolve_device_dtype(cfg)
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    order = np.argsort(-lengths, kind="stable")  # longest first; ties keep the input order
    n_batches = math.ceil(len(texts) / cfg.batch_size)
    fingerprint = _fingerprint(cfg, dtype, doc_ids, lengths)

    probs = np.full((len(texts), len(ALL_LABELS)), np.nan, dtype=np.float32)  # (N, 25)
    state = Path(state_path) if state_path is not None else None
    done = _resume(state, fingerprint, probs) if state is not None else 0
    if state is not None and done == 0:
        _start_state(state, fingerprint, cfg, dtype, len(texts), n_batches)
    if done < n_batches:
        loaded = load_classifier(cfg, device, dtype)
        log.info("classifier %s on %s (%s): %d documents, %d batches of %d, max_length %d%s", cfg.model,
                 device, dtype, len(texts), n_batches, cfg.batch_size, loaded.max_length,
                 f", resuming after batch {done - 1}" if done else "")
        _run(loaded, texts, order, probs, cfg, done, n_batches, state, progress)
    if np.isnan(probs).any():
        raise RuntimeError("classifier left documents without probabilities (corrupt resume state?)")
    table = pd.DataFrame({"doc_id": doc_ids})
    for j, column in enumerate(columns):
        table[column] = probs[:, j].astype(np.float64)
    return table


def predict(loaded: LoadedClassifier, texts: list[str], batch_size: int) -> np.ndarray:
    """(N, len(ALL_LABELS)) probabilities of a few texts with a loaded classifier, in input order and
    without resume state: for callers that score many small sets with one model (the steering judge)."""
    probs = np.zeros((len(texts), len(ALL_LABELS)), dtype=np.float32)  # labels the model lacks stay 0
    for start in range(0, len(texts), batch_size):
        batch = list(texts[start:start + batch_size])
        probs[start:start + len(batch), loaded.output_columns] = _predict_batch(loaded, batch)
    return probs.astype(np.float64)


def resolve_device_dtype(cfg: ClassifierConfig) -> tuple[str, str]:
    """The device and dtype a config runs with: bfloat16 on CUDA and float32 elsewhere unless set."""
    import torch

    device = cfg.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = cfg.dtype or ("bfloat16" if device.startswith("cuda") else "float32")
    return device, dtype


def load_classifier(cfg: ClassifierConfig, device: str, dtype: str) -> LoadedClassifier:
    """Tokenizer and model from the hub or local directories, checked against each other."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    where = f"classifier {cfg.model!r} (revision {cfg.revision or 'default'})"
    tokenizer_name = cfg.tokenizer or cfg.model
    tokenizer_revision = cfg.tokenizer_revision if cfg.tokenizer else cfg.revision
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            cfg.model, revision=cfg.revision, dtype=getattr(torch, dtype), trust_remote_code=cfg.trust_remote_code)
    except (OSError, ValueError) as err:  # not found, offline without a cached copy, not a classifier
        raise RegeoInputError(f"{where}: cannot load the model: {err}") from err
    try:
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_name, revision=tokenizer_revision,
                                                  trust_remote_code=cfg.trust_remote_code)
    except (OSError, ValueError) as err:
        raise RegeoInputError(f"{where}: cannot load the tokenizer {tokenizer_name!r}: {err}") from err
    _check_tokenizer(tokenizer, model.config, tokenizer_name, where)
    output_columns = _output_columns(model.config, where)
    model.to(device).eval()
    return LoadedClassifier(model=model, tokenizer=tokenizer, device=torch.device(device),
                            max_length=_max_length(cfg, model.config, tokenizer, where),
                            output_columns=output_columns)


def clear_state(state_path: str | Path) -> None:
    """Remove a resume state (call once the output is written)."""
    path = Path(state_path)
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


# --- the run ------------------------------------------------------------------------------------

def _run(loaded: LoadedClassifier, texts: list[str], order: np.ndarray, probs: np.ndarray,
         cfg: ClassifierConfig, done: int, n_batches: int, state: Path | None, progress: bool) -> None:
    from tqdm.auto import tqdm

    first = done  # first batch not yet flushed
    with tqdm(total=n_batches, initial=done, disable=not progress, unit="batch", desc="register classifier") as bar:
        for b in range(done, n_batches):
            rows = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            out = _predict_batch(loaded, [texts[i] for i in rows])  # (B, num_labels)
            batch = np.zeros((len(rows), len(ALL_LABELS)), dtype=np.float32)  # labels the model lacks stay 0
            batch[:, loaded.output_columns] = out
            probs[rows] = batch
            bar.update(1)
            if state is not None and (b + 1 - first >= cfg.flush_every or b == n_batches - 1):
                flushed = order[first * cfg.batch_size:(b + 1) * cfg.batch_size]
                _flush(state, first, b, flushed, probs[flushed])
                first = b + 1


def _predict_batch(loaded: LoadedClassifier, texts: list[str]) -> np.ndarray:
    """Sigmoid probabilities (B, num_labels) of one batch, in the model's output order."""
    import torch

    cuda = loaded.device.type == "cuda"
    encoded = loaded.tokenizer(texts, padding=True, truncation=True, max_length=loaded.max_length,
                               return_tensors="pt", pad_to_multiple_of=8 if cuda else None)  # (B, T)
    inputs = {k: v.to(loaded.device, non_blocking=cuda) for k, v in encoded.items()}
    with torch.inference_mode():
        logits = loaded.model(**inputs).logits  # (B, num_labels)
        # Multi-label: one independent sigmoid per label, computed in float32.
        return torch.sigmoid(logits.float()).cpu().numpy()


# --- checks ------------------------------------------------------------------------------------------

def _validate(texts_df: pd.DataFrame) -> tuple[list[str], list[str]]:
    missing = [c for c in ("doc_id", "text") if c not in texts_df.columns]
    if missing:
        raise RegeoInputError(f"classifier input: missing column(s) {missing}; found {list(texts_df.columns)}")
    doc_ids = [str(d) for d in texts_df["doc_id"]]
    texts = texts_df["text"].tolist()
    bad = [d for d, t in zip(doc_ids, texts) if not isinstance(t, str)]
    if bad:
        raise RegeoInputError(f"classifier input: text is not a string for {len(bad)} document(s), e.g. {bad[:3]}")
    if len(set(doc_ids)) != len(doc_ids):
        seen: set[str] = set()
        repeated = [d for d in doc_ids if d in seen or seen.add(d)]
        raise RegeoInputError(f"classifier input: doc_id repeats, e.g. {repeated[:3]}")
    return doc_ids, texts


def _check_tokenizer(tokenizer, config, name: str, where: str) -> None:
    size = len(tokenizer)
    if size <= len(set(tokenizer.all_special_ids)):
        raise RegeoInputError(
            f"{where}: tokenizer {name!r} has no vocabulary beyond its {size} special tokens, so every "
            f"word would be <unk>. The TurkuNLP register models ship no tokenizer: set "
            f"registers.classifier_tokenizer to their base model's (the schema's default names it), or "
            f"another directory or hub id holding the right one")
    vocab = getattr(config, "vocab_size", None)
    if vocab is not None and size > vocab:
        raise RegeoInputError(f"{where}: tokenizer {name!r} has {size} tokens but the model's embedding "
                              f"only {vocab}: the tokenizer does not belong to this model")


def _output_columns(config, where: str) -> np.ndarray:
    id2label = {int(k): v for k, v in config.id2label.items()}
    if sorted(id2label) != list(range(config.num_labels)):
        raise RegeoInputError(f"{where}: config.id2label does not cover outputs 0..{config.num_labels - 1}")
    names = [id2label[i] for i in range(config.num_labels)]
    mapping = core_label_map(names, f"{where}: config.id2label")
    absent = [label for label in ALL_LABELS if label not in mapping.values()]
    if absent:
        log.warning("%s: the model has no output for label(s) %s; their probability is 0.0", where, absent)
    return np.array([ALL_LABELS.index(mapping[name]) for name in names], dtype=np.int64)


def _max_length(cfg: ClassifierConfig, config, tokenizer, where: str) -> int:
    limit = getattr(config, "max_position_embeddings", None)
    if limit is not None and config.model_type in _PADDING_OFFSET_MODELS:
        limit -= (config.pad_token_id or 0) + 1
    if cfg.max_length is not None:
        if limit is not None and cfg.max_length > limit:
            raise RegeoInputError(f"{where}: max_length {cfg.max_length} exceeds the model's limit of {limit} tokens")
        return cfg.max_length
    # Tokenizers without a recorded limit report a huge sentinel (transformers' VERY_LARGE_INTEGER).
    tokenizer_limit = tokenizer.model_max_length if tokenizer.model_max_length < 1_000_000 else None
    candidates = [x for x in (limit, tokenizer_limit) if x is not None]
    if not candidates:
        raise RegeoInputError(f"{where}: neither model nor tokenizer states a length limit; set max_length")
    return min(candidates)


# --- resume state --------------------------------------------------------------------------------

def _fingerprint(cfg: ClassifierConfig, dtype: str, doc_ids: list[str], lengths: np.ndarray) -> str:
    """What the batches and their results depend on; the device may change between runs."""
    digest = hashlib.sha256()
    settings = {"model": cfg.model, "revision": cfg.revision, "tokenizer": cfg.tokenizer,
                "tokenizer_revision": cfg.tokenizer_revision, "batch_size": cfg.batch_size,
                "max_length": cfg.max_length, "dtype": dtype}
    digest.update(json.dumps(settings, sort_keys=True).encode())
    digest.update("\0".join(doc_ids).encode())
    digest.update(lengths.tobytes())
    return digest.hexdigest()


def _resume(state: Path, fingerprint: str, probs: np.ndarray) -> int:
    """Fill ``probs`` from a matching state; the number of batches it covers (0 for none)."""
    if not state.exists():
        return 0
    meta_path = state / "meta.json"
    try:
        meta = json.loads(meta_path.read_text()) if state.is_dir() else {}
    except (OSError, json.JSONDecodeError):
        meta = {}
    if meta.get("fingerprint") != fingerprint:
        log.warning("%s: resume state is for other input or settings; starting over", state)
        clear_state(state)
        return 0
    parts = sorted((tuple(map(int, m.groups())), p) for p in state.iterdir() if (m := _PART.fullmatch(p.name)))
    done = 0
    for (first, last), path in parts:
        if first != done:  # a gap: only the batches before it are known to be complete
            log.warning("%s: resume state has a gap before batch %d; ignoring later parts", state, first)
            break
        part = pd.read_parquet(path)
        probs[part["position"].to_numpy()] = part[[PROB_PREFIX + l for l in ALL_LABELS]].to_numpy(np.float32)
        done = last + 1
    log.info("%s: resuming after %d flushed batches", state, done)
    return done


def _start_state(state: Path, fingerprint: str, cfg: ClassifierConfig, dtype: str, n_docs: int,
                 n_batches: int) -> None:
    clear_state(state)
    state.mkdir(parents=True)
    write_json({"fingerprint": fingerprint, "model": cfg.model, "revision": cfg.revision, "dtype": dtype,
                "batch_size": cfg.batch_size, "n_documents": n_docs, "n_batches": n_batches}, state / "meta.json")


def _flush(state: Path, first: int, last: int, positions: np.ndarray, probs: np.ndarray) -> None:
    part = pd.DataFrame({"position": positions.astype(np.int64)})
    for j, label in enumerate(ALL_LABELS):
        part[PROB_PREFIX + label] = probs[:, j]
    write_parquet(part, state / f"part-{first:07d}-{last:07d}.parquet")
