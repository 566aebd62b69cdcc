"""The properties of an embedding space (issue 29; DESIGN.md, "Properties of the space"):
anisotropy, isotropy, rogue dimensions, spectrum and row norms of one matrix X (n rows x d),
each with its isotropic and covariance-matched Gaussian null and a bootstrap interval over rows.

Definitions (rows are x_r, unit rows u_r = x_r / |x_r|):

- **mean_cosine**: the mean cosine over all n(n-1)/2 distinct pairs of rows, exactly and without
  sampling: sum_{r != s} u_r . u_s = |sum_r u_r|^2 - n, so it needs O(n d) time and no n x n matrix.
- **mean_vector_ratio**: |mean row| / mean row norm (1: every row the same vector; about
  1/sqrt(n) for a centred cloud).
- **isoscore**: IsoScore as the ``isoscore`` package (2.0.1) computes it, from the eigenvalues of
  the centred covariance; with ``isoscore_shrinkage`` zeta > 0, IsoScore* with the covariance
  shrunk towards the identity, (1 - zeta) C + zeta I (the package's ``IsoScore_star(X, I, zeta)``).
  1 for an isotropic population; a sample of n rows reads about 1 - d/n.
- **partition_isotropy**: Mu & Viswanath's I(W) = min_c Z(c) / max_c Z(c), Z(c) = sum_r exp(c . x_r),
  with c taken, as their approximation does, over the eigenvectors of W^T W (uncentred), here
  both signs of each (2d directions: an eigenvector's sign is arbitrary). On the raw rows, so it
  depends on their scale.
- **rogue_share_top{k}** (Timkey & van Schijndel 2021): dimension i's contribution to the expected
  cosine of a random pair, C_i = E[u_i v_i] over all distinct pairs (sum_i C_i = mean_cosine);
  the share of the k largest, sum_top C_i+ / sum_i C_i+ on the positive parts (C_i+ = max(C_i, 0)),
  so that it stays in [0, 1] where the mean cosine is near 0 and C_i / sum C is a ratio of noise;
  where the mean cosine is clearly positive the negative parts are noise and the two agree.
  ``detail`` lists the dimensions (0-based column indices), largest first; a k of d or more
  takes every dimension (share 1). Without a mean the C_i are noise, and the top share of noise
  is not small at small d (about 0.3 for the top 1 of 32 dimensions, 0.03 of 768): read it
  against its isotropic null.
- **effective_rank** (Roy & Vetterli 2007; RankMe, Garrido et al. 2023): exp of the entropy of
  the singular values of the centred matrix, normalised to sum 1. Centred because the mean is
  anisotropy's business (above): uncentred, one large singular value from the mean lowers the
  rank of any offset cloud.
- **participation_ratio**: (sum lambda)^2 / sum lambda^2 of the centred covariance's eigenvalues.
- **spectral_alpha** (alpha-ReQ, Agrawal et al. 2022): minus the slope of log lambda_i against
  log i, least squares over the eigenvalue indices i in [ceil(lo d), floor(hi d)] (1-based,
  largest first) for ``alpha_fit_range = (lo, hi)``; eigenvalues below 1e-12 of the largest
  (a rank-deficient matrix) are left out. ``detail`` gives the indices fitted.
- **norm_mean, norm_sd, norm_q{quantile}**: the Euclidean row norms.
- **norm_frequency_spearman** (only with ``counts``): Spearman's rho between row norm and token
  count (the same rho as with log count, log being monotone; ties averaged).

Nulls (DESIGN.md, "Reading a number"): the same measures on a seeded Gaussian of the matrix's n
and d (:func:`null_sample` of :mod:`regeo.geometry.nulls`), with the matrix's total variance so
that the scale-dependent rows (norms, partition isotropy) compare like for like:

- ``null_isotropic``: N(0, (tr C / d) I);
- ``null_covariance``: N(0, C), C the matrix's centred covariance: the spectrum of
  :func:`regeo.geometry.nulls.null_spectrum` rotated back onto the matrix's own principal axes,
  so that per-dimension measures (rogue dimensions) see the same axes.

Neither has the matrix's mean: a property that equals its covariance null is explained by second
moments alone. The spectrum rows are functions of C, so their covariance null only repeats the
value up to sampling noise.

Intervals: a percentile bootstrap over rows (:class:`regeo.geometry.intervals.TokenBootstrap`):
every replicate recomputes every property from the resampled rows (their multiplicities, so rows
drawn 0 times cost nothing), except the directions c of the partition isotropy: its approximation
fixes a set of directions, and a replicate keeps the full matrix's set (Z is recomputed from the
resampled rows), which saves an eigenproblem and an n x d x d product per replicate. One rule
keeps the cosine honest: two copies of one row in a resample are not a pair (their cosine, 1,
would raise the mean cosine of an isotropic matrix by about 1/n, many times its spread), so the
pair sums leave out pairs of copies.

Reading the intervals: IsoScore, the effective rank and the participation ratio are biased
down by about d/n (a sample's eigenvalues spread more than the population's), and a resample
repeats the bias: on an isotropic 2,000 x 32 Gaussian IsoScore reads 0.983 (population 1), its
resamples 0.966 on average, and the 95 % percentile interval (0.963, 0.970) holds neither. So
IsoScore and the effective rank (:data:`BASIC_INTERVAL`; the table's ``ci_method`` says which)
get the basic bootstrap interval (2 value - q_high, 2 value - q_low), which subtracts the
resamples' extra bias instead of repeating it: on 200 seeded 400 x 8 Gaussians of a known
spectrum (eigenvalues linspace(1, 3)^2) the percentile interval covered the population value in
74 % (IsoScore) and 71 % (effective rank) of draws, the basic one in 92 % and 94 %; at 400 x 32
(100 draws) the percentile one in none, the basic one in 87 % and 95 %
(benchmarks/property_interval_coverage.py, docs/benchmarks.md). A subsample (m out of n)
interval would need the bias's rate, which is d/n, not 1/sqrt(n); it was not tried. The participation ratio's percentile interval covers (below), so it keeps it. Every
spectrum row is still read against its nulls (same n and d, same bias), and two matrices on the
same tokens through the difference of their paired replicates (``replicates``), not through
where the intervals sit. A top-k share's resamples each pick their own top k, so its interval can sit
above the value (selection bias); a matrix without a mean makes the mean cosine a degenerate
U-statistic, whose bootstrap is wider than its sampling spread (conservative: 200 of 200 seeded
isotropic 400 x 8 draws covered 0). The participation ratio's and the mean norm's covered the
population value in 95.5 % and 94.5 % of 200 seeded 400 x 8 Gaussians of a known spectrum.

Precision: products run in the rows' own precision (float32 for dumps, float64 otherwise) and
are summed in float64; on a float32 50,000 x 768 matrix every property is within 8e-7 (relative)
of its value on the same matrix in float64 (docs/benchmarks.md).

Memory: no n x n matrix. Held at once: X, three (n, d) per-row arrays in X's precision (centred
rows, unit rows, their squares), the partition function's (n, 2d) float32 terms, a block of
resamples (64 MiB of indices, :class:`TokenBootstrap`, and their multiplicities), one resample's
rows and (d, d) second moments; the nulls' arrays are freed before X's are made. A float32
50,000 x 768 dump's table peaks at 1.9 GiB for the whole process, torch included
(docs/benchmarks.md).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from regeo.geometry._validation import as_matrix, check_choice, check_int
from regeo.geometry.intervals import TokenBootstrap
from regeo.geometry.knn import unit_rows
from regeo.geometry.nulls import null_sample, null_spectrum
from regeo.stats import spearman

PROPERTY_NULLS = ("isotropic", "covariance")
TABLE_COLUMNS = ["property", "family", "value", "ci_low", "ci_high", "ci_method", "null_isotropic",
                 "null_covariance", "n_rows", "d", "detail"]
# Rows whose interval is the basic bootstrap's, not the percentile one (module docstring, "Reading
# the intervals": their resamples repeat the sample's d/n bias, and the percentile interval with it).
BASIC_INTERVAL = ("isoscore", "effective_rank")
_ROW_BLOCK = 8192  # rows per pass: (block, d) float64 buffers
_SPECTRUM_FLOOR = 1e-12  # eigenvalues below this share of the largest are zeros of a rank-deficient matrix


@dataclass(frozen=True)
class _Settings:
    """The knobs of the suite, checked once (the public functions take them as keywords)."""

    tops: tuple[int, ...]
    quantiles: tuple[float, ...]
    alpha_fit_range: tuple[float, float]
    isoscore_shrinkage: float

    def __post_init__(self):
        object.__setattr__(self, "tops", tuple(int(check_int(k, "tops entry", 1)) for k in self.tops))
        object.__setattr__(self, "quantiles", tuple(float(q) for q in self.quantiles))
        object.__setattr__(self, "alpha_fit_range", tuple(float(f) for f in self.alpha_fit_range))
        if len(set(self.tops)) != len(self.tops) or len(set(self.quantiles)) != len(self.quantiles):
            raise ValueError(f"tops and quantiles must not repeat, got {self.tops} and {self.quantiles}")
        if not all(0.0 <= q <= 1.0 for q in self.quantiles):
            raise ValueError(f"quantiles must be in [0, 1], got {self.quantiles}")
        lo, hi = self.alpha_fit_range if len(self.alpha_fit_range) == 2 else (1.0, 0.0)
        if not 0.0 <= lo < hi <= 1.0:
            raise ValueError(f"alpha_fit_range must be (lo, hi) with 0 <= lo < hi <= 1, got {self.alpha_fit_range}")
        if not 0.0 <= float(self.isoscore_shrinkage) <= 1.0:
            raise ValueError(f"isoscore_shrinkage must be in [0, 1], got {self.isoscore_shrinkage}")

    def check_width(self, d: int) -> None:
        if d < 2:
            raise ValueError(f"the properties need at least 2 columns (IsoScore divides by d - 1), got {d}")

    def properties(self, with_counts: bool) -> list[tuple[str, str]]:
        """(property, family) of the table's rows, in order."""
        rows = [("mean_cosine", "anisotropy"), ("mean_vector_ratio", "anisotropy"),
                ("isoscore", "isotropy"), ("partition_isotropy", "isotropy")]
        rows += [(f"rogue_share_top{k}", "rogue_dimensions") for k in self.tops]
        rows += [("effective_rank", "spectrum"), ("participation_ratio", "spectrum"), ("spectral_alpha", "spectrum")]
        rows += [("norm_mean", "norms"), ("norm_sd", "norms")]
        rows += [(f"norm_q{_percent(q)}", "norms") for q in self.quantiles]
        return rows + ([("norm_frequency_spearman", "norms")] if with_counts else [])


