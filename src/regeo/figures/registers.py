"""Register distribution of the corpus: documents per class, and per label before the class rules."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from regeo.registers import ALL_LABELS, MAIN_REGISTERS


def plot_register_distribution(registers: pd.DataFrame):
    """Left: share of documents per class (hybrids, unlabeled and too-short documents shown too).
    Right: documents carrying each main register label at the threshold."""
    classes = registers["register"].fillna("dropped").value_counts(normalize=True).sort_values()
    labels = registers["labels"].fillna("").str.split(",").explode()
    counts = labels[labels.isin(MAIN_REGISTERS)].value_counts().reindex(MAIN_REGISTERS, fill_value=0)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 0.28 * max(len(classes), 9) + 1.4))
    left.barh(classes.index, 100 * classes.to_numpy(), color="tab:blue")
    left.set_xlabel("% of documents")
    left.set_title(f"Register classes ({len(registers):,} documents)")
    for y, value in enumerate(classes.to_numpy()):
        left.text(100 * value, y, f" {100 * value:.1f}%", va="center", fontsize=7)
    right.barh(counts.index[::-1], counts.to_numpy()[::-1], color="tab:gray")
    right.set_xlabel("documents with the label (probability >= threshold)")
    right.set_title("Main register labels")
    fig.tight_layout()
    return fig
