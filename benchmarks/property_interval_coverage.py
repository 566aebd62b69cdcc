"""Coverage of the property table's intervals for IsoScore and the effective rank (issue 29): the
percentile bootstrap interval against the basic one, on seeded Gaussians of a known spectrum
(eigenvalues linspace(1, 3)^2), whose population values follow from that spectrum.

    .venv/bin/python benchmarks/property_interval_coverage.py --n 400 --d 8 --draws 200
"""

from __future__ import annotations

import argparse

import numpy as np

from regeo.geometry.intervals import TokenBootstrap
from regeo.geometry.properties import effective_rank, isoscore


def population(spectrum: np.ndarray) -> dict[str, float]:
    singular = np.sqrt(spectrum) / np.sqrt(spectrum).sum()
    d = len(spectrum)
    normalised = spectrum * np.sqrt(d) / np.linalg.norm(spectrum)
    defect = np.linalg.norm(normalised - 1) / np.sqrt(2 * (d - np.sqrt(d)))
    return {"isoscore": float(((d - defect ** 2 * (d - np.sqrt(d))) ** 2 - d) / (d * (d - 1))),
            "effective_rank": float(np.exp(-(singular * np.log(singular)).sum()))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--d", type=int, default=8)
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--replicates", type=int, default=200)
    args = parser.parse_args()
    spectrum = np.linspace(1, 3, args.d) ** 2
    truth = population(spectrum)
    measures = {"isoscore": isoscore, "effective_rank": effective_rank}
    hits = {(name, kind): 0 for name in measures for kind in ("percentile", "basic")}
    for draw in range(args.draws):
        X = np.random.default_rng(draw).standard_normal((args.n, args.d)) * np.sqrt(spectrum)
        boot = TokenBootstrap(args.replicates, draw, 0.95)
        for name, measure in measures.items():
            value = measure(X)
            replicates = boot.replicate(args.n, lambda idx: [measure(X[row]) for row in idx])
            for kind, (low, high) in (("percentile", boot.percentiles(replicates)),
                                      ("basic", boot.basic(replicates, value))):
                hits[(name, kind)] += low <= truth[name] <= high
    print(f"n {args.n}, d {args.d}, {args.draws} draws x {args.replicates} replicates; population {truth}")
    for (name, kind), hit in hits.items():
        print(f"{name:15s} {kind:10s} coverage {hit / args.draws:.3f}")


if __name__ == "__main__":
    main()
