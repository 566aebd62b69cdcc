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


RAW = "raw"
STANDARDISED = "standardised"
ABTT = "abtt"  # all-but-the-top
METHODS = (STANDARDISED, ABTT)


def top_components(d: int, components: int | None) -> int:
    """The D of all-but-the-top for width ``d``: ``components`` when given (at most d - 1, so
    something is left), else Mu & Viswanath's rule of about d / 100, at least 1."""
    if components is None:
        return max(1, round(d / 100))
    return min(int(components), d - 1)


def postprocess(X, method: str, components: int | None = None) -> np.ndarray:
    """(n, d) float64 rows after ``method``: ``raw`` (unchanged), ``standardised`` or ``abtt``
    (``components`` as :func:`top_components` reads it)."""
    if method == RAW:
        return as_matrix(X).astype(np.float64)
    if method == STANDARDISED:
        return standardise(X)
    if method == ABTT:
        X = as_matrix(X)
        return remove_top_components(X, top_components(X.shape[1], components))
    raise ValueError(f"postprocess must be one of {(RAW, *METHODS)}, got {method!r}")


def weighted_postprocess(X, weights, method: str, components: int | None = None):
    """:func:`postprocess` with every statistic (means, standard deviations, principal directions)
    taken over the rows weighted by ``weights`` (n,), as torch float64, differentiable in the
    weights: a token resample refits the postprocessing, so an interval from the gradient (or from
    resamples) carries the postprocessing's own variation. Weights of 1 give :func:`postprocess`."""
    import torch

    X = torch.as_tensor(X, dtype=torch.float64)
    if method == RAW:
        return X
    c = torch.as_tensor(weights, dtype=torch.float64)
    s = c.sum()
    centred = X - (c @ X) / s
    if method == STANDARDISED:
        sd = torch.sqrt((c @ centred.square()) / s)
        constant = sd <= _CONSTANT * X.abs().amax(0)
        return torch.where(constant, torch.zeros_like(centred), centred / torch.where(constant, torch.ones_like(sd), sd))
    if method == ABTT:
        k = top_components(X.shape[1], components)
        top = torch.linalg.eigh((centred * c[:, None]).T @ centred)[1].flip(1)[:, :k]  # (d, k)
        return centred - (centred @ top) @ top.T
    raise ValueError(f"postprocess must be one of {(RAW, *METHODS)}, got {method!r}")


def raw_rows(table):
    """A pair table's raw rows (tables written before the ``postprocess`` column are all raw)."""
    return table if "postprocess" not in table else table[table["postprocess"] == RAW]
