"""The intrinsic-dimension suite of one embedding matrix, from one exact kNN pass.

``id_table`` gives one row per (estimator, k): the value, its bootstrap interval over tokens,
the nulls' values, and the redundancies against the width and against the isotropic null.
``per_token_ids`` gives the per-token values (MLE at every k, local-PCA dimension).
Gride's rows (one per scale n1, in ``k``) are the ID as a curve over neighbourhood size; their
interval is the linearised bootstrap (:func:`regeo.geometry.gride.pseudo_values`).
``id_suite`` gives both from the same neighbour search.

Table columns (:data:`TABLE_COLUMNS`):

- ``value``; ``ci_low``, ``ci_high``: the token bootstrap interval (:mod:`regeo.geometry.intervals`;
  NaN when ``bootstrap_replicates`` is 0);
- ``null_isotropic``, ``null_covariance``, ``null_mixture``: the same estimator and k on the
  nulls of :mod:`regeo.geometry.nulls` (NaN when that null is not in ``nulls``);
- ``redundancy`` = 1 - value / d (raw, kept to compare with Kataiwa et al.) and
  ``redundancy_vs_null`` = 1 - value / null_isotropic: 0 when the matrix is no more redundant
  than isotropic noise of its shape, which MLE and TwoNN already underestimate in high d;
  ``redundancy_vs_null_ci_low``/``_high``: its interval, from the data's and the null's
  bootstrap replicates paired (both are single samples, so both noises count);
  ``redundancy_vs_mixture`` = 1 - value / null_mixture: what the clusters do not explain;
- ``ceiling``: the largest value the estimator reports on this shape: d for mle, twonn and
  twonn_mle (the width; not a hard bound of the arithmetic, which gives inf for equal
  distances, but the largest dimension data in R^d has), and for local_pca min(k - 1, d), the
  rank of k centred neighbours (k when local_pca_variance is 1, where float noise in the zero
  eigenvalues can be counted);
- ``n_tokens``: rows analysed, after duplicates are removed; ``metric``.

Local PCA is a per-token dimension bounded by its ceiling, not an estimate of the matrix's ID:
its redundancy columns are NaN.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from regeo.geometry._validation import as_matrix, check_choice, check_int
from regeo.geometry.intervals import (DEPENDENCE, TokenBootstrap, mean_replicates, mle_replicates,
                                      twonn_mle_replicates, twonn_replicates)
from regeo.geometry.knn import KNN, METRICS, exact_knn, unique_rows
from regeo.geometry.gride import check_scales, gride_curve, log_ratios, pseudo_values
from regeo.geometry.local_pca import LocalPCA
from regeo.geometry.mle import LevinaBickelMLE
from regeo.geometry.nulls import NULLS, NullCache, fit_mixture, null_key, null_sample, null_spectrum
from regeo.geometry.twonn import TwoNN

log = logging.getLogger(__name__)

ESTIMATORS = ("mle", "twonn", "twonn_mle", "local_pca", "gride")
TABLE_COLUMNS = ["estimator", "k", "value", "ci_low", "ci_high", "null_isotropic", "null_covariance",
                 "null_mixture", "redundancy", "redundancy_vs_null", "redundancy_vs_null_ci_low",
                 "redundancy_vs_null_ci_high", "redundancy_vs_mixture", "ceiling", "n_tokens", "metric"]


@dataclass(frozen=True)
class IDConfig:
    """What the ID suite computes; saved beside its tables (``dataclasses.asdict``).

    The fields the pipeline's config sets have no default here: their defaults are written once,
    in the config schema. The library-only knobs below them keep theirs.
    """

    ks: tuple[int, ...]  # neighbourhood sizes of the Levina-Bickel MLE, one row each
    metric: str  # distance of the neighbour search: "euclidean" or "cosine" (ratio estimators: the chord)
    estimators: tuple[str, ...]  # rows to compute: mle, twonn, twonn_mle, local_pca
    local_pca_k: int  # neighbours of the per-token local PCA (Lee et al. do not publish theirs)
    local_pca_variance: float  # share of local variance the local-PCA dimension must explain
    nulls: tuple[str, ...]  # nulls to compute: a subset of ("isotropic", "covariance"), may be empty
    null_seed: int  # seed of the null samples
    bootstrap_replicates: int  # token resamples per interval: 0 (no intervals) or >= 100
    bootstrap_seed: int  # seed of the resampled token indices
    confidence: float  # coverage of the intervals, e.g. 0.95
    twonn_discard: float = 0.1  # share of the largest TwoNN ratios left out of the fit (skdim default)
    bootstrap_dependence: str = "knn_graph"  # widen intervals for neighbouring tokens' shared terms ("iid": not)
    block_size: int | None = None  # rows per kNN matrix product; None sizes it to memory
    device: str | None = None  # torch device of the kNN and local PCA; None: CUDA when available
    dedupe: bool = True  # drop duplicate rows before the kNN (a zero distance makes MLE/TwoNN
    #                      undefined); duplicates get the per-token values of their first copy
    mixture_max_components: int = 128  # most components the mixture null's BIC search tries
    gride_scales: tuple[int, ...] = (1, 2, 4, 8, 16)  # Gride's n1 (n2 = 2 n1): its rows' k

    def __post_init__(self):
        # Lists from YAML become tuples, so the config stays hashable and comparable.
        object.__setattr__(self, "ks", tuple(self.ks))
        object.__setattr__(self, "estimators", tuple(self.estimators))
        object.__setattr__(self, "nulls", tuple(self.nulls))
        object.__setattr__(self, "gride_scales", check_scales(self.gride_scales))
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
        for name in self.nulls:
            check_choice(name, "IDConfig.nulls entry", NULLS)
        if len(set(self.nulls)) != len(self.nulls):
            raise ValueError(f"IDConfig.nulls has repeated names: {self.nulls}")
        check_int(self.null_seed, "IDConfig.null_seed", 0)
        replicates = check_int(self.bootstrap_replicates, "IDConfig.bootstrap_replicates", 0)
        if 0 < replicates < 100:
            raise ValueError(f"IDConfig.bootstrap_replicates must be 0 (no intervals) or >= 100, got {replicates}")
        check_int(self.bootstrap_seed, "IDConfig.bootstrap_seed", 0)
        if not 0.0 < float(self.confidence) < 1.0:
            raise ValueError(f"IDConfig.confidence must be in (0, 1), got {self.confidence}")
        if not 0.0 <= float(self.twonn_discard) < 1.0:
            raise ValueError(f"IDConfig.twonn_discard must be in [0, 1), got {self.twonn_discard}")
        check_choice(self.bootstrap_dependence, "IDConfig.bootstrap_dependence", DEPENDENCE)
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
        if "gride" in self.estimators:
            needs.append(2 * self.gride_scales[-1])
        return max(needs)

    def null_settings(self) -> dict:
        """The fields a null's values depend on (its cache key), beside n, d or spectrum, and seed."""
        keys = ("ks", "metric", "estimators", "local_pca_k", "local_pca_variance", "twonn_discard",
                "mixture_max_components", "gride_scales")
        return {key: getattr(self, key) for key in keys}


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