def _percent(q: float) -> str:
    """0.05 -> '05', 0.5 -> '50', 0.975 -> '97.5'."""
    text = f"{100 * q:g}"
    return text.zfill(2) if "." not in text else text


@dataclass
class _Moments:
    """What the properties of one (multi)set of rows are computed from, besides their norms."""

    n: float  # rows, counted with their multiplicities
    mean: np.ndarray  # (d,)
    centred_gram: np.ndarray  # (d, d) sum_r w_r (x_r - mean)(x_r - mean)^T
    unit_sum: np.ndarray  # (d,) sum_r w_r u_r
    unit_copies: np.ndarray  # (d,) sum_r w_r^2 u_ri^2: the pair sums' terms of a row with its copies (itself included)
    copies: float  # sum_r w_r^2: ordered pairs of copies of one row


def _blocks(m: int):
    for lo in range(0, m, _ROW_BLOCK):
        yield slice(lo, min(m, lo + _ROW_BLOCK))


class _Rows:
    """Per-row arrays of one matrix, computed once, from which the moments of any reweighting of
    its rows (the matrix: every weight 1; a bootstrap resample: the multiplicities) are products,
    many resamples at a time:

    - ``centred`` (n, d): the rows minus a provisional centre (the first block's mean), so that a
      large mean cancels no digits in the second moments (they are moved to the exact mean after);
    - ``unit`` and ``unit_squared`` (n, d): the unit rows (:func:`regeo.geometry.knn.unit_rows`)
      and their squares; ``norms`` (n,);
    - ``partition``: the partition function's terms on the matrix's own directions.

    Arrays and products are in the rows' own precision (module docstring).
    """

    def __init__(self, X: np.ndarray):
        n = X.shape[0]
        self.X = X
        self.shift = X[:_ROW_BLOCK].mean(0, dtype=np.float64)  # (d,)
        self.centred, self.unit = np.empty_like(X), np.empty_like(X)
        self.norms = np.empty(n)
        for rows in _blocks(n):
            block = X[rows].astype(np.float64)
            self.norms[rows] = np.sqrt(np.einsum("ij,ij->i", block, block))
            if (self.norms[rows] == 0).any():
                raise ValueError("rows of X with norm 0 have no cosine: leave them out of the token set")
            self.centred[rows] = block - self.shift
            self.unit[rows] = unit_rows(X[rows])
        self.unit_squared = self.unit * self.unit

    @functools.cached_property
    def partition(self) -> "_PartitionTerms":
        ones = np.ones((1, self.X.shape[0]))
        return _PartitionTerms(self.X, _partition_directions(self.moments(ones)[0]))

    def _gram(self, weights: np.ndarray) -> np.ndarray:
        """(d, d) float64 sum_r w_r y_r y_r^T of the centred rows drawn (w_r > 0), block by block."""
        drawn = np.flatnonzero(weights)
        d = self.centred.shape[1]
        gram = np.zeros((d, d))
        for part in _blocks(drawn.size):
            rows = drawn[part]
            scaled = self.centred[rows] * np.sqrt(weights[rows]).astype(self.centred.dtype)[:, None]
            gram += scaled.T @ scaled  # one symmetric product (BLAS syrk)
        return gram

    def moments(self, W: np.ndarray) -> list[_Moments]:
        """One :class:`_Moments` per row of W (b, n), the multiplicities of the rows."""
        dtype = self.centred.dtype
        squares = W * W
        sizes = W.sum(1)  # (b,)
        offsets = (W.astype(dtype) @ self.centred).astype(np.float64) / sizes[:, None]  # (b, d) mean - shift
        unit_sums = (W.astype(dtype) @ self.unit).astype(np.float64)
        unit_copies = (squares.astype(dtype) @ self.unit_squared).astype(np.float64)
        out = []
        for b, weights in enumerate(W):
            gram = self._gram(weights) - sizes[b] * np.outer(offsets[b], offsets[b])
            out.append(_Moments(float(sizes[b]), self.shift + offsets[b], gram, unit_sums[b], unit_copies[b],
                                float(squares[b].sum())))
        return out


