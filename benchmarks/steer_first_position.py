"""Why SmolLM2's native steering vectors are weak against their null: the first position.

Run after `--configfile config/pretrained.yaml` (it reads the saved model and the val splits):

    .venv/bin/python benchmarks/steer_first_position.py [results]

At the steering block, the state at each text's first position (the attention sink of Llama-family
models: Xiao et al. 2023, Sun et al. 2024 "massive activations") is far larger than at the other
positions. CAA means over positions take it in: a next-token vector's "other positions" mean
holds every first position, a contrast's two sides hold it once per text. This prints the state
norms by position, and each concept's native vector with the first position in the means and
without it: its norm and its first-order effect against 64 isotropic directions of the same
norm (z), on the pipeline's own held-out passages and settings (first order only: one backward
pass, no sweep).
"""
import sys
import time

import numpy as np
import torch
import yaml

from regeo.steering.concepts import build_concepts
from regeo.steering.first_order import passage_gradients
from regeo.steering.inject import decoder_layers, layer_at_depth
from regeo.steering.nulls import isotropic_draws, z_score
from regeo.steering.score import Heldout
from regeo.steering.text import encode_texts, target_token_ids
from regeo.steering.transfer import load_model
from regeo.steering.vectors import _group_means

t0 = time.time()
torch.set_num_threads(1)
RESULTS = sys.argv[1] if len(sys.argv) > 1 else "results"
schema = yaml.safe_load(open("workflow/schemas/config.schema.yaml"))["properties"]["steering"]["properties"]
config = yaml.safe_load(open("config/pretrained.yaml"))["steering"]
cfg = {k: config.get(k, v.get("default")) for k, v in schema.items()}
model, tok = load_model(f"{RESULTS}/runs/smollm2-135m/model")
layer = layer_at_depth(cfg["layer_relative_depth"], len(decoder_layers(model)))
subsets = {s for c in cfg["concepts"] for s in (c.get("positive"), c.get("negative"), c.get("texts")) if s}
concepts = build_concepts(cfg["concepts"], {s: f"{RESULTS}/subsets/{s}/val.parquet" for s in subsets},
                          cfg["passage_chars"], cfg["texts_per_side"])
L, B = cfg["max_length"], cfg["batch_size"]


def masks_of(skip_first: bool, targets=None):
    def groups(ids, mask):
        keep = mask.bool().clone()
        if skip_first:
            keep[:, 0] = False
        if targets is None:
            return [keep]
        has_next = torch.zeros_like(keep)
        has_next[:, :-1] = mask[:, 1:].bool()
        hit = torch.zeros_like(keep)
        hit[:, :-1] = torch.isin(ids[:, 1:], targets)
        return [keep & has_next & hit, keep & has_next & ~hit]
    return groups


def mean(texts, skip_first, targets=None):
    return [m for m, _ in _group_means(model, encode_texts(tok, texts, L), layer, masks_of(skip_first, targets), B, None)]


norms = []
for c in concepts[:1]:
    first = mean(c.heldout_positive, False)[0]
    for ids in encode_texts(tok, c.heldout_positive[:4], L):
        states = {}
        h = decoder_layers(model)[layer].register_forward_hook(lambda m, i, o: states.setdefault("h", o[0] if isinstance(o, tuple) else o))
        with torch.no_grad():
            model(input_ids=torch.tensor([ids]), use_cache=False)
        h.remove()
        n = states["h"][0].double().norm(dim=-1)
        norms.append((float(n[0]), float(n[1:].median()), float(n[1:].max())))
print(f"block {layer}: state norm at position 0 / median / max of the others, 4 texts:",
      "; ".join(f"{a:.0f} / {b:.0f} / {c:.0f}" for a, b, c in norms), flush=True)
print("| concept | first position in the means | |v| | first-order effect | null sd | z |")
print("| --- | --- | ---: | ---: | ---: | ---: |")
for c in concepts:
    heldout = Heldout(positive=encode_texts(tok, c.heldout_positive, L), negative=encode_texts(tok, c.heldout_negative, L),
                      target_ids=target_token_ids(tok, c.target_tokens))
    grads = passage_gradients(model, layer, heldout, B, None)
    ones = np.ones((1, len(heldout.passages)))
    for skip in (False, True):
        if c.vector == "texts":
            v = mean(c.positive, skip)[0] - mean(c.negative, skip)[0]
        else:
            targets = torch.as_tensor(sorted(set(target_token_ids(tok, c.target_tokens))))
            hit, miss = mean(c.positive + c.negative, skip, targets)
            v = hit - miss
        norm = float(v.norm())
        null = isotropic_draws(v.shape[0], 64, norm, 0, c.name)
        slopes = grads.slopes(c.primary_metric, np.vstack([v.numpy()[None], null]), ones)[0]
        print(f"| {c.name} | {'no' if skip else 'yes'} | {norm:.1f} | {slopes[0]:.3g} | {slopes[1:].std(ddof=1):.3g} | "
              f"{float(z_score(slopes[0], slopes[1:])):.1f} |", flush=True)
print(f"total {time.time() - t0:.0f} s")
