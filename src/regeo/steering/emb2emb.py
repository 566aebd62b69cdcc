"""Emb2Emb: a linear map from model A's token embeddings to model B's, fit on the shared vocabulary.

Lee et al. 2025 fit a least-squares map between two models' token embeddings and carry steering
vectors through it. Here: rows of E_a (n, d_a) and E_b (n, d_b) are the same n tokens; both are
centred on their mean row, and W (d_a, d_b) minimises ``|X_a W - X_b|^2 + lam |W|^2``. The
affine map of a point is ``x -> mean_b + (x - mean_a) W``; a steering vector is a *difference*
of two mean activations, and differences lose the offset (``(x1 - x2) W``), so
:meth:`LinearMap.apply` uses W alone. The widths may differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from regeo.dumps import model_matrix
from regeo.steering.config import FIT_ROWS


@dataclass(frozen=True)
class LinearMap:
    """A fitted Emb2Emb map. ``weight`` (d_b, d_a) acts on column vectors: ``v_b = weight @ v_a``.

    Attributes: ``mean_a`` (d_a,), ``mean_b`` (d_b,) the row means removed before the fit;
    ``ridge`` the relative ridge it was fit with; ``r2`` the share of the centred E_b's total
    variance the map explains on the fitting rows; ``n_tokens`` the rows fit on; ``rank_a`` the
    numerical rank of the centred E_a. Where ``rank_a < d_a`` (fewer tokens than the width, or
    dead dimensions) the plain least-squares map is determined only on the span of A's rows and
    sends the rest of A's space to 0, so a vector partly outside that span loses that part.
    float64 throughout.
    """

    weight: torch.Tensor  # (d_b, d_a)
    mean_a: torch.Tensor  # (d_a,)
    mean_b: torch.Tensor  # (d_b,)
    ridge: float
    r2: float
    n_tokens: int
    rank_a: int

    @property
    def d_a(self) -> int:
        return self.weight.shape[1]

    @property
    def d_b(self) -> int:
        return self.weight.shape[0]

    def apply(self, v: torch.Tensor) -> torch.Tensor:
        """Map directions ``v`` (..., d_a) to (..., d_b): no centring offset (see the module docstring)."""
        v = torch.as_tensor(v)
        if v.shape[-1] != self.d_a:
            raise ValueError(f"expected vectors of width {self.d_a}, got shape {tuple(v.shape)}")
        out_dtype = v.dtype if v.is_floating_point() else torch.float64
        return (v.to(self.weight) @ self.weight.T).to(out_dtype)  # (..., d_b), computed in float64

    def transform(self, E_a: torch.Tensor) -> torch.Tensor:
        """Map points (rows of A's embedding space, (n, d_a)) to B's space (n, d_b): affine, with the means."""
        E_a = torch.as_tensor(E_a).to(self.weight)
        return self.mean_b + (E_a - self.mean_a) @ self.weight.T


def fit_linear_map(E_a, E_b, ridge: float = 0.0) -> LinearMap:
    """Least-squares map from rows of ``E_a`` (n, d_a) to rows of ``E_b`` (n, d_b), both centred.

    ``ridge`` is relative, lam = ridge * trace(X_a^T X_a) / d_a (the mean eigenvalue of the Gram
    matrix), so one value means the same at every width and embedding scale (the convention of
    scikit-learn's LLE regulariser). ``ridge=0`` gives the minimum-norm least-squares solution,
    exact also when X_a is rank-deficient (pinv(X^T X) X^T = pinv(X)). Solved from the (d_a, d_a)
    Gram matrix in float64, so memory stays O(d^2) for a 50k-token vocabulary.
    """
    E_a = torch.as_tensor(E_a).detach().cpu().double()  # (n, d_a)
    E_b = torch.as_tensor(E_b).detach().cpu().double()  # (n, d_b)
    if E_a.ndim != 2 or E_b.ndim != 2:
        raise ValueError(f"E_a and E_b must be 2-D, got shapes {tuple(E_a.shape)} and {tuple(E_b.shape)}")
    if E_a.shape[0] != E_b.shape[0]:
        raise ValueError(f"E_a and E_b must have the same rows (tokens), got {E_a.shape[0]} and {E_b.shape[0]}")
    if E_a.shape[0] < 2:
        raise ValueError("need at least 2 shared tokens to fit a centred map")
    if not (torch.isfinite(E_a).all() and torch.isfinite(E_b).all()):
        raise ValueError("embeddings contain NaN or inf")
    if ridge < 0:
        raise ValueError(f"ridge must be >= 0, got {ridge}")
    mean_a, mean_b = E_a.mean(0), E_b.mean(0)  # (d_a,), (d_b,)
    X, Y = E_a - mean_a, E_b - mean_b  # (n, d_a), (n, d_b)
    gram = X.T @ X  # (d_a, d_a)
    cross = X.T @ Y  # (d_a, d_b)
    if ridge > 0:
        lam = ridge * torch.trace(gram) / gram.shape[0]
        W = torch.linalg.solve(gram + lam * torch.eye(gram.shape[0], dtype=gram.dtype), cross)  # (d_a, d_b)
    else:
        # gelsd: SVD-based, minimum norm, rank-deficient safe (CPU-only driver; we are on the CPU here).
        W = torch.linalg.lstsq(gram, cross, driver="gelsd").solution  # (d_a, d_b)
    residual = ((X @ W - Y) ** 2).sum()
    total = (Y ** 2).sum()
    r2 = float(1 - residual / total) if total > 0 else float("nan")
    # Rank from the Gram eigenvalues (O(d^3), no SVD of the n x d matrix); the tolerance covers
    # the rounding of forming X^T X in float64.
    eigenvalues = torch.linalg.eigvalsh(gram)  # (d_a,) ascending
    rank = int((eigenvalues > eigenvalues[-1].clamp(min=0) * gram.shape[0] * 1e-14).sum())
    return LinearMap(weight=W.T.contiguous(), mean_a=mean_a, mean_b=mean_b, ridge=float(ridge), r2=r2,
                     n_tokens=int(E_a.shape[0]), rank_a=rank)


def fit_rows(model, which: str, ids) -> torch.Tensor:
    """The rows a map is fit on: ``ids`` of the input or output embeddings, or both stacked (2n, d).

    Stacked blocks are each centred on their own mean first: input and output embeddings sit
    around different points, and one common centre would make the map fit the offset between them.
    """
    if which not in FIT_ROWS:
        raise ValueError(f"fit rows must be one of {FIT_ROWS}, got {which!r}")
    ids = torch.as_tensor(np.asarray(ids, dtype=np.int64))
    blocks = ["input", "output"] if which == "both" else [which]
    rows = []
    for block in blocks:
        E = model_matrix(model, block)
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= E.shape[0]):
            raise ValueError(f"token ids out of range for the {E.shape[0]} rows of the {block} embeddings")
        part = E[ids].double()
        rows.append(part - part.mean(0) if which == "both" else part)
    return torch.cat(rows)


def fit_models_map(model_a, model_b, ids_a, ids_b, which: str = "input", ridge: float = 0.0) -> LinearMap:
    """Fit the map on rows ``ids_a`` of A's and ``ids_b`` of B's ``which`` rows (aligned pairs, :func:`fit_rows`)."""
    return fit_linear_map(fit_rows(model_a, which, ids_a), fit_rows(model_b, which, ids_b), ridge)


def split_pairs(n: int, heldout_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(fit, held-out) indices of n token pairs: a seeded random ``heldout_fraction`` is held out."""
    if not 0 < heldout_fraction < 1:
        raise ValueError(f"heldout_fraction must lie in (0, 1), got {heldout_fraction}")
    order = np.random.default_rng(seed).permutation(n)
    n_heldout = int(round(n * heldout_fraction))
    if n_heldout < 1 or n - n_heldout < 2:
        raise ValueError(f"{n} shared tokens cannot be split into a fit set and a held-out set")
    return np.sort(order[n_heldout:]), np.sort(order[:n_heldout])


def r2_of(emb_map: LinearMap, E_a, E_b) -> float:
    """Share of the variance of rows ``E_b`` about *their own* mean that the map's prediction explains."""
    E_a, E_b = torch.as_tensor(E_a).double(), torch.as_tensor(E_b).double()
    predicted = (E_a - E_a.mean(0)) @ emb_map.weight.T
    target = E_b - E_b.mean(0)
    total = float((target ** 2).sum())
    return 1 - float(((predicted - target) ** 2).sum()) / total if total > 0 else float("nan")


def retrieval(emb_map: LinearMap, E_a, candidates_b, truth: np.ndarray, ks=(1, 10)) -> dict[int, float]:
    """Top-k accuracy of finding row ``truth[i]`` of ``candidates_b`` nearest (cosine) to mapped row i of ``E_a``.

    Rows are centred (A's on the map's fitting mean, B's candidates on theirs) before the cosine,
    so that the common offset of all embeddings does not make every row everyone's neighbour.
    """
    mapped = (torch.as_tensor(E_a).double() - emb_map.mean_a) @ emb_map.weight.T  # (n, d_b)
    candidates = torch.as_tensor(candidates_b).double()
    candidates = candidates - candidates.mean(0)
    mapped = torch.nn.functional.normalize(mapped, dim=1)
    candidates = torch.nn.functional.normalize(candidates, dim=1)
    scores = mapped @ candidates.T  # (n, m)
    truth_t = torch.as_tensor(np.asarray(truth, dtype=np.int64))
    own = scores.gather(1, truth_t[:, None])  # (n, 1)
    rank = (scores > own).sum(1)  # 0 = nearest
    return {k: float((rank < k).double().mean()) for k in ks}
