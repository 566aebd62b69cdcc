"""Where the exact kNN spends its time: wall time of its parts on the benchmark matrix.

Run by hand:

    .venv/bin/python benchmarks/profile_knn.py --n 50000 --d 768 --k 10 --screen bfloat16

Wraps the library's own calls (matrix products, ``topk``, ``nonzero``, the float64 distance
pass, the bfloat16 screen's construction) with timers for one search and prints the totals;
"other" is the rest of the search (elementwise comparisons, merges, sorting, set-up).
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import torch

import regeo.geometry.knn as knn
from bench_geometry import embedding_like, machine


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50000)
    parser.add_argument("--d", type=int, default=768)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--screen", default="auto", choices=knn.SCREENS)
    args = parser.parse_args(argv)
    X = embedding_like(args.n, args.d, args.seed)
    seconds, calls = defaultdict(float), defaultdict(int)

    def timer(name, fn):
        def wrapped(*a, **kw):
            start = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                seconds[name] += time.perf_counter() - start
                calls[name] += 1
        return wrapped

    knn._screen_dtype(args.screen, torch.device("cpu"), args.d)  # the auto timing, outside the profile
    mm, topk, nonzero = torch.mm, torch.topk, torch.nonzero
    exact_d2, bf16_screen = knn._Exact.d2, knn._bf16_screen
    knn.torch.mm = timer("matrix products", torch.mm)  # knn's `torch` is the torch module: restored below
    knn.torch.topk = timer("topk", torch.topk)
    knn.torch.nonzero = timer("nonzero", torch.nonzero)
    knn._Exact.d2 = timer("float64 distances (calls after the first: rows redone)", exact_d2)
    knn._bf16_screen = timer("bfloat16 screen columns", bf16_screen)
    try:
        start = time.perf_counter()
        knn.exact_knn(X, args.k, screen=args.screen)
        total = time.perf_counter() - start
    finally:
        torch.mm, torch.topk, torch.nonzero = mm, topk, nonzero
        knn._Exact.d2, knn._bf16_screen = exact_d2, bf16_screen
    print(f"{args.n} x {args.d}, k = {args.k}, screen {args.screen}; {machine()}")
    for name, s in seconds.items():
        print(f"  {name}: {s:.2f} s ({calls[name]} calls)")
    print(f"  other: {total - sum(seconds.values()):.2f} s\n  total: {total:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