def _estimates(Xu: np.ndarray, knn: KNN, cfg: IDConfig,
               boot: TokenBootstrap | None) -> tuple[list[tuple], dict, dict[str, np.ndarray]]:
    """Rows (estimator, k, value) in cfg's order, their (widened) bootstrap replicates by
    (estimator, k) (None without ``boot``), and the per-token values of Xu."""
    rows, reps, per_token = [], {}, {}
    dep = cfg.bootstrap_dependence
    if "mle" in cfg.estimators:
        for k in cfg.ks:
            mle = LevinaBickelMLE(k, metric=cfg.metric).fit(Xu, knn)
            rows.append(("mle", k, mle.dimension_))
            reps["mle", k] = boot and mle_replicates(1.0 / mle.dimension_pw_, knn.indices[:, :k], boot, dep)
            per_token[f"mle_k{k}"] = mle.dimension_pw_
    if "twonn" in cfg.estimators or "twonn_mle" in cfg.estimators:
        twonn = TwoNN(cfg.twonn_discard, metric=cfg.metric).fit(Xu, knn)
        if "twonn" in cfg.estimators:
            rows.append(("twonn", 2, twonn.dimension_))
            reps["twonn", 2] = boot and twonn_replicates(twonn.mu_, knn.indices[:, :2], cfg.twonn_discard, boot, dep)
        if "twonn_mle" in cfg.estimators:
            rows.append(("twonn_mle", 2, twonn.dimension_mle_))
            reps["twonn_mle", 2] = boot and twonn_mle_replicates(twonn.mu_, knn.indices[:, :2], boot, dep)
    if "local_pca" in cfg.estimators:
        k = cfg.local_pca_k
        lpca = LocalPCA(k, cfg.local_pca_variance, metric=cfg.metric, device=cfg.device).fit(Xu, knn)
        rows.append(("local_pca", k, lpca.dimension_))
        reps["local_pca", k] = boot and mean_replicates(lpca.dimension_pw_, knn.indices[:, :k], boot, dep)
        per_token[f"local_pca_k{k}"] = lpca.dimension_pw_
    if "gride" in cfg.estimators:
        distances = knn.ratio_distances()
        curve = gride_curve(distances, cfg.gride_scales)
        for n1, value in zip(cfg.gride_scales, curve.dimension):
            rows.append(("gride", n1, float(value)))
            if boot:
                # Points the outlier cut left out carry no influence (pseudo-value = the estimate);
                # the kept ones' deviations are rescaled from N kept to all n resampled tokens.
                log_mu, keep = log_ratios(distances, n1)
                pseudo = np.full(len(keep), float(value))
                pseudo[keep] = value + (pseudo_values(log_mu, n1, float(value)) - value) * (len(keep) / keep.sum())
                reps["gride", n1] = mean_replicates(pseudo, knn.indices[:, :2 * n1], boot, dep)
            else:
                reps["gride", n1] = None
    # Rows in the order of cfg.estimators, so the table reads as configured.
    rows.sort(key=lambda row: cfg.estimators.index(row[0]))
    return rows, reps, per_token


