"""Cluster resource requests that scale with the model and the work (used by the rules' ``resources:``).

Estimates are deliberately generous: a job killed at its time limit costs more than a long
request. A retry multiplies them by the attempt number.
"""

from __future__ import annotations

import math

from regeo.train.presets import parameter_count

# Sustained training throughput assumed per GPU (bf16, small models, well below peak).
ASSUMED_FLOPS_PER_GPU = 40e12


def train_runtime_minutes(model: dict, vocab_size: int, steps: int, batch_size: int, seq_len: int,
                          gpus: int = 1, attempt: int = 1) -> int:
    """6 N T FLOPs at the assumed rate, x2 for evaluation, dumps and slack; at least 15 minutes."""
    n_params = parameter_count(model, vocab_size)
    flops = 6 * n_params * steps * batch_size * seq_len
    minutes = 2 * flops / (ASSUMED_FLOPS_PER_GPU * max(1, gpus)) / 60
    return int(max(15, math.ceil(minutes)) * attempt)


def train_mem_mb(model: dict, vocab_size: int, attempt: int = 1) -> int:
    """Host memory: weights, gradients and Adam moments in fp32 (16 bytes/parameter) twice over, plus 4 GB."""
    n_params = parameter_count(model, vocab_size)
    return int((4096 + 32 * n_params / 2**20) * attempt)


# A model of a steering pair whose size the config does not give (an external run): assumed to
# take this much host memory in float32, loading copy included.
UNKNOWN_MODEL_MEM_MB = 4096


def steering_mem_mb(models: list[dict | None], vocab_size: int, batch_size: int, max_length: int,
                    attempt: int = 1) -> int:
    """Host memory of a steering pair job: 3 GB for the interpreter and libraries (the default's
    tiny self pair peaked at 2.3 GB, docs/benchmarks.md), each model at
    8 bytes per parameter (float32 weights and their loading copy; None: UNKNOWN_MODEL_MEM_MB),
    and ten (batch, tokens, vocabulary) float32 buffers: the first-order pass's logits and their
    graph, and the next-token KL's unsteered reference with one steered pass's logits,
    log-probabilities and probabilities (regeo.steering.next_token). Never a tensor over all
    passages or settings."""
    model_mb = sum(UNKNOWN_MODEL_MEM_MB if m is None else 8 * parameter_count(m, vocab_size) / 2**20
                   for m in models)
    batch_mb = 10 * batch_size * max_length * vocab_size * 4 / 2**20
    return int(math.ceil(3072 + model_mb + batch_mb) * attempt)


# The register classifier a judge job may load: XLM-RoBERTa-large (560M parameters), float32
# weights and their loading copy.
CLASSIFIER_MEM_MB = 4608


def steering_judge_mem_mb(model: dict | None, vocab_size: int, batch_size: int, max_length: int, classifier: bool,
                          attempt: int = 1) -> int:
    """Host memory of a judge job: a steering job's (:func:`steering_mem_mb`) with the target model
    only, plus the register classifier when it judges (the tfidf judge's matrices are a few MB)."""
    return steering_mem_mb([model], vocab_size, batch_size, max_length, attempt=attempt) + int(
        classifier * CLASSIFIER_MEM_MB * attempt)


def harness_mem_mb(model: dict | None, vocab_size: int, batch_size: int, max_length: int, attempt: int = 1) -> int:
    """Host memory of one model's benchmark job: the interpreter with lm-evaluation-harness, the
    model at 8 bytes per parameter, and a batch's logits and log-probabilities at most four times
    over (the harness keeps one batch of requests in flight)."""
    model_mb = UNKNOWN_MODEL_MEM_MB if model is None else 8 * parameter_count(model, vocab_size) / 2**20
    batch_mb = 4 * batch_size * max_length * vocab_size * 4 / 2**20
    return int(math.ceil(3072 + model_mb + batch_mb) * attempt)


# Peak RSS of every data job (corpus_shard to tokens) stays under 1 GB at 100k and 400k
# documents (docs/benchmarks.md, "Data stages at scale"): the text never sits in one job's
# memory, so the request does not grow with the corpus. Twice the measured peak, for batches of
# unusually long documents.
DATA_JOB_MEM_MB = 2000


def data_mem_mb(attempt: int = 1) -> int:
    """Host memory of a data job (corpus shards, index, labels, subsets, tokenizer, token files)."""
    return DATA_JOB_MEM_MB * attempt


# Rules that run on the submitting host under a cluster executor, because they take seconds
# at every scale and would wait longer in the queue than they run.
# The merges of a table's batches or blocks (regeo.costs) only join parquet files.
ALWAYS_LOCAL = ("all", "figures", "steering_summary", "steering_next_token", "steering_predictors",
                "steering_cards", "steering_control_vectors", "evaluate_merge", "global_similarity_merge",
                "lle_comparison_merge")
# Rules that read a line per document of the corpus, or every file: seconds for the builtin
# corpus (14,000 documents, 0.1 GB of dumps), a job of their own for a corpus from files or the
# hub (FineWeb sample-10BT: 14 M documents in 64 shards, ~45 GB of text to index; the paper
# config's first manifest hashes ~1 TB of dumps at ~4 s/GiB).
CORPUS_WIDE = ("corpus", "registers", "figure_register_distribution", "manifest")


def local_rules(config: dict, rule_names: list[str]) -> list[str]:
    """The rules of the workflow (``rule_names``) that run on the submitting host for ``config``."""
    small_corpus = config["corpus"]["source"] == "builtin"
    return [name for name in rule_names
            if (name in ALWAYS_LOCAL or name.startswith("figure_") or name in CORPUS_WIDE)
            and (small_corpus or name not in CORPUS_WIDE)]
