"""Null values of the ID estimators: the same estimators on Gaussian data of the same shape.

Two nulls (DESIGN.md, "Reading a number"):

- ``"isotropic"``: N(0, I_d) with the matrix's n and d;
- ``"covariance"``: a Gaussian with the matrix's own second moments and no manifold.

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
from regeo.geometry.knn import METRICS

NULLS = ("isotropic", "covariance")
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


def null_sample(kind: str, n: int, d: int, seed: int, spectrum: np.ndarray | None = None) -> np.ndarray:
    """(n, d) float64 Gaussian sample of a null: N(0, I) or N(0, diag(spectrum))."""
    check_choice(kind, "kind", NULLS)
    n, d, seed = check_int(n, "n", 2), check_int(d, "d", 1), check_int(seed, "seed", 0)
    rng = np.random.default_rng([seed, NULLS.index(kind)])
    Z = rng.standard_normal((n, d))  # (n, d)
    if kind == "isotropic":
        return Z
    if spectrum is None or len(spectrum) != d:
        raise ValueError(f"the covariance null needs a spectrum of {d} eigenvalues")
    return Z * np.sqrt(np.asarray(spectrum, dtype=np.float64))[None, :]


def null_key(kind: str, n: int, settings: dict, seed: int, d: int | None = None,
             spectrum: np.ndarray | None = None) -> str:
    """Canonical text key of one null: what its values depend on, and nothing else."""
    check_choice(kind, "kind", NULLS)
    shape = {"d": int(d)} if kind == "isotropic" else {"d": len(spectrum), "spectrum": spectrum_hash(spectrum)}
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