def _bootstrap(cfg: IDConfig) -> TokenBootstrap | None:
    if cfg.bootstrap_replicates == 0:
        return None
    return TokenBootstrap(cfg.bootstrap_replicates, cfg.bootstrap_seed, cfg.confidence)


def null_values(kind: str, X, cfg: IDConfig, cache: NullCache | None = None) -> dict[tuple[str, int], dict]:
    """{(estimator, k): {"value": v, "replicates": [...] or None}} of one null of ``X`` (rows as
    analysed: deduplicated) under ``cfg``.

    The null has X's n, and d (isotropic) or covariance spectrum (covariance); its sample is drawn
    with ``cfg.null_seed``. Its bootstrap replicates (same settings as the data's) let the table
    give ``redundancy_vs_null`` an interval that includes the null's own sampling noise. With
    ``cache`` a null is computed once per key (:mod:`regeo.geometry.nulls`).
    """
    X = as_matrix(X)
    n, d = X.shape
    spectrum = null_spectrum(X, cfg.metric) if kind == "covariance" else None
    mixture = fit_mixture(X, cfg.metric, cfg.mixture_max_components, cfg.null_seed) if kind == "mixture" else None
    settings = cfg.null_settings()
    if cfg.bootstrap_replicates:
        settings.update({key: getattr(cfg, key) for key in (
            "bootstrap_replicates", "bootstrap_seed", "confidence", "bootstrap_dependence")})
    key = null_key(kind, n, settings, cfg.null_seed, d=d, spectrum=spectrum, mixture=mixture)

    def compute() -> dict:
        sample = null_sample(kind, n, d, cfg.null_seed, spectrum, mixture)  # (n, d)
        Xn, knn, _ = _neighbours(sample, cfg)
        rows, reps, _ = _estimates(Xn, knn, cfg, _bootstrap(cfg))
        return {f"{name}/{k}": {"value": value, "replicates": None if reps[name, k] is None else
                                reps[name, k].tolist()} for name, k, value in rows}

    values = (cache if cache is not None else NullCache()).get(key, compute)
    return {(name, int(k)): v for entry, v in values.items() for name, k in [entry.rsplit("/", 1)]}


