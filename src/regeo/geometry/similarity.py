"""Global similarity of two embeddings of the same tokens: cosine-similarity correlation and linear CKA.

Both are computed in closed form from (d, d) cross-products, O(n d^2) time and O(d^2) memory, so
no n x n matrix is ever formed: for unit rows u_i (model A) and v_i (model B),

    sum_{i,j} (u_i.u_j)(v_i.v_j) = |U^T V|_F^2,   sum_{i,j} u_i.u_j = |sum_i u_i|^2,

and the diagonal terms (i = j) are exactly 1, so sums over the upper triangle i < j follow.

Neither measure has a metric option: the cosine-similarity correlation normalises the rows by
its definition, and linear CKA is of the raw (column-centred) rows. No distance ratio enters
either, so the chord-versus-(1 - cos) issue of the ID estimators does not arise here.

Intervals: :func:`global_similarity_intervals`, a bootstrap over tokens from the same closed
forms with the resample's multiplicities as weights, to first order by default.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

from regeo.geometry._validation import as_matrix
from regeo.geometry.postprocess import RAW, postprocess as apply_postprocess, weighted_postprocess


def _paired(X_a, X_b, sample_size, seed) -> tuple[np.ndarray, np.ndarray]:
    X_a = as_matrix(X_a, name="X_a").astype(np.float64)
    X_b = as_matrix(X_b, name="X_b").astype(np.float64)
    if X_a.shape[0] != X_b.shape[0]:
        raise ValueError(f"X_a and X_b must have the same rows (tokens), got {X_a.shape[0]} and {X_b.shape[0]}")
    if sample_size is not None and sample_size < X_a.shape[0]:
        if sample_size < 3:
            raise ValueError(f"sample_size must be >= 3, got {sample_size}")
        rows = np.sort(np.random.default_rng(seed).choice(X_a.shape[0], size=sample_size, replace=False))
        X_a, X_b = X_a[rows], X_b[rows]
    return X_a, X_b


def _unit_rows(X: np.ndarray, name: str) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1)
    if (norms == 0).any():
        raise ValueError(f"{name} has {int((norms == 0).sum())} rows of norm 0: cosine similarity undefined")
    return X / norms[:, None]


def cosine_similarity_correlation(X_a, X_b, sample_size: int | None = None, seed: int = 0) -> float:
    """Pearson correlation of the upper triangles (i < j) of the two cosine-similarity matrices.

    Lee et al. 2025's global measure. ``sample_size`` rows (the same for both, drawn with
    ``seed``) when given and smaller than n; all rows otherwise. Invariant to rotations and
    scalings of either embedding; the widths may differ.
    """
    X_a, X_b = _paired(X_a, X_b, sample_size, seed)
    n = X_a.shape[0]
    if n < 3:
        raise ValueError("need at least 3 rows for a correlation of pairwise similarities")
    U, V = _unit_rows(X_a, "X_a"), _unit_rows(X_b, "X_b")  # (n, da), (n, db)
    pairs = n * (n - 1) / 2
    sum_u = (np.linalg.norm(U.sum(0)) ** 2 - n) / 2  # sum_{i<j} u_i.u_j
    sum_v = (np.linalg.norm(V.sum(0)) ** 2 - n) / 2
    sum_uu = (np.linalg.norm(U.T @ U) ** 2 - n) / 2  # sum_{i<j} (u_i.u_j)^2
    sum_vv = (np.linalg.norm(V.T @ V) ** 2 - n) / 2
    sum_uv = (np.linalg.norm(U.T @ V) ** 2 - n) / 2  # sum_{i<j} (u_i.u_j)(v_i.v_j)
    cov = sum_uv - sum_u * sum_v / pairs
    var_u = sum_uu - sum_u**2 / pairs
    var_v = sum_vv - sum_v**2 / pairs
    if var_u <= 0 or var_v <= 0:
        raise ValueError("a cosine-similarity matrix is constant off the diagonal: correlation undefined")
    return float(cov / np.sqrt(var_u * var_v))


def linear_cka(X_a, X_b) -> float:
    """Linear CKA (Kornblith et al. 2019): |Yc^T Xc|_F^2 / (|Xc^T Xc|_F |Yc^T Yc|_F), columns centred.

    Invariant to rotations, isotropic scaling and translation of either embedding (not to
    general invertible linear maps); the widths may differ.
    """
    X_a, X_b = _paired(X_a, X_b, None, 0)
    A = X_a - X_a.mean(0)  # (n, da)
    B = X_b - X_b.mean(0)  # (n, db)
    norm_a = np.linalg.norm(A.T @ A)
    norm_b = np.linalg.norm(B.T @ B)
    if norm_a == 0 or norm_b == 0:
        raise ValueError("an embedding has zero variance: CKA undefined")
    return float(np.linalg.norm(B.T @ A) ** 2 / (norm_a * norm_b))


def global_similarity(X_a, X_b, sample_size: int | None = None, seed: int = 0, postprocess: str = RAW,
                      components: int | None = None) -> dict:
    """Both global measures on the same rows (a sample of ``sample_size`` when given), after
    ``postprocess`` (:func:`regeo.geometry.postprocess.postprocess`, fitted on those rows, each
    matrix on its own)."""
    X_a, X_b = _paired(X_a, X_b, sample_size, seed)
    if postprocess != RAW:
        X_a, X_b = apply_postprocess(X_a, postprocess, components), apply_postprocess(X_b, postprocess, components)
    return {
        "n": int(X_a.shape[0]),
        "cosine_similarity_correlation": cosine_similarity_correlation(X_a, X_b),
        "linear_cka": linear_cka(X_a, X_b),
    }


_KRON_BYTES = 32 * 2**20  # per (tokens x d_a d_b) block of row-wise outer products


def _weighted_measures_batch(U, V, A, B, C: np.ndarray) -> np.ndarray:
    """(r, 2) (correlation, CKA) of r resamples at once, ``C`` (r, n) their counts per token.

    The same sums as :func:`_weighted_measures`; every weighted Gram matrix sum_i c_i x_i y_i^T of
    all resamples comes from one matrix product of C with the rows' outer products x_i y_i^T,
    taken over blocks of tokens so memory stays bounded.
    """
    r, n = C.shape
    s, q = C.sum(1), (C * C).sum(1)  # (r,)
    pairs = s * s - q
    su, sv = C @ U, C @ V  # (r, da), (r, db)
    products = {"uu": (U, U), "vv": (V, V), "uv": (U, V), "aa": (A, A), "bb": (B, B), "ba": (B, A)}
    grams = {key: np.zeros((r, X.shape[1] * Y.shape[1])) for key, (X, Y) in products.items()}
    width = max(X.shape[1] * Y.shape[1] for X, Y in products.values())
    step = max(1, _KRON_BYTES // (8 * width))
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        block = C[:, lo:hi]  # (r, t)
        for key, (X, Y) in products.items():
            outer = (X[lo:hi, :, None] * Y[lo:hi, None, :]).reshape(hi - lo, -1)  # (t, dx dy)
            grams[key] += block @ outer
    sum_u, sum_v = (su * su).sum(1) - q, (sv * sv).sum(1) - q
    sum_uu, sum_vv = (grams["uu"] ** 2).sum(1) - q, (grams["vv"] ** 2).sum(1) - q
    sum_uv = (grams["uv"] ** 2).sum(1) - q
    cov = sum_uv - sum_u * sum_v / pairs
    var_u, var_v = sum_uu - sum_u ** 2 / pairs, sum_vv - sum_v ** 2 / pairs
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where((var_u > 0) & (var_v > 0), cov / np.sqrt(var_u * var_v), np.nan)
    da, db = A.shape[1], B.shape[1]
    ma, mb = (C @ A) / s[:, None], (C @ B) / s[:, None]  # (r, da), (r, db)
    aa = grams["aa"].reshape(r, da, da) - s[:, None, None] * ma[:, :, None] * ma[:, None, :]
    bb = grams["bb"].reshape(r, db, db) - s[:, None, None] * mb[:, :, None] * mb[:, None, :]
    ba = grams["ba"].reshape(r, db, da) - s[:, None, None] * mb[:, :, None] * ma[:, None, :]
    na, nb = np.sqrt((aa ** 2).sum((1, 2))), np.sqrt((bb ** 2).sum((1, 2)))
    with np.errstate(invalid="ignore", divide="ignore"):
        cka = np.where((na > 0) & (nb > 0), (ba ** 2).sum((1, 2)) / (na * nb), np.nan)
    return np.stack([corr, cka], 1)


def _weighted_measures(U, V, A, B, c):
    """(correlation, CKA) of the resample that holds row i ``c[i]`` times, as torch scalars
    differentiable in the weights ``c`` (n,) (arrays are taken as float64 tensors).

    Correlation: over pairs of distinct tokens only. A token drawn twice would otherwise pair
    with itself at similarity 1 in both models, a pair the full sample never has; with counts c
    the pairs of distinct tokens weigh c_i c_j, and the dropped ones are exactly the c_i^2 diagonal
    terms of each sum (each 1, or 1 x 1). CKA has no pairs: it is linear CKA of the resampled rows.
    """
    import torch

    U, V, A, B, c = (torch.as_tensor(x, dtype=torch.float64) for x in (U, V, A, B, c))
    s, q = c.sum(), (c * c).sum()
    pairs = s * s - q  # ordered pairs of distinct tokens, weighted
    su, sv = U.T @ c, V.T @ c  # (da,), (db,)
    sum_u, sum_v = su @ su - q, sv @ sv - q
    sum_uu = ((U * c[:, None]).T @ U).square().sum() - q
    sum_vv = ((V * c[:, None]).T @ V).square().sum() - q
    sum_uv = ((U * c[:, None]).T @ V).square().sum() - q
    cov = sum_uv - sum_u * sum_v / pairs
    corr = cov / torch.sqrt((sum_uu - sum_u ** 2 / pairs) * (sum_vv - sum_v ** 2 / pairs))
    ma, mb = A.T @ c / s, B.T @ c / s  # (da,), (db,)
    aa = (A * c[:, None]).T @ A - s * torch.outer(ma, ma)  # (da, da)
    bb = (B * c[:, None]).T @ B - s * torch.outer(mb, mb)
    ba = (B * c[:, None]).T @ A - s * torch.outer(mb, ma)
    cka = ba.square().sum() / (torch.linalg.matrix_norm(aa) * torch.linalg.matrix_norm(bb))
    return corr, cka


def _postprocessed_measures(X_a, X_b, c, postprocess: str, components: int | None):
    """:func:`_weighted_measures` of the rows after ``postprocess`` refitted with weights ``c``."""
    A = weighted_postprocess(X_a, c, postprocess, components)
    B = weighted_postprocess(X_b, c, postprocess, components)
    U, V = A / A.norm(dim=1, keepdim=True), B / B.norm(dim=1, keepdim=True)
    return _weighted_measures(U, V, A, B, c)


def linearised_bootstrap_sd(X_a, X_b, postprocess: str = RAW, components: int | None = None) -> tuple[float, float]:
    """Standard deviations of both measures over token resamples, to first order (the
    infinitesimal jackknife): with g = d(measure)/d(weights) at weights 1, a resample's
    multiplicities c have covariance I - 11^T/n, so Var = sum_i (g_i - mean g)^2. One gradient
    instead of hundreds of resamples; tested against the resampling bootstrap.

    ``postprocess``: the measures of the postprocessed rows, the postprocessing's statistics
    (means, spreads, top directions) refitted from the weights, so the gradient carries them too."""
    import torch

    c = torch.ones(np.shape(X_a)[0], dtype=torch.float64, requires_grad=True)
    corr, cka = _postprocessed_measures(np.asarray(X_a, dtype=np.float64), np.asarray(X_b, dtype=np.float64), c,
                                        postprocess, components)
    out = []
    for value, last in ((corr, False), (cka, True)):
        (g,) = torch.autograd.grad(value, c, retain_graph=not last)
        out.append(float(torch.sqrt(((g - g.mean()) ** 2).sum())))
    return out[0], out[1]


def global_similarity_intervals(X_a, X_b, boot, sample_size: int | None = None, seed: int = 0,
                                method: str = "linearised", postprocess: str = RAW,
                                components: int | None = None) -> dict:
    """Bootstrap intervals over tokens of both global measures (rows as :func:`global_similarity` uses).

    ``boot``: a :class:`regeo.geometry.intervals.TokenBootstrap` (its confidence; with
    ``method="resample"`` also its replicates and seed). The interval is the value +- z times the
    bootstrap standard deviation over token resamples:

    - ``"linearised"`` (default): that standard deviation to first order, from one gradient
      (:func:`linearised_bootstrap_sd`), O(n d^2);
    - ``"resample"``: from ``boot.replicates`` resamples, each drawing n tokens with replacement;
      the correlation is over pairs of distinct tokens (self-pairs of repeated tokens dropped, see
      ``_weighted_measures``) and CKA is of the resampled rows. O(replicates n d^2).

    Not a percentile interval: a resample holds only about 63 % of the tokens (the rest are
    repeats), and fewer distinct tokens raise CKA (and the correlation) between unrelated
    matrices, so the replicates sit above the value and a percentile interval can miss it.
    ``postprocess`` (with ``components``): intervals of the measures after that postprocessing,
    which every resample refits (:func:`regeo.geometry.postprocess.weighted_postprocess`). For
    ``abtt`` the first-order interval moves the removed directions to first order, whose variation
    is about 1 / (the gap between the D-th and (D+1)-th eigenvalues): it holds where that gap is
    large, as after a dominant rogue direction, and overstates the spread where it is not.
    Returns ``{measure}_ci_low`` and ``{measure}_ci_high`` for both measures, and ``method``.
    """
    X_a, X_b = _paired(X_a, X_b, sample_size, seed)
    n = X_a.shape[0]
    if n < 3:
        raise ValueError("need at least 3 rows for a correlation of pairwise similarities")
    P_a, P_b = apply_postprocess(X_a, postprocess, components), apply_postprocess(X_b, postprocess, components)
    full = (cosine_similarity_correlation(P_a, P_b), linear_cka(P_a, P_b))
    out = {"method": method}
    names = ("cosine_similarity_correlation", "linear_cka")
    if method == "linearised":
        z = NormalDist().inv_cdf(0.5 + boot.confidence / 2.0)
        for name, value, sd in zip(names, full, linearised_bootstrap_sd(X_a, X_b, postprocess, components)):
            out[f"{name}_ci_low"], out[f"{name}_ci_high"] = value - z * sd, value + z * sd
        return out
    if method != "resample":
        raise ValueError(f"method must be 'linearised' or 'resample', got {method!r}")
    if postprocess != RAW:  # each resample refits the postprocessing: one replicate at a time
        values = np.array([[float(v) for v in _postprocessed_measures(X_a, X_b, np.bincount(row, minlength=n),
                                                                       postprocess, components)]
                           for idx in boot.indices(n) for row in idx])
        for j, name in enumerate(names):
            out[f"{name}_ci_low"], out[f"{name}_ci_high"] = boot.normal(values[:, j], full[j])
        return out
    U, V = _unit_rows(X_a, "X_a"), _unit_rows(X_b, "X_b")
    values = []
    for idx in boot.indices(n):  # (b, n) resampled rows
        counts = np.stack([np.bincount(row, minlength=n) for row in idx]).astype(np.float64)  # (b, n)
        values.append(_weighted_measures_batch(U, V, X_a, X_b, counts))
    values = np.concatenate(values)  # (replicates, 2)
    for j, name in enumerate(names):
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = boot.normal(values[:, j], full[j])
    return out
