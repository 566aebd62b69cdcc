"""Steering vectors and their transfer between models through token embeddings (Emb2Emb).

Usable without Snakemake; nothing runs at import time. One job per module:

- :mod:`regeo.steering.text`: token ids of texts, padded batches, target-token strings to ids
- :mod:`regeo.steering.inject`: decoder-layer access, the ``steer`` hook context, layer matching
- :mod:`regeo.steering.vectors`: contrastive activation addition (texts, or a target-token set)
- :mod:`regeo.steering.activations`: a concept's vector texts as per-unit sums, every relabelled or resampled vector from them
- :mod:`regeo.steering.permutation`: the label-permutation null (balanced splits; targets moved within passages)
- :mod:`regeo.steering.emb2emb`: the least-squares ``LinearMap`` between two models' token embeddings
- :mod:`regeo.steering.map_replicates`: a map refit on bootstrap draws of its fit units; re-paired tokens
- :mod:`regeo.steering.hidden`: hidden states of two models paired by position
- :mod:`regeo.steering.maps`: every map of a pair (Emb2Emb rows and variants, shuffled, the ceiling) with its checks
- :mod:`regeo.steering.conditions`: the vectors compared in the target, per replicate, and their nulls
- :mod:`regeo.steering.score`: log-likelihood and target-mass effects per passage, generations
- :mod:`regeo.steering.first_order`: per-passage gradients, every vector's first-order effect
- :mod:`regeo.steering.next_token`: the next-token distribution under steering (KL, top tokens)
- :mod:`regeo.steering.effects`: swept and first-order effects, tests against the nulls, ratios
- :mod:`regeo.steering.bootstrap`: replicate weights and percentile intervals
- :mod:`regeo.steering.concepts`: a concept's texts and target tokens, validated; config concepts to Concepts
- :mod:`regeo.steering.passages`: val documents cut into passages, split into vector, held-out and ceiling sides
- :mod:`regeo.steering.config`: ``SteeringConfig``
- :mod:`regeo.steering.concept_tables`: one concept's share of a pair job
- :mod:`regeo.steering.transfer`: ``run_transfer``, one (source, target) transfer job
- :mod:`regeo.steering.summary`: the tables over all pairs, p adjusted per family
- :mod:`regeo.steering.readings`: what each saved vector reads as

Method: Lee et al. 2025 (Emb2Emb), ../shared/DESIGN.md "Emb2Emb"; contrastive activation
addition after Rimsky et al. 2024 (https://arxiv.org/abs/2312.06681).
"""
