# The validated config and the run table: what every other rule file reads. The rule graph
# depends on the config alone. Paths: paths.smk (regeo.layout); params: params.smk
# (regeo.rule_params); resources: resources.smk (regeo.resources); the default targets: targets.smk.
import os
import re
import sys
from pathlib import Path

sys.path.insert(0, str(REPO_ROOT / "src"))
# The conda environments (envs/*.yaml, --sdm conda) install regeo from here: conda runs their pip
# sections from Snakemake's copies in .snakemake/conda/, where no relative path finds the checkout.
os.environ.update(REGEO_SOURCE=str(REPO_ROOT))

from snakemake.exceptions import WorkflowError

from regeo import layout
from regeo.config import ConfigError, validate_config
from regeo.dumps import dump_name, step_model_name
from regeo.external import step_models_at
from regeo.runs import (
    concept_subsets,
    external_runs,
    runs as trained_runs,
    steering_pairs,
    subset_names,
)
from regeo.train.schedule import checkpoint_steps

try:
    _validated = validate_config(config)
except ConfigError as err:
    raise WorkflowError(str(err)) from None
config.clear()
config.update(_validated)

TRAINED_RUNS = trained_runs(config)
# Models from outside (config `external`, e.g. Pythia's checkpoints): dumped, never trained.
EXTERNAL_RUNS = external_runs(config)
# Every run the analyses iterate over: trained first, then external.
RUNS = {**TRAINED_RUNS, **EXTERNAL_RUNS}
SUBSETS = subset_names(config)
STEERING_PAIRS = steering_pairs(config)  # ordered (source, target) run names
STEERING_SUBSETS = concept_subsets(config)
SHARDS = [f"{i:05d}" for i in range(config["corpus"]["num_shards"])]
# The steps every trained run dumps at: the one computation of the schedule in the workflow.
DUMP_STEPS = checkpoint_steps(
    config["training"]["steps"], config["training"]["checkpoint_every"]
)
DUMP_NAMES = [dump_name(step) for step in DUMP_STEPS]
# The steps every trained run also saves its whole model at (off by default), for the harness.
STEP_MODELS = {
    step_model_name(step): step for step in sorted(config["training"]["save_models_at"])
}
# An external run's checkpoints saved whole (its save_models_at), by run: name -> step.
EXTERNAL_STEP_MODELS = {
    entry["name"]: {step_model_name(s): s for s in step_models_at(entry)}
    for entry in config["external"]
    if entry.get("save_models_at")
}


def step_models(run):
    """name -> step of the models a run saved during training (or an external run's saved
    checkpoints), for the harness over training."""
    return STEP_MODELS if run in TRAINED_RUNS else EXTERNAL_STEP_MODELS.get(run, {})


# Every (run, step model name) the harness scores over training.
SAVED_STEP_MODELS = [(run, name) for run in RUNS for name in step_models(run)]
OVER_TRAINING_RUNS = {
    run: RUNS[run] for run in dict.fromkeys(r for r, _ in SAVED_STEP_MODELS)
}


def final_step(run):
    """The step of a run's final model: training.steps, or an external run's last step."""
    return config["training"]["steps"] if run in TRAINED_RUNS else max(RUNS[run].steps)


VOCAB_SIZE = (
    config["tokenizer"]["vocab_size"] if config["tokenizer"]["kind"] == "bpe" else 50257
)


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


def run_subset(run):
    return RUNS[run].subset


def steering_run(run):
    """A run's name, subset, preset and seed, for the steering tables."""
    return {"name": run, **run_table()[run]}


def steering_pair_runs():
    """The runs of the steering pairs, each once, in order of appearance."""
    return list(dict.fromkeys(run for pair in STEERING_PAIRS for run in pair))


def batch_schedule(run):
    """What fixes which tokens a trained run has seen by each dump: its seed, batches and dump
    steps (None for an external run)."""
    if run in EXTERNAL_RUNS:
        return None
    t = config["training"]
    return {
        "seed": RUNS[run].batch_seed,
        "batch_size": t["batch_size"],
        "seq_len": t["seq_len"],
        "steps": DUMP_STEPS,
    }
