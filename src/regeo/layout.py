"""The one map of ``results/``: where every step's files live, for the rules, the stages, ``regeo
explain`` and the tests.

Each function takes the names that place a file (a run, a subset, a shard, a pair) and returns its
path under ``root`` (``results`` by default, relative to the workflow's directory); called with a
wildcard such as ``"{run}"`` it returns the rule's pattern. Torch-free and free of the rest of
regeo, so that the workflow imports it when it parses.
"""

from __future__ import annotations

RESULTS = "results"


def _at(root: str, *parts: str) -> str:
    return "/".join((str(root), *parts))


# --- corpus and subsets -----------------------------------------------------------------------

def corpus_shard(shard: str, root: str = RESULTS) -> str:
    return _at(root, "corpus", "shards", f"{shard}.parquet")


def corpus_index(root: str = RESULTS) -> str:
    return _at(root, "corpus", "index.parquet")


def probabilities(shard: str, root: str = RESULTS) -> str:
    return _at(root, "corpus", "probabilities", f"{shard}.parquet")


def probabilities_state(shard: str, root: str = RESULTS) -> str:
    """The classifier's resumable state of one shard (never a declared output: Snakemake would
    delete it before a retry)."""
    return _at(root, "corpus", "probabilities", f"{shard}.state.parquet")


def registers_table(root: str = RESULTS) -> str:
    return _at(root, "corpus", "registers.parquet")


def subset_split(subset: str, split: str, root: str = RESULTS) -> str:
    """A subset's ``train`` or ``val`` documents."""
    return _at(root, "subsets", subset, f"{split}.parquet")


def subset_stats(subset: str, root: str = RESULTS) -> str:
    return _at(root, "subsets", subset, "stats.json")


# --- tokenizer and token files ----------------------------------------------------------------

def tokenizer_dir(root: str = RESULTS) -> str:
    """The one tokenizer of every trained run."""
    return _at(root, "tokenizer")


def token_file(subset: str, split: str, root: str = RESULTS) -> str:
    """A subset's ``train`` or ``val`` token ids."""
    return _at(root, "tokens", subset, f"{split}.bin")


def token_counts(subset: str, root: str = RESULTS) -> str:
    """Per-token counts (token_id, count) of a subset's training tokens."""
    return _at(root, "tokens", subset, "counts.parquet")


def token_meta(subset: str, root: str = RESULTS) -> str:
    return _at(root, "tokens", subset, "meta.json")


# --- runs -------------------------------------------------------------------------------------

def run_dir(run: str, root: str = RESULTS) -> str:
    return _at(root, "runs", run)


def dumps_dir(run: str, root: str = RESULTS) -> str:
    return _at(run_dir(run, root), "embeddings")


def dump(run: str, name: str, root: str = RESULTS) -> str:
    """One embedding dump of a run; ``name`` from regeo.dumps.dump_name."""
    return _at(dumps_dir(run, root), name)


def model_dir(run: str, root: str = RESULTS) -> str:
    """A run's final model (save_pretrained form; an external run's saved for steering)."""
    return _at(run_dir(run, root), "model")


def step_models_dir(run: str, root: str = RESULTS) -> str:
    """A trained run's models saved during training (``training.save_models_at``)."""
    return _at(run_dir(run, root), "models")


def step_model_dir(run: str, name: str, root: str = RESULTS) -> str:
    """One of them; ``name`` from regeo.dumps.step_model_name."""
    return _at(step_models_dir(run, root), name)


def state_dir(run: str, root: str = RESULTS) -> str:
    """A trained run's resumable state (never a declared output)."""
    return _at(run_dir(run, root), "state")


def external_state_dir(run: str, root: str = RESULTS) -> str:
    """An external run's resumable dumping state (never a declared output)."""
    return _at(run_dir(run, root), "external_state")


def train_log(run: str, root: str = RESULTS) -> str:
    return _at(run_dir(run, root), "train_log.csv")


