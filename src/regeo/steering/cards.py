"""One card per (pair, concept, vector): what the vector does, in the numbers a practitioner asks for.

A card joins, for a vector judged in the target model (rule ``steering_judge``,
:mod:`regeo.steering.judged`) at the card's alpha (the judge's largest |alpha|, the setting the
judged changes are largest at):

- ``effect`` with its interval, ``effect_p_adjusted`` and ``effect_significant``: the log-likelihood
  or log-odds effect per unit alpha from ``native.parquet`` (vector ``native``) or
  ``transfer.parquet`` (the map of the vector's kind; :func:`transfer_row_of`);
- the per-passage columns the pair tables may carry (:data:`CARRIED_COLUMNS`: the anti-steerable
  fraction and the coherence of the passage differences), where present; absent ones are left out;
- the judged changes from alpha 0 of ``concept`` (the classifier shift), ``fluency`` (the
  completions' loss under the unsteered model) and ``loss`` (the held-out val loss with the
  vector), each with its paired interval, sign-flip p and floor.

Family: the judged tests of the whole cards table (three measures per card), each vector tested
once: a native vector is the same in every pair job into its target (the judged native rows of
those jobs agree, and one is kept in the family; the others carry its adjusted p), and a
self-transfer's transferred vector is the native one carried by a map fit on the model itself
(plumbing, not a test: NaN). Adjusted with ``steering.adjustment`` (Holm by default); a change is
``significant`` on the adjusted p only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from regeo.stats import adjust
from regeo.steering.judged import MEASURES

# Per-passage steerability columns of native.parquet / transfer.parquet carried onto a card when
# the pair tables have them (issue 31's per-passage analysis adds them; older tables do not).
CARRIED_COLUMNS = ("anti_steerable_fraction", "anti_steerable_fraction_ci_low", "anti_steerable_fraction_ci_high",
                   "coherence")
EFFECT_COLUMNS = ("effect", "effect_ci_low", "effect_ci_high")
CARD_KEY = ["source", "target", "concept", "vector"]
JUDGED_COLUMNS = ("change", "change_ci_low", "change_ci_high", "value", "reference", "p_value", "p_min")


def card_alpha(alphas) -> float:
    """The judge's largest |alpha| (the positive one on a tie)."""
    alphas = sorted({float(a) for a in alphas}, key=lambda a: (abs(a), a))
    return alphas[-1]


def transfer_row_of(transfer: pd.DataFrame, vector: str) -> pd.Series:
    """(rows of ``transfer``) -> bool: the rows of a saved vector kind: ``transferred`` is the default
    map's, ``transferred_{rows}`` a variant map's, any other kind its own condition's."""
    if vector == "transferred":
        return (transfer["condition"] == "transferred") & transfer["default_map"].astype(bool)
    if vector.startswith("transferred_"):
        return (transfer["condition"] == "transferred") & (transfer["map"] == vector[len("transferred_"):])
    return transfer["condition"] == vector


def effect_columns(row, transfer: pd.DataFrame, native: pd.DataFrame) -> dict:
    """The effect, its verdict and the carried columns of one card."""
    if row["vector"] == "native":
        match = native[(native["target"] == row["target"]) & (native["concept"] == row["concept"])]
    elif transfer.empty:
        match = transfer
    else:
        match = transfer[(transfer["source"] == row["source"]) & (transfer["target"] == row["target"])
                         & (transfer["concept"] == row["concept"]) & transfer_row_of(transfer, row["vector"])]
    if match.empty:
        return {column: np.nan for column in EFFECT_COLUMNS}
    found = match.iloc[0]
    out = {column: float(found[column]) for column in EFFECT_COLUMNS}
    out["effect_p_adjusted"] = float(found.get("p_adjusted", np.nan))
    out["effect_significant"] = bool(found.get("significant", False))
    out.update({column: found[column] for column in CARRIED_COLUMNS if column in found.index})
    return out


