# One causal LM per run = (subset, preset, seed), with embedding dumps on a Pythia-style schedule.
# The resumable state lives in params.state_dir, never in the outputs: Snakemake deletes a job's
# outputs before it starts, and a retry must find the state of the killed attempt.


rule train:
    input:
        tokenizer=layout.tokenizer_dir(),
        train=lambda wc: layout.token_file(run_subset(wc.run), "train"),
        val=lambda wc: layout.token_file(run_subset(wc.run), "val"),
        meta=lambda wc: layout.token_meta(run_subset(wc.run)),
    output:
        dumps=[layout.dump("{run}", name) for name in DUMP_NAMES],
        model=directory(layout.model_dir("{run}")),
        log_csv=layout.train_log("{run}"),
        step_models=[
            directory(layout.step_model_dir("{run}", name)) for name in STEP_MODELS
        ],
    log:
        "logs/train/{run}.log",
    benchmark:
        layout.job_benchmark("train", "{run}")
    wildcard_constraints:
        # External runs have dumps too (external.smk), never a training job.
        run=_alternatives(TRAINED_RUNS),
    conda:
        "../../envs/train.yaml"
    threads: config["training"]["threads"]
    # The GPU and signal requests live here, not in the SLURM profile: `--set-resources
    # train:gpu=4` on the command line replaces the profile's whole set-resources mapping, but
    # only this one value of the rule's. Locally gpu is not limited; other executors ignore
    # slurm_extra.
    resources:
        runtime=train_runtime,
        mem_mb=train_memory,
        gpu=1,
        # SIGTERM five minutes before the time limit, to the job step where training runs: time
        # to save a large model's state (at the limit itself SLURM allows only KillWait, often
        # 30 s, before SIGKILL). Training saves, exits, and the retry (longer limit) resumes.
        slurm_extra="--signal=TERM@300",
    params:
        train=lambda wc: train_params(wc.run),
        dumps_dir=lambda wc: layout.dumps_dir(wc.run),
        state_dir=lambda wc: layout.state_dir(wc.run),
    script:
        "../scripts/train.py"
