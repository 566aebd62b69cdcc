"""Scoring a model on held-out passages, per passage, so that effects get intervals over passages.

Two statistics of a model on the held-out passages of a concept, each computed from per-passage
sums so that a bootstrap over passages is a reweighting (:mod:`regeo.steering.bootstrap`):

- ``loglik``: mean per-token log-likelihood of the held-out positive passages minus that of the
  negative passages (token-weighted within each side, i.e. minus the LM loss on that side), in
  nats per token. A steering effect is its change; positive means towards the positive texts.
- ``logodds``: mean over every position of every held-out passage of the log-odds of the target
  token set, log(m / (1 - m)) with m the next-token probability mass on the targets, computed
  from logsumexp of the target logits and of all logits (:func:`position_terms`). Its change
  does not saturate the way the mass does (a vector that doubles the odds moves it by ln 2
  whether m is 0.01 or 0.5).
- ``mass``: the mean target mass itself, kept for reading (its shift saturates; never primary).
- ``kl``: under steering, the mean over every position of KL(p_steered || p_unsteered) of the
  next-token distribution, in nats (:mod:`regeo.steering.next_token` fills it in).

A *weights* matrix (R, P) gives each passage a count per replicate: a row of ones is the
statistic on the passages as they are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from regeo.steering.inject import steer
from regeo.steering.text import padded_batches
from regeo.steering.vectors import model_device

METRICS = ("loglik", "logodds")


@dataclass(frozen=True)
class Heldout:
    """Held-out token ids (one list per passage, already truncated) and the target token ids."""

    positive: list[list[int]]
    negative: list[list[int]]
    target_ids: list[int]

    @property
    def passages(self) -> list[list[int]]:
        return self.positive + self.negative

    @property
    def is_positive(self) -> np.ndarray:
        """(P,) bool: which passages (in :attr:`passages` order) are positive."""
        return np.array([True] * len(self.positive) + [False] * len(self.negative), dtype=bool)


@dataclass(frozen=True)
class PassageScores:
    """Per-passage sums, passages in :attr:`Heldout.passages` order; all (P,) float64."""

    is_positive: np.ndarray  # bool
    loglik: np.ndarray  # sum of log p(token | prefix) over the passage's predicted tokens
    n_predicted: np.ndarray  # predicted tokens (length - 1)
    logodds: np.ndarray  # sum over positions of the target log-odds (0 when there are no targets)
    mass: np.ndarray  # sum over positions of the target mass
    n_positions: np.ndarray  # positions (length)
    has_targets: bool
    kl: np.ndarray | None = None  # sum over positions of KL(steered || unsteered); None when not measured


def position_terms(logits: torch.Tensor, input_ids: torch.Tensor, mask: torch.Tensor,
                   target_ids: torch.Tensor | None, log_all: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Per-passage sums (B,) of the token log-likelihood, target log-odds and target mass.

    ``logits`` (B, T, V) float32, ``input_ids``/``mask`` (B, T), ``target_ids`` (n_targets,) or
    None. One logsumexp over the vocabulary serves all three (a full log-softmax and masked
    copies of the (B, T, V) logits would cost several times the model's own forward pass at a
    4096-token vocabulary); the target columns are gathered. log(1 - m) comes from the same
    logsumexp, with m capped a float32 step below 1 (``log_all``: that logsumexp (B, T) when the
    caller has it already). Differentiable, so that :mod:`regeo.steering.first_order` can take
    its gradient.
    """
    log_all = logits.logsumexp(-1) if log_all is None else log_all  # (B, T)
    token_logp = logits[:, :-1].gather(-1, input_ids[:, 1:, None]).squeeze(-1) - log_all[:, :-1]  # (B, T-1)
    predicted = mask[:, 1:].to(logits.dtype)  # (B, T-1): a real token predicted from a real prefix
    positions = mask.to(logits.dtype)  # (B, T)
    terms = {"loglik": (token_logp * predicted).sum(1)}
    if target_ids is not None:
        log_mass = logits.index_select(-1, target_ids).logsumexp(-1) - log_all  # (B, T), log m
        log_mass = log_mass.clamp(max=math.log1p(-2.0 ** -23))
        log_rest = torch.log1p(-log_mass.exp())  # log(1 - m)
        terms["logodds"] = ((log_mass - log_rest) * positions).sum(1)
        terms["mass"] = (log_mass.exp() * positions).sum(1)
    return terms


