"""Judged generations (AxBench, SteerEval): what a saved vector does to text the target model writes.

For one concept in the target model B, at B's steering layer, under alpha 0 and each (vector, alpha)
of the judge's settings (:class:`regeo.steering.judge_config.JudgeConfig`):

- **prompts**: the concept's own prompts, else the first ``prompt_tokens`` tokens of held-out
  negative passages (documents never used for the vector; a tokens concept has no negative side
  and takes its held-out passages), ``n_prompts`` spread evenly over them; steering towards the
  positive side shows best where the text starts on the other side. Prompts shorter than
  ``prompt_tokens`` are passed over, so every prompt has the same length and one batch of
  greedy decoding serves them all;
- **concept** (per prompt): a contrast's judge probability of the positive subset for the
  completion alone (:mod:`regeo.steering.judges`); a tokens concept's share of generated tokens
  in its target set (token-weighted over prompts);
- **fluency** (per prompt): the completion's loss under the *unsteered* model given the prompt,
  nats per generated token (its log-perplexity; token-weighted over prompts). Greedy text at
  alpha 0 is the unsteered model's own choice, so this rises as steering moves the text away
  from what the model finds likely: a fluency cost, read beside the concept gain;
- **loss** (per passage): the held-out passages' (both sides) loss with the vector added, nats
  per predicted token: the capability the vector costs (arXiv 2602.04903).

Each score gets a bootstrap interval over its units (prompts; passages within each side) and its
change from alpha 0 a paired interval on the same replicates and a sign-flip p
(:mod:`regeo.steering.paired`). Completions are cut after the first end-of-text token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from regeo.steering.bootstrap import passage_weights, unit_weights, with_point
from regeo.steering.concepts import Concept
from regeo.steering.inject import steer
from regeo.steering.paired import paired_change
from regeo.steering.passages import spread
from regeo.steering.score import Heldout, score_passages
from regeo.steering.text import encode_texts, target_token_ids
from regeo.steering.vectors import model_device

MEASURES = ("concept", "fluency", "loss")


@dataclass(frozen=True)
class Setting:
    vector: str  # a saved vector's kind ("native", "transferred", ...); "none" at alpha 0
    alpha: float


def concept_prompts(tokenizer, concept: Concept, n_prompts: int, prompt_tokens: int, max_length: int
                    ) -> list[list[int]]:
    """The concept's prompts as token ids, all of one length (module docstring)."""
    if concept.prompts:
        encoded = encode_texts(tokenizer, concept.prompts, max_length)
        shortest = min(len(ids) for ids in encoded)
        return [ids[:shortest] for ids in encoded[:n_prompts]]
    texts = concept.heldout_negative or concept.heldout_positive
    long_enough = [ids[:prompt_tokens] for ids in encode_texts(tokenizer, texts, max_length)
                   if len(ids) >= prompt_tokens]
    return spread(long_enough, n_prompts)


@torch.no_grad()
def greedy_batch(model, prompts: Sequence[Sequence[int]], max_new_tokens: int, eos_id: int | None,
                 device=None) -> list[list[int]]:
    """Greedy continuations of equal-length ``prompts``, one batch with a KV cache; each cut after ``eos_id``."""
    device = model_device(model, device)
    ids = torch.as_tensor([list(p) for p in prompts], dtype=torch.long, device=device)  # (P, T)
    out = model(input_ids=ids, use_cache=True)
    new = []
    for step in range(max_new_tokens):
        next_ids = out.logits[:, -1].argmax(-1)  # (P,)
        new.append(next_ids)
        if step < max_new_tokens - 1:
            out = model(input_ids=next_ids[:, None], past_key_values=out.past_key_values, use_cache=True)
    tokens = torch.stack(new, 1).tolist()  # (P, max_new_tokens)
    if eos_id is not None:
        tokens = [row[:row.index(eos_id) + 1] if eos_id in row else row for row in tokens]
    return tokens


@torch.no_grad()
def completion_losses(model, prompts: Sequence[Sequence[int]], completions: Sequence[Sequence[int]],
                      device=None) -> np.ndarray:
    """(P,) summed loss (nats) of each completion under ``model`` as it is, given its prompt."""
    device = model_device(model, device)
    losses = []
    for prompt, completion in zip(prompts, completions):
        if not completion:
            losses.append(0.0)
            continue
        ids = torch.as_tensor([list(prompt) + list(completion)], dtype=torch.long, device=device)  # (1, T)
        logits = model(input_ids=ids, use_cache=False).logits[0].float()  # (T, V)
        start = len(prompt)
        logp = logits[start - 1:-1].log_softmax(-1)  # (C, V): the positions predicting the completion
        losses.append(float(-logp.gather(-1, ids[0, start:, None]).sum()))
    return np.asarray(losses, dtype=np.float64)


