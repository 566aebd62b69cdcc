"""The intrinsic-dimension suite of one embedding matrix, from one exact kNN pass.

``id_table`` gives one row per (estimator, k): value and redundancy 1 - value / d.
``per_token_ids`` gives the per-token values (MLE at every k, local-PCA dimension).
``id_suite`` gives both from the same neighbour search.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from regeo.geometry._validation import as_matrix, check_choice, check_int
from regeo.geometry.knn import KNN, METRICS, exact_knn, unique_rows
from regeo.geometry.local_pca import LocalPCA
from regeo.geometry.mle import LevinaBickelMLE
from regeo.geometry.twonn import TwoNN

log = logging.getLogger(__name__)

ESTIMATORS = ("mle", "twonn", "twonn_mle", "local_pca")
TABLE_COLUMNS = ["estimator", "k", "value", "redundancy"]


@dataclass(frozen=True)
class IDConfig:
    """What the ID suite computes; saved beside its tables (``dataclasses.asdict``)."""

    ks: tuple[int, ...] = (10, 20, 50)  # neighbourhood sizes of the Levina-Bickel MLE, one row each
    metric: str = "euclidean"  # distance of the neighbour search: "euclidean" or "cosine" (1 - cos)
    estimators: tuple[str, ...] = ESTIMATORS  # rows to compute: mle, twonn, twonn_mle, local_pca
    local_pca_k: int = 20  # neighbours of the per-token local PCA (Lee et al. do not publish theirs)
    local_pca_variance: float = 0.9  # share of local variance the local-PCA dimension must explain
    twonn_discard: float = 0.1  # share of the largest TwoNN ratios left out of the fit (skdim default)
    block_size: int | None = None  # rows per kNN matrix product; None sizes it to memory
    device: str | None = None  # torch device of the kNN and local PCA; None: CUDA when available
    dedupe: bool = True  # drop duplicate rows before the kNN (a zero distance makes MLE/TwoNN
    #                      undefined); duplicates get the per-token values of their first copy

    def __post_init__(self):
        # Lists from YAML become tuples, so the config stays hashable and comparable.
        object.__setattr__(self, "ks", tuple(self.ks))
        object.__setattr__(self, "estimators", tuple(self.estimators))
        if not self.ks:
            raise ValueError("IDConfig.ks must list at least one k")
        for k in self.ks:
            check_int(k, "IDConfig.ks entry", 2)
        if len(set(self.ks)) != len(self.ks):
            raise ValueError(f"IDConfig.ks has repeated values: {self.ks}")
        check_choice(self.metric, "IDConfig.metric", METRICS)
        if not self.estimators:
            raise ValueError("IDConfig.estimators must name at least one estimator")
        for name in self.estimators:
            check_choice(name, "IDConfig.estimators entry", ESTIMATORS)
        if len(set(self.estimators)) != len(self.estimators):
            raise ValueError(f"IDConfig.estimators has repeated names: {self.estimators}")
        check_int(self.local_pca_k, "IDConfig.local_pca_k", 2)
        if not 0.0 < float(self.local_pca_variance) <= 1.0:
            raise ValueError(f"IDConfig.local_pca_variance must be in (0, 1], got {self.local_pca_variance}")
        if not 0.0 <= float(self.twonn_discard) < 1.0:
            raise ValueError(f"IDConfig.twonn_discard must be in [0, 1), got {self.twonn_discard}")
        if self.block_size is not None:
            check_int(self.block_size, "IDConfig.block_size", 1)

    @property
    def max_k(self) -> int:
        """Neighbours the single kNN pass needs."""
        needs = [2]  # TwoNN
        if "mle" in self.estimators:
            needs.append(max(self.ks))
        if "local_pca" in self.estimators:
            needs.append(self.local_pca_k)
        return max(needs)


def _neighbours(X, cfg: IDConfig) -> tuple[np.ndarray, KNN, np.ndarray]:
    """(rows analysed, their kNN, inverse map from X's rows to them): duplicates removed if asked."""
    X = as_matrix(X)
    k = cfg.max_k
    if k > X.shape[0] - 1:
        raise ValueError(f"the ID suite needs k = {k} neighbours but X has only {X.shape[0]} rows")
    knn = exact_knn(X, k, metric=cfg.metric, block_size=cfg.block_size, device=cfg.device)
    inverse = np.arange(X.shape[0])
    if cfg.dedupe and knn.zero_distance_mask().any():
        first, inverse = unique_rows(X, cfg.metric)
        log.info("ID suite: %d duplicate rows of %d removed before the kNN", X.shape[0] - first.size, X.shape[0])
        X = X[first]
        if k > X.shape[0] - 1:
            raise ValueError(f"the ID suite needs k = {k} neighbours but X has only {X.shape[0]} distinct rows")
        knn = exact_knn(X, k, metric=cfg.metric, block_size=cfg.block_size, device=cfg.device)
    return X, knn, inverse


def id_suite(X, cfg: IDConfig | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(id_table(X, cfg), per_token_ids(X, cfg))`` from one kNN pass."""
    cfg = IDConfig() if cfg is None else cfg
    X = as_matrix(X)
    d = X.shape[1]
    Xu, knn, inverse = _neighbours(X, cfg)
    rows, per_token = [], {}
    if "mle" in cfg.estimators:
        for k in cfg.ks:
            mle = LevinaBickelMLE(k, metric=cfg.metric).fit(Xu, knn)
            rows.append(("mle", k, mle.dimension_))
            per_token[f"mle_k{k}"] = mle.dimension_pw_[inverse]
    if "twonn" in cfg.estimators or "twonn_mle" in cfg.estimators:
        twonn = TwoNN(cfg.twonn_discard, metric=cfg.metric).fit(Xu, knn)
        if "twonn" in cfg.estimators:
            rows.append(("twonn", 2, twonn.dimension_))
        if "twonn_mle" in cfg.estimators:
            rows.append(("twonn_mle", 2, twonn.dimension_mle_))
    if "local_pca" in cfg.estimators:
        lpca = LocalPCA(cfg.local_pca_k, cfg.local_pca_variance, metric=cfg.metric, device=cfg.device).fit(Xu, knn)
        rows.append(("local_pca", cfg.local_pca_k, lpca.dimension_))
        per_token[f"local_pca_k{cfg.local_pca_k}"] = lpca.dimension_pw_[inverse]
    # Rows in the order of cfg.estimators, so the table reads as configured.
    rows.sort(key=lambda row: cfg.estimators.index(row[0]))
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS[:3])
    table["k"] = table["k"].astype("int64")
    table["value"] = table["value"].astype("float64")
    table["redundancy"] = 1.0 - table["value"] / d
    return table, pd.DataFrame(per_token, index=pd.RangeIndex(X.shape[0]))


def id_table(X, cfg: IDConfig | None = None) -> pd.DataFrame:
    """One row per (estimator, k): columns estimator, k, value, redundancy (1 - value / d).

    k is the MLE's k for ``mle`` rows, 2 for ``twonn`` and ``twonn_mle``, ``local_pca_k`` for
    ``local_pca`` (whose value is the mean per-token dimension). All rows come from one exact kNN
    pass at the largest k needed.
    """
    return id_suite(X, cfg)[0]


def per_token_ids(X, cfg: IDConfig | None = None) -> pd.DataFrame:
    """One row per row of X (same order): ``mle_k{k}`` for every k, ``local_pca_k{local_pca_k}``.

    Columns appear for the estimators in ``cfg.estimators`` that have per-token values (TwoNN has
    none). MLE values are floats (inf where all k distances are equal), local-PCA values ints.
    """
    return id_suite(X, cfg)[1]
