"""Levina-Bickel maximum-likelihood intrinsic dimension, pooled as MacKay and Ghahramani suggest."""

from __future__ import annotations

import numpy as np

from regeo.geometry._base import NeighbourEstimator
from regeo.geometry._validation import check_int
from regeo.geometry.knn import KNN


class LevinaBickelMLE(NeighbourEstimator):
    """Levina-Bickel MLE of the intrinsic dimension, per point and pooled.

    For a point with neighbour distances T_1 <= ... <= T_k (self excluded),
    ``m_k(x) = (k - 1) / sum_{j<k} ln(T_k / T_j)`` (Levina & Bickel 2004); the global value is
    MacKay & Ghahramani's pooling, the inverse of the mean of ``1 / m_k(x)`` (a harmonic mean).

    Equal to ``skdim.id.MLE().fit(X, n_neighbors=k, comb='mle')`` (scikit-dimension 0.5, default
    ``dnoise=None``, ``neighborhood_based=True``): the same k (the k-th neighbour is the k-th point
    other than x, as sklearn's ``kneighbors()`` returns them), the same (k - 1) numerator, and
    ``unbiased=True`` gives skdim's (k - 2). The only difference is duplicates: where a point has a
    neighbour at distance 0, skdim silently returns m_k = 0 (and a pooled value of 0, or NaN when
    T_k = 0); here ``duplicates='raise'`` (default) refuses such input and ``duplicates='drop'``
    leaves those points out of the pooled value (their ``dimension_pw_`` is NaN). A point whose k
    distances are all equal has m_k = inf, as in skdim; the pooled value stays finite.

    Parameters
    ----------
    k : neighbours per point (>= 2; >= 3 when unbiased)
    unbiased : use (k - 2) instead of (k - 1) in the numerator (skdim's ``unbiased``)
    metric : "euclidean" or "cosine", for the neighbour search and the check of a given ``knn``;
        under cosine the distances T_j are chords sqrt(2 (1 - cos)) (see ``KNN.ratio_distances``),
        so the cosine estimate of X is the Euclidean estimate of X's unit-normalised rows
    duplicates : "raise" or "drop" (see above)

    Attributes
    ----------
    dimension_ : float, pooled estimate
    dimension_pw_ : (n,) float64, m_k per point (NaN for dropped duplicates)
    n_points_ : points in the pooled estimate
    n_features_in_ : d
    """

    def __init__(self, k: int = 20, *, unbiased: bool = False, metric: str = "euclidean",
                 duplicates: str = "raise"):
        self.k = k
        self.unbiased = unbiased
        self.metric = metric
        self.duplicates = duplicates

    def fit(self, X, knn: KNN | None = None) -> "LevinaBickelMLE":
        """Estimate from ``X`` (n, d); ``knn`` (at any k >= self.k) skips the neighbour search."""
        k = check_int(self.k, "k", 3 if self.unbiased else 2)
        X, knn = self._neighbours(X, knn, k)
        valid = self._valid_points(knn)
        T = knn.ratio_distances()[valid]  # (n_valid, k); under cosine the chord, not 1 - cos
        with np.errstate(divide="ignore"):  # all-equal distances: m_k = inf, as in skdim
            log_ratios = np.log(T[:, -1:] / T[:, :-1]).sum(axis=1)  # (n_valid,); the j = k term is 0
            m = (k - 2 if self.unbiased else k - 1) / log_ratios
        self.dimension_pw_ = np.full(knn.n, np.nan)
        self.dimension_pw_[valid] = m
        self.dimension_ = float(1.0 / np.mean(1.0 / m))
        self.n_points_ = int(valid.sum())
        self.n_features_in_ = X.shape[1]
        return self