def judge_concept(model, tokenizer, concept: Concept, vectors: dict[str, torch.Tensor], layer: int, cfg, judge_cfg,
                  judge=None, positive_index: int | None = None, device=None) -> tuple[list[dict], list[dict]]:
    """The judged rows of one concept in ``model`` (module docstring), and its completions as records.

    ``vectors``: kind -> (d,) vector of this concept in ``model``'s space; ``cfg``: the steering
    values the judge shares (:data:`regeo.steering.judge_config.SHARED_KEYS`, as attributes or a
    dict); ``judge``/``positive_index``: a fitted judge and the column of the concept's positive
    subset (a contrast concept), unused for a tokens concept.
    """
    get = cfg.get if isinstance(cfg, dict) else lambda key: getattr(cfg, key)
    device = model_device(model, device)
    prompts = concept_prompts(tokenizer, concept, judge_cfg.n_prompts, get("prompt_tokens"), get("max_length"))
    if len(prompts) < 2:
        raise ValueError(f"concept {concept.name!r}: {len(prompts)} held-out prompts of {get('prompt_tokens')} "
                         "tokens; the judge needs at least 2 (lower steering.prompt_tokens or give prompts)")
    heldout = Heldout(encode_texts(tokenizer, concept.heldout_positive, get("max_length")),
                      encode_texts(tokenizer, concept.heldout_negative, get("max_length")), [])
    targets = set(target_token_ids(tokenizer, concept.target_tokens)) if concept.vector == "tokens" else set()
    eos_id = getattr(tokenizer, "eos_token_id", None)
    replicates, seed = get("bootstrap_replicates"), get("seed")
    prompt_weights = unit_weights(len(prompts), replicates, seed, f"{concept.name}/judge prompts")
    passage_draws = with_point(passage_weights(heldout.is_positive, replicates, seed, f"{concept.name}/judge passages"))

    settings = [Setting("none", 0.0)] + [Setting(kind, float(a)) for kind in judge_cfg.vectors
                                         for a in judge_cfg.alphas]
    per_setting, records = {}, []
    for setting in settings:
        vector = vectors[setting.vector] if setting.vector != "none" else torch.zeros(model.config.hidden_size)
        with steer(model, vector, layer, setting.alpha):
            completions = greedy_batch(model, prompts, judge_cfg.max_new_tokens, eos_id, device)
            passages = score_passages(model, heldout, get("batch_size"), device)
        fluency = completion_losses(model, prompts, completions, device)  # unsteered model
        n_generated = np.array([len(c) for c in completions], dtype=np.float64)
        texts = [tokenizer.decode(c, skip_special_tokens=True) for c in completions]
        if concept.vector == "tokens":
            concept_sums = np.array([sum(t in targets for t in c) for c in completions], dtype=np.float64)
            concept_units = n_generated
        else:
            concept_sums = judge.scores(texts)[:, positive_index]
            concept_units = np.ones(len(prompts))
        per_setting[setting] = {"concept": (concept_sums, concept_units, prompt_weights),
                                "fluency": (fluency, n_generated, prompt_weights),
                                "loss": (-passages.loglik, passages.n_predicted, passage_draws)}
        records += [dict(concept=concept.name, vector=setting.vector, alpha=setting.alpha,
                         prompt=tokenizer.decode(list(p)), completion=text, concept_score=float(s / max(u, 1)),
                         fluency_nll=float(f / max(n, 1)))
                    for p, text, s, u, f, n in zip(prompts, texts, concept_sums, concept_units, fluency, n_generated)]

    reference = per_setting[settings[0]]
    rows = []
    for setting in settings[1:]:
        for measure in MEASURES:
            values, denominators, weights = per_setting[setting][measure]
            change = paired_change(values, reference[measure][0], denominators, weights, get("confidence"),
                                   judge_cfg.sign_flips, seed)
            rows.append({"concept": concept.name, "vector": setting.vector, "alpha": setting.alpha,
                         "measure": measure, **change, "n_units": len(values),
                         "unit": "passage" if measure == "loss" else "prompt"})
    return rows, records
