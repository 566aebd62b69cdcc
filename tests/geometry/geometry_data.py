"""Seeded point clouds of known intrinsic dimension, embedded in a higher-dimensional space."""

from __future__ import annotations

import numpy as np

from regeo.geometry.id_table import ESTIMATORS, IDConfig

# The pipeline's schema defaults (workflow/schemas/config.schema.yaml), written here for the
# tests only: IDConfig itself has no defaults for the fields the config sets.
ID_DEFAULTS = dict(ks=(10, 20, 50), metric="euclidean", estimators=ESTIMATORS, local_pca_k=20,
                   local_pca_variance=0.9, nulls=(), null_seed=0, bootstrap_replicates=0, bootstrap_seed=0,
                   confidence=0.95)


def id_config(**fields) -> IDConfig:
    """An IDConfig with the schema's defaults, ``fields`` overriding them."""
    return IDConfig(**{**ID_DEFAULTS, **fields})


def random_rotation(rng: np.random.Generator, d: int) -> np.ndarray:
    """(d, d) orthogonal matrix (QR of a Gaussian matrix, signs fixed)."""
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def embed(points: np.ndarray, D: int, rng: np.random.Generator, noise: float) -> np.ndarray:
    """Pad (n, m) points with zeros to width D, rotate at random, add isotropic Gaussian noise."""
    n, m = points.shape
    padded = np.zeros((n, D))
    padded[:, :m] = points
    return padded @ random_rotation(rng, D) + noise * rng.normal(size=(n, D))


def linear_subspace(n: int, dim: int, D: int, seed: int, noise: float = 1e-4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return embed(rng.uniform(-1, 1, size=(n, dim)), D, rng, noise)


def sphere(n: int, dim: int, D: int, seed: int, noise: float = 1e-4) -> np.ndarray:
    """Uniform points on the unit sphere S^dim (in R^(dim+1)), embedded in R^D."""
    rng = np.random.default_rng(seed)
    g = rng.normal(size=(n, dim + 1))
    return embed(g / np.linalg.norm(g, axis=1, keepdims=True), D, rng, noise)


def swiss_roll(n: int, D: int, seed: int, noise: float = 1e-3) -> np.ndarray:
    """The 2-D swiss roll (sklearn's parametrisation, height 21), embedded in R^D."""
    rng = np.random.default_rng(seed)
    t = 1.5 * np.pi * (1 + 2 * rng.uniform(size=n))
    h = 21 * rng.uniform(size=n)
    return embed(np.column_stack([t * np.cos(t), h, t * np.sin(t)]), D, rng, noise)


def brute_knn(X: np.ndarray, k: int, metric: str = "euclidean") -> tuple[np.ndarray, np.ndarray]:
    """float64 brute force: all pairwise distances from differences, ties broken by index."""
    X = np.asarray(X, dtype=np.float64)
    if metric == "cosine":
        U = X / np.linalg.norm(X, axis=1, keepdims=True)
        D = ((U[:, None, :] - U[None, :, :]) ** 2).sum(-1) / 2
    else:
        D = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(D, np.inf)
    idx = np.argsort(D, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(D, idx, axis=1), idx
