"""Bootstrap replicates of a least-squares map, applied to vectors, to first order in the resampling.

A replicate of a map resamples the rows it was fit on with replacement (token pairs for the
Emb2Emb map, whole passages for the hidden-state map) and would refit it: W_r = (X^T D_r X +
lam I)^-1 X^T D_r Y with D_r the rows' draw counts. Instead, to first order in D_r - I,

    W_r = W + C X^T (D_r - I) E,    C = (X^T X + lam I)^-1,  E = Y - X W,

the derivative of the weighted least-squares solution at D = I (the linearisation that gives a
regression's sandwich covariance). Refitting on the replicate's own means changes it only at
second order: X and Y are centred, and E sums to zero over the rows (the map has an intercept,
its centring). Only the map's action on a few vectors is ever needed, and

    W_r^T v = W^T v + E^T ((d_r - 1) * (X C v))

costs O(n (d_a + d_b)) per replicate and vector, with no (d x d) work per replicate: at a
paper-sized vocabulary (50k tokens, width 2048) a refit per replicate is a 2048^2 x 50k Gram
matrix each time. ``tests/steering`` checks the first-order replicates against exact refits. With
``ridge`` 0 and rank-deficient rows C is the pseudo-inverse (the minimum-norm solution's).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from regeo.steering.emb2emb import LinearMap


@dataclass(frozen=True)
class MapReplicates:
    """A fitted map with what its first-order replicates need; float64 numpy."""

    weight: np.ndarray  # (d_b, d_a): the map, v_b = weight @ v_a
    rows: np.ndarray  # (n, d_a): the centred rows it was fit on
    residuals: np.ndarray  # (n, d_b): E = Y - X W on those rows
    inverse_gram: np.ndarray  # (d_a, d_a): C

    def apply(self, vectors: np.ndarray, row_weights: np.ndarray | None = None) -> np.ndarray:
        """(R, d_b): row r of ``vectors`` (R, d_a) through replicate r of the map, whose fit rows are
        drawn ``row_weights`` (R, n) times (None, or a row of ones: the map itself)."""
        vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float64))
        mapped = vectors @ self.weight.T  # (R, d_b)
        if row_weights is None:
            return mapped
        change = np.atleast_2d(np.asarray(row_weights, dtype=np.float64)) - 1.0  # (R, n)
        leverage = self.rows @ (self.inverse_gram @ vectors.T)  # (n, R): X C v_r
        return mapped + (self.residuals.T @ (change.T * leverage)).T  # (R, d_b)


def map_replicates(E_a, E_b, emb_map: LinearMap) -> MapReplicates:
    """The replicates of ``emb_map``, fit on rows ``E_a`` (n, d_a) -> ``E_b`` (n, d_b) (not yet centred)."""
    X = torch.as_tensor(E_a).double() - emb_map.mean_a  # (n, d_a)
    Y = torch.as_tensor(E_b).double() - emb_map.mean_b  # (n, d_b)
    W = emb_map.weight.T  # (d_a, d_b)
    gram = X.T @ X  # (d_a, d_a)
    if emb_map.ridge > 0:
        lam = emb_map.ridge * torch.trace(gram) / gram.shape[0]
        inverse = torch.linalg.inv(gram + lam * torch.eye(gram.shape[0], dtype=gram.dtype))
    else:
        inverse = torch.linalg.pinv(gram, hermitian=True)
    return MapReplicates(weight=emb_map.weight.numpy(), rows=X.numpy(), residuals=(Y - X @ W).numpy(),
                         inverse_gram=inverse.numpy())

