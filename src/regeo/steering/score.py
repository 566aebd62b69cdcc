"""Scoring steering conditions on one model: effects, transfer efficiencies, greedy generations.

Effects, each relative to the same model without steering, at each alpha:

- ``loglik_shift``: change of [mean per-token log-likelihood of held-out positive texts minus that
  of held-out negative texts]. Per-token means are pooled over all predicted tokens of a set
  (token-weighted, i.e. minus the LM loss on that set), in nats; positive means the vector moved
  the model towards the positive texts.
- ``target_mass_shift``: change of the probability mass on the target token set, averaged over the
  next-token distributions at every non-pad position of all held-out texts (positive and negative).

Efficiency of a condition = its effect / the native vector's effect at the same alpha. Where the
native effect is not finite or ``|effect| < min_native_effect``, the efficiency is NaN and the
row's ``efficiency_flag`` says why; a ratio of two near-zero numbers is never reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import pandas as pd
import torch
import torch.nn.functional as F

from regeo.steering.inject import steer
from regeo.steering.text import padded_batches
from regeo.steering.vectors import model_device

METRICS = ("loglik", "mass")
FLAG_OK = "ok"
FLAG_REFERENCE = "reference"  # the no-steering rows: effects are 0 by definition
FLAG_NEAR_ZERO = "native_effect_near_zero"
FLAG_UNDEFINED = "metric_undefined"  # e.g. no target tokens, or no held-out negative texts


@dataclass(frozen=True)
class Heldout:
    """Held-out token ids (one list per text, already truncated) and the target token ids."""

    positive: list[list[int]]
    negative: list[list[int]]
    target_ids: list[int]


@dataclass(frozen=True)
class Measurement:
    loglik_positive: float  # mean per-token log-likelihood (nats) of the held-out positive texts
    loglik_negative: float  # same for the held-out negative texts
    target_mass: float  # mean next-token probability mass on the target set over all held-out positions


@dataclass(frozen=True)
class Condition:
    """A steering condition: a name ("native", "transferred", "random"), its vector (d,), a draw index."""

    name: str
    vector: torch.Tensor
    draw: int = 0


@torch.no_grad()
def _pass(model, encoded, target_ids: torch.Tensor | None, batch_size: int, device):
    """Sums over one text set: (log-likelihood, predicted tokens, target mass, positions)."""
    loglik, n_pred, mass, n_pos = 0.0, 0, 0.0, 0
    if not encoded:
        return loglik, n_pred, mass, n_pos
    for input_ids, mask in padded_batches(encoded, batch_size, device):
        logits = model(input_ids=input_ids, attention_mask=mask, use_cache=False).logits.float()  # (B, T, V)
        logp = F.log_softmax(logits, dim=-1)  # (B, T, V)
        token_logp = logp[:, :-1].gather(-1, input_ids[:, 1:, None]).squeeze(-1)  # (B, T-1)
        pred_mask = mask[:, 1:].bool()  # (B, T-1): real token predicted from a real prefix
        loglik += float(token_logp[pred_mask].double().sum())
        n_pred += int(pred_mask.sum())
        if target_ids is not None:
            target_mass = logp[..., target_ids].exp().sum(-1)  # (B, T)
            mass += float(target_mass[mask.bool()].double().sum())
            n_pos += int(mask.sum())
    return loglik, n_pred, mass, n_pos


def measure(model, heldout: Heldout, batch_size: int = 8, device=None) -> Measurement:
    """The three raw quantities of ``model`` as it is now (steering hooks included) on ``heldout``."""
    device = model_device(model, device)
    targets = torch.as_tensor(heldout.target_ids, dtype=torch.long, device=device) if heldout.target_ids else None
    pos = _pass(model, heldout.positive, targets, batch_size, device)
    neg = _pass(model, heldout.negative, targets, batch_size, device)
    nan = float("nan")
    n_pos = pos[3] + neg[3]
    return Measurement(
        loglik_positive=pos[0] / pos[1] if pos[1] else nan,
        loglik_negative=neg[0] / neg[1] if neg[1] else nan,
        target_mass=(pos[2] + neg[2]) / n_pos if targets is not None and n_pos else nan)


def efficiency(effect: float, native_effect: float, min_native_effect: float) -> tuple[float, str]:
    """``effect / native_effect`` and a flag; NaN (never an exception) when the ratio means nothing."""
    if not (math.isfinite(effect) and math.isfinite(native_effect)):
        return float("nan"), FLAG_UNDEFINED
    if abs(native_effect) < min_native_effect:
        return float("nan"), FLAG_NEAR_ZERO
    return effect / native_effect, FLAG_OK


def cosine(u: torch.Tensor, v: torch.Tensor) -> float:
    u, v = u.double().flatten(), v.double().flatten()
    denominator = float(u.norm() * v.norm())
    return float(u @ v) / denominator if denominator > 0 else float("nan")


def score_conditions(model, layer: int, conditions: Sequence[Condition], alphas: Sequence[float],
                     heldout: Heldout, batch_size: int = 8, device=None, min_native_effect: float = 1e-4,
                     primary: str = "loglik") -> pd.DataFrame:
    """Effects of every condition at every alpha on ``model``, with the no-steering reference.

    ``conditions`` must include one named "native": the ceiling every efficiency divides by, and
    the vector the cosines are taken to. ``primary`` ("loglik" or "mass") picks the metric copied
    into the ``efficiency`` and ``efficiency_flag`` columns. One row per (condition, draw, alpha);
    the "none" condition has a row at every alpha (identical values) so that curves plot alike.
    """
    if primary not in METRICS:
        raise ValueError(f"primary must be one of {METRICS}, got {primary!r}")
    natives = [c for c in conditions if c.name == "native"]
    if len(natives) != 1:
        raise ValueError("conditions must contain exactly one 'native' condition")
    native_vector = natives[0].vector
    base = measure(model, heldout, batch_size, device)
    base_diff = base.loglik_positive - base.loglik_negative

    raw = []  # (condition, alpha, Measurement)
    for condition in conditions:
        for alpha in alphas:
            with steer(model, condition.vector, layer, alpha):
                raw.append((condition, float(alpha), measure(model, heldout, batch_size, device)))

    def effects(m: Measurement) -> dict[str, float]:
        return {"loglik": (m.loglik_positive - m.loglik_negative) - base_diff,
                "mass": m.target_mass - base.target_mass}

    native_effects = {alpha: effects(m) for c, alpha, m in raw if c.name == "native"}
    nan = float("nan")
    rows = []
    for alpha in alphas:
        rows.append(dict(condition="none", draw=0, alpha=float(alpha), vector_norm=0.0, cosine_to_native=nan,
                         loglik_positive=base.loglik_positive, loglik_negative=base.loglik_negative,
                         target_mass=base.target_mass, loglik_shift=0.0,
                         target_mass_shift=0.0 if math.isfinite(base.target_mass) else nan,
                         efficiency_loglik=nan, efficiency_mass=nan, efficiency=nan,
                         efficiency_flag=FLAG_REFERENCE))
    for condition, alpha, m in raw:
        effect = effects(m)
        ratios = {k: efficiency(effect[k], native_effects[alpha][k], min_native_effect) for k in METRICS}
        rows.append(dict(condition=condition.name, draw=condition.draw, alpha=alpha,
                         vector_norm=float(condition.vector.double().norm()),
                         cosine_to_native=cosine(condition.vector, native_vector),
                         loglik_positive=m.loglik_positive, loglik_negative=m.loglik_negative,
                         target_mass=m.target_mass, loglik_shift=effect["loglik"],
                         target_mass_shift=effect["mass"], efficiency_loglik=ratios["loglik"][0],
                         efficiency_mass=ratios["mass"][0], efficiency=ratios[primary][0],
                         efficiency_flag=ratios[primary][1]))
    return pd.DataFrame(rows)


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


def generation_records(model, tokenizer, prompts: Sequence[Sequence[int]], conditions: Sequence[Condition],
                       alphas: Sequence[float], layer: int, max_new_tokens: int, device=None) -> list[dict]:
    """Greedy continuations of each prompt without steering and under each condition at each alpha.

    Records ``{condition, draw, alpha, prompt, completion}`` (decoded text; alpha 0 for "none"),
    ready for a JSONL file once the caller adds who and what was steered.
    """
    eos_id = getattr(tokenizer, "eos_token_id", None)
    settings = [(Condition("none", torch.zeros(model.config.hidden_size)), 0.0)]
    settings += [(c, float(a)) for c in conditions for a in alphas]
    records = []
    for prompt in prompts:
        prompt_text = tokenizer.decode(list(prompt))
        for condition, alpha in settings:
            with steer(model, condition.vector, layer, alpha):
                new = greedy_continuation(model, prompt, max_new_tokens, eos_id, device)
            records.append(dict(condition=condition.name, draw=condition.draw, alpha=alpha, prompt=prompt_text,
                                completion=tokenizer.decode(new, skip_special_tokens=True)))
    return records
