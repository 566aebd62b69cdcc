"""Properties of the embedding space over training: one panel per property, a line per register."""

from __future__ import annotations

import pandas as pd

from regeo.figures.id_curves import NULL_LINES, plot_step_grid

# (property, panel title): a reading of each family, the frequency link of the norms last.
OVER_TRAINING = [
    ("mean_cosine", "mean pairwise cosine"),
    ("isoscore", "IsoScore"),
    ("rogue_share_top1", "rogue share, top dimension"),
    ("effective_rank", "effective rank"),
    ("spectral_alpha", "spectral decay alpha"),
    ("norm_frequency_spearman", "norm vs frequency (Spearman)"),
]
ISOTROPIC_NULL = [line for line in NULL_LINES["value"] if line[0] == "null_isotropic"]


def plot_properties_over_training(table: pd.DataFrame):
    """The properties of :data:`OVER_TRAINING` the table has, over steps; per register the mean over
    seeds with the seeds' min-max band (not the bootstrap intervals: most dumps have none), the
    isotropic null dashed."""
    present = set(table["property"])
    panels = [(f"property == '{name}'", "value", title) for name, title in OVER_TRAINING if name in present]
    return plot_step_grid(table, panels, "property value", nulls=ISOTROPIC_NULL)
