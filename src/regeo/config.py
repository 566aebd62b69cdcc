"""Config loading: JSON-schema validation with defaults, then checks the schema cannot express,
then every step's own checks (regeo.rule_params.owner_problems), so that all of them fail the dry run.

Errors name the config field (``training.runs[1].presets[0]``), the bad value and what is
allowed, and are collected so that one run reports every problem at once. The schema itself is
regeo.schema's; the run table and the steering pairs are regeo.runs'.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from regeo.external import entry_problems
from regeo.registers import ALL_LABELS, is_known_class
from regeo.runs import (Run, concept_subsets, external_runs, runs, steering_pair_settings, steering_pairs, subset_names,
                        vocab_size)
from regeo.schema import fill_defaults, load_schema, schema_defaults, section_keys
from regeo.train.presets import PRESETS

__all__ = ["ConfigError", "Run", "concept_subsets", "external_runs", "fill_defaults", "load_config_file", "load_config_files",
           "load_schema", "runs", "schema_defaults", "section_keys", "steering_pair_settings", "steering_pairs",
           "subset_names", "validate_config"]


class ConfigError(ValueError):
    """An invalid config; the message lists every problem, one per line."""


def _field(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def _describe(error) -> str:
    """One problem line from a ``jsonschema.ValidationError``."""
    where = f"config.{_field(error.absolute_path)}" if error.absolute_path else "config"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        return f"{where}: {error.message}" + (f"; allowed keys: {', '.join(allowed)}" if allowed else "")
    if error.validator == "enum":
        return f"{where}: {error.instance!r} is not allowed; allowed: {', '.join(map(str, error.validator_value))}"
    return f"{where}: {error.message}"


def validate_config(config: dict, schema_path: str | Path | None = None) -> dict:
    """Return a validated copy of ``config`` with defaults filled in; raise ConfigError otherwise."""
    import jsonschema

    config = copy.deepcopy(config or {})
    schema = load_schema(schema_path)
    fill_defaults(schema, config)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    problems = [_describe(e) for e in errors]
    if not problems:
        problems = _semantic_problems(config)
    if not problems:
        from regeo.rule_params import owner_problems

        problems = owner_problems(config)
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))
    return config


def _semantic_problems(cfg: dict) -> list[str]:
    problems: list[str] = []
    reg = cfg["registers"]
    for i, code in enumerate(reg["keep_subregisters"]):
        if code not in ALL_LABELS or code.isupper():
            problems.append(f"config.registers.keep_subregisters[{i}]: {code!r} is not a CORE sub-register; "
                            f"allowed: {', '.join(l for l in ALL_LABELS if not l.isupper())}")
    for i, code in enumerate(reg["keep_hybrids"]):
        if "-" not in code or not is_known_class(code):
            problems.append(f"config.registers.keep_hybrids[{i}]: {code!r} is not a hybrid of CORE main registers "
                            "(main codes joined by '-', e.g. HI-IN)")
    subsets = cfg["subsets"]
    for i, code in enumerate(subsets["registers"]):
        if not is_known_class(code):
            problems.append(f"config.subsets.registers[{i}]: unknown register {code!r}; allowed: CORE labels "
                            f"({', '.join(ALL_LABELS)}) or kept hybrids such as HI-IN")
    for name, shares in subsets["mixes"].items():
        for code in shares:
            if not is_known_class(code):
                problems.append(f"config.subsets.mixes.{name}: unknown register {code!r}")
        total = sum(shares.values())
        if abs(total - 1.0) > 1e-6:
            problems.append(f"config.subsets.mixes.{name}: shares sum to {total:g}, must sum to 1")
        if name in subsets["registers"]:
            problems.append(f"config.subsets.mixes.{name}: name clashes with a register subset")
    names = subset_names(cfg)
    presets = {**PRESETS, **cfg["training"]["presets"]}
    for i, group in enumerate(cfg["training"]["runs"]):
        chosen = group.get("subsets", "all")
        if chosen != "all":
            for j, s in enumerate(chosen):
                if s not in names:
                    problems.append(f"config.training.runs[{i}].subsets[{j}]: unknown subset {s!r}; "
                                    f"defined subsets: {', '.join(names)}")
        for j, p in enumerate(group["presets"]):
            if p not in presets:
                problems.append(f"config.training.runs[{i}].presets[{j}]: unknown preset {p!r}; "
                                f"known: {', '.join(sorted(presets))}")
    for name, fields in cfg["training"]["presets"].items():
        merged = {**PRESETS.get(name, {}), **fields}
        for key in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size"):
            if key not in merged:
                problems.append(f"config.training.presets.{name}: missing {key!r}")
        if "hidden_size" in merged and "num_attention_heads" in merged \
                and merged["hidden_size"] % merged["num_attention_heads"]:
            problems.append(f"config.training.presets.{name}: hidden_size {merged['hidden_size']} is not "
                            f"divisible by num_attention_heads {merged['num_attention_heads']}")
    train = cfg["training"]
    if train["checkpoint_every"] > train["steps"]:
        problems.append(f"config.training.checkpoint_every: {train['checkpoint_every']} is past the last step "
                        f"(training.steps = {train['steps']})")
    if train["micro_batch_size"] is not None and train["batch_size"] % train["micro_batch_size"]:
        problems.append(f"config.training.micro_batch_size: {train['micro_batch_size']} does not divide "
                        f"training.batch_size ({train['batch_size']})")
    if train["warmup_steps"] >= train["steps"]:
        problems.append(f"config.training.warmup_steps: {train['warmup_steps']} must be below training.steps "
                        f"({train['steps']})")
    vocab = vocab_size(cfg)
    ks = cfg["geometry"]["id"]["ks"] + [cfg["geometry"]["id"]["local_pca_k"]]
    if max(ks) >= vocab:
        problems.append(f"config.geometry.id.ks: k = {max(ks)} must be below the number of tokens ({vocab})")
    lle = cfg["geometry"]["lle"]
    if lle["k"] >= vocab:
        problems.append(f"config.geometry.lle.k: {lle['k']} must be below the number of tokens ({vocab})")
    if lle["sample_size"] is not None and lle["sample_size"] <= lle["k"]:
        problems.append(f"config.geometry.lle.sample_size: {lle['sample_size']} must exceed geometry.lle.k "
                        f"({lle['k']}), or be null for all shared tokens")
    replicates = cfg["geometry"]["bootstrap"]["replicates"]
    if 0 < replicates < 100:
        problems.append(f"config.geometry.bootstrap.replicates: {replicates} is too few for a 95 % interval; "
                        "give at least 100, or 0 for no intervals")
    if cfg["corpus"]["source"] == "hub" and cfg["corpus"]["max_documents"] is None:
        problems.append("config.corpus.max_documents: required for source 'hub' (a streamed corpus has no end)")
    if cfg["corpus"]["source"] == "local" and not cfg["corpus"]["paths"]:
        problems.append("config.corpus.paths: source 'local' needs at least one glob pattern")
    if cfg["corpus"]["source"] == "builtin" and cfg["registers"]["method"] not in ("metadata", "random"):
        problems.append(f"config.registers.method: {cfg['registers']['method']!r} does not apply to the builtin "
                        "corpus, whose registers come from its sources; use 'metadata' (or 'random' for a "
                        "negative control)")
    if cfg["corpus"]["source"] != "builtin" and cfg["registers"]["method"] == "metadata":
        problems.append(f"config.registers.method: 'metadata' needs corpus.source 'builtin'; "
                        f"use 'classifier', 'precomputed' or 'column' for source {cfg['corpus']['source']!r}")
    problems += _label_column_problems(cfg["registers"])
    problems += _random_label_problems(cfg["registers"])
    problems += _steering_problems(cfg)
    problems += _external_problems(cfg)
    problems += _analyses_problems(cfg)
    reference = cfg["figures"]["redundancy_reference"]
    if reference and reference["low"] >= reference["high"]:
        problems.append(f"config.figures.redundancy_reference: low {reference['low']:g} must be below high "
                        f"{reference['high']:g}")
    return problems


def _random_label_problems(registers: dict) -> list[str]:
    """Pseudo-registers must be main CORE codes: a sub-register would bring its parent along."""
    from regeo.registers import MAIN_REGISTERS

    if registers["method"] != "random":
        return []
    bad = [label for label in registers["random_labels"] if label not in MAIN_REGISTERS]
    return [f"config.registers.random_labels: {bad} are not main CORE codes ({list(MAIN_REGISTERS)})"] if bad else []


def _label_column_problems(registers: dict) -> list[str]:
    """The label map's targets and the unmapped label must be CORE codes (checked before any job)."""
    if registers["method"] != "column":  # other methods ignore these keys; planning stays torch-free
        return []
    from regeo.data.label_column import DROP, label_codes
    from regeo.data.precomputed import core_label
    from regeo.io import RegeoInputError

    problems = []
    try:
        label_codes(registers["label_map"])
    except RegeoInputError as err:
        problems.append(str(err))
    unmapped = registers["unmapped_label"]
    if unmapped is not None and unmapped != DROP and core_label(unmapped) is None:
        problems.append(f"config.registers.unmapped_label: {unmapped!r} is neither 'drop' nor a CORE register code")
    return problems


