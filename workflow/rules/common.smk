# Config validation and the helpers every stage uses. The rule graph depends on the config alone.
import os
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
# The conda environments (envs/*.yaml, --sdm conda) install regeo from here: conda runs their pip
# sections from Snakemake's copies in .snakemake/conda/, where no relative path finds the checkout.
os.environ.update(REGEO_SOURCE=str(Path(workflow.basedir)))

from snakemake.exceptions import WorkflowError

from regeo.config import ConfigError, runs as config_runs, subset_names, validate_config
from regeo.config import external_runs
from regeo.config import concept_subsets, steering_pairs
from regeo.resources import (
    data_mem_mb,
    local_rules,
    steering_mem_mb,
    train_mem_mb,
    train_runtime_minutes,
)
from regeo.train.config import rule_training_params
from regeo.train.presets import resolve_preset
from regeo.dumps import dump_name
from regeo.train.schedule import checkpoint_steps

try:
    _validated = validate_config(config)
except ConfigError as err:
    raise WorkflowError(str(err)) from None
config.clear()
config.update(_validated)

TRAINED_RUNS = config_runs(config)
# Models from outside (config `external`, e.g. Pythia's checkpoints): dumped, never trained.
EXTERNAL_RUNS = external_runs(config)
# Every run the analyses iterate over: trained first, then external.
RUNS = {**TRAINED_RUNS, **EXTERNAL_RUNS}
SUBSETS = subset_names(config)
STEERING_PAIRS = steering_pairs(config)  # ordered (source, target) run names
SHARDS = [f"{i:05d}" for i in range(config["corpus"]["num_shards"])]
SUBSET_SHARES = {
    **{name: {name: 1.0} for name in config["subsets"]["registers"]},
    **config["subsets"]["mixes"],
}
DUMP_NAMES = [
    dump_name(step)
    for step in checkpoint_steps(
        config["training"]["steps"], config["training"]["checkpoint_every"]
    )
]


def _alternatives(names):
    return "|".join(re.escape(n) for n in names)


wildcard_constraints:
    run=_alternatives(RUNS),
    subset=_alternatives(SUBSETS),
    shard=r"\d{5}",


def run_table(runs=None):
    """run -> {subset, preset, seed}, for tables and figures (an external run's subset is its
    name and its preset the model it loads)."""
    return {
        name: {"subset": r.subset, "preset": r.preset, "seed": r.seed}
        for name, r in (RUNS if runs is None else runs).items()
    }


def probability_params():
    """The registers values that change the label probabilities (the classifier's output)."""
    keys = ["method"]
    if config["registers"]["method"] == "classifier":
        keys += [
            "classifier_model",
            "classifier_revision",
            "classifier_tokenizer",
            "classifier_batch_size",
        ]
    if config["registers"]["method"] == "precomputed":
        keys += ["probabilities_field"]
    if config["registers"]["method"] == "column":
        keys += ["label_field", "label_map", "unmapped_label"]
    if config["registers"]["method"] == "random":
        keys += ["random_labels", "random_seed"]
    return {k: config["registers"][k] for k in keys}


def labeling_params():
    """The registers values that turn probabilities into labels and classes."""
    keys = ["threshold", "keep_subregisters", "keep_hybrids", "min_chars"]
    return {k: config["registers"][k] for k in keys}


def subset_params():
    keys = ["train_tokens", "val_tokens", "chars_per_token", "seed"]
    return {k: config["subsets"][k] for k in keys}


def tokenizer_params():
    tok = config["tokenizer"]
    if tok["kind"] == "bpe":
        return {k: tok[k] for k in ("kind", "vocab_size", "sample_chars")}
    return {"kind": "gpt2", "gpt2_source": tok["gpt2_source"]}


def train_params(run):
    """Everything that shapes one run's trajectory: not the run groups, the other presets or
    the execution settings (the train script reads those from the config: they rerun nothing).
    """
    r = RUNS[run]
    training = rule_training_params(config["training"])
    model = resolve_preset(r.preset, config["training"]["presets"])
    params = {
        "run": run,
        "preset": r.preset,
        "seed": r.seed,
        "model": model,
        "training": training,
    }
    if (
        r.data_seed is not None
    ):  # absent otherwise: runs from before data seeds keep their params
        params["data_seed"] = r.data_seed
    return params


VOCAB_SIZE = (
    config["tokenizer"]["vocab_size"] if config["tokenizer"]["kind"] == "bpe" else 50257
)


def train_runtime(wildcards, attempt):
    t = config["training"]
    model = resolve_preset(RUNS[wildcards.run].preset, t["presets"])
    return train_runtime_minutes(
        model, VOCAB_SIZE, t["steps"], t["batch_size"], t["seq_len"], attempt=attempt
    )


