# External checkpoints (config `external`, e.g. Pythia's step0 ... step143000 branches): each
# revision's embedding matrices in the trained runs' dump format, and the model's tokenizer. One
# job per external run (one rule each: the runs' step lists differ, and a rule's outputs cannot
# depend on its wildcards). The resumable state lives in params.state_dir, as for training.


for _external in EXTERNAL_RUNS.values():

    rule:
        name:
            "external_dump_" + re.sub(r"\W", "_", _external.name)
        output:
            dumps=run_dumps(_external.name),
            tokenizer=directory(run_tokenizer(_external.name)),
        log:
            f"logs/external_dump/{_external.name}.log",
        benchmark:
            layout.job_benchmark("external_dump", _external.name)
        conda:
            "../../envs/train.yaml"
        resources:
            # Downloading and loading a revision of a ~100M model takes a minute or two; a job
            # that runs out of time resumes after its last dump on the retry.
            runtime=max(30, 2 * len(_external.steps)),
            mem_mb=16000,
        params:
            external=_external.settings(),
            state_dir=layout.external_state_dir(_external.name),
        script:
            "../scripts/external_dump.py"


# An external run's last checkpoint in the trained runs' model/ form (float32 safetensors and the
# tokenizer), made only when a steering pair names the run. Without external runs the rule does
# not exist, so the default's rule set is unchanged.
if EXTERNAL_RUNS:

    rule external_model:
        input:
            tokenizer=lambda wc: run_tokenizer(wc.run),
        output:
            directory(layout.model_dir("{run}")),
        log:
            "logs/external_model/{run}.log",
        wildcard_constraints:
            run=_alternatives(EXTERNAL_RUNS),
        conda:
            "../../envs/train.yaml"
        resources:
            mem_mb=16000,
        params:
            external=lambda wc: EXTERNAL_RUNS[wc.run].settings(),
        script:
            "../scripts/external_model.py"


# An external run's checkpoints of its save_models_at in the same form, for the harness over
# training; the rule exists only when some external run names such steps.
if EXTERNAL_STEP_MODELS:

    rule external_step_model:
        input:
            tokenizer=lambda wc: run_tokenizer(wc.run),
        output:
            directory(layout.step_model_dir("{run}", "{name}")),
        log:
            "logs/external_model/{run}-{name}.log",
        wildcard_constraints:
            run=_alternatives(EXTERNAL_STEP_MODELS),
            name=_alternatives(
                {n for names in EXTERNAL_STEP_MODELS.values() for n in names}
            ),
        conda:
            "../../envs/train.yaml"
        resources:
            mem_mb=16000,
        params:
            external=lambda wc: EXTERNAL_RUNS[wc.run].settings(),
            step=lambda wc: EXTERNAL_STEP_MODELS[wc.run][wc.name],
        script:
            "../scripts/external_step_model.py"