def _analyses_problems(cfg: dict) -> list[str]:
    """The per-token ID that orders tokens must be one the ID stage writes."""
    ids = cfg["geometry"]["id"]
    columns = ([f"mle_k{k}" for k in ids["ks"]] if "mle" in ids["estimators"] else []) + (
        [f"local_pca_k{ids['local_pca_k']}"] if "local_pca" in ids["estimators"] else [])
    column = cfg["analyses"]["neighbourhoods"]["id_column"]
    problems = []
    if column not in columns:
        problems.append(f"config.analyses.neighbourhoods.id_column: {column!r} is not a per-token ID of geometry.id; "
                        f"allowed: {', '.join(columns) or 'none (add mle or local_pca to geometry.id.estimators)'}")
    rows = {("mle", k) for k in ids["ks"]} | {("twonn", 2), ("twonn_mle", 2), ("local_pca", ids["local_pca_k"])} | {
        ("gride", k) for k in ids["gride_scales"]}
    rows = {(name, k) for name, k in rows if name in ids["estimators"]}
    for i, measure in enumerate(cfg["analyses"]["across_runs"]["id_measures"]):
        if measure.get("metric", ids["comparison_metrics"][0]) not in ids["comparison_metrics"]:
            problems.append(f"config.analyses.across_runs.id_measures[{i}].metric: {measure['metric']!r} is not "
                            f"in geometry.id.comparison_metrics {ids['comparison_metrics']}")
        if (measure["estimator"], measure["k"]) not in rows:
            problems.append(f"config.analyses.across_runs.id_measures[{i}]: {measure['estimator']} k={measure['k']} "
                            f"is not a row of geometry.id; rows: "
                            f"{', '.join(f'{name} k={k}' for name, k in sorted(rows))}")
    return problems


