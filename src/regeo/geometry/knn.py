"""Exact k-nearest neighbours of every row of a matrix, tile by tile, on CPU or CUDA.

Method (exact, no approximate search):

1. Rows are centred and scaled into the unit ball (Euclidean; distances change by a constant
   factor only) or normalised (cosine), then cast to float32. Centring matters: the float32
   error of ``|x|^2 + |y|^2 - 2 x.y`` grows with the norms, not with the distance.
   The candidate products (step 2) run in float32 or, where the hardware multiplies bfloat16
   faster (CPUs with AVX512-BF16 or AMX, GPUs with bf16 tensor cores; ``screen="auto"`` times
   both once per process), in bfloat16 with float32 accumulation. The bfloat16 screen ranks
   lower bounds of the distances (see ``_bf16_screen``): only speed depends on the choice.
2. Candidates (the O(n^2 d) part): the distance matrix is symmetric, so only the tiles on and
   above the diagonal are computed (a diagonal tile as quarter tiles on and above its own
   diagonal), each by one matrix product in the screen's precision; a tile serves its
   rows directly and its columns through its transpose, which halves the floating-point work of
   a row-by-row search. The row's own entry is +inf (self excluded by index). Each row keeps its
   ``k + margin`` smallest values: its first tile goes through ``topk``, every later tile only
   through a comparison with the row's running (k + margin)-th smallest, and the few survivors
   are merged (``topk`` on short tile rows costs more than the matrix product saved).
   Memory: two T x T buffers (float32 or bfloat16) and the (n, k + margin) candidates.
3. The candidates' distances are recomputed in float64 from the original values, as sums of
   squared differences (exactly 0 for duplicate rows), and re-sorted by (distance, index).
4. Certification (float32 screen): the float32 error of a product-based squared distance is below
   ``E = 2 (d + 4) u (|x| + 1)^2`` in the scaled units where every |y| <= 1 (u = 2^-24; twice the
   classical ``(gamma_d + 4u)(|x| + |y|)^2`` bound, which holds for any summation order, CPU or
   GPU; float32 products run in full IEEE precision here, never TF32). A row's neighbour set is
   proven exact when its k-th exact distance is below the smallest float32 distance left out
   minus E. A row that fails (near-ties around the k-th neighbour) is redone with every column
   whose float32 distance could be within E of the k-th, recomputed in float64.
   With the bfloat16 screen the kept values are proven lower bounds of the distances, so a row
   is proven exact when its k-th exact distance is below the smallest bound left out; rows that
   fail go through the same float32 redo.

Result: the neighbour sets and distances equal a float64 brute-force search (up to float64
rounding). Exact ties are broken by the lower index.

Duplicate rows: self is excluded by index, so a duplicate of row i appears as a neighbour of i
at distance exactly 0. The estimators refuse zero distances by default (``duplicates='raise'``)
and ``id_table`` removes duplicate rows before the search (``IDConfig.dedupe``); see
:meth:`KNN.zero_distance_mask` and :func:`unique_rows`.

Cosine distance is ``1 - cos(x, y)``, computed as ``|x/|x| - y/|y||^2 / 2`` (the same value,
without cancellation for close pairs); rows of norm 0 are refused. It is a squared distance:
estimators that take ratios of distances read :meth:`KNN.ratio_distances` (the chord) instead.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from regeo.devices import resolve_device
from regeo.geometry._row_loops import in_parts, numpy_row_loops
from regeo.geometry._validation import as_matrix, check_choice, check_int

METRICS = ("euclidean", "cosine")
SCREENS = ("auto", "float32", "bfloat16")
_U32 = 2.0**-24  # unit roundoff of float32
_UB16 = 2.0**-8  # unit roundoff of bfloat16 (8 significant bits)
_BF16_EXTRA = 8  # columns appended to the bfloat16 screen: |z|^2 in three parts each side, the bound, a zero pad
_TILE_BYTES_CPU = 128 * 2**20  # one T x T float32 tile (two are held: the tile and its transpose)
_TILE_BYTES_CUDA = 2 * 2**30  # ... on a GPU (fewer, larger launches)
_GATHER_BYTES = 4 * 2**20  # float64 (rows, candidates, d) buffer of the exact pass: cache-sized
_GATHER_BYTES_CUDA = 256 * 2**20  # ... on a GPU: few large launches matter more than caches


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

    def ratio_distances(self) -> np.ndarray:
        """(n, k) float64 distances for the estimators that take ratios of them (MLE, TwoNN).

        Euclidean: ``distances`` as they are. Cosine: the chord ``sqrt(2 (1 - cos))``, which is
        the Euclidean distance between the unit-normalised rows. ``1 - cos`` itself is half the
        squared chord, so its log-ratios are twice the chord's and every ratio estimator would
        report half the dimension. The chord rather than the angle: it makes a cosine ID of
        unit-norm data equal the Euclidean ID exactly (same neighbours, same distances up to
        rounding), and the two differ only by the O(T^2) factor arccos(1 - T^2/2) / T anyway.
        """
        if self.metric == "cosine":
            return np.sqrt(2.0 * self.distances)
        return self.distances

    def zero_distance_mask(self) -> np.ndarray:
        """(n,) bool: rows with a neighbour at distance 0, i.e. rows that have a duplicate."""
        return self.distances[:, 0] == 0


def neighbour_jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n,) Jaccard index of the rows of two (n, k) index arrays (sets of distinct ids): how much
    token i's k-neighbourhood in one space is its k-neighbourhood in another."""
    out = np.empty(a.shape[0])
    k = a.shape[1]
    step = max(1, 2**22 // (k * k))
    for s in range(0, a.shape[0], step):
        inter = (a[s:s + step, :, None] == b[s:s + step, None, :]).any(-1).sum(-1)  # (rs,)
        out[s:s + step] = inter / (2 * k - inter)
    return out


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
        keys *= _inverse_norms(X)[:, None]  # exactly the unit rows exact_knn compares
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)  # keep rows in their original order
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return first[order], rank[inverse.reshape(-1)]


