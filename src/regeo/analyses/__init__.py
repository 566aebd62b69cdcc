"""The study's questions as analyses (issue 15), on arrays and tables; usable without Snakemake.

- :mod:`regeo.analyses.neighbourhoods`: neighbourhood settling along training (RQ2), low/high
  per-token ID tokens and their cross-seed coherence (Lee et al.)
- :mod:`regeo.analyses.rank_knee`: validation loss of rank-r embeddings and its knee (Kataiwa et al.)
- :mod:`regeo.analyses.across_runs`: geometry against performance across runs (RQ3), redundancy
  against model size
- :mod:`regeo.explain` (beside this package): the reading of one point of a space (RQ1)
"""
