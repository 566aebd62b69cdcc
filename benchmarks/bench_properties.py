"""What the property suite of issue 29 costs per dump, against what a user would otherwise run.

Run by hand (minutes at full size; not part of the tests):

    .venv/bin/python benchmarks/bench_properties.py --n 50000 --d 768 --replicates 100

On one seeded float32 matrix (bench_geometry's embedding-like cloud, plus a mean offset so that
the cosine measures have something to read), in one process:

1. the references a user would call: the ``isoscore`` package's ``IsoScore`` (one number), and
   numpy's singular values of the centred matrix (``np.linalg.svd(..., compute_uv=False)``: the
   effective rank, participation ratio and spectral decay follow from them);
2. our whole suite once (``property_values``: every property, no nulls, no intervals), as a
   ratio to the two references together;
3. the table a dump gets (``property_table``: the suite on the matrix, on both nulls, and on
   ``--replicates`` resamples), and the time per replicate, extrapolated to the schema's 200
   replicates and to a run of 154 dumps.

Agreement: our IsoScore against the package's on the same float32 matrix, our effective rank
and participation ratio against the SVD's, and every property of the float32 matrix (products in
float32) against the same matrix in float64.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from bench_geometry import LOADS, embedding_like, machine, peak_rss_gib, timed
from regeo.geometry.properties import property_table, property_values


def matrix(n: int, d: int, seed: int) -> np.ndarray:
    """(n, d) float32: the embedding-like cloud moved off the origin by half its rms row norm."""
    X = embedding_like(n, d, seed)
    direction = np.random.default_rng(seed + 1).standard_normal(d).astype(np.float32)
    rms = float(np.sqrt(np.einsum("ij,ij->", X, X, dtype=np.float64) / n))
    return X + direction * np.float32(0.5 * rms / np.linalg.norm(direction))


def spectrum_from_svd(X: np.ndarray) -> tuple[float, float]:
    """(effective rank, participation ratio) from numpy's singular values of the centred rows."""
    s = np.linalg.svd(X - X.mean(0), compute_uv=False).astype(np.float64)
    p = s / s.sum()
    lam = s ** 2
    return float(np.exp(-(p * np.log(p)).sum())), float(lam.sum() ** 2 / (lam ** 2).sum())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50_000, help="rows (tokens)")
    parser.add_argument("--d", type=int, default=768, help="columns (embedding width)")
    parser.add_argument("--replicates", type=int, default=100, help="bootstrap replicates of the timed table")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dumps", type=int, default=154, help="dumps per run, for the extrapolation")
    parser.add_argument("--json", help="write the raw numbers here")
    args = parser.parse_args(argv)
    import torch
    from IsoScore import IsoScore

    X = matrix(args.n, args.d, args.seed)
    r = {"machine": machine(), "n": args.n, "d": args.d, "replicates": args.replicates}
    print(f"{r['machine']}; {args.n} x {args.d} float32, load {os.getloadavg()[0]:.1f}", flush=True)
    r["isoscore_package_s"], package = timed(lambda: float(IsoScore.IsoScore(X)))
    r["svd_s"], (svd_rank, svd_pr) = timed(spectrum_from_svd, X)
    r["peak_rss_references_gib"] = peak_rss_gib()
    r["suite_s"], ours = timed(property_values, X)
    print(f"references: IsoScore {r['isoscore_package_s']:.1f} s, SVD {r['svd_s']:.1f} s; suite once "
          f"{r['suite_s']:.1f} s", flush=True)
    r["table_s"], table = timed(property_table, X, bootstrap_replicates=args.replicates)
    r["per_replicate_s"] = (r["table_s"] - 3 * r["suite_s"]) / args.replicates  # the matrix and 2 nulls once each
    r["table_200_s"] = 3 * r["suite_s"] + 200 * r["per_replicate_s"]
    r["run_h"] = args.dumps * r["table_200_s"] / 3600
    r["ratio_suite_to_references"] = r["suite_s"] / (r["isoscore_package_s"] + r["svd_s"])
    r["isoscore"] = {"ours": ours["isoscore"], "package": package,
                     "rel_diff": abs(ours["isoscore"] - package) / abs(package)}
    r["effective_rank"] = {"ours": ours["effective_rank"], "svd": svd_rank}
    r["participation_ratio"] = {"ours": ours["participation_ratio"], "svd": svd_pr}
    r["peak_rss_gib"] = peak_rss_gib()  # before the float64 copy below
    r["suite_float64_s"], ours64 = timed(property_values, X.astype(np.float64))
    r["float32_vs_float64_max_rel_diff"] = max(abs(ours[k] - ours64[k]) / abs(ours64[k]) for k in ours64 if ours64[k])
    r["load_min"], r["load_max"] = min(LOADS), max(LOADS)
    r["torch_threads"] = torch.get_num_threads()
    print(f"table with {args.replicates} replicates and 2 nulls: {r['table_s']:.1f} s "
          f"({r['per_replicate_s']:.2f} s a replicate; {r['table_200_s'] / 60:.1f} min at 200 replicates, "
          f"{r['run_h']:.1f} h for {args.dumps} dumps)")
    print(f"suite once / (IsoScore package + SVD) = {r['ratio_suite_to_references']:.2f}x")
    print(f"IsoScore ours {ours['isoscore']:.8f} package {package:.8f} (rel. diff {r['isoscore']['rel_diff']:.1e}); "
          f"effective rank {ours['effective_rank']:.6f} vs SVD {svd_rank:.6f}; "
          f"participation ratio {ours['participation_ratio']:.6f} vs SVD {svd_pr:.6f}")
    print(f"float32 products vs float64: every property within {r['float32_vs_float64_max_rel_diff']:.1e} "
          f"(relative; float64 suite {r['suite_float64_s']:.1f} s)")
    print(f"peak memory {r['peak_rss_references_gib']:.2f} GiB after the references, {r['peak_rss_gib']:.2f} GiB "
          f"after the table; load average {r['load_min']:.1f}-{r['load_max']:.1f}")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(r, handle, indent=1)
    return 0


if __name__ == "__main__":
    start = time.perf_counter()
    code = main()
    print(f"total {time.perf_counter() - start:.0f} s")
    raise SystemExit(code)