def _contributions(mo: _Moments) -> np.ndarray:
    """(d,) each dimension's part of the mean cosine over pairs of distinct rows (copies of one
    row are not a pair): (S_i^2 - sum_r w_r^2 u_ri^2) / (n^2 - sum_r w_r^2)."""
    return (mo.unit_sum ** 2 - mo.unit_copies) / (mo.n ** 2 - mo.copies)


def _rogue(contributions: np.ndarray, k: int) -> tuple[float, np.ndarray]:
    """(share of the k largest contributions among the positive parts, their indices largest first)."""
    order = np.argsort(-contributions, kind="stable")[:k]
    positive = np.clip(contributions, 0.0, None)
    total = positive.sum()
    return (float(positive[order].sum() / total) if total > 0 else math.nan), order


def _covariance_eigenvalues(mo: _Moments) -> np.ndarray:
    """(d,) eigenvalues of the centred covariance (ddof 1, as torch.cov), descending; those below
    :data:`_SPECTRUM_FLOOR` of the largest set to 0 (float noise of a rank-deficient matrix, which
    the entropy of square roots would otherwise count: 56 noise eigenvalues of 1e-16 add 6e-6 to
    the effective rank of a rank-8 matrix)."""
    values = np.linalg.eigvalsh(mo.centred_gram / max(mo.n - 1.0, 1.0))[::-1]
    return np.where(values > _SPECTRUM_FLOOR * max(values[0], 0.0), values, 0.0)


