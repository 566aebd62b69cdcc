"""What issue 27's additions to the ID cost: Gride rows and the Gaussian-mixture null.

Run by hand (minutes on 2 cores; not part of the tests):

    .venv/bin/python benchmarks/bench_id_nulls.py --sizes 2500 5000 10000 --d 768

On seeded matrices of n rows in d dimensions (a 20-dimensional manifold in d, plus noise, in 40
clusters: the shape of an embedding matrix), one run measures:

1. the ID table as it was before issue 27 (MLE at k = 10, 20, 50, both TwoNN forms, local PCA,
   the isotropic and covariance nulls, 1,000 bootstrap replicates): what every dump costs;
2. the same with Gride at n1 = 1, 2, 4, 8, 16 (the schema's default estimators now): the extra
   cost per dump;
3. the mixture null of the register comparison: the k-means/BIC fit and the ID of its sample,
   paid once per final matrix (geometry.id.comparison_nulls).

The times are extrapolated to the paper's dumps (50,000 x 768) by a power law fit through the
measured sizes, and multiplied out to a run (154 dumps) and to the comparison (one per final
model and matrix).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from regeo.geometry.id_table import IDConfig, id_table
from regeo.geometry.nulls import fit_mixture


def matrix(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, 20)) * 3
    latent = centres[rng.integers(0, 40, n)] + rng.standard_normal((n, 20))
    return (latent @ rng.standard_normal((20, d)) + 0.5 * rng.standard_normal((n, d))).astype(np.float32)


def config(estimators: tuple[str, ...], nulls: tuple[str, ...]) -> IDConfig:
    return IDConfig(ks=(10, 20, 50), metric="euclidean", estimators=estimators, local_pca_k=20,
                    local_pca_variance=0.9, nulls=nulls, null_seed=0, bootstrap_replicates=1000,
                    bootstrap_seed=0, confidence=0.95)


def timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def extrapolate(sizes, seconds, target: int) -> tuple[float, float]:
    """(seconds at ``target``, exponent) of a power law through the measured points."""
    slope, intercept = np.polyfit(np.log(sizes), np.log(seconds), 1)
    return float(np.exp(intercept + slope * np.log(target))), float(slope)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2500, 5000, 10000])
    parser.add_argument("--d", type=int, default=768)
    parser.add_argument("--target", type=int, default=50_000)
    parser.add_argument("--dumps", type=int, default=154)
    args = parser.parse_args()
    before = ("mle", "twonn", "twonn_mle", "local_pca")
    rows = {"before": [], "gride": [], "mixture_fit": [], "mixture_null": []}
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}; d = {args.d}")
    print("| n | ID table before issue 27 (s) | + Gride (s) | mixture fit (s, components) | mixture null's ID (s) |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for n in args.sizes:
        X = matrix(n, args.d)
        t_before, _ = timed(id_table, X, config(before, ("isotropic", "covariance")))
        t_gride, _ = timed(id_table, X, config((*before, "gride"), ("isotropic", "covariance")))
        t_fit, mixture = timed(fit_mixture, X, "euclidean")
        t_mixture, _ = timed(id_table, X, config((*before, "gride"), ("mixture",)))
        rows["before"].append(t_before)
        rows["gride"].append(t_gride - t_before)
        rows["mixture_fit"].append(t_fit)
        rows["mixture_null"].append(t_mixture)
        print(f"| {n:,} | {t_before:.1f} | {t_gride:.1f} | {t_fit:.1f} ({len(mixture['counts'])}) | {t_mixture:.1f} |")
    print(f"\nExtrapolated to {args.target:,} x {args.d} (power law through the sizes above):\n")
    base, e_base = extrapolate(args.sizes, rows["before"], args.target)
    extra = max(1e-3, float(np.median(rows["gride"]) / np.median(rows["before"]))) * base
    fit, e_fit = extrapolate(args.sizes, rows["mixture_fit"], args.target)
    null, e_null = extrapolate(args.sizes, rows["mixture_null"], args.target)
    print(f"- ID table per dump before issue 27: {base / 60:.1f} min (exponent {e_base:.2f}); per run of "
          f"{args.dumps} dumps: {args.dumps * base / 3600:.1f} h")
    print(f"- Gride per dump: {extra / 60:.2f} min ({100 * extra / base:.0f} % of the table); per run: "
          f"{args.dumps * extra / 3600:.2f} h")
    print(f"- mixture null per final matrix (id_comparison only): fit {fit / 60:.1f} min (exponent {e_fit:.2f}) + "
          f"its ID {null / 60:.1f} min (exponent {e_null:.2f})")


if __name__ == "__main__":
    main()
