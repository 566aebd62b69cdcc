"""What each saved steering vector reads as, in the model it lives in (rule ``steering_readings``).

A pair job saves, per concept, the source's own vector (``{concept}.source``, in A's space), the
target's own (``.native``) and the transferred one (``.transferred``, both in B's space). Each
gets the reading of ``regeo explain`` (:func:`regeo.explain.explain_vector`): its nearest tokens
by cosine among the run's seen input embeddings and its logit-lens reading through the run's
unembedding after the final norm, at the run's final dump.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from regeo.explain import RunSpace, explain_vector, read_steering_vector

# Saved tensor suffix -> (the vector's name in the table, the side of the pair it lives in).
VECTORS = {"source": ("source_native", "source"), "native": ("target_native", "target"),
           "transferred": ("transferred", "target")}
LISTS = {"nearest": "cosine", "logit_lens": "logit"}


def reading_rows(reading: dict) -> list[dict]:
    """One row per listed token of a reading of :func:`regeo.explain.explain_vector`."""
    rows = []
    for kind, value in LISTS.items():
        for rank, entry in enumerate(reading[kind], start=1):
            rows.append(dict(list=kind, rank=rank, token_id=entry["id"], token=entry["token"], value=entry[value],
                             value_kind=value, prob=entry.get("prob", float("nan"))))
    return rows


def pair_readings(vectors_path: str | Path, source: str, target: str, spaces: dict[str, RunSpace],
                  k: int) -> pd.DataFrame:
    """Readings of every concept's source, native and transferred vector of one pair's vector file;
    ``spaces``: run name -> its space at the final dump (:func:`regeo.explain.open_space`)."""
    from regeo.io import load_tensors

    names = sorted(load_tensors(vectors_path))
    rows = []
    for name in names:
        concept, _, suffix = name.rpartition(".")
        if suffix not in VECTORS:
            continue
        label, side = VECTORS[suffix]
        run = source if side == "source" else target
        space = spaces[run]
        vector, _ = read_steering_vector(vectors_path, name)
        reading = explain_vector(space, vector, k=k, description=f"{concept} {label} ({source} -> {target})")
        described = dict(source=source, target=target, concept=concept, vector=label, tensor=name, run=run,
                         step=space.step, vector_norm=reading["vector"]["norm"], token_set=reading["token_set"],
                         n_tokens=reading["n_tokens"], lens_norm=reading["lens_norm"])
        rows += [{**described, **row} for row in reading_rows(reading)]
    return pd.DataFrame(rows)


def readings_html(table: pd.DataFrame) -> str:
    """The readings as one HTML table for the report: a row per vector, its tokens in order."""
    if table.empty:
        return "<p>No steering pairs configured (steering.pairs).</p>"
    keys = ["source", "target", "concept", "vector", "run", "step", "n_tokens"]
    rows = []
    for key, part in table.groupby(keys, sort=False):
        cells = dict(zip(keys, key))
        for kind in LISTS:
            listed = part[part["list"] == kind].sort_values("rank")
            cells[kind] = " ".join(f"{t!r} ({v:.2f})" for t, v in zip(listed["token"], listed["value"]))
        rows.append(cells)
    frame = pd.DataFrame(rows).rename(columns={"nearest": "nearest input embeddings (cosine)",
                                               "logit_lens": "logit lens (logit)", "n_tokens": "seen tokens"})
    return frame.to_html(index=False, escape=True)
