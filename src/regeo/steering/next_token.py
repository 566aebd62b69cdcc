"""The next-token distribution under steering (RQ2b): its KL divergence from the unsteered one, and the tokens that move.

For each steering setting (a vector and an alpha) on a concept's held-out passages, in the
same forward passes that give the sweep's scores (:func:`sweep_passages`):

- ``kl``: per passage, the sum over its positions of KL(p_steered || p_unsteered) of the
  next-token distribution (nats), so that :func:`regeo.steering.score.statistic` (metric
  ``kl``: divided by the positions) gives the mean over positions and a bootstrap over passages
  is a reweighting, on the same replicates as every other effect;
- the mean next-token probability of every token over all held-out positions, steered and
  unsteered, from which :func:`top_tokens` reads the tokens that rise most and the most
  probable ones.

Batches are the outer loop: one batch's unsteered logits (B, T, V) are computed once (one
extra forward pass per batch, without gradient) and kept while every setting runs on that batch,
then dropped. Beyond the model, the peak is that reference plus one steered pass's logits and
their exponentials (which the logsumexp of the scores computes anyway,
:func:`regeo.steering.score.logsumexp_parts`): about 3 x B x T x V x 4 bytes (batch 8 x 128
tokens: 25 MB at a 2,048-token vocabulary, 0.6 GB at GPT-2's 50,257), whatever the number of
passages and settings; the probability means are (settings, V) float64. Per setting the KL
costs three elementwise passes over (B, T, V) and one (1, BT) x (BT, V) product.

The null (:func:`null_comparison`) is the KL of isotropic random directions of the native
vector's norm (:mod:`regeo.steering.nulls`) at the largest |alpha|. The isotropic distribution
is symmetric, so a draw at -alpha is as much a draw of the null as one at +alpha: every swept
draw at either sign counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from regeo.steering.bootstrap import percentile_interval
from regeo.steering.inject import steer
from regeo.steering.score import (SUMS, Heldout, PassageScores, batch_logits, joined_scores, logsumexp_parts,
                                  target_tensor)
from regeo.steering.text import padded_batches
from regeo.steering.vectors import model_device


@dataclass(frozen=True)
class SweepScores:
    """What :func:`sweep_passages` measured, one entry per setting, in the settings' order."""

    scores: list[PassageScores]  # the sweep's per-passage sums, with ``kl``
    mean_probs: np.ndarray  # (S, V) float64: mean steered next-token probability over the held-out positions
    reference_probs: np.ndarray  # (V,) float64: the same without steering
    n_positions: int  # held-out positions the means are over