def external_tokenizer_dir(run: str, root: str = RESULTS) -> str:
    """An external run's own tokenizer, saved beside its dumps."""
    return _at(run_dir(run, root), "tokenizer")


# --- geometry, evaluation, steering, analyses, figures ------------------------------------------

def id_table(run: str, root: str = RESULTS) -> str:
    return _at(root, "geometry", "id", f"{run}.parquet")


def id_per_token(run: str, root: str = RESULTS) -> str:
    return _at(root, "geometry", "id", f"{run}.tokens.parquet")


def properties_table(run: str, root: str = RESULTS) -> str:
    """A run's embedding-space properties at every dump (rule properties)."""
    return _at(root, "geometry", "properties", f"{run}.parquet")


def geometry_table(name: str, root: str = RESULTS) -> str:
    """A cross-model geometry table: id_comparison, global_similarity, lle_comparison, ..."""
    return _at(root, "geometry", f"{name}.parquet")


def similarity_over_training(run: str, root: str = RESULTS) -> str:
    return _at(root, "geometry", "similarity_over_training", f"{run}.parquet")


def evaluation_table(root: str = RESULTS) -> str:
    return _at(root, "eval", "cross_register.parquet")


def harness_tasks_dir(root: str = RESULTS) -> str:
    """regeo's local benchmark tasks (jsonl and task YAML), built from the subsets' val documents."""
    return _at(root, "harness", "tasks")


def benchmark_table(run: str, root: str = RESULTS) -> str:
    """One final model's lm-evaluation-harness table (regeo.harness.table)."""
    return _at(root, "harness", "models", f"{run}.parquet")


def benchmark_results(run: str, root: str = RESULTS) -> str:
    """The harness's own results JSON of one final model (without the per-sample logs)."""
    return _at(root, "harness", "models", f"{run}.results.json")


def benchmark_step_table(run: str, name: str, root: str = RESULTS) -> str:
    """The harness table of one model saved during training; ``name`` from regeo.dumps.step_model_name."""
    return _at(root, "harness", "steps", run, f"{name}.parquet")


def benchmarks_over_training_table(root: str = RESULTS) -> str:
    """Every saved step's benchmark rows, the final models' beside them."""
    return _at(root, "harness", "over_training.parquet")


def benchmarks_table(root: str = RESULTS) -> str:
    """Every final model's benchmark rows in one table."""
    return _at(root, "harness", "benchmarks.parquet")


def steering_pair(source: str, target: str, kind: str | None = None, root: str = RESULTS) -> str:
    """A pair job's table: the sweep (``kind`` None) or its ``summary``, ``depth``, ``next_token``,
    ``top_tokens``; ``samples`` is its generations (jsonl)."""
    suffix = ".parquet" if kind is None else ".samples.jsonl" if kind == "samples" else f".{kind}.parquet"
    return _at(root, "steering", f"{source}__{target}{suffix}")


def steering_vectors(source: str, target: str, root: str = RESULTS) -> str:
    return _at(root, "steering", "vectors", f"{source}__{target}.safetensors")


def steering_maps(source: str, target: str, root: str = RESULTS) -> str:
    return _at(root, "steering", "maps", f"{source}__{target}.safetensors")


def steering_table(name: str, root: str = RESULTS) -> str:
    """A table over every pair (``transfer.parquet``, ``top_tokens.html``, ...), named with its suffix."""
    return _at(root, "steering", name)


def analyses_table(name: str, root: str = RESULTS) -> str:
    return _at(root, "analyses", f"{name}.parquet")


def figure(name: str, suffix: str = "pdf", root: str = RESULTS) -> str:
    return _at(root, "figures", f"{name}.{suffix}")


def manifest(root: str = RESULTS) -> str:
    return _at(root, "manifest.json")


def job_benchmark(rule: str, wildcards: str | None = None, root: str = RESULTS) -> str:
    """Snakemake's benchmark file of one job (time and memory), read by regeo.job_costs."""
    return _at(root, "benchmarks", rule, f"{wildcards}.tsv") if wildcards else _at(root, "benchmarks", f"{rule}.tsv")
