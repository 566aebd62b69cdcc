"""The data stages on a corpus larger than the memory bound of every job that reads it.

The corpus (synthetic, regeo.data.synthetic) holds twice as much text as the bound asserted on
each job's peak resident memory, read from the jobs' own benchmark files: a job that loaded the
corpus (or its text) at once could not stay under the bound. The shards are written directly in
corpus_shard's output form, so the test starts at the corpus index; corpus_shard's own pieces are
tested in tests/data/test_fineweb.py, and its memory at 100k and 400k documents is measured in
docs/benchmarks.md.
"""

from __future__ import annotations

import json

from regeo.job_costs import read_benchmarks
from regeo.data.synthetic import write_synthetic_corpus
from snakemake_helpers import snakemake, write_config

# Peak RSS of one job, MB: the interpreter with pandas and pyarrow is ~110-250 MB of it.
BOUND_MB = 400
SHARDS = 4


def test_no_data_job_holds_the_corpus(tmp_path):
    corpus = write_synthetic_corpus(tmp_path / "results/corpus/shards", n_documents=360_000, n_files=SHARDS,
                                    as_shards=True)
    assert corpus["chars"] >= 2 * BOUND_MB * 2**20  # the text alone, before any Python object overhead
    write_config(tmp_path, {"corpus": {"source": "local", "paths": ["data/*.parquet"], "num_shards": SHARDS},
                            "registers": {"method": "precomputed"}})
    stats = [f"results/subsets/{name}/stats.json" for name in ("ne", "NA")]
    snakemake(tmp_path, *stats)

    jobs = read_benchmarks(tmp_path / "results/benchmarks")
    assert sorted(set(jobs["rule"])) == ["corpus", "register_probabilities", "registers", "subset"]
    assert len(jobs) == 1 + SHARDS + 1 + 2
    over = jobs[jobs["max_rss"] > BOUND_MB]
    assert over.empty, f"jobs over {BOUND_MB} MB on a corpus of {corpus['chars'] / 2**20:.0f} MB:\n{over}"
    for path in stats:  # and they did their work
        subset = json.loads((tmp_path / path).read_text())
        assert subset["train"]["documents"] > 0 and subset["registers"][subset["subset"]]["pool_documents"] > 60_000