def _isoscore(eigenvalues: np.ndarray, shrinkage: float) -> float:
    """IsoScore of a covariance spectrum, the ``isoscore`` package's arithmetic; with shrinkage zeta,
    of (1 - zeta) C + zeta I, whose eigenvalues are (1 - zeta) lambda + zeta."""
    pcs = (1.0 - shrinkage) * eigenvalues + shrinkage
    d = pcs.size
    normalised = pcs * math.sqrt(d) / np.linalg.norm(pcs)
    defect = np.linalg.norm(normalised - 1.0) / math.sqrt(2.0 * (d - math.sqrt(d)))
    return float(((d - defect ** 2 * (d - math.sqrt(d))) ** 2 - d) / (d * (d - 1)))


def _effective_rank(eigenvalues: np.ndarray) -> float:
    singular = np.sqrt(eigenvalues)
    p = singular[singular > 0] / singular.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


def _participation_ratio(eigenvalues: np.ndarray) -> float:
    return float(eigenvalues.sum() ** 2 / (eigenvalues ** 2).sum())


def _alpha_indices(d: int, fit_range: tuple[float, float]) -> tuple[int, int]:
    """(first, last) 1-based eigenvalue indices of the alpha fit: [ceil(lo d), floor(hi d)], at least 1."""
    first = max(1, math.ceil(fit_range[0] * d))
    return first, max(first, math.floor(fit_range[1] * d))


