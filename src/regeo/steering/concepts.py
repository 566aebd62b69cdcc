"""A steering concept: the texts its vector is found on, the texts it is scored on, its target tokens.

Two kinds, by ``vector``:

- ``"texts"`` (default): the vector is CAA on ``positive`` minus ``negative`` texts (e.g. one
  register's val texts against another's); its primary effect is the log-likelihood shift.
- ``"tokens"``: the vector is next-token CAA for ``target_tokens`` over the ``positive`` and
  ``negative`` texts together (context texts that contain the targets); its primary effect is the
  target-mass shift.

Either kind gets both effects scored wherever the inputs exist (the log-likelihood shift needs
held-out positive and negative texts, the mass shift needs target tokens).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from regeo.io import RegeoInputError
from regeo.steering.passages import SubsetTexts, read_val_texts

KINDS = ("texts", "tokens")


@dataclass(frozen=True)
class Concept:
    name: str  # identifier in tables and file names
    positive: list[str]  # texts the vector moves towards ("texts"); context texts ("tokens")
    negative: list[str]  # texts the vector moves away from ("texts"); more context texts ("tokens")
    heldout_positive: list[str] = field(default_factory=list)  # scoring texts, never used for the vector
    heldout_negative: list[str] = field(default_factory=list)
    # Texts of the hidden-state ceiling map's fit, disjoint from the vector and held-out texts.
    ceiling: list[str] = field(default_factory=list)
    target_tokens: list[str] | None = None  # words whose probability the vector should raise
    vector: str = "texts"  # "texts" or "tokens", see the module docstring
    prompts: list[str] | None = None  # generation prompts; None: starts of held-out texts

    @property
    def primary_metric(self) -> str:
        return "loglik" if self.vector == "texts" else "logodds"

    @classmethod
    def from_dict(cls, spec: dict) -> "Concept":
        """Validate a config dict (unknown keys are an error: a stale key must not pass silently)."""
        if not isinstance(spec, dict):
            raise RegeoInputError(f"a concept must be a dict, got {type(spec).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = set(spec) - known
        name = spec.get("name")
        where = f"concept {name!r}" if name else "a concept"
        if unknown:
            raise RegeoInputError(f"{where}: unknown keys {sorted(unknown)}; known keys {sorted(known)}")
        if not isinstance(name, str) or not name:
            raise RegeoInputError(f"{where}: 'name' must be a non-empty string")
        values = {}
        for key in ("positive", "negative", "heldout_positive", "heldout_negative", "ceiling", "target_tokens",
                    "prompts"):
            value = spec.get(key)
            if value is None:
                values[key] = None if key in ("target_tokens", "prompts") else []
                continue
            if isinstance(value, str) or not all(isinstance(t, str) for t in value):
                raise RegeoInputError(f"{where}: '{key}' must be a list of strings")
            values[key] = list(value)
        vector = spec.get("vector", "texts")
        if vector not in KINDS:
            raise RegeoInputError(f"{where}: 'vector' must be one of {KINDS}, got {vector!r}")
        if vector == "texts" and not (values["positive"] and values["negative"]):
            raise RegeoInputError(f"{where}: a 'texts' concept needs non-empty 'positive' and 'negative'")
        if vector == "tokens" and not values["target_tokens"]:
            raise RegeoInputError(f"{where}: a 'tokens' concept needs 'target_tokens'")
        if vector == "tokens" and not (values["positive"] or values["negative"]):
            raise RegeoInputError(f"{where}: a 'tokens' concept needs context texts in 'positive' or 'negative'")
        if not (values["heldout_positive"] or values["heldout_negative"]):
            raise RegeoInputError(f"{where}: no held-out texts to score on")
        seen = set(values["positive"] + values["negative"] + values["heldout_positive"] + values["heldout_negative"])
        if seen & set(values["ceiling"]):
            raise RegeoInputError(f"{where}: 'ceiling' shares texts with the vector or held-out texts; the "
                                  "ceiling map must be fit on texts of its own")
        return cls(name=name, vector=vector, **values)


# The config's kinds name what the user configures; the library's name what the vector is made of.
VECTOR_OF_KIND = {"contrast": "texts", "tokens": "tokens"}


def build_concepts(specs: list[dict], val_paths: dict[str, str], passage_chars: int, per_side: int) -> list[Concept]:
    """Config concepts (``steering.concepts``) to Concepts; ``val_paths``: subset -> val.parquet."""
    texts: dict[str, SubsetTexts] = {}

    def of(subset: str) -> SubsetTexts:
        if subset not in val_paths:
            raise RegeoInputError(f"no val split given for subset {subset!r}; given: {sorted(val_paths)}")
        if subset not in texts:
            texts[subset] = read_val_texts(val_paths[subset], passage_chars, per_side)
        return texts[subset]

    concepts = []
    for spec in specs:
        common = dict(name=spec["name"], vector=VECTOR_OF_KIND[spec["kind"]],
                      target_tokens=list(spec.get("tokens") or []) or None, prompts=list(spec.get("prompts") or []) or None)
        if spec["kind"] == "contrast":
            positive, negative = of(spec["positive"]), of(spec["negative"])
            concepts.append(Concept.from_dict(dict(common, positive=positive.vector, negative=negative.vector,
                                                   heldout_positive=positive.heldout,
                                                   heldout_negative=negative.heldout,
                                                   ceiling=positive.ceiling + negative.ceiling)))
        else:
            context = of(spec["texts"])
            concepts.append(Concept.from_dict(dict(common, positive=context.vector,
                                                   heldout_positive=context.heldout, ceiling=context.ceiling)))
    return concepts