def train_memory(wildcards, attempt):
    model = resolve_preset(RUNS[wildcards.run].preset, config["training"]["presets"])
    return train_mem_mb(model, VOCAB_SIZE, attempt=attempt)


def data_memory(wildcards, attempt):
    return data_mem_mb(attempt=attempt)


def run_dumps(run):
    """A run's embedding dumps, in step order: the training schedule, or an external run's steps."""
    names = (
        [dump_name(step) for step in EXTERNAL_RUNS[run].steps]
        if run in EXTERNAL_RUNS
        else DUMP_NAMES
    )
    return [f"results/runs/{run}/embeddings/{name}" for name in names]


def batch_schedule(run):
    """What fixes which tokens a trained run has seen by each dump: its seed, batches and dump
    steps (None for an external run)."""
    if run in EXTERNAL_RUNS:
        return None
    t = config["training"]
    steps = checkpoint_steps(t["steps"], t["checkpoint_every"])
    return {
        "seed": RUNS[run].batch_seed,
        "batch_size": t["batch_size"],
        "seq_len": t["seq_len"],
        "steps": steps,
    }


def run_train_tokens(run):
    """A trained run's token file and its metadata; none for an external run (its data is not ours)."""
    if run in EXTERNAL_RUNS:
        return []
    subset = run_subset(run)
    return [f"results/tokens/{subset}/train.bin", f"results/tokens/{subset}/meta.json"]


def run_subset(run):
    return RUNS[run].subset


def run_tokenizer(run):
    """The tokenizer directory of a run's model (one shared by every trained run; an external
    run's own, saved beside its dumps)."""
    if run in EXTERNAL_RUNS:
        return f"results/runs/{run}/tokenizer"
    return "results/tokenizer"


def run_counts(run):
    """Per-token counts of a run's training data (token_id, count), for the seen-token filter;
    None for an external run, whose training data is not ours: its analyses use every token.
    """
    if run in EXTERNAL_RUNS:
        return None
    return f"results/tokens/{run_subset(run)}/counts.parquet"


def model_dirs(runs):
    """run -> its final model directory (save_pretrained form)."""
    return {run: f"results/runs/{run}/model" for run in runs}


def val_bins():
    """subset -> its val token file."""
    return {subset: f"results/tokens/{subset}/val.bin" for subset in SUBSETS}


def val_documents(subsets):
    """subset -> its val documents."""
    return {subset: f"results/subsets/{subset}/val.parquet" for subset in subsets}


def final_dump(run):
    return run_dumps(run)[-1]


def init_dump(run):
    """A run's dump at initialisation (step 0), the similarity null; None for an external run
    without one (a released model alone: its only dump is the final one)."""
    first = run_dumps(run)[0]
    if run in EXTERNAL_RUNS and (
        EXTERNAL_RUNS[run].steps[0] != 0 or len(EXTERNAL_RUNS[run].steps) == 1
    ):
        return None
    return first


def final_models():
    """run -> its final dump, tokenizer and counts, for the cross-model rules (regeo.stages.cross_model)."""
    return {
        run: {
            **fields,
            "dump": final_dump(run),
            "init_dump": init_dump(run),
            "tokenizer": run_tokenizer(run),
            "counts": run_counts(run),
        }
        for run, fields in run_table().items()
    }


def steering_tables(kind=None):
    """Per-pair files of the steering rule: the sweep tables (kind None), or its .summary/.depth tables."""
    suffix = ".parquet" if kind is None else f".{kind}.parquet"
    return [f"results/steering/{a}__{b}{suffix}" for a, b in STEERING_PAIRS]


def steering_outputs():
    """Every steering output: per pair the tables, generations, vectors and maps; the two summaries."""
    per_pair = [
        path
        for a, b in STEERING_PAIRS
        for path in (
            f"results/steering/{a}__{b}.samples.jsonl",
            f"results/steering/vectors/{a}__{b}.safetensors",
            f"results/steering/maps/{a}__{b}.safetensors",
        )
    ]
    tables = steering_tables() + [
        t
        for kind in ("summary", "depth", "next_token", "top_tokens")
        for t in steering_tables(kind)
    ]
    summaries = [
        "transfer.parquet",
        "alignment_depth.parquet",
        "next_token_kl.parquet",
        "top_tokens.parquet",
        "top_tokens.html",
        "vector_readings.parquet",
        "vector_readings.html",
    ]
    return tables + per_pair + [f"results/steering/{name}" for name in summaries]


