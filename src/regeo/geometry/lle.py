"""LLE reconstruction weights (Roweis & Saul 2000) and the cross-model comparison of Lee et al. 2025.

For point x_i with neighbours x_j (j in N(i)), the weights minimise |x_i - sum_j w_j x_j|^2 under
sum_j w_j = 1: solve (G + R I) w = 1 with G the Gram matrix of the differences x_j - x_i, then
normalise. R = reg * trace(G), or reg when the trace is 0 (scikit-learn's ``barycenter_weights``).
Computed for all points at once: batched float64 Gram matrices and Cholesky solves.

Metric of the comparison (``metric="cosine"``): neighbours, weights and errors are all of the
unit-normalised rows x / |x|, so the cosine comparison of (A, B) is the Euclidean comparison of
their unit rows. Reconstructing the raw rows from cosine neighbours would let the spread of the
norms, which the cosine metric is chosen to ignore, dominate the errors. LLE weights are affine
(they sum to 1), so no distance enters them and the ratio issue of MLE and TwoNN does not arise.
"""

from __future__ import annotations

import numpy as np
import torch

from regeo.devices import resolve_device
from regeo.geometry._validation import as_matrix, check_int
from regeo.geometry._local import check_indices, local_grams, reconstruct_residuals
from regeo.geometry.intervals import DEPENDENCE, TokenBootstrap, knn_graph_inflation
from regeo.geometry.knn import exact_knn, neighbour_jaccard, unit_rows


def barycenter_weights(X, knn_indices, reg: float = 1e-3, device=None) -> np.ndarray:
    """(n, k) float64 weights reconstructing every row of ``X`` from its neighbours.

    Equal to ``sklearn.manifold._locally_linear.barycenter_weights(X, X, knn_indices, reg)`` on
    float64 input. Always computed in float64 (sklearn keeps float32 input in float32). Rows may
    have zero-distance neighbours (duplicates): the regularisation keeps the system solvable, and
    a point whose neighbours all coincide with it gets uniform weights, as in sklearn.
    """
    X = as_matrix(X, min_rows=2)
    indices = check_indices(knn_indices, X.shape[0], "knn_indices")
    if not np.isfinite(reg) or reg < 0:
        raise ValueError(f"reg must be a finite number >= 0, got {reg!r}")
    dev = resolve_device(device)
    n, k = indices.shape
    W = torch.empty((n, k), dtype=torch.float64, device=dev)
    eye = torch.eye(k, dtype=torch.float64, device=dev)  # (k, k)
    ones = torch.ones((1, k, 1), dtype=torch.float64, device=dev)
    for s, e, G in local_grams(X, indices, dev):  # G (rs, k, k), Gram of the differences x_j - x_i
        trace = G.diagonal(dim1=1, dim2=2).sum(-1)  # (rs,)
        R = torch.where(trace > 0, reg * trace, torch.full_like(trace, reg))  # (rs,)
        G += R[:, None, None] * eye
        L, info = torch.linalg.cholesky_ex(G)  # sklearn: solve(..., assume_a="pos")
        w = torch.cholesky_solve(ones.expand(e - s, k, 1), L)[..., 0]  # (rs, k)
        bad = torch.nonzero(info).flatten()
        if bad.numel():  # not positive definite (reg = 0 and collinear neighbours)
            try:
                w[bad] = torch.linalg.solve(G[bad], ones.expand(bad.numel(), k, 1))[..., 0]
            except RuntimeError as err:
                raise ValueError(
                    f"singular local Gram matrix at rows {(bad + s).tolist()[:5]}...; use reg > 0") from err
        W[s:e] = w / w.sum(-1, keepdim=True)
    return W.cpu().numpy()


def reconstruction_error(X, indices, weights, device=None) -> float:
    """Relative reconstruction error ``sum_i |x_i - sum_j w_ij x_j|^2 / sum_i |x_i - mean|^2``.

    The denominator is the total variance (times n), so the value is invariant to translation
    and scale, and 1.0 is the error of reconstructing every point by the mean.
    """
    X = as_matrix(X, min_rows=2)
    indices = check_indices(indices, X.shape[0])
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != indices.shape:
        raise ValueError(f"weights {weights.shape} and indices {indices.shape} must have the same shape")
    X64 = X.astype(np.float64)
    total = float(((X64 - X64.mean(0)) ** 2).sum())
    if total == 0:
        raise ValueError("X has zero variance (all rows equal): the relative error is undefined")
    return float(reconstruct_residuals(X, indices, weights, device).sum() / total)


