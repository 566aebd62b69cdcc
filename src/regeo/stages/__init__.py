"""Pipeline stages: each function takes the sub-config a rule passes in ``params`` and file paths.

Snakemake scripts only unpack the ``snakemake`` object and call one of these, so every stage is
also callable (and tested) without Snakemake.
"""