def id_suite(X, cfg: IDConfig, null_cache: NullCache | None = None,
             replicates: dict | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(id_table(X, cfg), per_token_ids(X, cfg))`` from one kNN pass.

    ``null_cache``: where the nulls' values are kept between calls (one per run: a null is then
    computed once per shape or spectrum); None computes them afresh. ``replicates``: a dict that
    receives each row's bootstrap replicates by (estimator, k) (None without intervals). Tables of
    the same n and bootstrap seed draw the same token indices in replicate r, so two matrices'
    replicates on the same tokens pair up: their differences are the paired bootstrap.
    """
    if not isinstance(cfg, IDConfig):
        raise ValueError(f"cfg must be an IDConfig, got {type(cfg).__name__}")
    X = as_matrix(X)
    d = X.shape[1]
    Xu, knn, inverse = _neighbours(X, cfg)
    boot = _bootstrap(cfg)
    rows, reps, per_token = _estimates(Xu, knn, cfg, boot)
    if replicates is not None:
        replicates.update(reps)
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS[:3])
    table["k"] = table["k"].astype("int64")
    table["value"] = table["value"].astype("float64")
    keys = list(zip(table["estimator"], table["k"]))
    intervals = [boot.percentiles(reps[key]) if boot else (np.nan, np.nan) for key in keys]
    table["ci_low"], table["ci_high"] = [float(lo) for lo, _ in intervals], [float(hi) for _, hi in intervals]
    nulls = {kind: null_values(kind, Xu, cfg, null_cache) for kind in cfg.nulls}
    for kind in NULLS:
        table[f"null_{kind}"] = [nulls[kind][key]["value"] if kind in nulls else np.nan for key in keys]
    is_id = (table["estimator"] != "local_pca").to_numpy()  # local PCA: a per-token dimension, never a redundancy
    table["redundancy"] = np.where(is_id, 1.0 - table["value"] / d, np.nan)
    table["redundancy_vs_null"] = np.where(is_id, 1.0 - table["value"] / table["null_isotropic"], np.nan)
    # Its interval: value and null are independent estimates, so replicate r of the ratio pairs
    # the data's replicate r with the null's.
    ratio_ci = [(np.nan, np.nan)] * len(keys)
    if boot and "isotropic" in nulls:
        ratio_ci = [boot.percentiles(1.0 - reps[key] / np.asarray(nulls["isotropic"][key]["replicates"]))
                    if is_id[i] else (np.nan, np.nan) for i, key in enumerate(keys)]
    table["redundancy_vs_null_ci_low"] = [float(lo) for lo, _ in ratio_ci]
    table["redundancy_vs_null_ci_high"] = [float(hi) for _, hi in ratio_ci]
    # Against the clusters: 0 when the matrix is no more redundant than its own mixture null.
    table["redundancy_vs_mixture"] = np.where(is_id, 1.0 - table["value"] / table["null_mixture"], np.nan)
    ceiling_pca = cfg.local_pca_k if cfg.local_pca_variance >= 1.0 else min(cfg.local_pca_k - 1, d)
    table["ceiling"] = np.where(is_id, float(d), float(ceiling_pca))
    table["n_tokens"] = np.int64(Xu.shape[0])
    table["metric"] = cfg.metric
    per_token = {name: values[inverse] for name, values in per_token.items()}
    return table[TABLE_COLUMNS], pd.DataFrame(per_token, index=pd.RangeIndex(X.shape[0]))


def id_table(X, cfg: IDConfig, null_cache: NullCache | None = None, replicates: dict | None = None) -> pd.DataFrame:
    """One row per (estimator, k), columns :data:`TABLE_COLUMNS` (module docstring).

    k is the MLE's k for ``mle`` rows, 2 for ``twonn`` and ``twonn_mle``, ``local_pca_k`` for
    ``local_pca`` (whose value is the mean per-token dimension). All rows come from one exact kNN
    pass at the largest k needed.
    """
    return id_suite(X, cfg, null_cache, replicates)[0]


def per_token_ids(X, cfg: IDConfig) -> pd.DataFrame:
    """One row per row of X (same order): ``mle_k{k}`` for every k, ``local_pca_k{local_pca_k}``.

    Columns appear for the estimators in ``cfg.estimators`` that have per-token values (TwoNN has
    none). MLE values are floats (inf where all k distances are equal), local-PCA values ints.
    Computes no nulls and no intervals (they are table columns).
    """
    cfg = dataclasses.replace(cfg, nulls=(), bootstrap_replicates=0)
    return id_suite(X, cfg)[1]


def id_config(params: dict, bootstrap: dict, metric: str) -> IDConfig:
    """The IDConfig of one metric from the config's geometry.id section (the keys that are its
    fields; the others are the stages') and geometry.bootstrap section (the schema has checked
    both: geometry stands alone, so it does not ask regeo.params)."""
    given = {"metric": metric, "bootstrap_replicates": bootstrap["replicates"], "bootstrap_seed": bootstrap["seed"],
             "confidence": bootstrap["confidence"]}
    fields = {f.name for f in dataclasses.fields(IDConfig)} - set(given)
    return IDConfig(**given, **{key: value for key, value in params.items() if key in fields})


def id_rows(X: np.ndarray, cfg: IDConfig, null_cache: NullCache, per_token: bool, replicates: dict | None = None):
    """(table, per-token values or None) of one matrix; NaN rows (with n_tokens) when it has too few
    rows for the largest k, e.g. a dump before any token has been an input."""
    if X.shape[0] < cfg.max_k + 2:
        rows = [(name, k) for name in cfg.estimators
                for k in (cfg.ks if name == "mle" else [2] if name.startswith("twonn")
                          else cfg.gride_scales if name == "gride" else [cfg.local_pca_k])]
        table = pd.DataFrame(rows, columns=["estimator", "k"]).reindex(columns=TABLE_COLUMNS)
        table["k"] = table["k"].astype("int64")
        table["n_tokens"], table["metric"] = np.int64(X.shape[0]), cfg.metric
        return table, None
    if per_token:
        return id_suite(X, cfg, null_cache)
    return id_table(X, cfg, null_cache, replicates), None
