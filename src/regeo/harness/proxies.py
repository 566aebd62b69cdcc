"""Continuous scores of a multiple-choice task from the harness's per-sample log-likelihoods.

Accuracy of a model this small sits at chance and moves in steps of 1/n; DataDecide (Magnusson
et al. 2025, arXiv 2504.11393) shows that scores built from the probability of the correct
answer rank small models far more reliably. For each document, with ``ll_j`` the summed
log-probability the model gives choice j's continuation (the harness's own request: the
context, the target delimiter, the choice), ``c_j`` its characters (the choice without the
delimiter, as the harness's ``acc_norm`` counts them) and ``t_j`` its tokens (the harness's own
encoding of the pair), and g the gold choice:

- ``correct_logprob_per_token`` = ll_g / t_g: mean log-probability per token of the correct answer;
- ``correct_logprob_per_char`` = ll_g / c_g: the same per character, which compares across tokenizers;
- ``norm_correct_prob`` = exp(ll_g / c_g) / sum_j exp(ll_j / c_j): the probability of the correct
  choice among the choices, each scored by its per-character log-likelihood (DataDecide's
  "normalised correct probability" with OLMES's per-character length normalisation). Chance
  level is 1/n when the model cannot tell the choices apart.

A task's value is the mean over its documents; its stderr is the sample standard deviation over
sqrt(n), the harness's ``mean_stderr``. Documents with several gold answers get no proxies.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:
    from lm_eval.api.task import Task

PROXIES = ("correct_logprob_per_token", "correct_logprob_per_char", "norm_correct_prob")


def gold_index(task: "Task", doc: dict, n_choices: int) -> int | None:
    """The index of the correct choice as the harness's ``process_results`` finds it (a choice's
    text or its index; for a task whose choices are contexts, such as WinoGrande, ``doc_to_text``
    gives it); None for several gold answers or one out of range."""
    gold = task.doc_to_text(doc) if task.multiple_input else task.doc_to_target(doc)
    if isinstance(gold, str):
        choices = task.doc_to_choice(doc)
        gold = choices.index(gold) if gold in choices else None
    if isinstance(gold, (int, np.integer)) and not isinstance(gold, bool) and 0 <= gold < n_choices:
        return int(gold)
    return None


def sample_proxies(samples: list[dict], task: "Task",
                   token_count: Callable[[str, str], int] | None) -> dict[str, dict[str, np.ndarray]]:
    """Filter name -> proxy name -> (documents,) values, from one task's logged samples
    (``simple_evaluate(log_samples=True)["samples"][task]``). Without ``token_count`` the
    per-token proxy is NaN."""
    delimiter = task.config.target_delimiter or ""
    out: dict[str, dict[str, list[float]]] = {}
    for sample in samples:
        doc = sample["doc"]
        n = len(task.doc_to_choice(doc))
        # with acc_mutual_info the harness appends an unconditional request per choice: drop them
        pairs = [tuple(a) for a in sample["arguments"][:n]]
        lls = np.array([float(r[0]) for r in sample["filtered_resps"][:n]])  # (n,)
        gold = gold_index(task, doc, n)
        if gold is None:
            continue
        chars = np.array([max(1, len(cont.removeprefix(delimiter))) for _, cont in pairs])  # (n,)
        per_char = lls / chars
        shifted = np.exp(per_char - per_char.max())
        tokens = token_count(*pairs[gold]) if token_count is not None else 0
        values = out.setdefault(sample.get("filter", "none"), {name: [] for name in PROXIES})
        values["correct_logprob_per_token"].append(lls[gold] / tokens if tokens > 0 else math.nan)
        values["correct_logprob_per_char"].append(per_char[gold])
        values["norm_correct_prob"].append(shifted[gold] / shifted.sum())
    return {f: {name: np.asarray(v, dtype=float) for name, v in values.items()} for f, values in out.items()}


def mean_and_stderr(values: np.ndarray) -> tuple[float, float]:
    """Mean and its standard error (sample sd / sqrt(n), the harness's mean_stderr)."""
    if len(values) == 0:
        return math.nan, math.nan
    if len(values) == 1:
        return float(values[0]), math.nan
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(len(values)))