def compare_lle(X_a, X_b, k: int = 10, reg: float = 1e-3, seed: int = 0, *, metric: str = "euclidean",
                block_size: int | None = None, device=None, bootstrap: TokenBootstrap | None = None,
                dependence: str = "knn_graph") -> dict:
    """Local (LLE) comparison of two embeddings of the same tokens, row i = token i in both.

    Model B's embeddings are reconstructed with model A's neighbours and weights; the errors are
    relative (see :func:`reconstruction_error`):

    - ``cross_error``: B with A's neighbours and A's weights;
    - ``own_error``: B with its own neighbours and weights (the floor);
    - ``random_error``: B with A's neighbours and random convex weights (flat Dirichlet, ``seed``);
    - ``relative_error`` = cross / own (1 when A and B share their local geometry) and
      ``random_relative_error`` = random / own;
    - ``jaccard``: mean Jaccard index of A's and B's k-neighbour sets.

    The widths of A and B may differ. Neighbours are exact (:func:`exact_knn` with ``metric``).

    ``bootstrap`` (a :class:`TokenBootstrap`) adds ``{name}_ci_low`` and ``{name}_ci_high`` for
    every error, relative error and ``jaccard``: the per-token residuals, squared deviations from
    B's mean (full-sample mean) and Jaccard indices are resampled, and each ratio is recomputed
    from the resampled sums. With ``dependence="knn_graph"`` the replicates are widened for
    neighbouring tokens' correlated terms, as the ID intervals are (:mod:`regeo.geometry.intervals`),
    by the factor of each statistic's linearised per-token terms over A's neighbours.
    """
    return compare_lle_both_ways(X_a, X_b, k, reg, seed, metric=metric, block_size=block_size, device=device,
                                 bootstrap=bootstrap, dependence=dependence)[0]


def compare_lle_both_ways(X_a, X_b, k: int = 10, reg: float = 1e-3, seed: int = 0, *, metric: str = "euclidean",
                          block_size: int | None = None, device=None, bootstrap: TokenBootstrap | None = None,
                          dependence: str = "knn_graph", null_permutation: np.ndarray | None = None) -> tuple[dict, dict]:
    """``(compare_lle(X_a, X_b), compare_lle(X_b, X_a))`` from one neighbour search and one weight
    solve per model: the comparison is asymmetric, but both directions need the same four pieces.

    ``null_permutation`` (n,): also the comparison with B's rows in that order (tokens that no
    longer correspond), as ``relative_error_null_permuted`` and ``jaccard_null_permuted`` of each
    direction. B's neighbours and weights are permuted with its rows, so this costs no new search:
    row i of the permuted B is token p_i, its neighbours the positions of B's neighbours of p_i.
    """
    X_a = as_matrix(X_a, name="X_a")
    X_b = as_matrix(X_b, name="X_b")
    if X_a.shape[0] != X_b.shape[0]:
        raise ValueError(f"X_a and X_b must have the same rows (tokens), got {X_a.shape[0]} and {X_b.shape[0]}")
    k = check_int(k, "k", 1, X_a.shape[0] - 1)
    if metric == "cosine":  # the comparison is of the directions (module docstring)
        X_a, X_b = unit_rows(X_a), unit_rows(X_b)
    knn_a = exact_knn(X_a, k, metric=metric, block_size=block_size, device=device)
    knn_b = exact_knn(X_b, k, metric=metric, block_size=block_size, device=device)
    w_a = barycenter_weights(X_a, knn_a.indices, reg, device)
    w_b = barycenter_weights(X_b, knn_b.indices, reg, device)
    # One draw serves both directions, so each equals a compare_lle call with the same seed.
    w_random = np.random.default_rng(seed).dirichlet(np.ones(k), size=X_a.shape[0])  # (n, k)
    jaccard_pw = neighbour_jaccard(knn_a.indices, knn_b.indices)  # (n,)
    jaccard = float(jaccard_pw.mean())

    def direction(knn_source, w_source, target, knn_target, w_target) -> dict:
        """``target`` rebuilt with the source's neighbours and weights, against its own."""
        cross = reconstruction_error(target, knn_source.indices, w_source, device)
        own = reconstruction_error(target, knn_target.indices, w_target, device)
        random = reconstruction_error(target, knn_source.indices, w_random, device)
        out = {
            "n": int(X_a.shape[0]), "k": k, "reg": float(reg), "metric": metric,
            "cross_error": cross, "own_error": own, "random_error": random,
            "relative_error": cross / own if own > 0 else float("inf"),
            "random_relative_error": random / own if own > 0 else float("inf"),
            "jaccard": jaccard,
        }
        if bootstrap is not None:
            out.update(_lle_intervals(target, knn_source, w_source, knn_target, w_target, w_random, jaccard_pw,
                                      bootstrap, dependence, device))
        return out

    forward, backward = direction(knn_a, w_a, X_b, knn_b, w_b), direction(knn_b, w_b, X_a, knn_a, w_a)
    if null_permutation is not None:
        perm = np.asarray(null_permutation, dtype=np.int64)
        if sorted(perm.tolist()) != list(range(X_a.shape[0])):
            raise ValueError("null_permutation must be a permutation of the rows")
        inverse = np.argsort(perm)
        P, idx_p, w_p = X_b[perm], inverse[knn_b.indices[perm]], w_b[perm]  # B permuted: rows, neighbours, weights
        own_p = reconstruction_error(P, idx_p, w_p, device)  # = B's own error: the order does not change it
        jaccard_p = float(neighbour_jaccard(knn_a.indices, idx_p).mean())
        forward["relative_error_null_permuted"] = reconstruction_error(P, knn_a.indices, w_a, device) / own_p
        backward["relative_error_null_permuted"] = (reconstruction_error(X_a, idx_p, w_p, device)
                                                    / backward["own_error"])
        forward["jaccard_null_permuted"] = backward["jaccard_null_permuted"] = jaccard_p
    return forward, backward


