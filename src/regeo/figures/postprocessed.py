"""Raw against postprocessed similarity per pair type: one panel per (matrix, measure), the pair
types along x, one marker per postprocessing (each pair a dot, the mean a bar), the rows-permuted
null as a grey cross, and the adjusted p of each change in the tick labels' panel title."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from regeo.analyses.postprocessed import MEASURES, PAIR_TYPES, unordered
from regeo.figures.common import palette
from regeo.figures.id_curves import EMBEDDINGS
from regeo.geometry.postprocess import METHODS, RAW

SHORT = {"standardised": "std", "abtt": "abtt"}
TITLES = {"cosine_similarity_correlation": "cosine-similarity correlation", "linear_cka": "linear CKA",
          "relative_error": "LLE relative error (lower: shared)", "jaccard": "kNN Jaccard"}


def _empty(text: str):
    fig, ax = plt.subplots(figsize=(4, 1.5))
    ax.text(0.5, 0.5, text, ha="center", va="center")
    ax.set_axis_off()
    return fig


def plot_postprocessed(tables: dict[str, pd.DataFrame], tests: pd.DataFrame):
    """``tables``: the global similarity and LLE comparison tables; ``tests``: their
    :func:`regeo.analyses.postprocessed.postprocess_tests` (the adjusted p per change)."""
    pairs = {}
    for (name, measure) in MEASURES:
        table = tables.get(name)
        if table is not None and "postprocess" in table and len(table[table["relation"] != "self"]):
            pairs[(name, measure)] = unordered(table[table["relation"] != "self"],
                                               [measure, f"{measure}_null_permuted"])
    if not pairs:
        return _empty("fewer than two models: no pairs to compare")
    rows = [e for e in EMBEDDINGS if any((p["embeddings"] == e).any() for p in pairs.values())]
    methods = [RAW] + [m for m in METHODS if any((p["postprocess"] == m).any() for p in pairs.values())]
    colors = dict(zip(methods, palette(len(methods))))
    fig, axes = plt.subplots(len(rows), len(pairs), figsize=(4.6 * len(pairs), 3.8 * len(rows)), squeeze=False)
    width = 0.8 / len(methods)
    for r, embeddings in enumerate(rows):
        for c, ((name, measure), table) in enumerate(pairs.items()):
            ax = axes[r][c]
            part = table[table["embeddings"] == embeddings]
            kinds = [k for k in PAIR_TYPES if (part["pair_type"] == k).any()]
            for j, method in enumerate(methods):
                for i, kind in enumerate(kinds):
                    cell = part[(part["pair_type"] == kind) & (part["postprocess"] == method)]
                    if cell.empty:
                        continue
                    x = i - 0.4 + width * (j + 0.5)
                    jitter = np.linspace(-width / 4, width / 4, len(cell)) if len(cell) > 1 else np.zeros(1)
                    ax.scatter(x + jitter, cell[measure], s=9, color=colors[method], alpha=0.6, linewidths=0)
                    ax.hlines(cell[measure].mean(), x - width / 2.2, x + width / 2.2, color=colors[method], lw=2.2,
                              label=method if i == 0 else None)
                    ax.scatter([x], [cell[f"{measure}_null_permuted"].mean()], marker="x", s=18, color="0.45",
                               label="rows permuted (null)" if i == 0 and j == 0 else None)
            labels = []
            for kind in kinds:
                found = tests[(tests["table"] == name) & (tests["measure"] == measure)
                              & (tests["embeddings"] == embeddings) & (tests["pair_type"] == kind)] \
                    if len(tests) else tests
                p_text = "\n".join(f"{SHORT[m]} p={p:.2g}" for m, p in zip(found.get("postprocess", []),
                                                                          found.get("p_adjusted", [])))
                pairs_n = int((part["pair_type"] == kind).sum() / len(methods))
                labels.append(f"{kind.replace('registers, ', 'reg., ')}\n(n={pairs_n})\n{p_text}")
            ax.set_xticks(range(len(kinds)), labels, fontsize=6.5)
            ax.set_title(f"{TITLES[measure]} ({embeddings})", fontsize=8)
            ax.tick_params(axis="y", labelsize=7)
            if r == 0 and c == 0:
                ax.legend(fontsize=6, loc="best")
    adjustment = tests["adjustment"].iloc[0] if len(tests) else "none"
    fig.suptitle("each dot a pair of final models, bars their mean; p: sign-flip test of the change from raw, "
                 f"{adjustment}-adjusted over the whole table", fontsize=8, y=1.0)
    fig.tight_layout()
    return fig
