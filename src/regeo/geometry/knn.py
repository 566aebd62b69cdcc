"""Exact k-nearest neighbours of every row of a matrix, blockwise, on CPU or CUDA.

Method (exact, no approximate search):

1. Rows are centred and scaled into the unit ball (Euclidean; distances change by a constant
   factor only) or normalised (cosine), then cast to float32. Centring matters: the float32
   error of ``|x|^2 + |y|^2 - 2 x.y`` grows with the norms, not with the distance.
2. For a block of rows, one matrix product gives ``|y|^2 - 2 x.y`` against all rows, shape
   (block, n); the row's own column is set to +inf (self excluded by index) and ``topk`` keeps
   the ``k + margin`` smallest. This is the O(n^2 d) part; memory is bounded by the block.
3. The candidates' distances are recomputed in float64 from the original values, as sums of
   squared differences (exactly 0 for duplicate rows), and re-sorted by (distance, index).
4. Certification: the float32 error of a product-based squared distance is below
   ``E = 2 (d + 4) u (|x| + |y|)^2`` (u = 2^-24; a factor 2 above the classical
   ``gamma_d`` bound of a dot product, so it holds for any summation order, CPU or GPU). A row's
   neighbour set is proven exact when its k-th exact distance is below the smallest float32
   distance left out minus E. A row that fails (near-ties around the k-th neighbour) is redone
   with every column whose float32 distance could be within E of the k-th, recomputed in float64.

Result: the neighbour sets and distances equal a float64 brute-force search (up to float64
rounding). Exact ties are broken by the lower index.

Duplicate rows: self is excluded by index, so a duplicate of row i appears as a neighbour of i
at distance exactly 0. The estimators refuse zero distances by default (``duplicates='raise'``)
and ``id_table`` removes duplicate rows before the search (``IDConfig.dedupe``); see
:meth:`KNN.zero_distance_mask` and :func:`unique_rows`.

Cosine distance is ``1 - cos(x, y)``, computed as ``|x/|x| - y/|y||^2 / 2`` (the same value,
without cancellation for close pairs); rows of norm 0 are refused.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import numpy as np
import torch

from regeo.geometry._checks import as_matrix, check_choice, check_int, resolve_device

METRICS = ("euclidean", "cosine")
_U32 = 2.0**-24  # unit roundoff of float32
_SCORE_BYTES_CPU = 256 * 2**20  # one (block, n) float32 score matrix on the CPU
_SCORE_BYTES_CUDA = 2 * 2**30  # ... on a GPU (fewer, larger launches)
_GATHER_BYTES = 6 * 2**20  # float64 (rows, candidates, d) buffer of the exact pass: cache-sized


@dataclass(frozen=True)
class KNN:
    """Neighbours of every row, self excluded.

    Attributes
    ----------
    distances : (n, k) float64, ascending along each row (Euclidean, or cosine ``1 - cos``)
    indices : (n, k) int64, the neighbours' row numbers; ties broken by the lower index
    metric : the distance the search used
    """

    distances: np.ndarray
    indices: np.ndarray
    metric: str = "euclidean"

    def __post_init__(self):
        if self.distances.ndim != 2 or self.distances.shape != self.indices.shape:
            raise ValueError(
                f"distances {self.distances.shape} and indices {self.indices.shape} must be equal (n, k) shapes")
        check_choice(self.metric, "metric", METRICS)

    @property
    def n(self) -> int:
        return self.distances.shape[0]

    @property
    def k(self) -> int:
        return self.distances.shape[1]

    def head(self, k: int) -> "KNN":
        """The first ``k`` neighbours: the kNN at a smaller k, without a new search."""
        k = check_int(k, "k", 1, self.k)
        return KNN(self.distances[:, :k], self.indices[:, :k], self.metric)

    def zero_distance_mask(self) -> np.ndarray:
        """(n,) bool: rows with a neighbour at distance 0, i.e. rows that have a duplicate."""
        return self.distances[:, 0] == 0


def unique_rows(X, metric: str = "euclidean") -> tuple[np.ndarray, np.ndarray]:
    """Indices of the first occurrence of every distinct row, and the inverse map.

    Rows are "equal" when their distance is exactly 0 under ``metric``: identical rows, and for
    cosine rows whose float64 normalisation is identical (so ``x`` and ``3 x`` are usually NOT
    merged: rounding leaves them ~1e-30 apart, a near-duplicate that neighbour-based estimators
    cannot tell from a real neighbour). Returns ``(first, inverse)`` with ``X[first][inverse]``
    equal to ``X`` row for row (up to scale for cosine).
    """
    X = as_matrix(X, min_rows=1)
    check_choice(metric, "metric", METRICS)
    keys = X.astype(np.float64)
    if metric == "cosine":
        norms = np.linalg.norm(keys, axis=1)
        if (norms == 0).any():
            raise ValueError("cosine metric: X has rows of norm 0")
        keys = keys * (1.0 / norms)[:, None]
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)  # keep rows in their original order
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return first[order], rank[inverse.reshape(-1)]


@contextlib.contextmanager
def _full_fp32():
    """float32 products in IEEE float32: TF32 / bf16 shortcuts would void the error bound."""
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)


def _default_block(n: int, device: torch.device) -> int:
    budget = _SCORE_BYTES_CUDA if device.type == "cuda" else _SCORE_BYTES_CPU
    rows = max(64, budget // (4 * n)) // 64 * 64  # a multiple of 64 suits the GEMM kernels
    return int(min(n, rows))


def _default_margin(k: int) -> int:
    # Extra float32 candidates: enough that almost every row is certified at once.
    return max(4, math.ceil(k / 8))


class _Exact:
    """Float64 squared distances between chosen pairs, from the original values."""

    def __init__(self, src: torch.Tensor, inv_norm: torch.Tensor | None):
        self.src = src  # (n, d) float32 or float64 on the device: exact values
        self.inv_norm = inv_norm  # (n,) float64, cosine only

    def rows(self, rows: torch.Tensor) -> torch.Tensor:
        x = self.src.index_select(0, rows).double()  # (r, d)
        if self.inv_norm is not None:
            x *= self.inv_norm[rows, None]
        return x

    def d2(self, rows: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
        """rows (r,), cand (r, m) -> (r, m) float64 squared distances (of normalised rows for cosine)."""
        r, m = cand.shape
        d = self.src.shape[1]
        out = torch.empty((r, m), dtype=torch.float64, device=cand.device)
        step = max(1, _GATHER_BYTES // (8 * m * d))  # rows per pass: the buffer stays in cache
        g = torch.empty((min(step, r) * m, d), dtype=torch.float64, device=cand.device)  # (rs * m, d)
        for s in range(0, r, step):
            e = min(r, s + step)
            flat = cand[s:e].reshape(-1)  # (rs * m,)
            gs = g[: flat.numel()]
            gs.copy_(self.src.index_select(0, flat))  # widened to float64 on the way
            if self.inv_norm is not None:
                gs *= self.inv_norm[flat, None]
            gs = gs.view(e - s, m, d)  # (rs, m, d)
            gs -= self.rows(rows[s:e])[:, None, :]  # differences: exactly 0 for duplicates
            out[s:e] = gs.square_().sum(-1)
        return out


def _sort_by_distance_then_index(d2: torch.Tensor, idx: torch.Tensor):
    """Sort each row by (d2, idx): an index sort, then a stable sort on the distance."""
    idx, p = torch.sort(idx, dim=1)
    d2 = d2.gather(1, p)
    d2, q = torch.sort(d2, dim=1, stable=True)
    return d2, idx.gather(1, q)


def exact_knn(X, k: int, metric: str = "euclidean", block_size: int | None = None, device=None, *,
              margin: int | None = None) -> KNN:
    """Exact k nearest neighbours of every row of ``X`` among the other rows.

    Parameters
    ----------
    X : (n, d) array or tensor; float32 input is read as is (it is exact in float64)
    k : neighbours per row, 1 <= k <= n - 1
    metric : "euclidean" or "cosine" (distance ``1 - cos``)
    block_size : rows per matrix product; None sizes the (block, n) score matrix to 256 MiB on
        the CPU and 2 GiB on a GPU
    device : torch device; None uses CUDA when available
    margin : extra float32 candidates per row recomputed in float64 (None: max(4, k/8)); only
        speed depends on it, never the result

    Returns
    -------
    KNN with float64 distances sorted ascending and int64 indices, self excluded (by index:
    a duplicate row is a neighbour at distance 0).
    """
    X = as_matrix(X)
    n, d = X.shape
    k = check_int(k, "k", 1, n - 1)
    check_choice(metric, "metric", METRICS)
    dev = resolve_device(device)
    block = _default_block(n, dev) if block_size is None else check_int(block_size, "block_size", 1)
    m = min(n - 1, k + (_default_margin(k) if margin is None else check_int(margin, "margin", 0)))

    with torch.no_grad(), _full_fp32():
        src = torch.from_numpy(X).to(dev)  # (n, d) exact values
        chunks = range(0, n, max(1, _GATHER_BYTES // (8 * d)))
        if metric == "cosine":
            norms = torch.linalg.vector_norm(src.double(), dim=1)  # (n,)
            if bool((norms == 0).any()):
                raise ValueError(f"cosine metric: {int((norms == 0).sum())} rows of X have norm 0")
            inv_norm = 1.0 / norms
            center = torch.zeros(d, dtype=torch.float64, device=dev)
            scale = 1.0
        else:
            inv_norm = None
            center = sum(src[s:s + chunks.step].double().sum(0) for s in chunks) / n  # (d,)
            scale = max(float(torch.linalg.vector_norm(src[s:s + chunks.step].double() - center, dim=1).max())
                        for s in chunks)
            scale = scale if scale > 0 else 1.0
        # Z: centred and scaled (|z| <= 1) or normalised rows, in float32 for the products.
        Z = torch.empty((n, d), dtype=torch.float32, device=dev)  # (n, d)
        znorm2 = torch.empty(n, dtype=torch.float64, device=dev)  # (n,) |z|^2 in float64
        for s in chunks:
            z = src[s:s + chunks.step].double()
            z = z * inv_norm[s:s + chunks.step, None] if inv_norm is not None else (z - center) / scale
            Z[s:s + chunks.step] = z
            znorm2[s:s + chunks.step] = z.square().sum(1)
        sq32 = Z.square().sum(1)  # (n,) float32, as the products see them
        # Bound on |float32 d^2 - exact d^2| per row (scaled units; |y| <= 1 for every row).
        err = 2.0 * (d + 4) * _U32 * (znorm2.sqrt() + 1.0) ** 2  # (n,)
        exact = _Exact(src, inv_norm)

        out_d2 = torch.empty((n, k), dtype=torch.float64, device=dev)
        out_i = torch.empty((n, k), dtype=torch.int64, device=dev)
        # Reused buffers: a fresh (block, n) allocation per block costs page faults (~20% on CPU).
        left = torch.empty((min(block, n), d), dtype=torch.float32, device=dev)  # (b, d)
        buffer = torch.empty((min(block, n), n), dtype=torch.float32, device=dev)  # (b, n)
        for s in range(0, n, block):
            e = min(n, s + block)
            rows = torch.arange(s, e, device=dev)  # (b,)
            # -2 x.y + |y|^2: the scaling by -2 is exact; mm into a buffer beats addmm's bias.
            scores = torch.mm(torch.mul(Z[s:e], -2.0, out=left[: e - s]), Z.T, out=buffer[: e - s])  # (b, n)
            scores.add_(sq32)
            scores[rows - s, rows] = float("inf")  # self excluded by index
            cand_s, cand_i = torch.topk(scores, m, dim=1, largest=False, sorted=True)  # (b, m)
            d2, idx = _sort_by_distance_then_index(exact.d2(rows, cand_i), cand_i)  # (b, m) float64
            out_d2[s:e], out_i[s:e] = d2[:, :k], idx[:, :k]
            if m == n - 1:
                continue  # every other row was a candidate
            kth = d2[:, k - 1] / scale**2  # (b,) exact k-th squared distance, scaled units
            lowest_left_out = znorm2[s:e] + cand_s[:, -1].double() - err[s:e]  # (b,)
            for r in torch.nonzero(kth >= lowest_left_out).flatten().tolist():
                # Near-tie at the k-th neighbour: every column whose float32 distance could be
                # within the error bound of the k-th is recomputed exactly.
                limit = kth[r] + err[s + r] - znorm2[s + r]
                cols = torch.nonzero(scores[r].double() <= limit).flatten()  # (c,) c >= k
                row = rows[r:r + 1]
                d2r, idxr = _sort_by_distance_then_index(exact.d2(row, cols[None, :]), cols[None, :])
                out_d2[s + r], out_i[s + r] = d2r[0, :k], idxr[0, :k]
        del buffer

    d2 = out_d2.cpu().numpy()
    distances = np.sqrt(d2) if metric == "euclidean" else d2 / 2.0
    return KNN(distances, out_i.cpu().numpy(), metric)