def _inverse_norms(X: np.ndarray) -> np.ndarray:
    """(n,) float64 1 / |x| (cosine); rows of norm 0 are refused."""
    norms = np.sqrt(np.einsum("ij,ij->i", X, X, dtype=np.float64))
    if (norms == 0).any():
        raise ValueError(f"cosine metric: {int((norms == 0).sum())} rows of X have norm 0")
    return 1.0 / norms


def unit_rows(X) -> np.ndarray:
    """(n, d) float64 ``x / |x|``: the rows the cosine metric compares (norm 0 refused)."""
    X = as_matrix(X, min_rows=1)
    return X.astype(np.float64) * _inverse_norms(X)[:, None]


@contextlib.contextmanager
def _full_precision_products():
    """float32 products in IEEE float32 and bfloat16 products accumulated in float32: TF32 and
    reduced-precision reductions would void the error bounds."""
    previous = torch.get_float32_matmul_precision()
    previous_bf16 = torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction
    torch.set_float32_matmul_precision("highest")
    torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction = False
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)
        torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction = previous_bf16


def _default_tile(n: int, device: torch.device) -> int:
    # The same side for both screens: on the CPU larger bfloat16 tiles were no faster (measured
    # once; docs/benchmarks.md, "Tile side").
    budget = _TILE_BYTES_CUDA if device.type == "cuda" else _TILE_BYTES_CPU
    tile = max(256, int(math.sqrt(budget / 4)) // 64 * 64)  # a multiple of 64 suits GEMM kernels
    return min(n, tile)


def _default_margin(k: int, screen: torch.dtype) -> int:
    # Extra candidates: enough that almost every row is certified at once. The bfloat16 bounds
    # are ~1.6 % of |x||y| wide, so that screen needs more of them (the rows left for the
    # float32 redo at these margins are in docs/benchmarks.md).
    if screen == torch.bfloat16:
        return max(24, k + 4)
    return max(4, math.ceil(k / 8))


@functools.lru_cache(maxsize=None)
def _bf16_products_faster(device: torch.device, d: int) -> bool:
    """Whether a bfloat16 matrix product is clearly faster than a float32 one here (timed once).

    bfloat16 pays only with hardware support (AVX512-BF16, AMX, tensor cores); elsewhere it is
    emulated and several times slower. Only speed depends on this choice, never the result.
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type != "cpu":
        return False
    rows, cols = 512, 4096
    best = {}
    for dtype in (torch.float32, torch.bfloat16):
        a = torch.randn(rows, d + _BF16_EXTRA, device=device).to(dtype)
        b = torch.randn(cols, d + _BF16_EXTRA, device=device).to(dtype)
        out = torch.empty(rows, cols, dtype=dtype, device=device)
        times = []
        for _ in range(4):  # the first call warms up the kernel
            start = time.perf_counter()
            torch.mm(a, b.T, out=out)
            times.append(time.perf_counter() - start)
        best[dtype] = min(times[1:])
    return best[torch.bfloat16] < 0.7 * best[torch.float32]


def _screen_dtype(screen: str, device: torch.device, d: int) -> torch.dtype:
    if screen == "float32" or (screen == "auto" and not _bf16_products_faster(device, d)):
        return torch.float32
    return torch.bfloat16


def _split_bf16(values: np.ndarray, parts: int) -> list[np.ndarray]:
    """float64 values as a sum of ``parts`` bfloat16 numbers (three give ~24 bits), leading first."""
    out, rest = [], values.copy()
    for _ in range(parts):
        head = torch.from_numpy(rest).to(torch.bfloat16).double().numpy()
        out.append(head)
        rest -= head  # exact: head holds the leading bits of rest
    return out


def _bf16_screen(Zt: torch.Tensor, znorm: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(left, right, c): bfloat16 (n, d + 8) matrices whose product is a lower bound of |z_i - z_j|^2.

    ``left_i . right_j = s_i + s_j - 2 z~_i.z~_j - c |z_i||z_j|`` with z~ = bf16(z) and s = |z|^2
    (three bfloat16 parts each side, slightly reduced), accumulated in float32. Bounds, with u the
    bfloat16 unit roundoff (u' = u + 2 u32 covers float64 -> float32 -> bfloat16) and gamma the
    float32 accumulation factor over the D = d + 8 terms:

    - |2 z~_i.z~_j - 2 z_i.z_j| <= 2 (2u' + u'^2) |z_i||z_j|;
    - accumulation error <= gamma * sum|terms| <= gamma ((2.1 + c) |z_i||z_j| + 1.01 (s_i + s_j));

    so with s reduced by 1.02 gamma and c >= (2 (2u' + u'^2) + 2.1 gamma) / (1 - gamma), the float32
    result never exceeds the true squared distance. The product is returned rounded to bfloat16;
    :func:`_bf16_lower_bound` undoes that rounding. Cost: one product with 8 more columns, and no
    elementwise pass to add the norms.
    """
    n, d = Zt.shape
    device = Zt.device
    u = _UB16 + 2 * _U32
    width = d + _BF16_EXTRA
    gamma = width * _U32 / (1 - width * _U32)
    c = 1.01 * (2 * (2 * u + u * u) + 2.1 * gamma) / (1 - gamma)
    s = znorm**2 * (1 - 1.02 * gamma)  # (n,)
    s_parts = _split_bf16(s, 3)
    left = torch.empty((n, width), dtype=torch.bfloat16, device=device)
    right = torch.empty((n, width), dtype=torch.bfloat16, device=device)
    torch.mul(Zt, -2.0, out=left[:, :d])  # -2 bf16(z): scaling by 2 is exact
    right[:, :d] = Zt
    ones = np.ones(n)
    zeros = np.zeros(n)  # pads the width to a multiple of 8 for the product kernels
    # Rounding the bound column: (1 + 4u) c rounded to bf16 times bf16(|z_j|) stays >= c |z_i||z_j|.
    left_cols = s_parts + [ones, ones, ones, -c * (1 + 4 * _UB16) * znorm, zeros]
    right_cols = [ones, ones, ones] + s_parts + [znorm, zeros]
    left[:, d:] = torch.from_numpy(np.stack(left_cols, axis=1)).to(device)
    right[:, d:] = torch.from_numpy(np.stack(right_cols, axis=1)).to(device)
    return left, right, c


def _bf16_lower_bound(values: np.ndarray) -> np.ndarray:
    """A lower bound of the float32 sum behind each bfloat16-rounded screen value (float64)."""
    values = values.astype(np.float64)
    return values - _UB16 / (1 - _UB16) * np.abs(values) - 1e-30  # 1e-30: flushed subnormals


class _Exact:
    """Float64 squared distances between chosen pairs, from the original values.

    CPU: numpy in a few threads, each on its own rows (see ``in_parts``). CUDA: torch.
    """

    def __init__(self, X: np.ndarray, src: torch.Tensor, inv_norm: np.ndarray | None):
        self.X = X  # (n, d) float32 or float64: exact values
        self.src = src  # the same on the device
        self.inv_norm = inv_norm  # (n,) float64, cosine only
        self.inv_norm_dev = None if inv_norm is None else torch.from_numpy(inv_norm).to(src.device)

    def d2(self, rows: np.ndarray, cand: np.ndarray) -> np.ndarray:
        """rows (r,), cand (r, m) int64 -> (r, m) float64 squared distances (of unit rows for cosine)."""
        if not numpy_row_loops(self.src.device):
            return self._d2_torch(rows, cand)
        out = np.empty(cand.shape)
        in_parts(0, len(rows), lambda lo, hi: self._d2_numpy(rows, cand, out, lo, hi))
        return out

    def _d2_numpy(self, rows, cand, out, lo: int, hi: int) -> None:
        m, d = cand.shape[1], self.X.shape[1]
        step = max(1, _GATHER_BYTES // (8 * m * d))  # rows per pass: the buffer stays in cache
        buffer = np.empty((min(step, hi - lo) * m, d))  # (rs * m, d) float64
        for s in range(lo, hi, step):
            e = min(hi, s + step)
            flat = cand[s:e].reshape(-1)  # (rs * m,)
            g = buffer[: flat.size]
            g[...] = np.take(self.X, flat, axis=0)  # widened to float64
            x = self.X[rows[s:e]].astype(np.float64)  # (rs, d)
            if self.inv_norm is not None:
                g *= self.inv_norm[flat, None]
                x *= self.inv_norm[rows[s:e], None]
            g3 = g.reshape(e - s, m, d)  # (rs, m, d)
            g3 -= x[:, None, :]  # differences: exactly 0 for duplicates
            out[s:e] = np.einsum("ijk,ijk->ij", g3, g3)

    def _d2_torch(self, rows: np.ndarray, cand: np.ndarray) -> np.ndarray:
        dev = self.src.device
        rows_t = torch.from_numpy(rows).to(dev)
        cand_t = torch.from_numpy(cand).to(dev)
        r, m = cand.shape
        d = self.src.shape[1]
        out = torch.empty((r, m), dtype=torch.float64, device=dev)
        step = max(1, _GATHER_BYTES_CUDA // (8 * m * d))
        for s in range(0, r, step):
            e = min(r, s + step)
            flat = cand_t[s:e].reshape(-1)
            g = self.src.index_select(0, flat).double()  # (rs * m, d)
            x = self.src.index_select(0, rows_t[s:e]).double()  # (rs, d)
            if self.inv_norm_dev is not None:
                g *= self.inv_norm_dev[flat, None]
                x *= self.inv_norm_dev[rows_t[s:e], None]
            g = g.view(e - s, m, d) - x[:, None, :]  # (rs, m, d)
            out[s:e] = g.square_().sum(-1)
        return out.cpu().numpy()


def _sort_by_distance_then_index(d2: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort each row by (d2, idx)."""
    order = np.lexsort((idx, d2), axis=-1)  # last key first: distance, then index
    return np.take_along_axis(d2, order, -1), np.take_along_axis(idx, order, -1)


class _Best:
    """The m smallest float32 values per row seen so far and their columns, ascending."""

    def __init__(self, n: int, m: int, device: torch.device):
        self.m = m
        self.v = torch.full((n, m), float("inf"), dtype=torch.float32, device=device)  # (n, m)
        self.i = torch.full((n, m), -1, dtype=torch.int64, device=device)  # (n, m)

    def threshold(self, lo: int, hi: int) -> torch.Tensor:
        """(hi - lo,) current m-th smallest: a new value at or above it cannot enter.

        The values come from the screen's own dtype, so casting them back to it is exact.
        """
        return self.v[lo:hi, -1]

    def merge(self, rows: torch.Tensor, values: torch.Tensor, cols: torch.Tensor) -> None:
        """Merge (r, w) new values and columns into the given (r,) rows."""
        v = torch.cat([self.v[rows], values], dim=1)  # (r, m + w)
        c = torch.cat([self.i[rows], cols], dim=1)
        v, p = torch.topk(v, self.m, dim=1, largest=False, sorted=True)  # (r, m)
        self.v[rows], self.i[rows] = v, c.gather(1, p)

    def merge_sparse(self, lo: int, count: int, keys: torch.Tensor, cols: torch.Tensor, values: torch.Tensor):
        """Merge scattered survivors: keys (s,) local row numbers in [0, count), ascending."""
        if keys.numel() == 0:
            return
        dev = keys.device
        per_row = torch.bincount(keys, minlength=count)  # (count,)
        start = torch.cumsum(per_row, 0) - per_row
        pos = torch.arange(keys.numel(), device=dev) - start[keys]  # rank of each survivor in its row
        hit = torch.nonzero(per_row).flatten()  # (r,) rows with survivors
        slot = torch.empty(count, dtype=torch.int64, device=dev)
        slot[hit] = torch.arange(hit.numel(), device=dev)
        width = int(per_row.max())
        dense_v = torch.full((hit.numel(), width), float("inf"), dtype=torch.float32, device=dev)  # (r, w)
        dense_c = torch.zeros((hit.numel(), width), dtype=torch.int64, device=dev)
        dense_v[slot[keys], pos] = values
        dense_c[slot[keys], pos] = cols
        self.merge(hit + lo, dense_v, dense_c)


def _upper_tiles(n: int, tile: int):
    """(a, b, c, e): row range [a, b) and column range [c, e) of every tile on and above the diagonal.

    A diagonal tile is split into quarter-side tiles on and above its own diagonal, so that its
    lower half is (mostly) not computed: 12 % of all products at n = 50,000 with T = 5760.
    """
    sub = tile // 4 if tile >= 64 else tile
    for a in range(0, n, tile):
        b = min(n, a + tile)
        for p in range(a, b, sub):
            for q in range(p, b, sub):
                yield p, min(b, p + sub), q, min(b, q + sub)
        for c in range(b, n, tile):
            yield a, b, c, min(n, c + tile)


def _candidates(left: torch.Tensor, right: torch.Tensor, sq32: torch.Tensor | None, m: int,
                tile: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The m smallest screen values of every row (self excluded) and their columns.

    float32 screen: ``left = right = Z`` and tile (I, J) = |z_i|^2 + |z_j|^2 - 2 z_i.z_j (the
    rows of ``left`` are scaled by -2 per tile, ``sq32`` added). bfloat16 screen (``sq32`` None):
    tile (I, J) = left_I @ right_J^T, lower bounds of the distances (see ``_bf16_screen``).
    Tiles on and above the diagonal only: tile (I, J) serves the
    rows of I directly and the rows of J through its transpose. A row's first tile goes through
    ``topk``; after that only values below the row's running m-th smallest can matter, typically a
    few per row and tile, so a comparison and ``nonzero`` replace ``topk`` (several times cheaper)
    and the survivors are merged. Returns (n, m) values, ascending, and (n, m) int64 columns.
    """
    n, d = left.shape
    dev, dtype = left.device, left.dtype
    best = _Best(n, m, dev)
    tile_buf = torch.empty(tile * tile, dtype=dtype, device=dev)  # reused: no page faults
    trans_buf = torch.empty(tile * tile, dtype=dtype, device=dev)
    scaled = torch.empty((tile, d), dtype=dtype, device=dev) if sq32 is not None else None
    scaled_rows = None
    for a, b, c, e in _upper_tiles(n, tile):
        if scaled is not None and scaled_rows != (a, b):
            torch.mul(left[a:b], -2.0, out=scaled[: b - a])  # exact scaling
            scaled_rows = (a, b)
        rows_left = left[a:b] if scaled is None else scaled[: b - a]
        P = tile_buf[: (b - a) * (e - c)].view(b - a, e - c)  # (ti, tj)
        torch.mm(rows_left, right[c:e].T, out=P)  # -2 z_i.z_j (float32), the bound (bfloat16)
        if sq32 is not None:
            P.add_(sq32[a:b, None]).add_(sq32[None, c:e])  # approximate |z_i - z_j|^2
        if a == c:
            P.fill_diagonal_(float("inf"))  # self excluded by index
        # Rows of I, from the tile's rows.
        tau = best.threshold(a, b)  # (ti,)
        if bool(torch.isinf(tau).any()):
            v, j = torch.topk(P, min(m, e - c), dim=1, largest=False, sorted=False)  # (ti, m')
            best.merge(torch.arange(a, b, device=dev), v.float(), j + c)
        else:
            r, j = torch.nonzero(P < tau.to(dtype)[:, None], as_tuple=True)  # row-major: r ascending
            best.merge_sparse(a, b - a, r, j + c, P[r, j].float())
        if a == c:
            continue
        # Rows of J, from the tile's columns.
        tau = best.threshold(c, e)  # (tj,)
        if bool(torch.isinf(tau).any()):
            PT = trans_buf[: (e - c) * (b - a)].view(e - c, b - a)  # (tj, ti)
            PT.copy_(P.T)  # topk along rows of a contiguous copy is far faster than along dim 0
            v, i = torch.topk(PT, min(m, b - a), dim=1, largest=False, sorted=False)
            best.merge(torch.arange(c, e, device=dev), v.float(), i + a)
        else:
            i, j = torch.nonzero(P < tau.to(dtype)[None, :], as_tuple=True)
            order = torch.argsort(j, stable=True)  # group the survivors by their row of J
            i, j = i[order], j[order]
            best.merge_sparse(c, e - c, j, i + a, P[i, j].float())
    return best.v, best.i


def _scaled_rows(X: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray, float, np.ndarray | None]:
    """(Z, |z|, scale, 1/|x|): the rows the screen multiplies, in scaled units.

    Euclidean: z = (x - mean) / scale with scale a power of two and every |z| <= 1; cosine:
    z = x / |x| (scale 1, ``inv_norm`` the (n,) 1/|x|, else None). Z is float32, |z| float64.
    """
    n, d = X.shape
    # Z: centred and scaled into the unit ball (Euclidean) or normalised (cosine), float64 first.
    if metric == "cosine":
        inv_norm, center, scale = _inverse_norms(X), np.zeros(d), 1.0  # (n,)
    else:
        inv_norm, center = None, X.mean(axis=0, dtype=np.float64)  # (d,)
    Z = np.empty((n, d), dtype=np.float32)  # (n, d)
    znorm = np.empty(n)  # (n,) |z| in float64
    chunk = max(1, _GATHER_BYTES // (8 * d))
    for s in range(0, n, chunk):
        z = X[s:s + chunk] - center  # float64
        if inv_norm is not None:
            z *= inv_norm[s:s + chunk, None]
        Z[s:s + chunk] = z
        znorm[s:s + chunk] = np.sqrt(np.einsum("ij,ij->i", z, z))
    if inv_norm is None:
        # A power of two: dividing by it is exact, so Z keeps a single rounding to float32.
        scale = 2.0 ** math.ceil(math.log2(znorm.max())) if znorm.max() > 0 else 1.0
        Z /= np.float32(scale)
        znorm /= scale
    return Z, znorm, scale, inv_norm


def exact_knn(X, k: int, metric: str = "euclidean", block_size: int | None = None, device=None, *,
              margin: int | None = None, screen: str = "auto") -> KNN:
    """Exact k nearest neighbours of every row of ``X`` among the other rows.

    Parameters
    ----------
    X : (n, d) array or tensor; float32 input is read as is (it is exact in float64)
    k : neighbours per row, 1 <= k <= n - 1
    metric : "euclidean" or "cosine" (distance ``1 - cos``)
    block_size : side T of the square tiles of the distance matrix; None sizes a T x T float32
        tile to 128 MiB on the CPU (T = 5760) and 2 GiB on a GPU; two tiles are held
    device : torch device; None uses CUDA when available
    margin : extra candidates per row recomputed in float64 (None: max(4, k/8) with the float32
        screen, max(24, k + 4) with bfloat16); only speed depends on it, never the result
    screen : precision of the candidate products: "float32", "bfloat16" (float32 accumulation,
        proven lower bounds) or "auto" (bfloat16 where it is measurably faster: AVX512-BF16 or
        AMX CPUs, bf16-capable GPUs); only speed depends on it, never the result

    Returns
    -------
    KNN with float64 distances sorted ascending and int64 indices, self excluded (by index:
    a duplicate row is a neighbour at distance 0).
    """
    X = as_matrix(X)
    n, d = X.shape
    k = check_int(k, "k", 1, n - 1)
    check_choice(metric, "metric", METRICS)
    check_choice(screen, "screen", SCREENS)
    dev = resolve_device(device)
    screen_dtype = _screen_dtype(screen, dev, d)
    tile = _default_tile(n, dev) if block_size is None else min(n, check_int(block_size, "block_size", 1))
    m = min(n - 1, k + (_default_margin(k, screen_dtype) if margin is None else check_int(margin, "margin", 0)))

    Z, znorm, scale, inv_norm = _scaled_rows(X, metric)
    # Bound on |float32 d^2 - exact d^2| per row, scaled units (every |z| <= 1).
    err = 2.0 * (d + 4) * _U32 * (znorm + 1.0) ** 2  # (n,)

    with torch.no_grad(), _full_precision_products():
        Zt = torch.from_numpy(Z).to(dev)
        sq32 = Zt.square().sum(1)  # (n,) float32, as the products see them
        if screen_dtype == torch.bfloat16:
            left, right, _ = _bf16_screen(Zt, znorm)
            cand_v, cand_i = _candidates(left, right, None, m, tile)
            del left, right
        else:
            cand_v, cand_i = _candidates(Zt, Zt, sq32, m, tile)
        cand_v, cand_i = cand_v.cpu().numpy(), cand_i.cpu().numpy()
        exact = _Exact(X, torch.from_numpy(X).to(dev), inv_norm)
        rows = np.arange(n)
        d2, idx = _sort_by_distance_then_index(exact.d2(rows, cand_i), cand_i)  # (n, m) float64
        out_d2, out_i = d2[:, :k].copy(), idx[:, :k].copy()
        if m < n - 1:
            kth = d2[:, k - 1] / scale**2  # (n,) exact k-th squared distance, scaled units
            if screen_dtype == torch.bfloat16:  # every column left out is at least this far
                lowest_left_out = _bf16_lower_bound(cand_v.max(axis=1))  # (n,)
            else:
                lowest_left_out = cand_v.max(axis=1).astype(np.float64) - err  # (n,)
            failed = np.flatnonzero(kth >= lowest_left_out)
            step = max(1, tile * tile // n)  # a (step, n) float32 block: the size of one tile
            for f in range(0, failed.size, step):
                # Near-ties at the k-th neighbour: every column whose float32 distance could be
                # within the error bound of the k-th is recomputed exactly (one product per batch).
                fail = failed[f:f + step]
                batch = torch.from_numpy(fail).to(dev)  # (F,)
                P = torch.mm(Zt[batch] * -2.0, Zt.T).add_(sq32[batch, None]).add_(sq32[None, :])  # (F, n)
                P[torch.arange(fail.size, device=dev), batch] = float("inf")
                limit = kth[fail] + err[fail]  # (F,) float64, rounded up to float32 below
                limit32 = limit.astype(np.float32)
                limit32 = np.where(limit32 < limit, np.nextafter(limit32, np.float32(np.inf)), limit32)
                within = (P <= torch.from_numpy(limit32).to(dev)[:, None]).cpu().numpy()  # (F, n)
                for row, r in zip(within, fail):
                    cols = np.flatnonzero(row)  # (c,) c >= k
                    d2r, idxr = _sort_by_distance_then_index(exact.d2(rows[r:r + 1], cols[None, :]), cols[None, :])
                    out_d2[r], out_i[r] = d2r[0, :k], idxr[0, :k]

    distances = np.sqrt(out_d2) if metric == "euclidean" else out_d2 / 2.0
    return KNN(distances, out_i, metric)