def target_tensor(heldout: Heldout, device) -> torch.Tensor | None:
    if not heldout.target_ids:
        return None
    return torch.as_tensor(sorted(set(heldout.target_ids)), dtype=torch.long, device=device)


def counts(encoded: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """(predicted tokens, positions) per passage."""
    lengths = np.array([len(ids) for ids in encoded], dtype=np.float64)
    return np.maximum(lengths - 1, 0), lengths


SUMS = ("loglik", "logodds", "mass")


def logsumexp_parts(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``logits.logsumexp(-1)`` (B, T), bit for bit as torch computes it, with the pieces torch
    discards: e = exp(logits - max) (B, T, V) and its sum s (B, T), so that the softmax is e / s.

    The steps of ATen's ``logsumexp`` (max, infinite maxima set to 0, exp of the shifted logits,
    sum, log, add the max), so the scores built on it stay those of ``torch.logsumexp`` (a test
    checks the equality) while the next-token KL reuses e instead of a second exp over the
    vocabulary. Not differentiable (in-place steps); the gradients use ``torch.logsumexp``.
    """
    maxes = logits.amax(-1, keepdim=True)  # (B, T, 1)
    squeezed = maxes.squeeze(-1)  # a view: the fill below reaches maxes, as in ATen
    squeezed.masked_fill_(squeezed.abs() == math.inf, 0)
    e = (logits - maxes).exp_()  # (B, T, V)
    total = e.sum(-1)  # (B, T)
    return total.log().add_(squeezed), e, total


def batch_logits(model, input_ids: torch.Tensor, mask: torch.Tensor, targets: torch.Tensor | None,
                 sums: dict[str, list]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One forward pass of ``model`` as it is now: its logits (B, T, V) float32 and
    :func:`logsumexp_parts` of them; the batch's per-passage sums are appended to ``sums``
    (key -> list of (B,) float64 tensors)."""
    logits = model(input_ids=input_ids, attention_mask=mask, use_cache=False).logits.float()  # (B, T, V)
    log_all, e, total = logsumexp_parts(logits)
    terms = position_terms(logits, input_ids, mask, targets, log_all)
    for key in SUMS:
        sums[key].append(terms[key].double().cpu() if key in terms else torch.zeros(len(input_ids)))
    return logits, log_all, e, total


def joined_scores(heldout: Heldout, sums: dict[str, list], has_targets: bool, **extra) -> PassageScores:
    """:class:`PassageScores` from the batches' sums (:func:`batch_logits`), passages in order."""
    n_predicted, n_positions = counts(heldout.passages)
    joined = {k: torch.cat(v).numpy().astype(np.float64) if v else np.zeros(0) for k, v in sums.items()}
    return PassageScores(is_positive=heldout.is_positive, n_predicted=n_predicted, n_positions=n_positions,
                         has_targets=has_targets, **joined, **extra)


@torch.no_grad()
def score_passages(model, heldout: Heldout, batch_size: int = 8, device=None) -> PassageScores:
    """The per-passage sums of ``model`` as it is now (steering hooks included) on ``heldout``."""
    device = model_device(model, device)
    targets = target_tensor(heldout, device)
    sums = {k: [] for k in SUMS}
    for input_ids, mask in padded_batches(heldout.passages, batch_size, device):
        batch_logits(model, input_ids, mask, targets, sums)
    return joined_scores(heldout, sums, targets is not None)


def statistic(scores: PassageScores, metric: str, weights: np.ndarray, numerators: np.ndarray | None = None
              ) -> np.ndarray:
    """The ``metric`` under passage ``weights`` (R, P): (R,) values (NaN where undefined).

    ``numerators`` (P, ...) replaces the per-passage sums of the metric (first-order slopes pass
    their per-passage gradient projections here); the denominators are the passages' token counts.
    """
    weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    if metric == "loglik":
        values = scores.loglik if numerators is None else numerators
        pos, neg = scores.is_positive, ~scores.is_positive
        if not pos.any() or not neg.any():
            return np.full((weights.shape[0],) + np.shape(values)[1:], np.nan)
        return (_ratio(weights[:, pos], values[pos], scores.n_predicted[pos])
                - _ratio(weights[:, neg], values[neg], scores.n_predicted[neg]))
    if metric in ("logodds", "mass"):
        values = getattr(scores, metric) if numerators is None else numerators
        if not scores.has_targets:
            return np.full((weights.shape[0],) + np.shape(values)[1:], np.nan)
        return _ratio(weights, values, scores.n_positions)
    if metric == "kl":
        values = scores.kl if numerators is None else numerators
        if values is None:
            raise ValueError("these scores carry no KL (score them with regeo.steering.next_token.sweep_passages)")
        return _ratio(weights, values, scores.n_positions)
    raise ValueError(f"unknown metric {metric!r}")


def _ratio(weights: np.ndarray, values: np.ndarray, denominators: np.ndarray) -> np.ndarray:
    """sum_p w_p values_p / sum_p w_p denominators_p per replicate; values (P,) or (P, K)."""
    denominator = weights @ denominators  # (R,)
    numerator = weights @ values  # (R,) or (R, K)
    with np.errstate(invalid="ignore", divide="ignore"):
        return numerator / (denominator if numerator.ndim == 1 else denominator[:, None])


def cosine(u: torch.Tensor, v: torch.Tensor) -> float:
    u, v = u.double().flatten(), v.double().flatten()
    denominator = float(u.norm() * v.norm())
    return float(u @ v) / denominator if denominator > 0 else float("nan")


@torch.no_grad()
def greedy_continuation(model, prompt_ids: Sequence[int], max_new_tokens: int, eos_id: int | None = None,
                        device=None) -> list[int]:
    """Greedy next tokens after ``prompt_ids`` (stops after ``eos_id``), with a KV cache.

    A loop of our own rather than ``model.generate``: no dependence on a saved generation config
    or its sampling defaults, and the same behaviour in transformers 4.x and 5.
    """
    device = model_device(model, device)
    if not prompt_ids:
        raise ValueError("empty prompt")
    out = model(input_ids=torch.as_tensor([list(prompt_ids)], device=device), use_cache=True)  # logits (1, T, V)
    new: list[int] = []
    for step in range(max_new_tokens):
        next_id = int(out.logits[0, -1].argmax())
        new.append(next_id)
        if next_id == eos_id or step == max_new_tokens - 1:
            break
        out = model(input_ids=torch.tensor([[next_id]], device=device), past_key_values=out.past_key_values,
                    use_cache=True)
    return new


def generation_records(model, tokenizer, prompts: Sequence[Sequence[int]], vectors: dict[str, torch.Tensor],
                       alphas: Sequence[float], layer: int, max_new_tokens: int, device=None) -> list[dict]:
    """Greedy continuations of each prompt without steering and under each named vector at each alpha.

    Records ``{condition, alpha, prompt, completion}`` (decoded text; condition "none" at alpha 0),
    ready for a JSONL file once the caller adds who and what was steered.
    """
    eos_id = getattr(tokenizer, "eos_token_id", None)
    settings = [("none", torch.zeros(model.config.hidden_size), 0.0)]
    settings += [(name, vector, float(a)) for name, vector in vectors.items() for a in alphas]
    records = []
    for prompt in prompts:
        prompt_text = tokenizer.decode(list(prompt))
        for name, vector, alpha in settings:
            with steer(model, vector, layer, alpha):
                new = greedy_continuation(model, prompt, max_new_tokens, eos_id, device)
            records.append(dict(condition=name, alpha=alpha, prompt=prompt_text,
                                completion=tokenizer.decode(new, skip_special_tokens=True)))
    return records
