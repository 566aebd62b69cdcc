"""docs/reproduce.md's figure map, read as the tests' list of what each paper config must make."""

from __future__ import annotations

import re

from snakemake_helpers import REPO

REPRODUCE = REPO / "docs" / "reproduce.md"


def figure_map() -> list[dict[str, str]]:
    """The map's rows as dicts keyed by its header (paper, paper figure, config, ...)."""
    lines = [line for line in REPRODUCE.read_text().splitlines() if line.startswith("| ")]
    cells = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines]
    header, rows = cells[0], [row for row in cells[1:] if not set("".join(row)) <= set("- ")]
    assert "config" in header and "output" in header, header
    return [dict(zip(header, row)) for row in rows]


def mapped_outputs(config: str) -> list[str]:
    """Every output file (``results/...``) that the map names for ``config`` (``config/NAME.yaml``)."""
    return [path for row in figure_map() if f"`{config}`" in row["config"]
            for path in re.findall(r"`(results/[^`]+)`", row["output"])]
