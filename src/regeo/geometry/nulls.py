"""Null values of the ID estimators: the same estimators on Gaussian data of the same shape.

Three nulls (DESIGN.md, "Reading a number"):

- ``"isotropic"``: N(0, I_d) with the matrix's n and d;
- ``"covariance"``: a Gaussian with the matrix's own second moments and no manifold;
- ``"mixture"``: a mixture of spherical Gaussians fit to the matrix (k-means, the number of
  components chosen by BIC): the same clusters, with their sizes, centres and spreads, and no
  manifold inside them (issue 27). ID below the covariance null can be clusters alone; ID below
  the mixture null is structure the clusters do not explain. Forty isotropic clusters in 64
  dimensions read 16.6 against a covariance null of 26.1, but sit on their mixture null.

The estimators are invariant to rotations, to a global scale and (Euclidean) to translation, so
the covariance null depends only on the spectrum of the covariance: it is sampled as
N(0, diag(eigenvalues)). Under ``metric="cosine"`` translation changes the unit rows, so there
the spectrum is of the second moments about the origin, X^T X / n (the mean direction is part of
what the cosine sees); under ``"euclidean"`` it is of the centred covariance. The spectrum is
normalised to sum 1 (scale does not matter) and rounded to 6 significant digits, and the null is
sampled from the rounded spectrum: two matrices whose spectra agree to float noise share a null,
and a cached value is exactly the value of its key.

Caching: a null is a function of its key: (kind, n, d or the spectrum's hash, estimator
settings, seed). :class:`NullCache` keeps the values in memory and, with a directory, one JSON
file per key written atomically, so a pipeline can keep one cache per run.

Seeds: each kind draws from its own stream ``default_rng([seed, kind number])``, so the two nulls
of one seed are independent samples.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from regeo.geometry._validation import as_matrix, check_choice, check_int
from regeo.geometry.knn import METRICS, unit_rows

NULLS = ("isotropic", "covariance", "mixture")
_SIGNIFICANT = 6  # digits of the normalised spectrum kept in the key


def null_spectrum(X, metric: str) -> np.ndarray:
    """(d,) float64 eigenvalues, descending, summing to 1, rounded to 6 significant digits.

    Euclidean: of the centred covariance; cosine: of the second moments about the origin.
    """
    X = as_matrix(X)
    check_choice(metric, "metric", METRICS)
    X = X.astype(np.float64)
    if metric == "euclidean":
        X = X - X.mean(0)
    ev = np.clip(np.linalg.eigvalsh(X.T @ X), 0.0, None)[::-1]  # (d,) descending
    total = ev.sum()
    if total == 0:
        raise ValueError("X has no variance: the covariance null is undefined")
    return np.array([float(f"{v:.{_SIGNIFICANT}g}") for v in ev / total])


def spectrum_hash(spectrum: np.ndarray) -> str:
    """Hex digest of a rounded spectrum (its repr, so equal floats give equal hashes)."""
    text = ",".join(repr(float(v)) for v in spectrum)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _sphere_pass(X: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(n,) index of each row's nearest centre."""
    return ((centres ** 2).sum(1)[None, :] - 2 * X @ centres.T).argmin(1)


