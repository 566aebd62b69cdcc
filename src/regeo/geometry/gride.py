"""Gride: the generalized-ratios intrinsic dimension (Denti et al. 2022) over neighbourhood sizes.

For a point with neighbour distances r_1 <= r_2 <= ... (self excluded) and a scale n1, the ratio
mu = r_{n2} / r_{n1} with n2 = 2 n1 has, where the density is locally constant on a
d-dimensional manifold, the density (Denti, Doimo, Laio, Mira 2022, "The generalized ratios
intrinsic dimension estimator", Sci. Rep. 12, 20005, eq. (4))

    f(mu | d) = d (mu^d - 1)^(n2 - n1 - 1) / (B(n2 - n1, n1) mu^((n2 - 1) d + 1)),   mu > 1

(mu^-d is the ratio of the volumes of the two balls, Beta(n1, n2 - n1) distributed). With
l_i = ln mu_i over N points, the log-likelihood (DADApy's convention: (N - 1) ln d, which makes
the n1 = 1 estimate the unbiased TwoNN MLE (N - 1) / sum l_i)

    L(d) = (N - 1) ln d + (n2 - n1 - 1) sum ln(mu_i^d - 1) - ((n2 - 1) d + 1) sum l_i + const

is strictly concave in d, and its score

    S(d) = (N - 1) / d + (n2 - n1 - 1) sum l_i / (1 - mu_i^-d) - (n2 - 1) sum l_i
         = (N - 1) / d + (n2 - n1 - 1) sum l_i / (mu_i^d - 1) - n1 sum l_i

decreases strictly from +inf (d -> 0) to -n1 sum l_i (d -> inf): the estimate is its single root,
found by bracketing and Brent's method (to ~1e-12 relative). The standard error is
1 / sqrt(observed information), N / d^2 + (n2 - n1 - 1) sum (l_i / (2 sinh(d l_i / 2)))^2
(as scikit-dimension's ``GRIDE``).

Raising n1 measures the dimension at larger neighbourhoods without decimating the data: noise
of amplitude sigma inflates the small-scale estimate (towards the embedding dimension, where
r_n1 ~ sigma) and fades once r_n1 >> sigma. The curve over n1 = 1, 2, 4, ... is DADApy's
``return_id_scaling_gride``; ``radius`` (the mean r_{n2}) gives each scale as a distance.

Conventions (those of DADApy and of scikit-dimension 0.5's ``skdim.id.GRIDE``, which the tests
match to 1e-9 relative; measured ~1e-13):

- outliers: with ``outlier_cut`` (default), ratios above q50 + 20 (q95 - q50) of the scale's mu
  are left out (points overlapping others, or fat tails), and N counts the rest. The cut here
  keeps mu equal to the threshold (skdim's is strict), which only matters when q95 = q50:
  then skdim's cut would drop every point at the median.
- ties (mu = 1, r_{n2} = r_{n1} > 0): the density vanishes there when n2 - n1 > 1, but the
  score is continuous as mu -> 1+ (l / (mu^d - 1) -> 1 / d), so a tie is kept with that limit:
  the estimate is the limit of the MLE as the tie is broken by an infinitesimal amount. (skdim
  drops ties; DADApy nudges mu off 1 and clamps 1 - mu^-d; continuous data has no ties.)
  If every ratio at a scale is 1 the estimate is inf.
- duplicates (r_1 = 0, a zero distance) make mu undefined: ``gride_curve`` refuses them, and
  ``Gride`` refuses them under ``duplicates='raise'`` or leaves those points out under 'drop'.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from regeo.geometry._base import NeighbourEstimator
from regeo.geometry._validation import check_int
from regeo.geometry.knn import KNN

DEFAULT_SCALES = (1, 2, 4, 8, 16, 32)  # n1; the largest needs k = 64 neighbours, skdim's and DADApy's range_max
_OUTLIER_SPREAD = 20.0  # mu cut at q50 + 20 (q95 - q50), DADApy's "very generous threshold"


def dyadic_scales(max_scale: int) -> tuple[int, ...]:
    """The scales 1, 2, 4, ... up to ``max_scale`` (e.g. ``dyadic_scales(knn.k // 2)``)."""
    max_scale = check_int(max_scale, "max_scale", 1)
    return tuple(2**i for i in range(max_scale.bit_length()))


def check_scales(scales) -> tuple[int, ...]:
    """``scales`` as a non-empty, strictly increasing tuple of ints >= 1."""
    if isinstance(scales, (numbers.Integral, str, bytes)) or not np.iterable(scales):
        raise ValueError(f"scales must be a sequence of neighbour orders n1 >= 1, got {scales!r}")
    out = tuple(check_int(s, "each scale", 1) for s in scales)
    if not out:
        raise ValueError("scales is empty: give at least one neighbour order n1 >= 1")
    if any(b <= a for a, b in zip(out, out[1:])):
        raise ValueError(f"scales must be strictly increasing, got {out}")
    return out


@dataclass(frozen=True)
class GrideCurve:
    """The Gride estimates at each scale, with n2 = 2 n1.

    Attributes
    ----------
    scales : (m,) int64, n1
    dimension : (m,) float64, the estimate at each scale
    error : (m,) float64, its standard error (1 / sqrt(observed information))
    radius : (m,) float64, mean distance to the n2-th neighbour over the points used
    n_points : (m,) int64, ratios in each estimate (after the outlier cut)
    """

    scales: np.ndarray
    dimension: np.ndarray
    error: np.ndarray
    radius: np.ndarray
    n_points: np.ndarray


def _score(d: float, log_mu: np.ndarray, n1: int, n2: int) -> float:
    """dL/dd; a tie (l = 0) contributes its limit l / (mu^d - 1) -> 1 / d."""
    N = log_mu.size
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        ratio = np.where(log_mu > 0, log_mu / np.expm1(d * log_mu), 1.0 / d)  # expm1 -> inf: 0
    return (N - 1) / d + (n2 - n1 - 1) * ratio.sum() - n1 * log_mu.sum()


def _information(d: float, log_mu: np.ndarray, n1: int, n2: int) -> float:
    """Observed information -d2L/dd2 with N / d^2 (skdim's form); a tie contributes 1 / d^2."""
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        term = np.where(log_mu > 0, log_mu / (2.0 * np.sinh(d * log_mu / 2.0)), 1.0 / d)
    return log_mu.size / d**2 + (n2 - n1 - 1) * float(np.sum(term**2))


def _gride_mle(log_mu: np.ndarray, n1: int, n2: int) -> tuple[float, float]:
    """(d, standard error) maximising the Gride likelihood of the log-ratios ``log_mu`` (>= 0)."""
    if log_mu.sum() == 0:  # every ratio is 1: S(d) > 0 for all d, the likelihood rises forever
        return float("inf"), float("inf")
    lo, hi = 1.0, 1.0  # S decreases strictly, S(0+) = +inf, S(inf) = -n1 sum l < 0
    while _score(lo, log_mu, n1, n2) <= 0:
        lo /= 2.0
    while _score(hi, log_mu, n1, n2) > 0:
        hi *= 2.0
    d = brentq(_score, lo, hi, args=(log_mu, n1, n2), xtol=1e-14, rtol=1e-13, maxiter=500)
    return float(d), float(1.0 / np.sqrt(_information(d, log_mu, n1, n2)))


def log_ratios(D: np.ndarray, n1: int, outlier_cut: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(log mu of the points kept, (n,) bool kept) at scale n1 of checked, sorted distances D (n, >= 2 n1)."""
    mu = D[:, 2 * n1 - 1] / D[:, n1 - 1]  # (n,) >= 1
    keep = np.ones(len(mu), dtype=bool)
    if outlier_cut:
        q95, q50 = np.percentile(mu, [95, 50])
        keep = mu <= q50 + _OUTLIER_SPREAD * (q95 - q50)
    if keep.sum() < 2:
        raise ValueError(f"scale n1 = {n1}: {int(keep.sum())} ratios left after the outlier cut; need 2")
    return np.log(mu[keep]), keep


def pseudo_values(log_mu: np.ndarray, n1: int, d: float) -> np.ndarray:
    """(N,) per-point pseudo-values d + s_i(d) / (I(d) / N) of the estimate ``d``: their mean is the
    one-step (linearised) estimate, so a bootstrap of their mean is the linearised bootstrap of
    Gride, which costs no root-finding per replicate (s_i: point i's score term, I: the observed
    information)."""
    n2 = 2 * n1
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        ratio = np.where(log_mu > 0, log_mu / np.expm1(d * log_mu), 1.0 / d)
    score = 1.0 / d + (n2 - n1 - 1) * ratio - n1 * log_mu
    return d + score / (_information(d, log_mu, n1, n2) / log_mu.size)


def gride_curve(distances, scales=DEFAULT_SCALES, *, outlier_cut: bool = True) -> GrideCurve:
    """Gride at each n1 in ``scales`` (n2 = 2 n1), from the neighbour distances of every point.

    Parameters
    ----------
    distances : (n, k) array, row i the distances of point i to its 1st, ..., k-th nearest
        neighbours (self excluded, column j the (j + 1)-th), ascending, k >= 2 max(scales):
        ``KNN.ratio_distances()`` (under cosine the chord, not ``KNN.distances``' 1 - cos, whose
        ratios would give half the dimension)
    scales : strictly increasing neighbour orders n1 >= 1 (see :func:`dyadic_scales`)
    outlier_cut : leave out ratios above q50 + 20 (q95 - q50) at each scale (DADApy, skdim)

    A zero distance (a duplicate row) raises: remove duplicates first (``unique_rows``) or use
    ``Gride(duplicates='drop')``.
    """
    scales = check_scales(scales)
    D = np.asarray(distances)
    if D.ndim != 2 or D.dtype.kind not in "iuf":
        raise ValueError(f"distances must be a 2-D numeric (n, k) array, got shape {D.shape}, dtype {D.dtype}")
    D = D.astype(np.float64, copy=False)
    n, k = D.shape
    k_needed = 2 * scales[-1]
    if k < k_needed:
        raise ValueError(f"distances has {k} neighbours per row; scale n1 = {scales[-1]} needs n2 = {k_needed}")
    if n < 2:
        raise ValueError(f"distances needs at least 2 rows (points), got {n}")
    D = D[:, :k_needed]
    if not np.isfinite(D).all():
        raise ValueError("distances contains NaN or infinite values")
    if (D < 0).any():
        raise ValueError("distances contains negative values")
    if (np.diff(D, axis=1) < 0).any():
        raise ValueError("distances must be sorted ascending along each row (nearest neighbour first)")
    zero = D[:, 0] == 0
    if zero.any():
        raise ValueError(
            f"{int(zero.sum())} of {n} points have a neighbour at distance 0 (duplicate rows), where "
            "Gride is undefined (mu = r_n2 / r_n1 with r_n1 = 0). Remove duplicates first "
            "(regeo.geometry.knn.unique_rows) or use Gride(duplicates='drop').")
    m = len(scales)
    dimension, error, radius = np.empty(m), np.empty(m), np.empty(m)
    n_points = np.empty(m, dtype=np.int64)
    for s, n1 in enumerate(scales):
        n2 = 2 * n1
        log_mu, keep = log_ratios(D, n1, outlier_cut)
        dimension[s], error[s] = _gride_mle(log_mu, n1, n2)
        radius[s] = D[keep, n2 - 1].mean()
        n_points[s] = keep.sum()
    return GrideCurve(np.asarray(scales, dtype=np.int64), dimension, error, radius, n_points)


class Gride(NeighbourEstimator):
    """Gride intrinsic dimension at the neighbour orders n1 in ``scales``, n2 = 2 n1 (see the module).

    ``fit`` needs the 2 max(scales) nearest neighbours (64 for the default scales); a given
    ``knn`` at that k or more skips the search. At n1 = 1 the estimate (without the outlier cut)
    is TwoNN's ``dimension_mle_``, (N - 1) / sum ln(r_2 / r_1).

    Parameters
    ----------
    scales : strictly increasing n1 >= 1; default 1, 2, 4, ..., 32 (see :func:`dyadic_scales`)
    outlier_cut : leave out ratios above q50 + 20 (q95 - q50) at each scale (DADApy, skdim)
    metric : "euclidean" or "cosine"; under cosine the ratios are of chords sqrt(2 (1 - cos)) (see
        ``KNN.ratio_distances``): the cosine estimate of X is the Euclidean one of its unit rows
    duplicates : "raise" or "drop" (points with a neighbour at distance 0 left out)

    Attributes
    ----------
    scales_ : (m,) int64, n1
    dimension_ : (m,) float64, the estimate at each scale
    error_ : (m,) float64, standard errors
    radius_ : (m,) float64, mean distance to the n2-th neighbour (chord under cosine)
    n_points_ : (m,) int64, ratios in each estimate
    n_features_in_ : d
    """

    def __init__(self, scales=DEFAULT_SCALES, *, outlier_cut: bool = True, metric: str = "euclidean",
                 duplicates: str = "raise"):
        self.scales = scales
        self.outlier_cut = outlier_cut
        self.metric = metric
        self.duplicates = duplicates

    def fit(self, X, knn: KNN | None = None) -> "Gride":
        """Estimate from ``X`` (n, d); ``knn`` (at any k >= 2 max(scales)) skips the neighbour search."""
        scales = check_scales(self.scales)
        X, knn = self._neighbours(X, knn, 2 * scales[-1])
        valid = self._valid_points(knn)
        curve = gride_curve(knn.ratio_distances()[valid], scales, outlier_cut=bool(self.outlier_cut))
        self.scales_ = curve.scales
        self.dimension_ = curve.dimension
        self.error_ = curve.error
        self.radius_ = curve.radius
        self.n_points_ = curve.n_points
        self.n_features_in_ = X.shape[1]
        return self

    def curve(self) -> tuple[np.ndarray, np.ndarray]:
        """(scales_, dimension_): the ID over neighbourhood size, after ``fit``."""
        if not hasattr(self, "dimension_"):
            raise ValueError("Gride is not fitted: call fit(X) first")
        return self.scales_, self.dimension_
