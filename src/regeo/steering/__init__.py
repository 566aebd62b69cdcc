"""Steering vectors and their transfer between models through token embeddings (Emb2Emb).

Usable without Snakemake; nothing runs at import time. One job per module:

- :mod:`regeo.steering.text`: token ids of texts, padded batches, target-token strings to ids
- :mod:`regeo.steering.inject`: decoder-layer access, the ``steer`` hook context, layer matching
- :mod:`regeo.steering.vectors`: contrastive activation addition (texts, or a target-token set)
- :mod:`regeo.steering.emb2emb`: the least-squares ``LinearMap`` between two models' token embeddings
- :mod:`regeo.steering.score`: log-likelihood and target-mass effects, efficiencies, generations
- :mod:`regeo.steering.concepts`: a concept's texts and target tokens, validated; config concepts to Concepts
- :mod:`regeo.steering.config`: ``SteeringConfig``
- :mod:`regeo.steering.passages`: val documents cut into passages, split into vector and held-out sides
- :mod:`regeo.steering.transfer`: ``run_transfer``, one (source, target) transfer job
- :mod:`regeo.steering.summary`: per pair and concept, the efficiency over the alpha sweep

Method: Lee et al. 2025 (Emb2Emb), ../shared/DESIGN.md "Emb2Emb"; contrastive activation
addition after Rimsky et al. 2024 (https://arxiv.org/abs/2312.06681).
"""