def _spectral_alpha(eigenvalues: np.ndarray, fit_range: tuple[float, float]) -> tuple[float, int, int]:
    """(alpha, first, last): the power-law exponent and the 1-based indices it was fit on."""
    first, last = _alpha_indices(eigenvalues.size, fit_range)
    last = min(last, int((eigenvalues > 0).sum()))
    if last - first < 1:
        return math.nan, first, last
    index = np.arange(first, last + 1)
    slope = np.polyfit(np.log(index), np.log(eigenvalues[first - 1:last]), 1)[0]
    return float(-slope), first, last


def _partition_directions(mo: _Moments) -> np.ndarray:
    """(d, d) eigenvectors of sum_r w_r x_r x_r^T (uncentred): Mu & Viswanath's set of c."""
    return np.linalg.eigh(mo.centred_gram + mo.n * np.outer(mo.mean, mo.mean))[1]


class _PartitionTerms:
    """exp(+-c . x_r - peak_c) of every row for fixed directions c, (n, 2d) float32, so that Z of
    any reweighting of the rows (a bootstrap resample) is one product:
    log Z(c) = peak_c + log(sum_r w_r E_rc). Shifted by the peak because Z of raw rows overflows
    float64 once c . x passes about 700; stored in float32 to halve the largest array of the suite
    (0.3 GiB at 50,000 x 768), which leaves Z exact to about 1e-6, far below its spread over rows."""

    def __init__(self, X: np.ndarray, directions: np.ndarray):
        n, d = X.shape[0], directions.shape[1]
        directions = directions.astype(X.dtype)  # products in the rows' own precision
        projections = np.empty((n, d), dtype=X.dtype)
        for rows in _blocks(n):
            projections[rows] = X[rows] @ directions
        self.peak = np.concatenate([projections.max(0), -projections.min(0)]).astype(np.float64)  # (2d,)
        self.terms = np.empty((n, 2 * d), dtype=np.float32)
        for rows in _blocks(n):
            block = projections[rows].astype(np.float64)
            self.terms[rows, :d] = np.exp(block - self.peak[:d])
            self.terms[rows, d:] = np.exp(-block - self.peak[d:])

    def isotropy(self, W: np.ndarray) -> np.ndarray:
        """(b,) min_c Z(c) / max_c Z(c) for each row of W (b, n), multiplicities of the rows."""
        log_z = self.peak + np.log((W.astype(np.float32) @ self.terms).astype(np.float64))  # (b, 2d)
        return np.exp(log_z.min(1) - log_z.max(1))