def _cluster_sums(X: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(counts (c,), row sums (c, d)) of clusters 0..c-1 (labels must use every index)."""
    order = np.argsort(labels, kind="stable")
    counts = np.bincount(labels)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return counts, np.add.reduceat(X[order], starts, axis=0)


def kmeans(X: np.ndarray, c: int, rng: np.random.Generator, iterations: int = 30) -> np.ndarray:
    """(n,) cluster labels 0..c'-1 of Lloyd's k-means from a k-means++ start (empty clusters dropped):
    the mixture null's components, and the cells of the coherence bootstrap."""
    n = X.shape[0]
    picks = [int(rng.integers(n))]
    closest = ((X - X[picks[0]]) ** 2).sum(1)
    for _ in range(1, c):
        total = closest.sum()
        pick = int(rng.integers(n)) if total <= 0 else int(rng.choice(n, p=closest / total))
        picks.append(pick)
        closest = np.minimum(closest, ((X - X[pick]) ** 2).sum(1))
    labels = _sphere_pass(X, X[picks])
    for _ in range(iterations):
        labels = np.unique(labels, return_inverse=True)[1]
        counts, sums = _cluster_sums(X, labels)
        new = _sphere_pass(X, sums / counts[:, None])
        if np.array_equal(new, labels):
            break
        labels = new
    return np.unique(labels, return_inverse=True)[1]


def _within_ss(X: np.ndarray, labels: np.ndarray) -> float:
    counts, sums = _cluster_sums(X, labels)
    return float((X ** 2).sum() - ((sums ** 2).sum(1) / counts).sum())


def _spherical_fit(X: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(centres (c, d), variances (c,), counts (c,), BIC) of spherical Gaussians on hard clusters.
    A one-row cluster takes the pooled within-cluster variance (its own would be 0)."""
    n, d = X.shape
    counts, sums = _cluster_sums(X, labels)
    centres = sums / counts[:, None]
    ss = np.bincount(labels, weights=((X - centres[labels]) ** 2).sum(1), minlength=len(counts))
    pooled = ss.sum() / max(1, (n - len(counts)) * d)
    variances = np.where(counts > 1, ss / (np.maximum(counts - 1, 1) * d), pooled)
    variances = np.maximum(variances, 1e-12 * max(pooled, 1e-300))
    loglik = float(np.sum(counts * np.log(counts / n)) - 0.5 * d * np.sum(counts * np.log(2 * np.pi * variances))
                   - 0.5 * np.sum(ss / variances))
    parameters = len(counts) * (d + 1) + len(counts) - 1
    return centres, variances, counts, -2 * loglik + parameters * np.log(n)


def mixture_grid(n: int, max_components: int) -> list[int]:
    """Component counts tried: about sqrt(2) apart, from 1 to min(max_components, n // 10)."""
    top = max(1, min(max_components, n // 10))
    return sorted({int(round(2 ** (i / 2))) for i in range(int(2 * np.log2(top)) + 1)} | {top})


def fit_mixture(X, metric: str, max_components: int = 128, seed: int = 0, restarts: int = 2,
                fit_rows: int = 10_000) -> dict:
    """The spherical Gaussian mixture of a matrix's rows (unit rows under ``cosine``): k-means at
    each count of :func:`mixture_grid`, the count of lowest BIC kept. Returns {centres (c, d),
    variances (c,), counts (c,)}, float64 and int64, rounded to 6 significant digits (so the key is
    stable to float noise, like the spectrum's).

    Above ``fit_rows`` rows the search runs on a seeded sample of that many (its cost grows with
    n x components x d per iteration: about 8 minutes per 50,000 x 768 matrix on 2 cores without
    it, docs/benchmarks.md); every row is then assigned to its nearest centre, and the centres,
    spreads and counts are those of all rows."""
    check_choice(metric, "metric", METRICS)
    check_int(fit_rows, "fit_rows", 2)
    X = unit_rows(X) if metric == "cosine" else as_matrix(X).astype(np.float64)
    rng = np.random.default_rng([seed, NULLS.index("mixture")])
    sample = X if X.shape[0] <= fit_rows else X[np.sort(rng.choice(X.shape[0], fit_rows, replace=False))]
    best = None
    for c in mixture_grid(sample.shape[0], max_components):
        # k-means++ from one start can merge two separated clusters: the best of a few starts
        starts = [kmeans(sample, c, rng) for _ in range(restarts)]
        labels = min(starts, key=lambda lab: _within_ss(sample, lab))
        fit = _spherical_fit(sample, labels)
        if best is None or fit[3] < best[3]:
            best = fit
    if sample is not X:  # every row to its nearest centre, then the components of all rows
        labels = np.unique(_sphere_pass(X, best[0]), return_inverse=True)[1]
        best = _spherical_fit(X, labels)
    centres, variances, counts, _ = best
    rounded = lambda a: np.array([float(f"{v:.{_SIGNIFICANT}g}") for v in np.ravel(a)]).reshape(np.shape(a))
    return {"centres": rounded(centres), "variances": rounded(variances), "counts": counts.astype(np.int64)}


def mixture_hash(mixture: dict) -> str:
    text = ";".join(",".join(repr(float(v)) for v in np.ravel(mixture[key])) for key in ("centres", "variances", "counts"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def null_sample(kind: str, n: int, d: int, seed: int, spectrum: np.ndarray | None = None,
                mixture: dict | None = None) -> np.ndarray:
    """(n, d) float64 Gaussian sample of a null: N(0, I), N(0, diag(spectrum)), or the mixture's
    components with their own row counts (which sum to n)."""
    check_choice(kind, "kind", NULLS)
    n, d, seed = check_int(n, "n", 2), check_int(d, "d", 1), check_int(seed, "seed", 0)
    rng = np.random.default_rng([seed, NULLS.index(kind)])
    Z = rng.standard_normal((n, d))  # (n, d)
    if kind == "isotropic":
        return Z
    if kind == "mixture":
        if mixture is None or int(np.sum(mixture["counts"])) != n or np.shape(mixture["centres"])[1] != d:
            raise ValueError(f"the mixture null needs a fitted mixture of {n} rows in {d} dimensions")
        component = np.repeat(np.arange(len(mixture["counts"])), mixture["counts"])
        return np.asarray(mixture["centres"])[component] + Z * np.sqrt(np.asarray(mixture["variances"]))[component, None]
    if spectrum is None or len(spectrum) != d:
        raise ValueError(f"the covariance null needs a spectrum of {d} eigenvalues")
    return Z * np.sqrt(np.asarray(spectrum, dtype=np.float64))[None, :]


def null_key(kind: str, n: int, settings: dict, seed: int, d: int | None = None,
             spectrum: np.ndarray | None = None, mixture: dict | None = None) -> str:
    """Canonical text key of one null: what its values depend on, and nothing else."""
    check_choice(kind, "kind", NULLS)
    if kind == "isotropic":
        shape = {"d": int(d)}
    elif kind == "covariance":
        shape = {"d": len(spectrum), "spectrum": spectrum_hash(spectrum)}
    else:
        shape = {"d": int(np.shape(mixture["centres"])[1]), "mixture": mixture_hash(mixture)}
    return json.dumps({"kind": kind, "n": int(n), **shape, "seed": int(seed), "settings": settings},
                      sort_keys=True, default=list)


class NullCache:
    """Null values by key, in memory and optionally on disk (one JSON file per key).

    ``get(key, compute)`` returns the cached values or calls ``compute()`` once and stores its
    result (a JSON-serialisable dict). ``computed`` counts those calls. Files are written to a temporary
    sibling and renamed into place, so a killed process leaves no half-written entry.
    """

    def __init__(self, directory: str | Path | None = None):
        self.directory = directory
        self._values: dict[str, dict] = {}
        self.computed = 0

    @staticmethod
    def _write(path: Path, text: str) -> None:
        # Temporary sibling, then rename (regeo.geometry imports nothing of the pipeline, regeo.io included).
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _path(self, key: str) -> Path:
        return Path(self.directory) / f"null-{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"

    def get(self, key: str, compute: Callable[[], dict]) -> dict:
        if key in self._values:
            return json.loads(json.dumps(self._values[key]))  # a copy: callers cannot edit the cache
        if self.directory is not None and self._path(key).exists():
            stored = json.loads(self._path(key).read_text())
            if stored.get("key") == key:  # a hash collision would show here
                self._values[key] = stored["values"]
                return json.loads(json.dumps(stored["values"]))
        values = json.loads(json.dumps(compute()))  # what a later read from disk will return
        self.computed += 1
        self._values[key] = values
        if self.directory is not None:
            self._write(self._path(key), json.dumps({"key": key, "values": values}, indent=1, sort_keys=True))
        return json.loads(json.dumps(values))


def derangement(n: int, seed: int) -> np.ndarray:
    """A random pairing of n rows with none kept in place (by rejection of fixed points): the
    rows-permuted null of a comparison of two matrices on the same tokens."""
    rng = np.random.default_rng([seed, n])
    perm = rng.permutation(n)
    while n > 1 and (perm == np.arange(n)).any():
        perm = rng.permutation(n)
    return perm
