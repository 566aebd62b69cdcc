"""From a rule's params (a config section's values) to a config dataclass's fields.

The schema is the one place that writes defaults: the dataclasses that mirror a config section
take every such value from their caller, and a key they do not know is an error, so that a
value renamed in the schema but not in the dataclass can never be dropped silently.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from regeo.io import RegeoInputError


def section_fields(cls, params: Mapping, section: str, *, other: Iterable[str] = (),
                   rename: Mapping[str, str] | None = None, given: Iterable[str] = ()) -> dict:
    """The fields of dataclass ``cls`` that ``params`` holds, the values of config ``section``.

    ``other``: keys of the section that belong to another step and are left out. ``rename``:
    config key -> field name. ``given``: fields the caller passes itself, not from ``params``.
    Any other key, and any field without a default that nobody gives, is a RegeoInputError.
    """
    rename = dict(rename or {})
    other, given = set(other), set(given)
    names = {f.name for f in dataclasses.fields(cls)}
    accepted = {name: name for name in names - given - set(rename.values())} | rename  # key -> field
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
