"""Shared figure plumbing: headless backend, atomic PDF+PNG output without timestamps."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from regeo.io import atomic_path  # noqa: E402


def save_figure(fig, pdf_path: str | Path, png_path: str | Path, dpi: int = 150) -> None:
    """Write ``fig`` as PDF and PNG; metadata dates are dropped so reruns give identical files."""
    with atomic_path(pdf_path, ".pdf") as tmp:
        fig.savefig(tmp, format="pdf", bbox_inches="tight", metadata={"CreationDate": None, "ModDate": None})
    with atomic_path(png_path, ".png") as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def register_colors(names: list[str]) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab10")
    return {name: cmap(i % 10) for i, name in enumerate(sorted(names))}
