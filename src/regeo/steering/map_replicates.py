"""Bootstrap replicates of a least-squares map: the map refit on each replicate's draw of its fit units.

A replicate of a map resamples the units it was fit on with replacement: token pairs for an
Emb2Emb map (a token's input and output rows together when both are stacked), whole passages for
the hidden-state map (all of a passage's positions together: they are not independent draws).
The map is refit exactly, with the replicate's draw counts as row weights and its own weighted
means, from weighted sufficient statistics (N, sum x, sum y, X^T X, X^T Y):

- where units are many single rows (tokens), one weighted product over the rows per replicate,
  n d_A (d_A + d_B) multiply-adds (a 2,048-token vocabulary at width 64: 10 M), on the job's device;
- where units are blocks of rows (passages), the statistics are summed per unit once, and a
  replicate's are a weighted sum of those: no pass over the rows per replicate (when the
  per-unit (d_A, d_A + d_B) statistics fit in CHUNK_BYTES; else as for single rows).

A first-order shortcut (W_r = W + C X^T (D_r - I) E) was tried and dropped: its error relative to
the refit's change is of the order of sqrt(d / n) (14 % at d 8, n 400; more for the ceiling map,
fit on about a hundred passages at width 64), too large to stand for the refit. The replicate
maps are used at once on every concept's replicate vectors (:func:`apply_replicates`), so no more
than one (d_B, d_A) map is held at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch


# Bytes of the weighted rows of the replicates refit together (a paper-sized map, 50k tokens at
# width 2048, is refit one replicate at a time; the default's 1,466 x 64, 32 at a time).
CHUNK_BYTES = 2 ** 28


@dataclass(frozen=True)
class MapReplicates:
    """What refitting a map on resampled units needs (module docstring); float64 torch on ``device``."""

    rows_a: torch.Tensor  # (n, d_a): the fit rows as given (not centred)
    rows_b: torch.Tensor  # (n, d_b)
    unit: np.ndarray  # (n,) int64: the unit (token pair, passage) of each row
    n_units: int
    ridge: float  # relative, as fit_linear_map's
    blocks: dict | None = None  # per-unit statistics when units are blocks of rows

    def maps(self, draws: np.ndarray) -> Iterator[torch.Tensor]:
        """Per row of ``draws`` (R, n_units) its refit map's weight (d_b, d_a) float64, in order;
        replicates are refit a few at a time (batched products and solves), as many as keep the
        weighted rows (k, n, d_a) under CHUNK_BYTES."""
        device = self.rows_a.device
        draws = np.atleast_2d(draws)
        chunk = max(1, min(32, CHUNK_BYTES // max(1, self.rows_a.numel() * 8)))
        for start in range(0, len(draws), chunk):
            weights = torch.as_tensor(draws[start:start + chunk], dtype=torch.float64, device=device)  # (k, units)
            if self.blocks is not None:
                n = weights @ self.blocks["count"]  # (k,)
                sum_a, sum_b = weights @ self.blocks["sum_a"], weights @ self.blocks["sum_b"]  # (k, d_a), (k, d_b)
                gram = torch.einsum("ku,uij->kij", weights, self.blocks["gram"])  # (k, d_a, d_a)
                cross = torch.einsum("ku,uij->kij", weights, self.blocks["cross"])  # (k, d_a, d_b)
            else:
                row = weights[:, torch.as_tensor(self.unit, device=device)]  # (k, n)
                weighted = row[:, :, None] * self.rows_a  # (k, n, d_a)
                n, sum_a, sum_b = row.sum(1), weighted.sum(1), row @ self.rows_b
                gram, cross = weighted.transpose(1, 2) @ self.rows_a, weighted.transpose(1, 2) @ self.rows_b
            mean_a, mean_b = sum_a / n[:, None], sum_b / n[:, None]
            # centred on each replicate's own means
            gram = gram - n[:, None, None] * mean_a[:, :, None] * mean_a[:, None, :]
            cross = cross - n[:, None, None] * mean_a[:, :, None] * mean_b[:, None, :]
            eye = torch.eye(gram.shape[1], dtype=gram.dtype, device=device)
            if self.ridge > 0:
                lam = self.ridge * gram.diagonal(dim1=1, dim2=2).sum(1) / gram.shape[1]  # (k,)
                solution = torch.linalg.solve(gram + lam[:, None, None] * eye, cross)
            else:
                # Cholesky where the rows span the space (the rule); the minimum-norm solution, as
                # fit_linear_map's, where they do not.
                factor, info = torch.linalg.cholesky_ex(gram)
                solution = torch.cholesky_solve(cross, factor)
                for k in torch.nonzero(info).flatten().tolist():
                    solution[k] = torch.linalg.pinv(gram[k], hermitian=True) @ cross[k]
            yield from solution.transpose(1, 2)  # each (d_b, d_a)


def map_replicates(E_a, E_b, unit: np.ndarray, ridge: float, device="cpu") -> MapReplicates:
    """The replicates of a map fit on rows ``E_a`` (n, d_a) -> ``E_b`` (n, d_b); ``unit`` (n,) the
    resampled unit of each row (0 .. n_units - 1)."""
    rows_a = torch.as_tensor(np.asarray(E_a), dtype=torch.float64, device=device)
    rows_b = torch.as_tensor(np.asarray(E_b), dtype=torch.float64, device=device)
    unit = np.asarray(unit, dtype=np.int64)
    n_units = int(unit.max()) + 1 if unit.size else 0
    blocks = None
    d_a, d_b = rows_a.shape[1], rows_b.shape[1]
    if n_units < unit.size and n_units * d_a * (d_a + d_b) * 8 <= CHUNK_BYTES:
        # Blocks of rows: each unit's statistics summed once (a paper-sized width would make these
        # (n_units, d, d) arrays gigabytes: the rows are then reweighted per replicate instead).
        index = torch.as_tensor(unit, device=device)
        zeros = dict(dtype=torch.float64, device=device)
        blocks = {"count": torch.zeros(n_units, **zeros).index_add_(0, index, torch.ones(len(unit), **zeros)),
                  "sum_a": torch.zeros(n_units, d_a, **zeros).index_add_(0, index, rows_a),
                  "sum_b": torch.zeros(n_units, d_b, **zeros).index_add_(0, index, rows_b),
                  "gram": torch.zeros(n_units, d_a, d_a, **zeros), "cross": torch.zeros(n_units, d_a, d_b, **zeros)}
        for u in range(n_units):
            members = torch.as_tensor(np.flatnonzero(unit == u), device=device)
            block_a = rows_a[members]
            blocks["gram"][u] = block_a.T @ block_a
            blocks["cross"][u] = block_a.T @ rows_b[members]
    return MapReplicates(rows_a, rows_b, unit, n_units, float(ridge), blocks)


def apply_replicates(point: np.ndarray, replicates: MapReplicates | None, draws: np.ndarray,
                     vectors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """key -> (1 + R, d_b): row 0 of each of ``vectors`` (key -> (1 + R, d_a)) through the map
    ``point`` (d_b, d_a), row r through replicate r's refit (``draws`` (1 + R, n_units), row 0
    unused); every row through ``point`` when ``replicates`` is None (a map not resampled)."""
    out = {key: v @ point.T for key, v in vectors.items()}
    if replicates is None:
        return out
    for r, weight in enumerate(replicates.maps(draws[1:]), start=1):
        weight = weight.cpu().numpy()
        for key, v in vectors.items():
            out[key][r] = weight @ v[r]
    return out


def pairing_draws(replicates: MapReplicates, vector: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, d_b): ``vector`` (d_a,) through the map refit on randomly re-paired units, one pairing per draw.

    The token-pairing permutation null of a transfer: B's rows of each fit unit (token pair) given to
    another unit's A rows, the map refit, the vector carried. Re-pairing permutes the rows of the
    centred Y only, so X^T X and its inverse C stay: the refit is W_p = C X^T P Y and
    W_p^T v = Y^T P^T (X C v), one product of the permuted z = X C v with Y per draw. Rows lie as
    :func:`regeo.steering.maps.embedding_maps` stacks them: each unit once per block of rows.
    """
    X = replicates.rows_a - replicates.rows_a.mean(0)  # (n_rows, d_a)
    Y = replicates.rows_b - replicates.rows_b.mean(0)  # (n_rows, d_b)
    gram = X.T @ X
    if replicates.ridge > 0:
        lam = replicates.ridge * torch.trace(gram) / gram.shape[0]
        inverse = torch.linalg.inv(gram + lam * torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device))
    else:
        inverse = torch.linalg.pinv(gram, hermitian=True)
    z = (X @ (inverse @ torch.as_tensor(vector, dtype=torch.float64, device=X.device))).cpu().numpy()  # (n_rows,)
    n_units, n_rows = replicates.n_units, len(replicates.unit)
    if n_rows % n_units or not np.array_equal(replicates.unit, np.tile(np.arange(n_units), n_rows // n_units)):
        raise ValueError("pairing draws need each unit once per block of rows")
    blocks = n_rows // n_units
    z_blocks = z.reshape(blocks, n_units)  # (k, n_units)
    Y_blocks = Y.cpu().numpy().reshape(blocks, n_units, -1)  # (k, n_units, d_b)
    out = np.zeros((n, Y_blocks.shape[2]))
    for start in range(0, n, 256):
        stop = min(start + 256, n)
        # Unit u's A rows are paired with unit perm[u]'s B rows: W_p^T v = sum_u z_u y_perm[u]
        # = sum_j z_inverse[j] y_j; the inverse of a uniform random permutation is one too.
        inverse_perm = rng.permuted(np.tile(np.arange(n_units), (stop - start, 1)), axis=1)
        for k in range(blocks):
            out[start:stop] += z_blocks[k][inverse_perm] @ Y_blocks[k]
    return out
