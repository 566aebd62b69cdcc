"""Peak memory and throughput of the data stages (corpus shards to token files) on synthetic
corpora of growing size, from the jobs' own Snakemake benchmark files. Run by hand, e.g.

    .venv/bin/python benchmarks/bench_data.py --documents 100000 400000 --workdir /tmp/regeo-bench

Each size gets a working directory with a synthetic local corpus (regeo.data.synthetic: ~2.4 kB
documents, precomputed register probabilities, files of 12,500 documents) and a config merged
over the default: ``corpus.source: local`` in ``--shards`` shards (the same number at every size,
so each shard grows with the corpus), the default's five subsets at ``--train-tokens`` each.
The workflow runs up to the token files (``--until tokens``). Prints a markdown table per size
and the growth of each rule's peak memory from the smallest size to the largest.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

from regeo.job_costs import read_benchmarks
from regeo.data.synthetic import write_synthetic_corpus

REPO = Path(__file__).resolve().parents[1]
DATA_RULES = ["corpus_shard", "corpus", "register_probabilities", "registers", "subset", "tokenizer", "tokens"]


def run_size(workdir: Path, documents: int, shards: int, train_tokens: int, cores: int) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    marker = workdir / "data" / "corpus.json"
    if marker.is_file() and json.loads(marker.read_text())["documents"] == documents:
        corpus = json.loads(marker.read_text())  # kept from an earlier call: the workflow reruns nothing it need not
    else:
        corpus = write_synthetic_corpus(workdir / "data", documents, n_files=max(shards, documents // 12_500))
        marker.write_text(json.dumps(corpus))
    generated = time.perf_counter() - started
    config = {
        "corpus": {"source": "local", "paths": ["data/*.parquet"], "id_field": "id", "num_shards": shards},
        "registers": {"method": "precomputed"},
        # pseudo-words take ~5.6 characters a token of the 8k BPE (English text ~4)
        "subsets": {"train_tokens": train_tokens, "val_tokens": train_tokens // 10, "chars_per_token": 6.0},
    }
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
                    str(workdir), "--configfile", str(workdir / "config.yaml"), "--cores", str(cores),
                    "--until", "tokens", "--quiet"], check=True)
    wall = time.perf_counter() - started
    jobs = read_benchmarks(workdir / "results" / "benchmarks")
    return {"documents": documents, "chars": corpus["chars"], "shards": shards, "generate_s": generated,
            "workflow_s": wall, "jobs": jobs}


def summary(result: dict) -> list[dict]:
    rows = []
    mb = result["chars"] / 1e6
    for rule in DATA_RULES:
        jobs = result["jobs"][result["jobs"]["rule"] == rule]
        if jobs.empty:
            continue
        row = {"rule": rule, "jobs": len(jobs), "max_rss_mb": round(jobs["max_rss"].max()),
               "s_per_job": round(jobs["s"].mean(), 1), "s_total": round(jobs["s"].sum(), 1)}
        # corpus-wide rules: corpus text per second of job time; the others work on the subsets
        if rule in ("corpus_shard", "corpus", "register_probabilities", "registers"):
            row["corpus_mb_per_s"] = round(mb / jobs["s"].sum(), 1)
            row["documents_per_s"] = round(result["documents"] / jobs["s"].sum())
        rows.append(row)
    return rows


def markdown(rows: list[dict]) -> str:
    columns = ["rule", "jobs", "max_rss_mb", "s_per_job", "s_total", "corpus_mb_per_s", "documents_per_s"]
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, nargs="+", default=[100_000, 400_000])
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--train-tokens", type=int, default=1_000_000)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args()
    results = {}
    for documents in args.documents:
        result = run_size(args.workdir / f"{documents}", documents, args.shards, args.train_tokens, args.cores)
        rows = summary(result)
        results[documents] = rows
        print(f"\n{documents:,} documents, {result['chars'] / 1e6:,.0f} MB of text, {args.shards} shards: "
              f"workflow {result['workflow_s']:.0f} s (corpus generated in {result['generate_s']:.0f} s)\n")
        print(markdown(rows))
    small, large = min(results), max(results)
    growth = {r["rule"]: round(r["max_rss_mb"] / s["max_rss_mb"], 2)
              for s in results[small] for r in results[large] if r["rule"] == s["rule"]}
    print(f"\npeak-memory growth {small:,} -> {large:,} documents: {json.dumps(growth)}")


if __name__ == "__main__":
    main()