def _external_problems(cfg: dict) -> list[str]:
    """External runs: one way to name the steps, known placeholders, names unique among all runs."""
    problems: list[str] = []
    trained = runs(cfg)
    seen: dict[str, int] = {}
    for i, entry in enumerate(cfg["external"]):
        where = f"config.external[{i}]"
        problems += entry_problems(entry, where)
        name = entry["name"]
        if name in trained:
            problems.append(f"{where}.name: {name!r} is also a run of training.runs")
        if name in seen:
            problems.append(f"{where}.name: {name!r} is already the name of external[{seen[name]}]")
        seen.setdefault(name, i)
    return problems


def _name_list(names: list[str], shown: int = 12) -> str:
    """Names for an error message: all of a few, the first ``shown`` and the count of many (a
    paper-sized config has 42 runs, and every wrong pair would repeat them)."""
    if len(names) <= shown:
        return ", ".join(names)
    return f"{', '.join(names[:shown])}, ... ({len(names)} in all)"


def _steering_problems(cfg: dict) -> list[str]:
    """Pairs must name runs of training.runs, concepts subsets that have val splits."""
    problems: list[str] = []
    steering = cfg["steering"]
    # External runs steer and are steered through their model/ directory (rule external_model).
    external = [entry["name"] for entry in cfg["external"]]
    run_names = list(runs(cfg)) + external
    known_runs = f"runs of training.runs: {_name_list(run_names[:len(run_names) - len(external)])}" + \
        (f"; external runs: {_name_list(external)}" if external else "")
    for i, pair in enumerate(steering["pairs"]):
        for side in ("source", "target"):
            if pair[side] not in run_names:
                problems.append(f"config.steering.pairs[{i}].{side}: unknown run {pair[side]!r}; {known_runs}")
    for i, name in enumerate(steering["all_pairs_among"]):
        if name not in run_names:
            problems.append(f"config.steering.all_pairs_among[{i}]: unknown run {name!r}; {known_runs}")
    subsets = subset_names(cfg)
    seen: dict[str, int] = {}
    for i, concept in enumerate(steering["concepts"]):
        where = f"config.steering.concepts[{i}]"
        if concept["name"] in seen:
            problems.append(f"{where}.name: {concept['name']!r} is already the name of concepts[{seen[concept['name']]}]; "
                            "names must be unique")
        seen.setdefault(concept["name"], i)
        uses, unused = (("positive", "negative"), ("texts",)) if concept["kind"] == "contrast" \
            else (("texts",), ("positive", "negative"))
        for key in uses:
            if concept[key] is None:
                problems.append(f"{where}.{key}: required for kind {concept['kind']!r} (a subset name; "
                                f"defined subsets: {', '.join(subsets)})")
            elif concept[key] not in subsets:
                problems.append(f"{where}.{key}: unknown subset {concept[key]!r}; defined subsets: {', '.join(subsets)}")
        for key in unused:
            if concept[key] is not None:
                problems.append(f"{where}.{key}: not used by kind {concept['kind']!r}; "
                                f"kind {concept['kind']!r} takes {', '.join(uses)}")
        if concept["kind"] == "contrast" and concept["positive"] is not None \
                and concept["positive"] == concept["negative"]:
            problems.append(f"{where}.negative: {concept['negative']!r} is also the positive subset; "
                            "a contrast needs two different subsets")
        if concept["kind"] == "tokens" and not concept["tokens"]:
            problems.append(f"{where}.tokens: kind 'tokens' needs at least one target word")
    return problems


def load_config_files(paths: list[str | Path]) -> dict:
    """Several YAML config files merged as Snakemake merges ``--configfile`` over the default
    configfile (later files win key by key in nested sections; lists are replaced whole), then
    validated, naming the files in every error."""
    merged: dict = {}
    for path in paths:
        try:
            raw = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise ConfigError(f"{path}: cannot read config: {err}") from err
        _update(merged, raw)
    try:
        return validate_config(merged)
    except ConfigError as err:
        raise ConfigError(f"{', '.join(map(str, paths))}: {err}") from err


def _update(into: dict, new: dict) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _update(into[key], value)
        else:
            into[key] = value


def load_config_file(path: str | Path) -> dict:
    """Read and validate a YAML config file, naming the file in every error."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: cannot read config: {err}") from err
    try:
        return validate_config(raw)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from err