def _evaluate(rows: _Rows, W: np.ndarray, indices: np.ndarray, counts: np.ndarray | None,
              settings: _Settings) -> list[tuple[dict[str, float], dict[str, str]]]:
    """({property: value}, {property: detail}) for each row of W (b, n), the multiplicities of the
    rows, and of ``indices`` (b, n), the same draws as row indices (norm statistics and ranks)."""
    W = np.asarray(W, dtype=np.float64)
    d = rows.centred.shape[1]
    out = []
    for mo, partition_isotropy, idx in zip(rows.moments(W), rows.partition.isotropy(W), indices):
        contributions = _contributions(mo)
        eigenvalues = _covariance_eigenvalues(mo)
        norms = rows.norms[idx]
        values = {"mean_cosine": float(contributions.sum()),
                  "mean_vector_ratio": float(np.linalg.norm(mo.mean) / norms.mean()),
                  "isoscore": _isoscore(eigenvalues, settings.isoscore_shrinkage),
                  "partition_isotropy": float(partition_isotropy)}
        details = {"mean_cosine": "exact over all distinct pairs of rows",
                   "mean_vector_ratio": "|mean row| / mean row norm",
                   "isoscore": (f"IsoScore* shrunk towards I by {settings.isoscore_shrinkage:g}"
                                if settings.isoscore_shrinkage else "IsoScore of the centred covariance"),
                   "partition_isotropy": f"c over +-eigenvectors of W^T W ({2 * d} directions)"}
        for k in settings.tops:
            share, dims = _rogue(contributions, k)
            values[f"rogue_share_top{k}"] = share
            details[f"rogue_share_top{k}"] = "dimensions " + ", ".join(str(int(i)) for i in dims)
        alpha, first, last = _spectral_alpha(eigenvalues, settings.alpha_fit_range)
        values.update(effective_rank=_effective_rank(eigenvalues),
                      participation_ratio=_participation_ratio(eigenvalues), spectral_alpha=alpha)
        details.update(effective_rank="singular values of the centred rows (RankMe)",
                       participation_ratio="eigenvalues of the centred covariance",
                       spectral_alpha=f"log-log least squares on eigenvalues {first}-{last} of {d}")
        values.update(norm_mean=float(norms.mean()), norm_sd=float(norms.std(ddof=1)))
        for q, value in zip(settings.quantiles, np.quantile(norms, settings.quantiles)):
            values[f"norm_q{_percent(q)}"] = float(value)
        if counts is not None:
            values["norm_frequency_spearman"] = spearman(norms, counts[idx])
            details["norm_frequency_spearman"] = "Spearman rho of row norm and token count"
        out.append((values, details))
    return out


def _measure(X: np.ndarray, counts: np.ndarray | None, settings: _Settings,
             rows: _Rows | None = None) -> tuple[dict[str, float], dict[str, str]]:
    """({property: value}, {property: detail}) of the rows of X, each once."""
    n = X.shape[0]
    return _evaluate(rows or _Rows(X), np.ones((1, n)), np.arange(n)[None, :], counts, settings)[0]


def _checked_counts(counts, n: int) -> np.ndarray | None:
    if counts is None:
        return None
    counts = np.asarray(counts, dtype=np.float64)
    if counts.shape != (n,) or not np.isfinite(counts).all() or (counts < 0).any():
        raise ValueError(f"counts must be {n} finite non-negative token counts, one per row of X")
    return counts


def _settings(tops, quantiles, alpha_fit_range, isoscore_shrinkage, d: int) -> _Settings:
    settings = _Settings(tuple(tops), tuple(quantiles), tuple(alpha_fit_range), float(isoscore_shrinkage))
    settings.check_width(d)
    return settings


def _centred_gram(X: np.ndarray) -> np.ndarray:
    """(d, d) float64 sum_r (x_r - mean)(x_r - mean)^T, block by block (no float64 copy of X)."""
    mean = X.mean(0, dtype=np.float64)
    gram = np.zeros((X.shape[1],) * 2)
    for rows in _blocks(X.shape[0]):
        centred = X[rows].astype(np.float64) - mean
        gram += centred.T @ centred
    return gram