def _lle_intervals(target, knn_source, w_source, knn_target, w_target, w_random, jaccard_pw,
                   boot: TokenBootstrap, dependence: str, device) -> dict:
    """``{name}_ci_low/_ci_high`` of one direction's errors, relative errors and Jaccard index."""
    terms = {
        "cross": reconstruct_residuals(target, knn_source.indices, w_source, device),  # (n,)
        "own": reconstruct_residuals(target, knn_target.indices, w_target, device),
        "random": reconstruct_residuals(target, knn_source.indices, w_random, device),
    }
    T64 = target.astype(np.float64)
    terms["total"] = ((T64 - T64.mean(0)) ** 2).sum(1)  # (n,) squared deviations from the full mean
    terms["jaccard"] = jaccard_pw
    ratios = {"cross_error": ("cross", "total"), "own_error": ("own", "total"), "random_error": ("random", "total"),
              "relative_error": ("cross", "own"), "random_relative_error": ("random", "own"),
              "jaccard": ("jaccard", None)}
    names = list(terms)
    stacked = np.stack([terms[name] for name in names])  # (5, n)
    sums = np.concatenate([np.stack([t[idx].sum(1) for t in stacked], 1)
                           for idx in boot.indices(stacked.shape[1])])  # (B, 5) resampled sums
    full = stacked.sum(1)  # (5,)
    out = {}
    n = stacked.shape[1]
    for name, (num, den) in ratios.items():
        i = names.index(num)
        if den is None:
            reps, value, linear = sums[:, i] / n, full[i] / n, terms[num]
        else:
            j = names.index(den)
            with np.errstate(divide="ignore", invalid="ignore"):
                reps, value = sums[:, i] / sums[:, j], full[i] / full[j]
            linear = terms[num] - value * terms[den]  # per-token terms of the ratio, linearised
        inflation = 1.0
        if dependence == "knn_graph" and np.isfinite(value):
            inflation = knn_graph_inflation(linear, knn_source.indices)
        elif dependence not in DEPENDENCE:
            raise ValueError(f"dependence must be one of {DEPENDENCE}, got {dependence!r}")
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = boot.percentiles(boot.widened(reps, value, inflation))
    return out
