# Each job's declared memory and time (regeo.resources), and where GPU jobs go on SLURM.
from regeo.costs import Costs, declared_minutes
from regeo.resources import (
    data_mem_mb,
    local_rules,
    train_mem_mb,
)
from regeo.train.presets import resolve_preset


def train_runtime(wildcards, attempt):
    """regeo.resources' estimate, at most resources.max_job_minutes (regeo.costs.Costs.train_minutes)."""
    model = resolve_preset(RUNS[wildcards.run].preset, config["training"]["presets"])
    return COSTS.train_minutes(model, attempt=attempt)


def train_memory(wildcards, attempt):
    model = resolve_preset(RUNS[wildcards.run].preset, config["training"]["presets"])
    return train_mem_mb(model, VOCAB_SIZE, attempt=attempt)


def data_memory(wildcards, attempt):
    return data_mem_mb(attempt=attempt)


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


# Every heavy job's predicted time and memory (regeo.costs), and the batches and blocks its work is
# split into so that no job declares more than resources.max_job_minutes.
COSTS = Costs(config)
JOB_COSTS = COSTS.index()
EVALUATE_BATCHES = COSTS.evaluate_batches()
HARNESS_BATCHES = COSTS.harness_batches()
PAIR_BLOCKS = {
    "global_similarity": COSTS.global_similarity_blocks(),
    "lle_comparison": COSTS.lle_blocks(),
}
for _job in COSTS.over_limit():
    logger.warning(
        f"regeo.costs: {_job.rule} {_job.name} declares {_job.runtime} minutes, over "
        f"resources.max_job_minutes = {COSTS.max_minutes}: one model or pair, no smaller job exists"
    )


def analysis_gpu(rule):
    """1 where resources.analysis_gpu is on and the rule's work is large (regeo.costs.Costs.gpu_rules)."""
    return int(rule in COSTS.gpu_rules)


def _job_key(rule, wildcards):
    for name in ("run", "batch", "block"):
        if name in wildcards.keys():
            return wildcards[name]
    if "source" in wildcards.keys():
        return f"{wildcards.source}__{wildcards.target}"
    return rule


def job_runtime(rule):
    """The rule's declared minutes per job: regeo.costs' prediction x SAFETY, x the attempt."""

    def runtime(wildcards, attempt):
        return declared_minutes(
            JOB_COSTS[rule, _job_key(rule, wildcards)].seconds, attempt
        )

    return runtime


def job_memory(rule):
    """The rule's declared host memory per job (regeo.costs), x the attempt."""

    def mem_mb(wildcards, attempt):
        return JOB_COSTS[rule, _job_key(rule, wildcards)].mem_mb * attempt

    return mem_mb


def harness_step_memory(wildcards, attempt):
    """Host memory of one saved step model's benchmark job (regeo.costs, a batch of one)."""
    return COSTS.harness_mem_mb([wildcards.run], attempt)
