"""What each rule gets from the config: one function per rule, each the exact keys of the step
that owns them, derived from the owner's dataclass (regeo.params.owned_params), never listed.

A rule's params are what Snakemake compares to decide a rerun, so each holds only the values its
job reads: changing another step's key reruns nothing. The same functions feed the dry-run
validation (:func:`owner_problems`), which builds every owner's dataclass from exactly these
params, so that a cross-field check a job would fail on fails ``snakemake -n`` instead.
"""

from __future__ import annotations

from regeo.runs import Run, runs, steering_pair_settings
from regeo.params import owned_params


def probability_params(cfg: dict) -> dict:
    """Rule register_probabilities: the registers values of its method (regeo.registers.METHOD_KEYS)."""
    from regeo.registers import probability_params as of_method

    return of_method(cfg["registers"])


def labeling_params(cfg: dict) -> dict:
    """Rule registers: the labeling rules (regeo.registers.LabelingRules)."""
    from regeo.registers import LabelingRules

    return owned_params(LabelingRules, cfg["registers"])


def subset_params(cfg: dict) -> dict:
    """Rules subset and tokens: a subset's budgets and seed (regeo.data.subsets.SubsetSpec; its name
    and shares come from the run table)."""
    from regeo.data.subsets import SubsetSpec

    return owned_params(SubsetSpec, cfg["subsets"], given=("name", "shares"))


def subset_shares(cfg: dict) -> dict[str, dict[str, float]]:
    """subset -> register class -> share: a register subset is all of its class; a mix, its shares."""
    return {**{name: {name: 1.0} for name in cfg["subsets"]["registers"]}, **cfg["subsets"]["mixes"]}


def tokenizer_params(cfg: dict) -> dict:
    """Rule tokenizer: the kind and the values that kind uses (regeo.tokenizer.KIND_FIELDS)."""
    from regeo.tokenizer import KIND_FIELDS

    tokenizer = cfg["tokenizer"]
    return {key: tokenizer[key] for key in ("kind", *KIND_FIELDS[tokenizer["kind"]])}


def train_params(cfg: dict, run: Run, name: str) -> dict:
    """Rule train: everything that shapes one run's trajectory, not the run groups, the other
    presets or the execution settings (the train script reads those from the config: they rerun
    nothing)."""
    from regeo.train.config import rule_training_params
    from regeo.train.presets import resolve_preset

    params = {
        "run": name,
        "preset": run.preset,
        "seed": run.seed,
        "model": resolve_preset(run.preset, cfg["training"]["presets"]),
        "training": rule_training_params(cfg["training"]),
    }
    if run.data_seed is not None:  # absent otherwise: runs from before data seeds keep their params
        params["data_seed"] = run.data_seed
    return params


def steering_params(cfg: dict, source: str, target: str) -> dict:
    """Rule steering: one pair's job values, the pair's own settings over the section's."""
    from regeo.steering.config import pair_job_params

    return pair_job_params(cfg["steering"], steering_pair_settings(cfg).get((source, target)))


def steering_judge_params(cfg: dict, source: str, target: str) -> dict:
    """Rule steering_judge: steering.judge and the pair job's values the judge shares
    (regeo.steering.judge_config.SHARED_KEYS), the pair's own settings over the section's."""
    from regeo.steering.config import pair_job_params
    from regeo.steering.judge_config import judge_job_params

    pair = pair_job_params(cfg["steering"], steering_pair_settings(cfg).get((source, target)))
    return judge_job_params({**pair, "judge": cfg["steering"]["judge"]})


def steering_judge_classifier_params(cfg: dict) -> dict | None:
    """Rule steering_judge: the registers section's classifier keys when the judge is the classifier
    (regeo.data.classifier.ClassifierConfig), else None (the tfidf judge reruns on none of them)."""
    from regeo.registers import METHOD_KEYS

    if cfg["steering"]["judge"]["judge"] != "classifier":
        return None
    return {key: cfg["registers"][key] for key in METHOD_KEYS["classifier"]}


def harness_task_params(cfg: dict) -> dict:
    """Rule harness_tasks: how regeo's local tasks are built, and which of them the config runs."""
    return {"local_tasks": cfg["harness"]["local_tasks"], "tasks": list(cfg["harness"]["tasks"])}


def harness_params(cfg: dict) -> dict:
    """Rule harness: the models' evaluation settings (regeo.harness.config.HarnessConfig); not the
    threads, the rule's directive (as steering's)."""
    from regeo.harness.config import HarnessConfig

    return owned_params(HarnessConfig, cfg["harness"])


