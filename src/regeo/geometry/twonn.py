"""TwoNN intrinsic dimension (Facco et al. 2017) from the ratio of the two nearest distances."""

from __future__ import annotations

import numpy as np

from regeo.geometry._base import NeighbourEstimator
from regeo.geometry.knn import KNN


class TwoNN(NeighbourEstimator):
    """TwoNN: mu = T_2 / T_1 follows a Pareto law of shape d, so -ln(1 - F(mu)) = d ln(mu).

    Three forms, from the same N ratios:

    - ``dimension_``: the least-squares line through the origin of -ln(1 - F_emp) against ln(mu)
      after discarding the largest ``discard_fraction`` of the ratios, with F_emp(mu_(i)) = i / N
      (Facco et al. 2017). Equal to ``skdim.id.TwoNN(discard_fraction)`` (method='linear').
    - ``dimension_mle_``: the plain maximum-likelihood form (N - 1) / sum ln(mu) over all N ratios,
      no discard. Equal to ``skdim.id.TwoNN(discard_fraction=0, method='mle')``.
    - ``dimension_mle_censored_``: skdim's ``method='mle'`` with the discard: the discarded ratios
      treated as censored, (n_keep - 1) / (sum_{i<=n_keep} ln mu_(i) + (N - n_keep) ln mu_(n_keep)).

    Conventions shared with skdim: n_keep = int(N (1 - discard_fraction)), and F_emp divides by N
    (all ratios), not by n_keep. With ``discard_fraction=0`` the largest ratio has F_emp = 1 and an
    infinite ordinate; it is left out of the line fit here (skdim returns a non-finite slope).
    Duplicates (T_1 = 0) make mu undefined: skdim drops them with a warning, which is
    ``duplicates='drop'`` here (N counts the remaining points); the default ``'raise'`` refuses them.

    Parameters
    ----------
    discard_fraction : fraction of the largest ratios left out of the line fit, in [0, 1)
    metric : "euclidean" or "cosine"; under cosine mu is a ratio of chords sqrt(2 (1 - cos)) (see
        ``KNN.ratio_distances``): the cosine estimate of X is the Euclidean one of its unit rows
    duplicates : "raise" or "drop"

    Attributes
    ----------
    dimension_, dimension_mle_, dimension_mle_censored_ : float (see above)
    mu_ : (n,) float64, T_2 / T_1 per point (NaN for dropped duplicates)
    n_points_ : N, the ratios used
    n_features_in_ : d
    """

    def __init__(self, discard_fraction: float = 0.1, *, metric: str = "euclidean", duplicates: str = "raise"):
        self.discard_fraction = discard_fraction
        self.metric = metric
        self.duplicates = duplicates

    def fit(self, X, knn: KNN | None = None) -> "TwoNN":
        """Estimate from ``X`` (n, d); ``knn`` (at any k >= 2) skips the neighbour search."""
        if not 0.0 <= float(self.discard_fraction) < 1.0:
            raise ValueError(f"discard_fraction must be in [0, 1), got {self.discard_fraction!r}")
        X, knn = self._neighbours(X, knn, 2)
        valid = self._valid_points(knn)
        T = knn.ratio_distances()  # (n, 2); under cosine the chord, not 1 - cos
        mu = T[valid, 1] / T[valid, 0]  # (N,)
        N = mu.size
        n_keep = int(N * (1 - self.discard_fraction))
        if n_keep < 2:
            raise ValueError(f"discard_fraction={self.discard_fraction} leaves {n_keep} of {N} ratios; need 2")
        log_mu = np.log(np.sort(mu))  # (N,) ascending
        x = log_mu[:n_keep]
        fit = min(n_keep, N - 1)  # F_emp = 1 (y = inf) is no point of the line
        y = -np.log(1.0 - np.arange(1, fit + 1) / N)  # (fit,)
        with np.errstate(divide="ignore", invalid="ignore"):  # all ratios 1: d = inf
            self.dimension_ = float(x[:fit] @ y / (x[:fit] @ x[:fit]))
            self.dimension_mle_ = float((N - 1) / log_mu.sum())
            self.dimension_mle_censored_ = float((n_keep - 1) / (x.sum() + (N - n_keep) * x[-1]))
        self.mu_ = np.full(knn.n, np.nan)
        self.mu_[valid] = mu
        self.n_points_ = N
        self.n_features_in_ = X.shape[1]
        return self
