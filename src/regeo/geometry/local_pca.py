"""Per-point local-PCA dimension: components needed to explain a share of the neighbours' variance."""

from __future__ import annotations

import numpy as np
import torch

from regeo.geometry._base import NeighbourEstimator
from regeo.geometry._validation import check_int
from regeo.geometry._local import local_grams
from regeo.geometry.knn import KNN, unit_rows


class LocalPCA(NeighbourEstimator):
    """Local-PCA dimension per point (our reading of the per-token measure of Lee et al. 2025).

    For point x, the PCA of its k neighbours (x itself excluded, centred on their own mean): the
    dimension is the smallest number of components whose cumulative explained variance reaches
    ``variance`` of the total. This is ``skdim.id.lPCA(ver='ratio', alphaRatio=variance)`` applied
    per point as ``lPCA.fit_pw(X, n_neighbors=k)`` does (sklearn neighbours, self excluded), with
    one deliberate difference: a neighbourhood with zero variance (all k neighbours identical) has
    dimension 0 here, where skdim's 0/0 gives 1.

    Metric: under ``"cosine"`` both the neighbours and the PCA are of the unit-normalised rows
    x / |x|, so the cosine dimension of X is the Euclidean dimension of its unit rows (as for MLE
    and TwoNN). A PCA of the raw rows would mix back in the spread of the norms, the one thing
    the cosine metric was chosen to ignore: neighbours picked by direction but of very different
    lengths look like an extra (radial) component.

    Computation: the (k, k) Gram matrix of the neighbours' differences to x, double-centred, has
    the same nonzero eigenvalues as the neighbours' scatter matrix; batched ``eigvalsh`` in
    float64.

    Parameters
    ----------
    k : neighbours per point (>= 2)
    variance : explained-variance threshold, in (0, 1]
    metric : "euclidean" or "cosine"
    device : torch device for the batched linear algebra (None: CUDA when available)

    Attributes
    ----------
    dimension_pw_ : (n,) int64 per-point dimension
    dimension_ : float, mean of ``dimension_pw_``
    n_features_in_ : d
    """

    def __init__(self, k: int = 20, variance: float = 0.9, *, metric: str = "euclidean", device=None):
        self.k = k
        self.variance = variance
        self.metric = metric
        self.device = device

    def fit(self, X, knn: KNN | None = None) -> "LocalPCA":
        """Estimate from ``X`` (n, d); ``knn`` (at any k >= self.k) skips the neighbour search."""
        k = check_int(self.k, "k", 2)
        if not 0.0 < float(self.variance) <= 1.0:
            raise ValueError(f"variance must be in (0, 1], got {self.variance!r}")
        X, knn = self._neighbours(X, knn, k, self.device)
        n_features = X.shape[1]
        if self.metric == "cosine":
            X = unit_rows(X)  # (n, d) float64: the points the cosine neighbours are near in
        dims = np.empty(knn.n, dtype=np.int64)
        for s, e, G in local_grams(X, knn.indices, self.device):  # G (rs, k, k), differences to x
            # Double centring moves the origin to the neighbours' mean: the PCA's centring.
            G = G - G.mean(1, keepdim=True) - G.mean(2, keepdim=True) + G.mean((1, 2), keepdim=True)
            ev = torch.linalg.eigvalsh(G).flip(-1).clamp_(min=0.0)  # (rs, k) descending
            cum = ev.cumsum(-1)  # (rs, k)
            total = cum[:, -1:]  # (rs, 1)
            share = cum / torch.where(total > 0, total, torch.ones_like(total))  # (rs, k)
            # skdim's rule, same arithmetic: cumulative shares below the threshold, plus one.
            below = (share < float(self.variance)).sum(-1) + 1  # (rs,)
            dims[s:e] = torch.where(total[:, 0] > 0, below, torch.zeros_like(below)).cpu().numpy()
        self.dimension_pw_ = dims
        self.dimension_ = float(dims.mean())
        self.n_features_in_ = n_features
        return self