# The steering values every pair job uses; the pair lists stay out, so adding a pair runs only
# the new pair's job (and the summary), threads is the rule's own directive, and readings_k
# belongs to the readings of the vectors alone.
STEERING_PARAMS = {
    k: v
    for k, v in config["steering"].items()
    if k not in ("pairs", "all_pairs_among", "threads", "readings_k")
}


def steering_pair_runs():
    """The runs of the steering pairs, each once, in order of appearance."""
    return list(dict.fromkeys(run for pair in STEERING_PAIRS for run in pair))


def steering_spaces():
    """What the readings of the steering vectors read of each run in a steering pair: its final
    dump, its tokenizer, its counts and its final model (the final norm of the logit lens).
    """
    files = []
    for run in steering_pair_runs():
        files += [final_dump(run), run_tokenizer(run), f"results/runs/{run}/model"]
        files += [c for c in [run_counts(run)] if c]
    return list(dict.fromkeys(files))


def steering_memory(wildcards, attempt):
    """Host memory of a steering pair job (regeo.resources.steering_mem_mb)."""
    s = config["steering"]
    models = [
        (
            resolve_preset(RUNS[run].preset, config["training"]["presets"])
            if run in TRAINED_RUNS
            else None
        )
        for run in (wildcards.source, wildcards.target)
    ]
    return steering_mem_mb(
        models, VOCAB_SIZE, s["batch_size"], s["max_length"], attempt=attempt
    )


STEERING_SUBSETS = concept_subsets(config)


def steering_run(run):
    """A run's name, subset, preset and seed, for the steering tables."""
    return {"name": run, **run_table()[run]}


def neighbourhood_runs():
    """run -> what the neighbourhood analyses read of it: every dump, its per-token IDs."""
    return {
        run: {
            **fields,
            "dumps": run_dumps(run),
            "per_token": f"results/geometry/id/{run}.tokens.parquet",
            "tokenizer": run_tokenizer(run),
            "counts": run_counts(run),
        }
        for run, fields in run_table().items()
    }


FIGURES = [
    "results/figures/register_distribution.pdf",
    "results/figures/id_over_training.pdf",
    "results/figures/id_comparison.pdf",
    "results/figures/cross_register_loss.pdf",
    "results/figures/redundancy_over_training.pdf",
    "results/figures/global_similarity.pdf",
    "results/figures/lle_comparison.pdf",
    "results/figures/similarity_over_training.pdf",
    "results/figures/steering_effects.pdf",
    "results/figures/steering_transfer.pdf",
    "results/figures/steering_alignment.pdf",
    "results/figures/steering_next_token.pdf",
    "results/figures/loss_curves.pdf",
    "results/figures/neighbourhood_settling.pdf",
    "results/figures/low_high_id.pdf",
    "results/figures/rank_knee.pdf",
    "results/figures/rq3_correlations.pdf",
    "results/figures/redundancy_vs_size.pdf",
]

# The tables of the study's analyses (workflow/rules/analyses.smk), beside their figures.
ANALYSES_TABLES = [
    f"results/analyses/{name}.parquet"
    for name in (
        "neighbourhood_settling",
        "neighbourhood_settled",
        "low_high_id",
        "id_coherence",
        "rank_knee",
        "rank_knee_summary",
        "run_variables",
        "rq3_correlations",
        "redundancy_by_size",
    )
]


def final_outputs():
    return (
        FIGURES
        + [f.replace(".pdf", ".png") for f in FIGURES]
        + ["results/eval/cross_register.parquet"]
        + expand("results/geometry/id/{run}.parquet", run=RUNS)
        + ["results/geometry/id_comparison.parquet"]
        + [
            "results/geometry/global_similarity.parquet",
            "results/geometry/lle_comparison.parquet",
        ]
        + expand("results/geometry/similarity_over_training/{run}.parquet", run=RUNS)
        + expand("results/subsets/{subset}/stats.json", subset=SUBSETS)
        + steering_outputs()
        + ANALYSES_TABLES
    )


def send_gpu_rules_to(partition):
    """Every rule that asks for a GPU (``gpu`` > 0 in its resources, or set so on the command
    line) goes to ``partition``, unless the command line names a partition for it
    (``--set-resources train:slurm_partition=long``); the others keep the default partition.
    On a cluster where GPUs and CPUs are separate partitions, the profile's one default
    partition cannot be right for both. Other executors ignore it."""
    if not partition:
        return
    chosen = workflow.resource_settings.overwrite_resources
    for each in workflow.rules:
        gpu = each.resources.get("gpu")
        if gpu is None or "slurm_partition" in chosen.get(each.name, {}):
            continue
        if isinstance(gpu.raw, int) and gpu.raw > 0:
            each.resources["slurm_partition"] = partition
