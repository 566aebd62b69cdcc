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


def palette(n: int) -> list[tuple]:
    """``n`` distinct colours: tab10 first (so up to ten subsets look as they always have), then
    tab20's lighter shades and tab20b's (the paper config draws 14 subsets and external runs),
    then evenly spaced hues."""
    colors = list(plt.get_cmap("tab10").colors) + list(plt.get_cmap("tab20").colors[1::2]) \
        + list(plt.get_cmap("tab20b").colors[::2])
    if n > len(colors):
        hsv = plt.get_cmap("hsv")
        colors += [hsv(i / (n - len(colors))) for i in range(n - len(colors))]
    return [tuple(c[:3]) + (1.0,) for c in colors[:n]]


def register_colors(names: list[str]) -> dict[str, tuple]:
    names = sorted(names)
    return dict(zip(names, palette(len(names))))