def property_null_sample(kind: str, X, seed: int) -> np.ndarray:
    """(n, d) seeded Gaussian null of X, in X's precision: ``"isotropic"`` N(0, (tr C / d) I) or
    ``"covariance"`` N(0, C), C the centred covariance (ddof 0) of X (module docstring)."""
    check_choice(kind, "kind", PROPERTY_NULLS)
    X = as_matrix(X)
    n, d = X.shape
    gram = _centred_gram(X)
    total_variance = float(np.trace(gram)) / n
    if kind == "isotropic":
        sample = null_sample("isotropic", n, d, seed) * math.sqrt(total_variance / d)
    else:
        spectrum = null_spectrum(X, "euclidean")  # (d,) descending, summing to 1
        axes = np.linalg.eigh(gram)[1][:, ::-1]  # (d, d) principal axes, in the spectrum's order
        sample = (null_sample("covariance", n, d, seed, spectrum) * math.sqrt(total_variance)) @ axes.T
    return sample.astype(X.dtype, copy=False)


def _one_pass(X) -> tuple[_Rows, _Moments]:
    rows = _Rows(as_matrix(X, min_rows=3))
    return rows, rows.moments(np.ones((1, rows.norms.size)))[0]


def cosine_contributions(X) -> np.ndarray:
    """(d,) each dimension's contribution to the mean cosine over distinct pairs (Timkey & van
    Schijndel's C_i); they sum to :func:`mean_pairwise_cosine`."""
    return _contributions(_one_pass(X)[1])


def mean_pairwise_cosine(X) -> float:
    """The mean cosine of all n(n-1)/2 distinct pairs of rows, exactly, in O(n d)."""
    return float(cosine_contributions(X).sum())


def rogue_dimensions(X, k: int) -> tuple[float, np.ndarray]:
    """(share of the mean cosine's positive parts carried by the top ``k`` dimensions, their
    (k,) 0-based indices, largest contribution first)."""
    return _rogue(cosine_contributions(X), check_int(k, "k", 1, as_matrix(X).shape[1]))


def isoscore(X, shrinkage: float = 0.0) -> float:
    """IsoScore of the rows (``shrinkage`` zeta > 0: IsoScore* towards the identity), as the
    ``isoscore`` package computes it."""
    _Settings((), (), (0.0, 1.0), float(shrinkage)).check_width(as_matrix(X).shape[1])
    return _isoscore(_covariance_eigenvalues(_one_pass(X)[1]), float(shrinkage))


def partition_isotropy(X) -> float:
    """Mu & Viswanath's min_c Z(c) / max_c Z(c) over the +-eigenvectors of W^T W."""
    rows = _one_pass(X)[0]
    return float(rows.partition.isotropy(np.ones((1, rows.norms.size)))[0])


def effective_rank(X) -> float:
    """exp(entropy) of the centred rows' normalised singular values (RankMe)."""
    return _effective_rank(_covariance_eigenvalues(_one_pass(X)[1]))


def participation_ratio(X) -> float:
    """(sum lambda)^2 / sum lambda^2 of the centred covariance."""
    return _participation_ratio(_covariance_eigenvalues(_one_pass(X)[1]))


def spectral_alpha(X, fit_range=(0.01, 0.5)) -> tuple[float, int, int]:
    """(alpha, first, last): alpha-ReQ's power-law exponent of the covariance spectrum, fit on the
    1-based eigenvalue indices first..last derived from ``fit_range`` (module docstring)."""
    settings = _Settings((), (), tuple(fit_range), 0.0)
    return _spectral_alpha(_covariance_eigenvalues(_one_pass(X)[1]), settings.alpha_fit_range)


def property_values(X, counts=None, *, tops=(1, 3, 10), quantiles=(0.05, 0.5, 0.95),
                    alpha_fit_range=(0.01, 0.5), isoscore_shrinkage: float = 0.0) -> dict[str, float]:
    """{property: value} of the rows of X (module docstring), no nulls and no intervals."""
    X = as_matrix(X, min_rows=3)
    settings = _settings(tops, quantiles, alpha_fit_range, isoscore_shrinkage, X.shape[1])
    return _measure(X, _checked_counts(counts, X.shape[0]), settings)[0]


