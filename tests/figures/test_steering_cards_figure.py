"""The cards figure: one panel per (concept, measure), one row per pair, significance by fill."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd

from regeo.figures.steering_cards import plot_steering_cards
from regeo.steering.judged import MEASURES


def test_cards_figure_draws_every_pair_concept_and_measure():
    rows = []
    for source in ("a", "b"):
        for concept in ("c1", "c2"):
            for vector in ("native", "transferred"):
                row = {"source": source, "target": "t", "concept": concept, "vector": vector, "alpha": 4.0}
                for measure in MEASURES:
                    row.update({f"{measure}_change": 0.1, f"{measure}_change_ci_low": 0.0,
                                f"{measure}_change_ci_high": 0.2, f"{measure}_significant": source == "a",
                                f"{measure}_p_adjusted": 0.01 if source == "a" else np.nan})
                rows.append(row)
    fig = plot_steering_cards(pd.DataFrame(rows))
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 2 * len(MEASURES)
    assert [t.get_text() for t in panels[0].get_yticklabels()] == ["a → t", "b → t"]
    assert len(plot_steering_cards(pd.DataFrame()).axes) == 1