def owner_problems(cfg: dict) -> list[str]:
    """Every owner's dataclass built from the params its rule gets, one problem line per failure:
    the checks that live in a dataclass (cross-field ones included) run at the dry run."""
    from regeo.io import RegeoInputError
    from regeo.registers import LabelingRules
    from regeo.tokenizer import TokenizerConfig
    from regeo.train.config import TrainConfig

    problems: list[str] = []

    def build(where: str, make) -> None:
        try:
            make()
        except (RegeoInputError, ValueError, TypeError) as err:
            problems.append(f"{where}: {err}")

    registers = cfg["registers"]
    build("config.registers", lambda: LabelingRules.from_params(labeling_params(cfg)))
    if registers["method"] == "classifier":
        from regeo.data.classifier import ClassifierConfig

        build("config.registers", lambda: ClassifierConfig.from_params(probability_params(cfg)))
    if cfg["corpus"]["source"] != "builtin":
        from regeo.data.fineweb import FineWebConfig

        build("config.corpus", lambda: FineWebConfig.from_params(cfg["corpus"]))
    build("config.tokenizer", lambda: TokenizerConfig.from_params(tokenizer_params(cfg)))
    for name, run in runs(cfg).items():
        params = train_params(cfg, run, name)
        build(f"config.training (run {name})", lambda: TrainConfig.from_params(
            params["run"], params["preset"], params["model"], params["seed"], cfg["training"],
            params.get("data_seed")))
    problems += _steering_problems(cfg)
    problems += _harness_problems(cfg)
    return problems


def _harness_problems(cfg: dict) -> list[str]:
    """The harness settings and the task names: an unknown task, or a hub task while offline,
    stops the dry run (regeo.harness.validation reads the harness's task files, not the hub)."""
    from regeo.harness.config import HarnessConfig, next_sentence_spec
    from regeo.harness.validation import task_problems
    from regeo.io import RegeoInputError

    harness = cfg["harness"]
    problems = []
    for where, make in (("config.harness", lambda: HarnessConfig.from_params(harness_params(cfg))),
                        ("config.harness.local_tasks", lambda: next_sentence_spec(harness["local_tasks"]))):
        try:
            make()
        except (RegeoInputError, ValueError, TypeError) as err:
            problems.append(f"{where}: {err}")
    # The harness refuses an answer longer than the model's context (it trims only the context);
    # the trained models' context is training.seq_len tokens, the config's own characters per
    # token turn the longest answer sentence into tokens.
    longest = harness["local_tasks"]["max_sentence_chars"] / cfg["subsets"]["chars_per_token"]
    if runs(cfg) and longest > cfg["training"]["seq_len"]:
        problems.append(f"config.harness.local_tasks.max_sentence_chars: {harness['local_tasks']['max_sentence_chars']} "
                        f"characters are about {longest:.0f} tokens (subsets.chars_per_token "
                        f"{cfg['subsets']['chars_per_token']}), more than the trained models' context of "
                        f"training.seq_len = {cfg['training']['seq_len']}; lower it")
    return problems + task_problems(harness["tasks"], offline=harness["offline"])


def _steering_problems(cfg: dict) -> list[str]:
    """The section's job values, and each pair's with its own settings over them: the settings'
    keys must be job keys, the merged values must meet the section's schema and SteeringConfig."""
    from regeo.schema import load_schema
    from regeo.io import RegeoInputError
    from regeo.steering.config import PIPELINE_KEYS, SteeringConfig, pair_job_params

    steering = cfg["steering"]
    checked = [("config.steering", None)] + [
        (f"config.steering.pairs[{i}].settings", pair["settings"])
        for i, pair in enumerate(steering["pairs"]) if pair.get("settings")]
    problems = []
    for where, settings in checked:
        if settings:
            refused = [key for key in settings if key in PIPELINE_KEYS or key not in steering]
            if refused:
                problems.append(f"{where}: {', '.join(map(repr, refused))} cannot be set per pair; "
                                f"allowed: the steering keys but {', '.join(PIPELINE_KEYS)}")
                continue
            schema_problems = _section_schema_problems(load_schema(), "steering", {**steering, **settings})
            if schema_problems:
                problems += [f"{where}: {line}" for line in schema_problems]
                continue
        try:
            SteeringConfig.from_params(pair_job_params(steering, settings))
        except (RegeoInputError, ValueError, TypeError) as err:
            problems.append(f"{where}: {err}")
    return problems + _judge_problems(cfg)


def _judge_problems(cfg: dict) -> list[str]:
    """steering.judge's values, and with the classifier judge, register classes for its subsets."""
    from regeo.io import RegeoInputError
    from regeo.steering.judge_config import JudgeConfig, contrast_subsets
    from regeo.steering.judges import class_labels

    judge = cfg["steering"]["judge"]
    try:
        JudgeConfig.from_params(judge)
    except (RegeoInputError, ValueError, TypeError) as err:
        return [f"config.steering.judge: {err}"]
    if judge["judge"] != "classifier":
        return []
    problems = []
    for subset in contrast_subsets(cfg["steering"]["concepts"]):
        try:
            class_labels(subset)
        except RegeoInputError as err:
            problems.append(f"config.steering.judge.judge (subset {subset!r} of steering.concepts): {err}")
    return problems


def _section_schema_problems(schema: dict, section: str, values: dict) -> list[str]:
    """The schema's complaints about one section's values, each naming its key."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema["properties"][section])
    return [f"{'.'.join(map(str, e.absolute_path)) or section}: {e.message}" for e in validator.iter_errors(values)]