def _bootstrap_values(rows: _Rows, counts: np.ndarray | None, settings: _Settings,
                      boot: TokenBootstrap) -> dict[str, np.ndarray]:
    """{property: (replicates,) values}: each replicate recomputed from the resampled rows (the
    partition function's directions are the full matrix's: see the module docstring)."""
    n = rows.norms.size
    draws: dict[str, list[float]] = {}
    for indices in boot.indices(n):
        W = np.stack([np.bincount(idx, minlength=n) for idx in indices])  # (b, n) multiplicities
        for values, _ in _evaluate(rows, W, indices, counts, settings):
            for name, value in values.items():
                draws.setdefault(name, []).append(value)
    return {name: np.asarray(values) for name, values in draws.items()}


def property_table(X, counts=None, *, tops=(1, 3, 10), quantiles=(0.05, 0.5, 0.95),
                   alpha_fit_range=(0.01, 0.5), isoscore_shrinkage: float = 0.0,
                   nulls=PROPERTY_NULLS, null_seed: int = 0, bootstrap_replicates: int = 200,
                   bootstrap_seed: int = 0, confidence: float = 0.95,
                   replicates: dict | None = None) -> pd.DataFrame:
    """One row per property of the rows of X (n, d), columns :data:`TABLE_COLUMNS`.

    ``counts``: (n,) token counts of the rows (adds ``norm_frequency_spearman``). ``tops``: the
    rogue-dimension shares reported. ``quantiles``: of the row norms. ``alpha_fit_range``:
    (lo, hi) share of d whose eigenvalue indices the power law is fit on. ``isoscore_shrinkage``:
    0 for IsoScore, zeta > 0 for IsoScore* towards the identity. ``nulls``: a subset of
    ("isotropic", "covariance") (columns of the others are NaN), sampled with ``null_seed``.
    ``bootstrap_replicates``: 0 (no intervals) or >= 100, drawn with ``bootstrap_seed``
    (:class:`TokenBootstrap`: tables of the same n and seed draw the same rows in replicate r, so
    two matrices on the same tokens pair up). ``replicates``: a dict that receives each
    property's (replicates,) values.
    """
    X = as_matrix(X, min_rows=3)
    n, d = X.shape
    settings = _settings(tops, quantiles, alpha_fit_range, isoscore_shrinkage, d)
    counts = _checked_counts(counts, n)
    for kind in nulls:
        check_choice(kind, "nulls entry", PROPERTY_NULLS)
    check_int(null_seed, "null_seed", 0)
    if 0 < check_int(bootstrap_replicates, "bootstrap_replicates", 0) < 100:
        raise ValueError(f"bootstrap_replicates must be 0 (no intervals) or >= 100, got {bootstrap_replicates}")
    # The nulls first: their per-row arrays and X's are never held at once.
    null_values = {kind: _measure(property_null_sample(kind, X, null_seed), counts, settings)[0] for kind in nulls}
    rows_of_X = _Rows(X)
    values, details = _measure(X, counts, settings, rows_of_X)
    rows = settings.properties(counts is not None)
    table = pd.DataFrame({"property": [name for name, _ in rows], "family": [family for _, family in rows]})
    table["value"] = [values[name] for name, _ in rows]
    table["ci_low"], table["ci_high"], table["ci_method"] = math.nan, math.nan, ""
    if bootstrap_replicates:
        boot = TokenBootstrap(bootstrap_replicates, bootstrap_seed, confidence)
        draws = _bootstrap_values(rows_of_X, counts, settings, boot)
        intervals = [boot.basic(draws[name], values[name]) if name in BASIC_INTERVAL else boot.percentiles(draws[name])
                     for name, _ in rows]
        table["ci_low"], table["ci_high"] = [lo for lo, _ in intervals], [hi for _, hi in intervals]
        table["ci_method"] = ["basic" if name in BASIC_INTERVAL else "percentile" for name, _ in rows]
        if replicates is not None:
            replicates.update(draws)
    for kind in PROPERTY_NULLS:
        table[f"null_{kind}"] = [null_values.get(kind, {}).get(name, math.nan) for name, _ in rows]
    table["n_rows"] = np.int64(n)
    table["d"] = np.int64(d)
    table["detail"] = [details.get(name, "") for name, _ in rows]
    return table[TABLE_COLUMNS]
