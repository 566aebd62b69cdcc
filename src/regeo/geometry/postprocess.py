"""Postprocessing of an embedding matrix before a similarity is read: the two remedies for rogue
dimensions and anisotropy that the literature proposes, to be read beside the raw rows (issue 29).

- :func:`standardise` (Timkey & van Schijndel 2021): every dimension z-scored over the rows, so
  that no dimension dominates a cosine by its mean or its variance alone;
- :func:`remove_top_components` (Mu & Viswanath 2018, "All-but-the-top"): the mean removed, then
  the projections on the top k principal directions (they use k of about d / 100).

Both take their statistics from the matrix they transform, and need only d x d second moments
(memory O(n d + d^2)). The properties of a matrix are in :mod:`regeo.geometry.properties`.
"""

from __future__ import annotations

import numpy as np

from regeo.geometry._validation import as_matrix, check_int

# A dimension whose spread is below this share of its magnitude is constant up to float rounding
# (a repeated 0.1 has a mean that differs from 0.1 in the last bit): it becomes 0, not +-1 noise.
_CONSTANT = 64 * np.finfo(np.float64).eps


def standardise(X) -> np.ndarray:
    """(n, d) float64: each column minus its mean, divided by its standard deviation (ddof 0).

    A constant column becomes 0 (it carries nothing a similarity could read)."""
    X = as_matrix(X).astype(np.float64)
    mean = X.mean(0)
    sd = X.std(0)
    constant = sd <= _CONSTANT * np.abs(X).max(0)
    return np.where(constant, 0.0, (X - mean) / np.where(constant, 1.0, sd))


def _top_directions(centred: np.ndarray, k: int) -> np.ndarray:
    """(d, k) orthonormal columns: the top k eigenvectors of ``centred``'s second moments, largest
    first (a d x d eigenproblem: no n x n or n x d SVD)."""
    vectors = np.linalg.eigh(centred.T @ centred)[1]  # (d, d), ascending eigenvalues
    return vectors[:, ::-1][:, :k]


def remove_top_components(X, k: int) -> np.ndarray:
    """(n, d) float64: the rows centred, minus their projections on the top ``k`` principal
    directions (``k = 0``: centred only)."""
    X = as_matrix(X).astype(np.float64)
    k = check_int(k, "k", 0, X.shape[1])
    centred = X - X.mean(0)
    if k == 0:
        return centred
    top = _top_directions(centred, k)  # (d, k)
    return centred - (centred @ top) @ top.T
