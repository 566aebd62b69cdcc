"""Common machinery of the neighbour-based estimators (scikit-learn conventions, no sklearn import).

``__init__`` only stores its arguments; ``fit`` validates them and the input, sets the
trailing-underscore attributes and returns ``self``. Parameters are never modified by ``fit``.
"""

from __future__ import annotations

import inspect

import numpy as np

from regeo.geometry._validation import as_matrix, check_choice
from regeo.geometry.knn import KNN, METRICS, exact_knn

DUPLICATES = ("raise", "drop")


class NeighbourEstimator:
    """Base class: parameter access, repr, and the shared kNN / duplicate handling."""

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [p.name for p in signature.parameters.values() if p.name != "self"]

    def get_params(self, deep: bool = True) -> dict:
        """Constructor parameters, by name (scikit-learn's ``get_params``)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params) -> "NeighbourEstimator":
        names = self._param_names()
        for name, value in params.items():
            if name not in names:
                raise ValueError(f"{type(self).__name__} has no parameter {name!r}; it has {names}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{name}={value!r}" for name, value in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _neighbours(self, X, knn: KNN | None, k: int, device=None) -> tuple[np.ndarray, KNN]:
        """Validated ``X`` and its first ``k`` neighbours: ``knn`` when given, else a new exact search."""
        check_choice(self.metric, "metric", METRICS)
        X = as_matrix(X, min_rows=2)
        n = X.shape[0]
        if k > n - 1:
            raise ValueError(f"X has {n} rows: too few for k = {k} neighbours (need at least {k + 1})")
        if knn is None:
            return X, exact_knn(X, k, metric=self.metric, device=device)
        if not isinstance(knn, KNN):
            raise ValueError(f"knn must be a regeo.geometry.knn.KNN, got {type(knn).__name__}")
        if knn.n != n:
            raise ValueError(f"knn has {knn.n} rows but X has {n}")
        if knn.k < k:
            raise ValueError(f"knn has {knn.k} neighbours per row, {type(self).__name__} needs {k}")
        if knn.metric != self.metric:
            raise ValueError(f"knn was computed with metric={knn.metric!r}, the estimator has {self.metric!r}")
        return X, knn.head(k)

    def _valid_points(self, knn: KNN) -> np.ndarray:
        """(n,) bool: points without a zero-distance neighbour; raises under ``duplicates='raise'``."""
        check_choice(self.duplicates, "duplicates", DUPLICATES)
        zero = knn.zero_distance_mask()
        if zero.any() and self.duplicates == "raise":
            raise ValueError(
                f"{int(zero.sum())} of {knn.n} points have a neighbour at distance 0 (duplicate rows), "
                f"where {type(self).__name__} is undefined (log of a zero distance). Remove duplicates "
                "first (regeo.geometry.knn.unique_rows; id_table does it with IDConfig.dedupe) or pass "
                "duplicates='drop' to leave those points out of the estimate.")
        if (~zero).sum() < 2:
            raise ValueError("fewer than 2 points without a duplicate are left to estimate the dimension")
        return ~zero
