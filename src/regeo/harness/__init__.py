"""Benchmark scores of the final models through EleutherAI's lm-evaluation-harness (issue 30).

Named ``harness`` so that it is never mistaken for ``benchmarks/`` (the repository's performance
scripts) or :mod:`regeo.benchmarks` (Snakemake's per-job timing files). One job per module:

- :mod:`~regeo.harness.local_tasks`: regeo's own task names, known before their files exist.
- :mod:`~regeo.harness.sentences`: held-out text cut into sentences.
- :mod:`~regeo.harness.next_sentence`: multiple-choice items built from those sentences.
- :mod:`~regeo.harness.task_files`: the items as harness tasks (jsonl + task YAML) on disk.
- :mod:`~regeo.harness.task_lookup`: the harness's task configs looked up by name, lm_eval unimported.
- :mod:`~regeo.harness.validation`: task names checked before any job (``task_problems``).
- :mod:`~regeo.harness.offline`: the hub switched off for the duration of one call.
- :mod:`~regeo.harness.run`: one saved model through ``lm_eval.simple_evaluate``.
- :mod:`~regeo.harness.proxies`: continuous scores from the per-sample log-likelihoods.
- :mod:`~regeo.harness.table`: every (model, task, metric) as one tidy table.
- :mod:`~regeo.harness.config`: the config's ``harness`` section as dataclasses.
- :mod:`~regeo.harness.jobs`: the entry points the pipeline's rules call.

Nothing here imports lm_eval at import time: the import is slow, and the dry run's check of the
task names never needs it.
"""
