"""Benchmark of regeo.geometry against scikit-dimension and scikit-learn, in one run.

Run by hand (minutes at full size; not part of the tests):

    .venv/bin/python benchmarks/bench_geometry.py --n 50000 --d 768 --device cpu --output bench.md

Measures, on one seeded float32 matrix:

1. the float32 GEMM rate (GFLOP/s) of this machine, and the floor 2 n^2 d / rate of a full
   distance computation; the bfloat16 rate too when the kNN screens in bfloat16;
2. our exact kNN (k = the largest k of the ID suite), as a ratio to that floor, with the
   candidate screen the library picks here (``screen="auto"``, as every caller gets it) and,
   when that is bfloat16, once with the float32 screen for comparison;
3. the whole ID table (MLE at every k, both TwoNN forms, local PCA) from one kNN pass, against
   obtaining the same numbers from scikit-dimension, one call per estimator and k as a user would
   (each call searches its own neighbours);
4. LLE: our kNN + barycenter weights against sklearn's NearestNeighbors + barycenter_weights,
   and the weights step alone on the same neighbours;
5. peak memory (ru_maxrss) after our steps and after the reference libraries.

Agreement with the references is reported beside the timings. The references run on the same
float32 matrix as a user would pass it (sklearn then computes distances and LLE weights in
float32 precision), so their values differ from ours at the float32 level; the 1e-6 equality on
float64 input is what the tests check.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import warnings

import numpy as np
import torch

from regeo.geometry.id_table import IDConfig, id_table
from regeo.geometry.knn import _screen_dtype, exact_knn
from regeo.geometry.lle import barycenter_weights


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


LOADS: list[float] = []  # 1-minute load average around every timed step: other users of the cores


def timed(fn, *args, **kwargs):
    LOADS.append(os.getloadavg()[0])
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    elapsed = time.perf_counter() - start
    LOADS.append(os.getloadavg()[0])
    return elapsed, out


def embedding_like(n: int, d: int, seed: int) -> np.ndarray:
    """Anisotropic Gaussian cloud with a power-law spectrum, like trained token embeddings."""
    rng = np.random.default_rng(seed)
    scales = np.arange(1, d + 1, dtype=np.float32) ** -0.5  # (d,)
    basis, _ = np.linalg.qr(rng.standard_normal((d, d)))
    X = (rng.standard_normal((n, d), dtype=np.float32) * scales) @ basis.astype(np.float32)
    return np.ascontiguousarray(X, dtype=np.float32)  # (n, d)


def gemm_rate(n: int, d: int, device: torch.device, seconds: float = 9.0, dtype=torch.float32) -> float:
    """Best GEMM rate (Z_rows @ Z_cols^T into a reused buffer) over a few block shapes.

    The best shape is taken, not the one our kNN uses, so the floor is not flattered.
    """
    torch.set_float32_matmul_precision("highest")
    Z = torch.randn(n, d, device=device).to(dtype)
    best = 0.0
    for rows, cols in ((1280, n), (4096, min(n, 16384)), (2048, min(n, 32768))):
        rows = min(rows, n)
        out = torch.empty(rows, cols, device=device, dtype=dtype)  # at most 256 MiB
        torch.mm(Z[:rows], Z[:cols].T, out=out)  # warm-up: page in the buffer, load the kernels
        reps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 3:
            torch.mm(Z[:rows], Z[:cols].T, out=out)
            if device.type == "cuda":
                torch.cuda.synchronize()
            reps += 1
        best = max(best, 2.0 * rows * cols * d * reps / (time.perf_counter() - start) / 1e9)
    return best


def table_rows(cfg: IDConfig):
    """(estimator, k) rows of the table in the order id_table returns them."""
    return [("mle", k) for k in cfg.ks] + [("twonn", 2), ("twonn_mle", 2), ("local_pca", cfg.local_pca_k)]


def skdim_table(X: np.ndarray, cfg: IDConfig) -> tuple[dict, dict]:
    """The same numbers from scikit-dimension, one call per estimator and k; returns (values, seconds)."""
    import skdim

    values, seconds = {}, {}
    for k in cfg.ks:
        t, est = timed(skdim.id.MLE().fit, X, n_neighbors=k, comb="mle")
        values["mle", k], seconds["mle", k] = est.dimension_, t
        print(f"  skdim MLE k={k}: {t:.1f} s", flush=True)
    t, est = timed(skdim.id.TwoNN(discard_fraction=cfg.twonn_discard).fit, X)
    values["twonn", 2], seconds["twonn", 2] = est.dimension_, t
    print(f"  skdim TwoNN: {t:.1f} s", flush=True)
    t, est = timed(skdim.id.TwoNN(discard_fraction=0.0, method="mle").fit, X)
    values["twonn_mle", 2], seconds["twonn_mle", 2] = est.dimension_, t
    print(f"  skdim TwoNN mle: {t:.1f} s", flush=True)
    lpca = skdim.id.lPCA(ver="ratio", alphaRatio=cfg.local_pca_variance)
    t, est = timed(lpca.fit_pw, X, n_neighbors=cfg.local_pca_k)
    values["local_pca", cfg.local_pca_k], seconds["local_pca", cfg.local_pca_k] = float(np.mean(est.dimension_pw_)), t
    print(f"  skdim lPCA fit_pw k={cfg.local_pca_k}: {t:.1f} s", flush=True)
    return values, seconds


def machine() -> str:
    try:
        model = next(line.split(":", 1)[1].strip() for line in subprocess.run(
            ["lscpu"], capture_output=True, text=True).stdout.splitlines() if line.startswith("Model name"))
    except (StopIteration, OSError):
        model = platform.processor() or "unknown CPU"
    return f"{model}, {torch.get_num_threads()} torch threads, {os.cpu_count()} CPUs"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50000, help="rows (tokens)")
    parser.add_argument("--d", type=int, default=768, help="columns (embedding width)")
    parser.add_argument("--device", default="cpu", help="torch device of our code (cpu, cuda)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ks", default="10,20,50", help="MLE neighbourhood sizes")
    parser.add_argument("--local-pca-k", type=int, default=20)
    parser.add_argument("--lle-k", type=int, default=10)
    parser.add_argument("--skip-reference", action="store_true", help="time our code only (e.g. on a GPU)")
    parser.add_argument("--output", help="write the markdown table here")
    parser.add_argument("--json", help="write the raw numbers here")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")  # skdim's divide-by-zero in its discard=0 line fit

    device = torch.device(args.device)
    # The schema's values, spelled out (IDConfig has no defaults for config fields); no nulls and
    # no intervals, so the time is that of the estimators, comparable with scikit-dimension's.
    cfg = IDConfig(ks=tuple(int(k) for k in args.ks.split(",")), metric="euclidean",
                   estimators=("mle", "twonn", "twonn_mle", "local_pca"), local_pca_k=args.local_pca_k,
                   local_pca_variance=0.9, nulls=(), null_seed=0, bootstrap_replicates=0, bootstrap_seed=0,
                   confidence=0.95, device=args.device)
    n, d = args.n, args.d
    print(f"data {n} x {d} float32, device {device}, {machine()}", flush=True)
    X = embedding_like(n, d, args.seed)
    r = {"n": n, "d": d, "device": str(device), "machine": machine(), "command": " ".join(sys.argv)}

    r["gemm_gflops"] = gemm_rate(n, d, device)
    r["floor_s"] = 2.0 * n * n * d / (r["gemm_gflops"] * 1e9)
    print(f"GEMM {r['gemm_gflops']:.0f} GFLOP/s, floor {r['floor_s']:.1f} s", flush=True)
    r["screen"] = str(_screen_dtype("auto", device, d)).replace("torch.", "")
    if r["screen"] == "bfloat16":
        r["gemm_bf16_gflops"] = gemm_rate(n, d, device, dtype=torch.bfloat16)
        print(f"bfloat16 GEMM {r['gemm_bf16_gflops']:.0f} GFLOP/s; kNN screen {r['screen']}", flush=True)

    kmax = r["kmax"] = cfg.max_k
    # Twice: the first call also pays one-off costs (page faults, thread start); the GEMM rate
    # above is a best case too. Both are reported.
    r["knn_runs_s"] = [timed(exact_knn, X, kmax, device=device)[0] for _ in range(2)]
    r["knn_s"] = min(r["knn_runs_s"])
    print(f"our kNN k={kmax}: {r['knn_runs_s'][0]:.1f} s, {r['knn_runs_s'][1]:.1f} s", flush=True)
    if r["screen"] != "float32":
        r["knn_f32_s"] = timed(exact_knn, X, kmax, device=device, screen="float32")[0]
        print(f"our kNN k={kmax}, float32 screen: {r['knn_f32_s']:.1f} s", flush=True)
    r["id_table_s"], table = timed(id_table, X, cfg)
    print(f"our ID table: {r['id_table_s']:.1f} s\n{table}", flush=True)
    ours = {(e, int(k)): v for e, k, v in zip(table["estimator"], table["k"], table["value"])}

    r["lle_knn_s"], lle_knn = timed(exact_knn, X, args.lle_k, device=device)
    r["lle_weights_s"], w_ours = timed(barycenter_weights, X, lle_knn.indices, 1e-3, device)
    r["lle_s"] = r["lle_knn_s"] + r["lle_weights_s"]
    print(f"our LLE: kNN {r['lle_knn_s']:.1f} s + weights {r['lle_weights_s']:.1f} s", flush=True)
    r["peak_rss_ours_gib"] = peak_rss_gib()

    if not args.skip_reference:
        from sklearn.manifold._locally_linear import barycenter_weights as sk_weights
        from sklearn.neighbors import NearestNeighbors

        t_nn, (_, ind) = timed(lambda: NearestNeighbors(n_neighbors=args.lle_k).fit(X).kneighbors())
        t_w, w_sk = timed(sk_weights, X, X, ind, 1e-3)
        r["sk_lle_knn_s"], r["sk_lle_weights_s"], r["sk_lle_s"] = t_nn, t_w, t_nn + t_w
        r["lle_knn_jaccard_vs_sklearn"] = float(np.mean(
            [len(set(a) & set(b)) / len(set(a) | set(b)) for a, b in zip(ind, lle_knn.indices)]))
        r["ours_weights_on_sklearn_ind_s"], w_same = timed(barycenter_weights, X, ind, 1e-3, device)
        w_sk64 = sk_weights(X.astype(np.float64), X.astype(np.float64), ind, 1e-3)  # untimed, for accuracy
        r["lle_weights_max_abs_diff_vs_sklearn_f64"] = float(np.abs(w_same - w_sk64).max())
        r["lle_weights_max_abs_diff_vs_sklearn_f32"] = float(np.abs(w_same - w_sk).max())
        print(f"sklearn LLE: NN {t_nn:.1f} s + weights {t_w:.1f} s", flush=True)

        sk_values, sk_seconds = skdim_table(X, cfg)
        r["skdim_s"] = sum(sk_seconds.values())
        r["skdim_rows"] = [
            {"estimator": e, "k": k, "ours": ours[e, k], "skdim": sk_values[e, k], "skdim_s": sk_seconds[e, k],
             "rel_diff": abs(ours[e, k] - sk_values[e, k]) / abs(sk_values[e, k])}
            for e, k in table_rows(cfg)]
        r["peak_rss_all_gib"] = peak_rss_gib()

    r["load_min"], r["load_max"] = min(LOADS), max(LOADS)
    report = markdown(r)
    print(report)
    if args.output:
        with open(args.output, "w") as fh:
            fh.write(report)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(r, fh, indent=1, default=str)
    return 0


def markdown(r: dict) -> str:
    lines = [
        f"Machine: {r['machine']}; device `{r['device']}`; data {r['n']} x {r['d']} float32.",
        f"Command: `{r['command']}`",
        f"1-minute load average around the timed steps: {r['load_min']:.2f} to {r['load_max']:.2f} "
        f"(this process alone adds about {torch.get_num_threads()}; more means other jobs shared the cores).",
        "",
        "| measurement | ours | reference | ratio | goal |",
        "| --- | --- | --- | --- | --- |",
        f"| float32 GEMM rate | {r['gemm_gflops']:.0f} GFLOP/s | | | |",
    ]
    if "gemm_bf16_gflops" in r:
        lines.append(f"| bfloat16 GEMM rate (float32 accumulation) | {r['gemm_bf16_gflops']:.0f} GFLOP/s | | | |")
    lines += [
        f"| exact kNN (k={r['kmax']}, {r['screen']} screen) vs float32 GEMM floor 2n²d, best of 2 runs "
        f"({r['knn_runs_s'][0]:.1f} s, {r['knn_runs_s'][1]:.1f} s) | {r['knn_s']:.1f} s | floor {r['floor_s']:.1f} s "
        f"| {r['knn_s'] / r['floor_s']:.2f}x floor | <= 1.5x floor |",
    ]
    if "knn_f32_s" in r:
        lines.append(f"| exact kNN (k={r['kmax']}), float32 screen | {r['knn_f32_s']:.1f} s | floor {r['floor_s']:.1f} s "
                     f"| {r['knn_f32_s'] / r['floor_s']:.2f}x floor | |")
    if "skdim_s" in r:
        lines += [
            f"| ID table (one kNN pass) vs scikit-dimension | {r['id_table_s']:.1f} s | {r['skdim_s']:.1f} s "
            f"| {r['skdim_s'] / r['id_table_s']:.1f}x faster | >= 5x |",
            f"| LLE: kNN + weights vs NearestNeighbors + barycenter_weights | {r['lle_s']:.1f} s "
            f"| {r['sk_lle_s']:.1f} s | {r['sk_lle_s'] / r['lle_s']:.1f}x faster | >= 5x |",
            f"| LLE weights alone (same neighbours) | {r['ours_weights_on_sklearn_ind_s']:.2f} s "
            f"| {r['sk_lle_weights_s']:.2f} s | {r['sk_lle_weights_s'] / r['ours_weights_on_sklearn_ind_s']:.1f}x "
            "faster | >= 10x |",
        ]
    else:
        lines.append(f"| ID table (one kNN pass) | {r['id_table_s']:.1f} s | | | |")
        lines.append(f"| LLE: kNN + weights | {r['lle_s']:.1f} s | | | |")
    lines.append(f"| peak memory (ru_maxrss) after our steps | {r['peak_rss_ours_gib']:.2f} GiB | | | |")
    if "peak_rss_all_gib" in r:
        lines.append(f"| peak memory after the reference libraries | | {r['peak_rss_all_gib']:.2f} GiB | | |")
    if "skdim_rows" in r:
        lines += ["", "| estimator | k | ours | scikit-dimension | rel. diff | skdim time |",
                  "| --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {row['estimator']} | {row['k']} | {row['ours']:.6f} | {row['skdim']:.6f} "
                  f"| {row['rel_diff']:.1e} | {row['skdim_s']:.1f} s |" for row in r["skdim_rows"]]
        lines += ["", f"LLE neighbours, mean Jaccard ours vs sklearn: {r['lle_knn_jaccard_vs_sklearn']:.6f}; "
                  f"weights on the same neighbours, max abs diff vs sklearn in float64: "
                  f"{r['lle_weights_max_abs_diff_vs_sklearn_f64']:.1e} (vs sklearn's float32 computation: "
                  f"{r['lle_weights_max_abs_diff_vs_sklearn_f32']:.1e})."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