def kl_sums(logits: torch.Tensor, log_all: torch.Tensor, e: torch.Tensor, total: torch.Tensor,
            reference: torch.Tensor, reference_log_all: torch.Tensor, mask: torch.Tensor
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per passage (B,) the sum over positions of KL(p || q), p the softmax of ``logits`` and q that
    of ``reference``, and the (V,) sum of p over the batch's positions.

    ``logits``, ``reference`` (B, T, V) float32 with their logsumexps (B, T); p = e / total
    (:func:`regeo.steering.score.logsumexp_parts`); ``mask`` (B, T). KL = sum_v p_v (z_v - r_v)
    - (lse z - lse r): differences of logits rather than of two log-softmaxes, so that equal
    logits give exactly 0 and no further pass over the vocabulary exponentiates anything.
    ``logits`` and ``e`` are overwritten (their caller is done with them). A position's KL is
    clipped at 0 (it is never below; float rounding can be).
    """
    positions = mask.to(logits.dtype)  # (B, T)
    vocab = e.shape[-1]
    prob_sum = (positions / total).reshape(1, -1) @ e.reshape(-1, vocab)  # (1, V)
    expected = logits.sub_(reference).mul_(e).sum(-1) / total  # (B, T): sum_v p_v (z_v - r_v)
    per_position = (expected - (log_all - reference_log_all)).clamp_min(0.0)
    return (per_position * positions).sum(1), prob_sum[0]


@torch.no_grad()
def sweep_passages(model, heldout: Heldout, settings: Sequence[tuple[torch.Tensor, float]], layer: int,
                   batch_size: int = 8, device=None) -> SweepScores:
    """Score ``model`` on ``heldout`` under each (vector, alpha) of ``settings`` added at block ``layer``.

    Each setting's :class:`PassageScores` are those of :func:`regeo.steering.score.score_passages`
    under ``steer(model, vector, layer, alpha)`` (the same batches, the same forward passes), plus
    ``kl`` against the unsteered model (module docstring for the memory this takes).
    """
    device = model_device(model, device)
    targets = target_tensor(heldout, device)
    sums = [{k: [] for k in SUMS} for _ in settings]
    kls: list[list[torch.Tensor]] = [[] for _ in settings]
    vocab = None
    prob_sums = reference_sum = None
    for input_ids, mask in padded_batches(heldout.passages, batch_size, device):
        reference = model(input_ids=input_ids, attention_mask=mask, use_cache=False).logits.float()  # (B, T, V)
        reference_log_all, e, total = logsumexp_parts(reference)  # (B, T); kept for this batch only
        if vocab is None:
            vocab = reference.shape[-1]
            prob_sums = torch.zeros(len(settings), vocab, dtype=torch.float64)
            reference_sum = torch.zeros(vocab, dtype=torch.float64)
        positions = mask.to(reference.dtype)  # (B, T)
        reference_sum += ((positions / total).reshape(1, -1) @ e.reshape(-1, vocab))[0].double().cpu()
        del e
        for s, (vector, alpha) in enumerate(settings):
            with steer(model, vector, layer, float(alpha)):
                logits, log_all, e, total = batch_logits(model, input_ids, mask, targets, sums[s])
            kl, prob_sum = kl_sums(logits, log_all, e, total, reference, reference_log_all, mask)
            kls[s].append(kl.double().cpu())
            prob_sums[s] += prob_sum.double().cpu()
            del logits, e
        del reference
    n_positions = int(sum(len(ids) for ids in heldout.passages))
    scores = [joined_scores(heldout, sums[s], targets is not None,
                            kl=torch.cat(kls[s]).numpy() if kls[s] else np.zeros(0)) for s in range(len(settings))]
    if vocab is None:  # no passages
        return SweepScores(scores, np.zeros((len(settings), 0)), np.zeros(0), 0)
    return SweepScores(scores, (prob_sums / n_positions).numpy(), (reference_sum / n_positions).numpy(), n_positions)


LISTS = ("riser", "unsteered", "steered")


def top_tokens(reference: np.ndarray, steered: np.ndarray, k: int) -> dict[str, list[int]]:
    """Token ids, best first (ties by the lower id): the ``k`` whose mean probability rises most
    under steering (``riser``), and the ``k`` most probable without (``unsteered``) and with it."""
    ids = np.arange(len(reference))

    def best(score: np.ndarray) -> list[int]:
        return [int(i) for i in np.lexsort((ids, -score))[:k]]

    return {"riser": best(steered - reference), "unsteered": best(reference), "steered": best(steered)}


def not_compared() -> dict:
    """The null comparison's columns for a setting that has none (not at the largest |alpha|, or a null draw)."""
    return {"compared_to_null": False, "n_null_draws": 0, "n_null_directions": 0, "null_isotropic_kl": np.nan,
            "null_isotropic_kl_low": np.nan, "null_isotropic_kl_high": np.nan, "kl_minus_null": np.nan,
            "kl_minus_null_ci_low": np.nan, "kl_minus_null_ci_high": np.nan, "above_isotropic_band": False}


def null_comparison(kl: np.ndarray, null: np.ndarray, confidence: float, n_directions: int | None = None) -> dict:
    """A setting's KL (1 + R,) (point value, then bootstrap replicates) against the isotropic null's
    draws (n, 1 + R) on the same replicates.

    ``null_isotropic_kl``: the draws' mean; ``_low``/``_high``: the null band, percentiles of
    every draw's replicates pooled (where a random direction's KL falls, over directions and
    passages); ``kl_minus_null`` with its interval (per replicate, minus the draws' mean);
    ``above_isotropic_band``: the setting's own interval lies above that band (False: not shown to
    move the distribution more than a random direction of its norm); ``n_null_draws`` the draws
    (a direction swept at both signs is two), ``n_null_directions`` the random directions they
    come from (``n_directions``; None: one per draw): with ``steering.null_checks`` 1 and
    ``kl_null_draws`` 0 the band is one direction at two signs, a reading, not a test;
    ``compared_to_null``: whether there was a null to compare with.
    """
    null = np.atleast_2d(np.asarray(null, dtype=np.float64))
    if not null.size:
        return not_compared()
    out = {"compared_to_null": True, "n_null_draws": int(null.shape[0]),
           "n_null_directions": int(null.shape[0] if n_directions is None else n_directions)}
    pooled = null[:, 1:].reshape(-1) if null.shape[1] > 1 else null[:, 0]
    band_low, band_high = percentile_interval(pooled, confidence)
    difference = kl - null.mean(0)  # (1 + R,)
    low, high = percentile_interval(difference[1:], confidence)
    own_low, _ = percentile_interval(kl[1:], confidence)
    return {**out, "null_isotropic_kl": float(null[:, 0].mean()), "null_isotropic_kl_low": float(band_low),
            "null_isotropic_kl_high": float(band_high), "kl_minus_null": float(difference[0]),
            "kl_minus_null_ci_low": float(low), "kl_minus_null_ci_high": float(high),
            "above_isotropic_band": bool(np.isfinite(own_low) and own_low > band_high)}


def tops_html(tops) -> str:
    """The top tokens of the swept conditions (no null draws) as one HTML table for the report:
    a row per (pair, concept, condition, map, alpha), each list's tokens in order."""
    import pandas as pd

    if tops.empty:
        return "<p>No steering pairs configured (steering.pairs).</p>"
    keys = ["source", "target", "concept", "condition", "map", "alpha", "n_positions"]
    swept = tops[~tops["condition"].str.startswith("null_")]
    rows = []
    for key, part in swept.groupby(keys, sort=False):
        cells = dict(zip(keys, key))
        for kind in LISTS:
            listed = part[part["list"] == kind].sort_values("rank")
            value = listed["change"] if kind == "riser" else listed["p_unsteered" if kind == "unsteered" else "p_steered"]
            cells[kind] = " ".join(f"{t!r} ({v:+.3f})" if kind == "riser" else f"{t!r} ({v:.3f})"
                                   for t, v in zip(listed["token"], value))
        rows.append(cells)
    frame = pd.DataFrame(rows).rename(columns={
        "riser": "rise most (change of mean probability)", "unsteered": "most probable without (p)",
        "steered": "most probable with (p)", "n_positions": "held-out positions"})
    return frame.to_html(index=False, escape=True)
