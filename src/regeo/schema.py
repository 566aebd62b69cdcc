"""The config schema: the one place that writes every section's keys, types and defaults.

jsonschema is imported only where a config is validated (regeo.config): :func:`schema_defaults`
fills the defaults in without it, so that code run from a bare checkout on a GPU machine (tests
and ``benchmarks/gpu_check.py``, with torch and transformers but no jsonschema) can build
configs. Nothing of regeo is imported here, so every module may ask the schema for its keys.
"""

from __future__ import annotations

import copy
import functools
from importlib import resources
from pathlib import Path

import yaml

# Package data, so that an installed (non-editable) regeo finds it; the Snakemake schema path links here.
SCHEMA_RESOURCE = ("schemas", "config.schema.yaml")



def load_schema(path: str | Path | None = None) -> dict:
    """The config schema: the packaged one, or the file at ``path``."""
    if path is not None:
        return yaml.safe_load(Path(path).read_text())
    return copy.deepcopy(_packaged_schema())


@functools.cache
def _packaged_schema() -> dict:
    return yaml.safe_load(resources.files("regeo").joinpath(*SCHEMA_RESOURCE).read_text())


def schema_defaults(section: str) -> dict:
    """The values the schema fills in for top-level ``section`` when a config leaves it out.

    For tests and library users who build a config dataclass without a config file, e.g.
    ``TrainConfig.from_params(..., training=schema_defaults("training"))``.
    """
    schema = load_schema()
    if section not in schema["properties"]:
        raise KeyError(f"no config section {section!r}; sections: {', '.join(schema['properties'])}")
    return fill_defaults(schema, {})[section]


def section_keys(section: str) -> tuple[str, ...]:
    """The keys the schema allows in config ``section``, dotted for a nested one (``geometry.id``)."""
    node = _packaged_schema()
    for part in section.split("."):
        properties = node.get("properties", {})
        if part not in properties:
            raise KeyError(f"no config section {section!r}")
        node = properties[part]
    return tuple(node.get("properties", {}))


def fill_defaults(schema: dict, instance):
    """``instance`` with the defaults of ``schema`` filled in where it leaves a property out: what
    jsonschema's validating fill (its FAQ recipe) gives, which a test checks, without jsonschema.

    Walks ``properties`` (a default, then the value's own subschema), ``items`` and
    ``additionalProperties``; the alternatives of ``oneOf``/``anyOf``/``allOf`` are walked as the
    validator tries them, each filling in what it names.
    """
    if isinstance(instance, dict):
        properties = schema.get("properties", {})
        for name, sub in properties.items():
            if "default" in sub and name not in instance:
                instance[name] = copy.deepcopy(sub["default"])
            if name in instance:
                fill_defaults(sub, instance[name])
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for name, value in instance.items():
                if name not in properties:
                    fill_defaults(extra, value)
    if isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for item in instance:
            fill_defaults(schema["items"], item)
    for keyword in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(keyword, []):
            fill_defaults(sub, instance)
    return instance
