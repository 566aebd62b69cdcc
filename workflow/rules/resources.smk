# Each job's declared memory and time (regeo.resources), and where GPU jobs go on SLURM.
from regeo.resources import (
    harness_mem_mb,
    data_mem_mb,
    local_rules,
    steering_judge_mem_mb,
    steering_mem_mb,
    train_mem_mb,
    train_runtime_minutes,
)
from regeo.train.presets import resolve_preset


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


def steering_memory(wildcards, attempt):
    """Host memory of a steering pair job (regeo.resources.steering_mem_mb), at the pair's own
    batch size and length."""
    s = steering_params(wildcards.source, wildcards.target)
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


def steering_judge_memory(wildcards, attempt):
    """Host memory of a judge job (regeo.resources.steering_judge_mem_mb): the target model, the
    pair's batches, and the register classifier when it judges."""
    s = steering_params(wildcards.source, wildcards.target)
    model = (
        resolve_preset(RUNS[wildcards.target].preset, config["training"]["presets"])
        if wildcards.target in TRAINED_RUNS
        else None
    )
    return steering_judge_mem_mb(
        model,
        VOCAB_SIZE,
        s["batch_size"],
        s["max_length"],
        config["steering"]["judge"]["judge"] == "classifier",
        attempt=attempt,
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


def harness_memory(wildcards, attempt):
    """Host memory of one model's benchmark job (regeo.resources.harness_mem_mb)."""
    run = wildcards.run
    model = (
        resolve_preset(RUNS[run].preset, config["training"]["presets"])
        if run in TRAINED_RUNS
        else None
    )
    return harness_mem_mb(
        model,
        VOCAB_SIZE,
        config["harness"]["batch_size"],
        config["training"]["seq_len"],
        attempt=attempt,
    )
