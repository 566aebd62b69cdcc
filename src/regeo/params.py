"""From a config section's values to a config dataclass's fields, and back to a rule's params.

The schema is the one place that writes a section's keys and defaults; a dataclass that mirrors a
section owns the keys that are its fields (or that ``rename`` maps onto them), and nothing else
lists them: :func:`section_fields` builds the dataclass's values from the section, leaving out
the section's other keys (the schema's, owned by other steps) and refusing any key the schema
does not know, and :func:`owned_params` gives a rule exactly the owner's keys, so that a change of
another step's key reruns nothing that this owner made.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from regeo.io import RegeoInputError


def owned_keys(cls, *, rename: Mapping[str, str] | None = None, given: Iterable[str] = ()) -> dict[str, str]:
    """config key -> field of dataclass ``cls``: its fields (less ``given``, the ones its caller
    passes itself) under their own names, and ``rename``'s keys (config key -> field name)."""
    rename = dict(rename or {})
    names = {f.name for f in dataclasses.fields(cls)}
    return {name: name for name in names - set(given) - set(rename.values())} | rename


def owned_params(cls, section: Mapping, **kwargs) -> dict:
    """The values of ``section`` that dataclass ``cls`` owns (:func:`owned_keys`), in section order:
    a rule's params, so that only a change of these keys reruns the rule."""
    keys = owned_keys(cls, **kwargs)
    return {key: value for key, value in section.items() if key in keys}


def section_fields(cls, params: Mapping, section: str, *, rename: Mapping[str, str] | None = None,
                   given: Iterable[str] = ()) -> dict:
    """The fields of dataclass ``cls`` that ``params`` holds, the values of config ``section``
    (dotted for a nested one: ``geometry.id``).

    ``params`` may be the whole section: its keys that ``cls`` does not own belong to other steps
    (the schema lists them) and are left out. ``rename``: config key -> field name. ``given``:
    fields the caller passes itself, not from ``params``. A key the schema does not know, and a
    field without a default that nobody gives, is a RegeoInputError.
    """
    from regeo.schema import section_keys

    rename = dict(rename or {})
    given = set(given)
    accepted = owned_keys(cls, rename=rename, given=given)  # key -> field
    other = set(section_keys(section)) - set(accepted)
    values = {}
    for key, value in params.items():
        if key in other:
            continue
        if key not in accepted:
            raise RegeoInputError(f"{cls.__name__}: unknown key {section}.{key}; "
                                  f"known: {', '.join(sorted({*accepted, *other}))}")
        values[accepted[key]] = value
    required = {f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    missing = sorted(required - given - set(values))
    if missing:
        inverse = {v: k for k, v in rename.items()}
        raise RegeoInputError(f"{cls.__name__}: missing {', '.join(f'{section}.{inverse.get(m, m)}' for m in missing)}")
    return values