def build_cards(judged: pd.DataFrame, transfer: pd.DataFrame, native: pd.DataFrame, adjustment: str
                ) -> pd.DataFrame:
    """The cards table (module docstring) from every pair's judged rows and the summary tables."""
    if judged.empty:
        return pd.DataFrame()
    alpha = card_alpha(judged["alpha"])
    at = judged[judged["alpha"] == alpha]
    rows = []
    for key, part in at.groupby(CARD_KEY, sort=False):
        row = dict(zip(CARD_KEY, key))
        first = part.iloc[0]
        row.update(alpha=alpha, judge=first["judge"], judge_accuracy=first["judge_accuracy"],
                   layer_target=first["layer_target"], confidence=first["confidence"])
        for measure in MEASURES:
            found = part[part["measure"] == measure]
            for column in JUDGED_COLUMNS:
                row[f"{measure}_{column}"] = float(found[column].iloc[0]) if len(found) else np.nan
            row[f"{measure}_n_units"] = int(found["n_units"].iloc[0]) if len(found) else 0
        row.update(effect_columns(row, transfer, native))
        rows.append(row)
    cards = pd.DataFrame(rows)
    return adjusted_cards(cards, adjustment)


def adjusted_cards(cards: pd.DataFrame, adjustment: str) -> pd.DataFrame:
    """``{measure}_p_adjusted`` and ``{measure}_significant`` over the table's family (module docstring)."""
    cards = cards.copy()
    self_transfer = (cards["source"] == cards["target"]) & (cards["vector"] != "native")
    native = cards["vector"] == "native"
    # The first judged row of each (target, concept) native vector stands for its copies.
    first_native = native & ~cards.duplicated(["target", "concept", "vector"])
    tested = ~self_transfer & (~native | first_native)
    p = np.concatenate([cards.loc[tested, f"{m}_p_value"].to_numpy() for m in MEASURES])
    adjusted = adjust(p, adjustment) if p.size else p
    n = int(tested.sum())
    for k, measure in enumerate(MEASURES):
        column = pd.Series(np.nan, index=cards.index)
        column[tested] = adjusted[k * n:(k + 1) * n]
        standing = cards.loc[first_native, ["target", "concept"]].assign(p=column[first_native].to_numpy())
        lookup = {(t, c): p for t, c, p in standing.itertuples(index=False)}
        copies = native & ~first_native
        column[copies] = [lookup.get((t, c), np.nan) for t, c in zip(cards.loc[copies, "target"],
                                                                        cards.loc[copies, "concept"])]
        cards[f"{measure}_p_adjusted"] = column
        cards[f"{measure}_significant"] = column < 1 - cards["confidence"]
    cards["adjustment"] = adjustment
    cards["n_tests"] = len(p)
    cards["tested"] = np.where(self_transfer, "no (self-transfer)", np.where(native & ~first_native,
                                                                            "as the first copy of this native vector",
                                                                            "yes"))
    return cards


MEASURE_LABELS = {"concept": "classifier shift (tokens: target share)", "fluency": "fluency change (nats/token)",
                  "loss": "val loss change (nats/token)"}


def cards_html(cards: pd.DataFrame) -> str:
    """The cards as one HTML table for the report: each number with its interval, adjusted p and verdict."""
    if cards.empty:
        return "<p>No steering pairs configured (steering.pairs).</p>"

    def cell(value, low, high, p=None, significant=None):
        if not np.isfinite(value):
            return "n/a"
        text = f"{value:+.3g} [{low:+.3g}, {high:+.3g}]"
        if p is not None and np.isfinite(p):
            text += f", p adj. {p:.2g}" + ("" if significant else " (not significant)")
        return text

    out = []
    for row in cards.to_dict("records"):
        line = {"pair": f"{row['source']} → {row['target']}", "concept": row["concept"], "vector": row["vector"],
                "alpha": row["alpha"],
                "effect": cell(row["effect"], row["effect_ci_low"], row["effect_ci_high"],
                               row.get("effect_p_adjusted"), row.get("effect_significant"))}
        if "anti_steerable_fraction" in row:
            line["anti-steerable fraction"] = cell(row["anti_steerable_fraction"],
                                                   row.get("anti_steerable_fraction_ci_low", np.nan),
                                                   row.get("anti_steerable_fraction_ci_high", np.nan))
        for measure in MEASURES:
            line[MEASURE_LABELS[measure]] = cell(row[f"{measure}_change"], row[f"{measure}_change_ci_low"],
                                                 row[f"{measure}_change_ci_high"], row[f"{measure}_p_adjusted"],
                                                 row[f"{measure}_significant"])
        line["judge (held-out accuracy)"] = f"{row['judge']} ({row['judge_accuracy']:.2f})" \
            if np.isfinite(row["judge_accuracy"]) else row["judge"]
        out.append(line)
    return pd.DataFrame(out).to_html(index=False, escape=True)
