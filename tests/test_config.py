"""Config validation: the embedded default is valid, bad values are named with what is allowed."""

import copy
from pathlib import Path

import pytest
import yaml

from regeo.config import ConfigError, load_config_file, runs, validate_config

REPO = Path(__file__).resolve().parents[1]
DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_default_config_is_valid_and_complete():
    cfg = load_config_file(REPO / "config" / "config.yaml")
    assert cfg["registers"]["threshold"] == 0.4  # defaults filled in from the schema
    names = list(runs(cfg))
    assert "ne-tiny-s0" in names and "ne-tiny-s1" in names and "ne-mini-s0" in names
    subsets = {r.subset for r in runs(cfg).values()}
    assert len(subsets) >= 4  # at least four registers
    seeds = {}
    for r in runs(cfg).values():
        seeds.setdefault((r.subset, r.preset), set()).add(r.seed)
    assert all(len(s) >= 2 for (subset, preset), s in seeds.items() if preset == "tiny")


def test_validation_does_not_mutate_its_input():
    raw = copy.deepcopy(DEFAULT)
    validate_config(raw)
    assert raw == DEFAULT


def bad(path: str, value):
    cfg = copy.deepcopy(DEFAULT)
    *parents, last = path.split(".")
    node = cfg
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return cfg


@pytest.mark.parametrize(
    "config, message",
    [
        (bad("subsets.registers", ["ne", "XX"]), r"config.subsets.registers\[1\]: unknown register 'XX'; allowed: CORE"),
        (bad("subsets.mixes", {"m": {"HI": 0.5, "IN": 0.4}}), r"config.subsets.mixes.m: shares sum to 0.9, must sum to 1"),
        (bad("subsets.mixes", {"m": {"HI": 0.5, "QQ": 0.5}}), r"config.subsets.mixes.m: unknown register 'QQ'"),
        (bad("subsets.train_tokens", -5), r"config.subsets.train_tokens: -5 is less than the minimum of 1"),
        (bad("training.checkpoint_every", 1000), r"config.training.checkpoint_every: 1000 is past the last step \(training.steps = 200\)"),
        (bad("training.lr", 0), r"config.training.lr: 0 is less than or equal to the minimum of 0"),
        (bad("training.runs", [{"subsets": ["ZZ"], "presets": ["tiny"], "seeds": [0]}]),
         r"config.training.runs\[0\].subsets\[0\]: unknown subset 'ZZ'; defined subsets: ne, IN, SP, OP, NA"),
        (bad("training.runs", [{"presets": ["gigantic"], "seeds": [0]}]),
         r"config.training.runs\[0\].presets\[0\]: unknown preset 'gigantic'; known: 124m, llama-1.7b, mini, tiny"),
        (bad("training.presets", {"odd": {"hidden_size": 30, "num_hidden_layers": 1, "num_attention_heads": 4,
                                          "intermediate_size": 8}}),
         r"config.training.presets.odd: hidden_size 30 is not divisible by num_attention_heads 4"),
        (bad("training.optimizer", "sgd"), r"config.training: Additional properties are not allowed \('optimizer' was unexpected\); allowed keys: batch_size"),
        (bad("geometry.id.ks", [10, 5000]), r"config.geometry.id.ks: k = 5000 must be below the number of tokens \(2048\)"),
        (bad("geometry.id.metrics", ["manhattan"]), r"config.geometry.id.metrics\[0\]: 'manhattan' is not allowed; allowed: euclidean, cosine"),
        (bad("geometry.id.nulls", ["uniform"]), r"config.geometry.id.nulls\[0\]: 'uniform' is not allowed; allowed: isotropic, covariance"),
        (bad("geometry.bootstrap", {"replicates": 50}), r"config.geometry.bootstrap.replicates: 50 is too few for a 95 % interval; give at least 100, or 0"),
        (bad("geometry.lle", {"k": 2048}), r"config.geometry.lle.k: 2048 must be below the number of tokens \(2048\)"),
        (bad("geometry.lle", {"k": 10, "sample_size": 10}),
         r"config.geometry.lle.sample_size: 10 must exceed geometry.lle.k \(10\), or be null"),
        (bad("geometry.lle", {"reg": -1}), r"config.geometry.lle.reg: -1 is less than the minimum of 0"),
        (bad("geometry.similarity", {"sample_size": 2}), r"config.geometry.similarity.sample_size: 2 is less than the minimum of 3"),
        (bad("geometry.similarity", {"metric": "cosine"}),
         r"config.geometry.similarity: Additional properties are not allowed \('metric' was unexpected\); allowed keys: embeddings, sample_size, seed"),
        (bad("registers.threshold", 1.5), r"config.registers.threshold: 1.5 is greater than the maximum of 1"),
        (bad("registers.keep_hybrids", ["HI-XX"]), r"config.registers.keep_hybrids\[0\]: 'HI-XX' is not a hybrid"),
        (bad("registers.method", "classifier"), r"config.registers.method: 'classifier' does not apply to the builtin corpus"),
        (bad("registers.random_labels", ["NA", "ne"]) | {"registers": {"method": "random", "random_labels": ["NA", "ne"]}},
         r"config.registers.random_labels: \['ne'\] are not main CORE codes"),
        (bad("corpus.source", "hub") | {"registers": {"method": "classifier"}}, r"config.corpus.max_documents: required for source 'hub'"),
        (bad("corpus.source", "ftp"), r"config.corpus.source: 'ftp' is not allowed; allowed: builtin, local, hub"),
        (bad("tokenizer.kind", "wordpiece"), r"config.tokenizer.kind: 'wordpiece' is not allowed; allowed: bpe, gpt2"),
        (bad("training.warmup_steps", 200), r"config.training.warmup_steps: 200 must be below training.steps \(200\)"),
        (bad("training.runs", [{"presets": ["tiny"], "seeds": [-1]}]), r"config.training.runs\[0\].seeds\[0\]: -1 is less than the minimum of 0"),
        (bad("training.micro_batch_size", 3), r"config.training.micro_batch_size: 3 does not divide training.batch_size \(16\)"),
        (bad("training.micro_batch_size", 0), r"config.training.micro_batch_size: 0 is less than the minimum of 1"),
        (bad("training.compile", "yes"), r"config.training.compile: 'yes' is not of type 'boolean'"),
        (bad("training.log_every", 0), r"config.training.log_every: 0 is less than the minimum of 1"),
        (bad("training.peak_flops", 0), r"config.training.peak_flops: 0 is less than or equal to the minimum of 0"),
        (bad("steering.pairs", [{"source": "ne-tiny-s0", "target": "XX-tiny-s0"}]),
         r"config.steering.pairs\[0\].target: unknown run 'XX-tiny-s0'; runs of training.runs: ne-tiny-s0, ne-tiny-s1"),
        (bad("steering.pairs", [{"source": "ne-tiny-s0"}]),
         r"config.steering.pairs\[0\]: 'target' is a required property"),
        (bad("steering.all_pairs_among", ["ne-tiny-s0", "ne-huge-s0"]),
         r"config.steering.all_pairs_among\[1\]: unknown run 'ne-huge-s0'; runs of training.runs: ne-tiny-s0"),
        (bad("steering.concepts", [{"name": "c", "kind": "contrast", "positive": "ne", "negative": "HI"}]),
         r"config.steering.concepts\[0\].negative: unknown subset 'HI'; defined subsets: ne, IN, SP, OP, NA"),
        (bad("steering.concepts", [{"name": "c", "kind": "contrast", "positive": "ne"}]),
         r"config.steering.concepts\[0\].negative: required for kind 'contrast' \(a subset name; defined subsets: ne,"),
        (bad("steering.concepts", [{"name": "c", "kind": "contrast", "positive": "ne", "negative": "ne"}]),
         r"config.steering.concepts\[0\].negative: 'ne' is also the positive subset"),
        (bad("steering.concepts", [{"name": "c", "kind": "contrast", "positive": "ne", "negative": "OP", "texts": "NA"}]),
         r"config.steering.concepts\[0\].texts: not used by kind 'contrast'; kind 'contrast' takes positive, negative"),
        (bad("steering.concepts", [{"name": "t", "kind": "tokens", "texts": "XX", "tokens": ["said"]}]),
         r"config.steering.concepts\[0\].texts: unknown subset 'XX'; defined subsets: ne, IN, SP, OP, NA"),
        (bad("steering.concepts", [{"name": "t", "kind": "tokens", "texts": "ne"}]),
         r"config.steering.concepts\[0\].tokens: kind 'tokens' needs at least one target word"),
        (bad("steering.concepts", [{"name": "c", "kind": "contrast", "positive": "ne", "negative": "OP"},
                                   {"name": "c", "kind": "tokens", "texts": "ne", "tokens": ["said"]}]),
         r"config.steering.concepts\[1\].name: 'c' is already the name of concepts\[0\]; names must be unique"),
        (bad("steering.concepts", [{"name": "c", "kind": "vibes"}]),
         r"config.steering.concepts\[0\].kind: 'vibes' is not allowed; allowed: contrast, tokens"),
        (bad("steering.concepts", [{"name": "a b", "kind": "tokens", "texts": "ne", "tokens": ["x"]}]),
         r"config.steering.concepts\[0\].name: 'a b' does not match"),
        (bad("steering.alphas", []), r"config.steering.alphas: \[\] should be non-empty"),
        (bad("steering.layer_relative_depth", 0), r"config.steering.layer_relative_depth: 0 is less than or equal to the minimum of 0"),
        (bad("figures.redundancy_reference", {"low": 0.98, "high": 0.9, "label": "Kataiwa et al."}),
         r"config.figures.redundancy_reference: low 0.98 must be below high 0.9"),
        (bad("figures.redundancy_reference", {"low": 90, "high": 98, "label": "Kataiwa et al."}),
         r"config.figures.redundancy_reference.low: 90 is greater than the maximum of 1"),
        (bad("steering.embeddings", "hidden"), r"config.steering.embeddings: 'hidden' is not allowed; allowed: input, output, both"),
        (bad("analyses.neighbourhoods", {"id_column": "mle_k7"}),
         r"config.analyses.neighbourhoods.id_column: 'mle_k7' is not a per-token ID of geometry.id; allowed: mle_k10, mle_k20, mle_k50, local_pca_k20"),
        (bad("analyses.rank_knee", {"tolerance": 0}), r"config.analyses.rank_knee.tolerance: 0 is less than or equal to the minimum of 0"),
    ],
)
def test_bad_config_is_named(config, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(config)


def test_config_file_errors_name_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("training: {lr: [1, 2}\n")
    with pytest.raises(ConfigError, match="broken.yaml: cannot read config"):
        load_config_file(path)
    path.write_text("training: {steps: 0}\n")
    with pytest.raises(ConfigError, match=r"broken.yaml: invalid config:\n  config.training.steps: 0 is less than the minimum of 1"):
        load_config_file(path)


def test_default_steering_pairs_cross_width_and_seed():
    """The default config steers across widths (the Emb2Emb case) and across seeds (the noise floor)."""
    from regeo.config import steering_pairs
    from regeo.train.presets import PRESETS

    cfg = load_config_file(REPO / "config" / "config.yaml")
    table = runs(cfg)
    pairs = steering_pairs(cfg)
    width = {name: PRESETS[r.preset]["hidden_size"] for name, r in table.items()}
    assert any(width[a] != width[b] for a, b in pairs)
    assert any(table[a].subset == table[b].subset and table[a].seed != table[b].seed for a, b in pairs)
    # A register pair of one seed shares its initialisation: the default's register pairs cross seeds.
    registers = [(a, b) for a, b in pairs if table[a].subset != table[b].subset]
    assert registers and all(table[a].seed != table[b].seed for a, b in registers)
    both_ways = {"pairs": [{"source": "ne-tiny-s0", "target": "ne-tiny-s1"}],
                 "all_pairs_among": ["ne-tiny-s0", "ne-tiny-s1"]}
    assert steering_pairs(validate_config(bad("steering", both_ways))) == [("ne-tiny-s0", "ne-tiny-s1"),
                                                                          ("ne-tiny-s1", "ne-tiny-s0")]


def test_negative_control_config_is_valid_and_tests_no_real_register():
    cfg = load_config_file(REPO / "config" / "negative_control.yaml")
    assert cfg["registers"]["method"] == "random" and cfg["corpus"]["builtin_sources"] == ["bbc_news"]
    assert sorted(cfg["subsets"]["registers"]) == sorted(cfg["registers"]["random_labels"])
    assert {r.subset for r in runs(cfg).values()} == set(cfg["subsets"]["registers"])


def test_schema_is_package_data():
    from importlib import resources

    packaged = resources.files("regeo") / "schemas" / "config.schema.yaml"
    assert packaged.is_file()
    link = REPO / "workflow" / "schemas" / "config.schema.yaml"
    assert link.is_symlink() and link.resolve() == Path(str(packaged)).resolve()
    # Only importlib.resources finds it, so a non-editable install works too.
    source = (REPO / "src" / "regeo" / "config.py").read_text()
    assert "parents[" not in source and "workflow" not in source


def test_default_config_writes_no_schema_default():
    """config/config.yaml holds only what differs from the schema, so each default is written once."""
    schema = validate_config({})

    def same_as_schema(raw: dict, defaults: dict, where: str):
        for key, value in raw.items():
            if isinstance(value, dict) and isinstance(defaults.get(key), dict):
                yield from same_as_schema(value, defaults[key], f"{where}{key}.")
            elif key in defaults and defaults[key] == value:
                yield where + key

    assert list(same_as_schema(DEFAULT, schema, "")) == []


def _with_defaults(validator_class):
    """The reference: a validator that fills in schema defaults while it validates (jsonschema's FAQ
    recipe, which validate_config used before fill_defaults)."""
    import jsonschema

    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def test_schema_defaults_are_those_the_validator_fills_in():
    """fill_defaults fills defaults without jsonschema (a GPU machine may lack it): the same values
    as jsonschema's validating fill, for an empty config, the default one and a run group."""
    import jsonschema

    from regeo.config import fill_defaults, load_schema, schema_defaults

    schema = load_schema()
    # A run group without subsets: filled in inside an array item.
    groups = {"training": {"runs": [{"presets": ["tiny"], "seeds": [0]}]}, "steering": {"pairs": []}}
    for config in ({}, copy.deepcopy(DEFAULT), groups):
        by_validator = copy.deepcopy(config)
        for _ in _with_defaults(jsonschema.Draft202012Validator)(schema).iter_errors(by_validator):
            pass
        assert fill_defaults(schema, copy.deepcopy(config)) == by_validator
    assert fill_defaults(schema, copy.deepcopy(groups))["training"]["runs"][0]["subsets"] == "all"
    assert all(schema_defaults(section) == fill_defaults(schema, {})[section] for section in schema["properties"])
