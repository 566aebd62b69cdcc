"""Token neighbourhoods: when they settle along training (RQ2), and whether low-ID tokens have
coherent ones (Lee et al. 2025).

Arrays in, tables out. A neighbourhood is a token's k nearest rows (cosine by default) within one
fixed token set; two neighbourhoods of a token are compared by their Jaccard index
(:func:`regeo.geometry.knn.neighbour_jaccard`), read against :func:`chance_jaccard`, the value two
unrelated spaces give. The low/high-ID comparison is read against :func:`matched_noise_null`, the
same comparison on A and A plus isotropic noise of the observed overall overlap, with intervals
from a bootstrap over clusters of neighbouring tokens (:func:`token_clusters`).
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd

from regeo.geometry.intervals import TokenBootstrap, mean_replicates
from regeo.geometry.knn import exact_knn, neighbour_jaccard, unit_rows
from regeo.geometry.nulls import kmeans
from regeo.stats import minimum_p, permutation_p

log = logging.getLogger(__name__)


def _knn(X: np.ndarray, k: int, metric: str) -> np.ndarray:
    """(n, k) neighbour rows. The float32 screen: on a few thousand rows of a small width, the
    bfloat16 screen's wider candidate lists cost more than its faster products save (the result
    is the same either way)."""
    return exact_knn(X, k, metric=metric, screen="float32").indices


def chance_jaccard(n: int, k: int) -> float:
    """Expected Jaccard index of the k-neighbourhoods of one token in two unrelated spaces of the
    same n tokens (two independent uniform k-subsets of the other n - 1): the overlap
    I ~ hypergeometric with mean k^2 / (n - 1), J = I / (2k - I), to first order in I's spread."""
    overlap = k * k / (n - 1)
    return float(overlap / (2 * k - overlap))


def settled_step(steps, jaccard, threshold: float) -> int:
    """The first step from which a token's overlap with its final neighbourhood stays at or above
    ``threshold`` (the last step at the latest: its overlap with itself is 1)."""
    steps, jaccard = np.asarray(steps), np.asarray(jaccard, dtype=np.float64)
    below = np.flatnonzero(jaccard < threshold)
    return int(steps[0] if below.size == 0 else steps[min(below[-1] + 1, len(steps) - 1)])


def _interval(values: np.ndarray, indices: np.ndarray, boot: TokenBootstrap | None) -> tuple[float, float]:
    if boot is None:
        return np.nan, np.nan
    return boot.percentiles(mean_replicates(values, indices, boot))


def settling(matrices: dict[int, np.ndarray], k: int, metric: str, probes: dict[str, int],
             threshold: float, boot: TokenBootstrap | None,
             final: np.ndarray | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """How each dump's k-neighbourhoods overlap the final dump's, on one token set.

    ``matrices``: {step: (n, d)} rows of the same n tokens at every dump; ``probes``: {token text:
    row}. Returns (curve, settle): the curve has one row per (step, token) for the probes and a
    ``<all>`` row per step (mean over every token, with its bootstrap interval widened for the
    neighbourhood graph, as the geometry tables do); settle has each probe's settled step and, as
    ``<all>``, the median over every token with its interval. ``final``: the final dump's (n, k)
    neighbour rows, if already known.
    """
    steps = sorted(matrices)
    final_step = steps[-1]
    n = matrices[final_step].shape[0]
    final = _knn(matrices[final_step], k, metric) if final is None else final  # (n, k)
    per_step = np.stack([neighbour_jaccard(final if s == final_step else _knn(matrices[s], k, metric), final)
                         for s in steps])  # (steps, n)
    chance = chance_jaccard(n, k)
    rows = []
    for i, step in enumerate(steps):
        lo, hi = _interval(per_step[i], final, boot)
        rows.append({"step": step, "token": "<all>", "row": -1, "jaccard": float(per_step[i].mean()),
                     "ci_low": lo, "ci_high": hi})
        rows += [{"step": step, "token": text, "row": row, "jaccard": float(per_step[i, row]),
                  "ci_low": np.nan, "ci_high": np.nan} for text, row in probes.items()]
    curve = pd.DataFrame(rows)
    curve["chance"], curve["n_tokens"], curve["k"] = chance, n, k
    settle_all = np.array([settled_step(steps, per_step[:, j], threshold) for j in range(n)])
    median_lo = median_hi = np.nan
    if boot is not None:
        reps = boot.replicate(n, lambda idx: np.median(settle_all[idx], axis=1))
        median_lo, median_hi = boot.percentiles(reps)
    settle = pd.DataFrame([{"token": "<all>", "row": -1, "settled_step": float(np.median(settle_all)),
                            "ci_low": median_lo, "ci_high": median_hi}]
                          + [{"token": text, "row": row, "settled_step": float(settle_all[row]),
                              "ci_low": np.nan, "ci_high": np.nan} for text, row in probes.items()])
    settle["threshold"], settle["n_tokens"], settle["k"] = threshold, n, k
    return curve, settle


def id_groups(ids: np.ndarray, counts: np.ndarray, frequent: int, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) row numbers: among the ``frequent`` rows of highest count, the ``fraction`` of
    lowest and of highest per-token ID (ties by row number), each sorted from the extreme inward."""
    ids, counts = np.asarray(ids, dtype=np.float64), np.asarray(counts)
    finite = np.flatnonzero(np.isfinite(ids))
    top = finite[np.lexsort((finite, -counts[finite]))][:frequent]
    size = max(1, int(round(fraction * len(top))))
    order = top[np.lexsort((top, ids[top]))]
    return order[:size], order[::-1][:size]


def matched_noise_null(X_a: np.ndarray, target: float, k: int, metric: str, draws: int, seed: int,
                       knn_a: np.ndarray | None = None, tolerance: float = 0.004,
                       iterations: int = 30) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Structureless partners of A matched to an observed overlap: ``draws`` noise pairs.

    Each draw is A plus isotropic Gaussian noise E in the embedding space itself (not on unit
    rows: under cosine a short row's direction moves more under the same noise, and that is part
    of what the null must reproduce, as norm and per-token ID can go together; on a decaying
    spectrum noise on unit rows left a spurious excess of ~0.04), scaled by s times A's rms
    distance from its centroid over sqrt(d). s is chosen so that the mean over all tokens of the
    Jaccard between A's and the partner's k-neighbourhoods is within ``tolerance`` of ``target``
    (the observed overlap of A and B), searched in [1e-4, 1e2]: with E fixed the overlap falls
    with s. The first draw takes secant steps in log s from s = 0.3; the overall overlap of n
    tokens barely varies between draws, so each later one starts from the scale found before
    (most stop at their first search); bisection in the tightest bracket seen finishes any that
    have not converged. A target at or above the overlap of the smallest scale (B equal to A)
    gets that scale, one at or below the largest scale's (unrelated spaces) that one. Why that
    tolerance suffices: the null difference moves by about a third of the overlap's error (0.136
    at overlap 0.37, 0.055 at 0.15 on Gaussian data), so 0.004 is ~0.1 of the null's spread,
    and the draws' errors fall on both sides.

    Returns (jaccard (draws, n): each token's Jaccard in each draw, scales (draws,): s, overlaps
    (draws,): the mean Jaccard each draw reached). Cost: a few kNN searches for the first draw,
    one or two for each later one.
    """
    base = np.asarray(X_a, dtype=np.float64)
    n, d = base.shape
    knn_a = _knn(X_a, k, metric) if knn_a is None else knn_a
    radius = float(np.sqrt(((base - base.mean(0)) ** 2).sum(1).mean())) or 1.0
    rng = np.random.default_rng([seed, n, k])
    low_bound, high_bound = np.log(1e-4), np.log(1e2)
    jaccard, scales, overlaps = np.empty((draws, n)), np.empty(draws), np.empty(draws)
    guess, slope = None, -0.3
    for j in range(draws):
        noise = rng.standard_normal((n, d)) * (radius / np.sqrt(d))
        seen: dict[float, np.ndarray] = {}

        def overlap(log_s: float) -> float:
            log_s = float(np.clip(log_s, low_bound, high_bound))
            if log_s not in seen:
                seen[log_s] = neighbour_jaccard(knn_a, _knn(base + np.exp(log_s) * noise, k, metric))
            return float(seen[log_s].mean())

        def close() -> bool:
            return any(abs(float(v.mean()) - target) <= tolerance for v in seen.values())

        # Secant steps in log s from the last draw's scale (the first draw: s = 0.3, slope -0.3,
        # about the middle of the curve), each step at most 2 wide; bisection in the tightest
        # bracket seen if they have not landed within the tolerance.
        point, step_slope = (np.log(0.3), -0.3) if guess is None else (guess, slope)
        value = overlap(point)
        for _ in range(6):
            if close():
                break
            previous = point
            point = float(np.clip(point + np.clip((target - value) / step_slope, -2.0, 2.0), low_bound, high_bound))
            if point == previous:
                break  # at a bound: the target is beyond what noise scales reach
            last, value = seen[float(np.clip(previous, low_bound, high_bound))].mean(), overlap(point)
            if value != last and (value - last) / (point - previous) < 0:
                step_slope = (value - last) / (point - previous)
        if not close():
            above = [s for s, v in seen.items() if v.mean() > target]
            below = [s for s, v in seen.items() if v.mean() < target]
            lo = max(above) if above else low_bound
            hi = min(below) if below else high_bound
            if overlap(lo) > target > overlap(hi):
                for _ in range(iterations):
                    mid = 0.5 * (lo + hi)
                    value = overlap(mid)
                    if abs(value - target) <= tolerance or hi - lo < 1e-4:
                        break
                    lo, hi = (mid, hi) if value > target else (lo, mid)
        slope = step_slope
        best = min(seen, key=lambda s: abs(float(seen[s].mean()) - target))
        jaccard[j], scales[j], overlaps[j] = seen[best], np.exp(best), float(seen[best].mean())
        guess = best
    return jaccard, scales, overlaps


def token_clusters(X: np.ndarray, size: int, metric: str, seed: int) -> np.ndarray:
    """(n,) labels 0..c-1 of about n / ``size`` k-means cells of the rows (unit rows under cosine).

    The unit of the cluster bootstrap. Why k-means and not the kNN graph's connected groups: on
    an embedding the kNN graph at the analysis' k is one giant component plus a few crumbs, so
    its components give one cluster or singletons; k-means cuts the space into compact cells of
    a chosen size, and tokens that share neighbours (whose Jaccards move together) are mostly in
    one cell. ``size`` of a few k (4 k by default in the pipeline) keeps most of a token's
    neighbours in its cell while leaving enough cells (45 for 1,800 tokens) for a bootstrap; a
    small token set still gets 20 cells (a bootstrap over a handful of units is no interval).
    ``size`` 1 is every token its own cluster (the token-iid bootstrap).
    """
    n = np.asarray(X).shape[0]
    clusters = max(min(n, 20), int(round(n / max(1, size))))
    if clusters >= n:
        return np.arange(n)
    rows = unit_rows(X) if metric == "cosine" else np.asarray(X, dtype=np.float64)
    return kmeans(rows, clusters, np.random.default_rng([seed, n, clusters]))


def _cluster_means(values: np.ndarray, members: np.ndarray, labels: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """(b,) means of ``values`` over the ``members`` rows of each replicate, ``idx`` (b, c) a
    resample of the clusters (a member counts once per draw of its cluster); NaN where a replicate
    drew no member."""
    c = int(labels.max()) + 1
    sums = np.bincount(labels[members], weights=values[members], minlength=c)
    counts = np.bincount(labels[members], minlength=c).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums[idx].sum(1) / counts[idx].sum(1)


def _percentiles(boot: TokenBootstrap, replicates: np.ndarray) -> tuple[float, float]:
    replicates = replicates[np.isfinite(replicates)]
    return boot.percentiles(replicates) if replicates.size else (np.nan, np.nan)


def coherence(X_a: np.ndarray, X_b: np.ndarray, low: np.ndarray, high: np.ndarray, k: int, metric: str,
              boot: TokenBootstrap | None, *, null_draws: int = 20, null_seed: int = 0,
              unit: str = "cluster", cluster_size: int = 40) -> dict:
    """Cross-seed coherence of the low- and high-ID groups, against a matched structureless null.

    Coherence: the mean Jaccard of each token's k-neighbourhood in A (whose per-token IDs made
    the groups) and in B (another seed), rows aligned; ``difference`` = low - high; ``overlap``
    the mean over all tokens and ``chance`` the level of unrelated spaces.

    Null: the difference is partly mechanical (tokens of low local ID keep more neighbours under
    a structureless perturbation: A plus isotropic noise already gives the low group more, 0.13
    on Gaussian rows at overlap 0.29). So the same
    statistic on the same groups is computed on ``null_draws`` partners A + isotropic noise whose
    overall overlap with A is the observed one (:func:`matched_noise_null`): ``null_mean``,
    ``null_sd`` and the band ``null_low`` / ``null_high`` (percentiles at the bootstrap's
    confidence, 95 % without one; with 20 draws the band is the near-extremes: the p is the
    test), ``null_jaccard_low`` / ``_high``, ``difference_vs_null`` = difference - null_mean,
    and a two-sided Monte Carlo p, (1 + b) / (1 + B) (:func:`regeo.stats.permutation_p`) for the
    distance of the difference from the centre against the draws', with ``p_min`` = 1 / (1 + B),
    the floor. The centre is the mean of all B + 1 values (the observed among them), so that the
    observed and the draws enter alike and the p is valid; ``null_mean`` is the draws' own.

    Intervals (``boot``): a bootstrap over clusters of neighbouring tokens (``unit="cluster"``:
    k-means cells of about ``cluster_size`` tokens, :func:`token_clusters`), all cells resampled
    together, so each group's mean is a ratio over the drawn cells and the low and high groups
    move together; ``unit="token"`` resamples tokens (every token its own cell: too narrow where
    neighbours' Jaccards move together, kept for comparison). The interval of
    ``difference_vs_null`` resamples each token's excess over its mean null Jaccard (the null
    depends on which tokens are drawn) and adds the Monte Carlo error of the null mean,
    ``null_sd / sqrt(B)``, as independent normal noise.
    """
    if unit not in ("cluster", "token"):
        raise ValueError(f"unit must be 'cluster' or 'token', got {unit!r}")
    low, high = np.asarray(low), np.asarray(high)
    n = X_a.shape[0]
    knn_a = _knn(X_a, k, metric)
    jac = neighbour_jaccard(knn_a, _knn(X_b, k, metric))  # (n,)
    out = {"n_tokens": n, "k": k, "n_low": len(low), "n_high": len(high), "chance": chance_jaccard(n, k)}
    for name, group in (("low", low), ("high", high)):
        out[f"jaccard_{name}"] = float(jac[group].mean())
    out["difference"] = out["jaccard_low"] - out["jaccard_high"]
    out["overlap"] = float(jac.mean())
    nan_keys = ("low_ci_low", "low_ci_high", "high_ci_low", "high_ci_high", "difference_ci_low",
                "difference_ci_high", "null_overlap", "null_noise_scale", "null_jaccard_low", "null_jaccard_high",
                "null_mean", "null_sd", "null_low", "null_high", "difference_vs_null", "difference_vs_null_ci_low",
                "difference_vs_null_ci_high", "p_value", "p_min")
    out.update({key: np.nan for key in nan_keys})
    out["n_null_draws"] = int(null_draws)
    excess = None
    if null_draws > 0:
        null_jac, scales, overlaps = matched_noise_null(X_a, out["overlap"], k, metric, null_draws, null_seed, knn_a)
        null_diff = null_jac[:, low].mean(1) - null_jac[:, high].mean(1)  # (B,)
        confidence = boot.confidence if boot is not None else 0.95
        alpha = (1 - confidence) / 2
        out.update({"null_overlap": float(overlaps.mean()), "null_noise_scale": float(np.median(scales)),
                    "null_jaccard_low": float(null_jac[:, low].mean()),
                    "null_jaccard_high": float(null_jac[:, high].mean()),
                    "null_mean": float(null_diff.mean()),
                    "null_sd": float(null_diff.std(ddof=1)) if null_draws > 1 else np.nan})
        out["null_low"], out["null_high"] = (float(v) for v in np.quantile(null_diff, [alpha, 1 - alpha]))
        out["difference_vs_null"] = out["difference"] - out["null_mean"]
        centre = (null_diff.sum() + out["difference"]) / (null_draws + 1)
        distance, null_distance = abs(out["difference"] - centre), np.abs(null_diff - centre)
        out["p_value"] = permutation_p(distance, null_distance)
        out["p_min"] = minimum_p(distance, null_distance)
        excess = jac - null_jac.mean(0)  # (n,) each token's Jaccard over its mean null Jaccard
    out["bootstrap_unit"] = unit
    out["n_clusters"] = np.nan
    if boot is not None:
        labels = token_clusters(X_a, cluster_size if unit == "cluster" else 1, metric, boot.seed)
        clusters = int(labels.max()) + 1
        out["n_clusters"] = clusters

        def replicate(idx: np.ndarray) -> np.ndarray:
            rows = [_cluster_means(jac, low, labels, idx), _cluster_means(jac, high, labels, idx)]
            if excess is not None:
                rows.append(_cluster_means(excess, low, labels, idx) - _cluster_means(excess, high, labels, idx))
            return np.stack(rows, 1)

        values = np.concatenate([replicate(idx) for idx in boot.indices(clusters)])  # (replicates, 2 or 3)
        reps = {"low": values[:, 0], "high": values[:, 1]}
        for name in ("low", "high"):
            out[f"{name}_ci_low"], out[f"{name}_ci_high"] = _percentiles(boot, reps[name])
        out["difference_ci_low"], out["difference_ci_high"] = _percentiles(boot, reps["low"] - reps["high"])
        if excess is not None:
            monte_carlo = out["null_sd"] / np.sqrt(null_draws) if null_draws > 1 else 0.0
            noise = np.random.default_rng([boot.seed, 27]).standard_normal(len(values)) * monte_carlo
            out["difference_vs_null_ci_low"], out["difference_vs_null_ci_high"] = _percentiles(
                boot, values[:, 2] + noise)
    return out


def neighbours(X: np.ndarray, k: int, metric: str) -> np.ndarray:
    """(n, k) neighbour rows of every row of X (self excluded)."""
    return _knn(X, k, metric)


_WORD = re.compile(r"^ [A-Za-z]{3,}$")


def probe_tokens(counts: dict[str, np.ndarray], texts: list[str], per_register: int, extra: list[str],
                 pool: int = 300) -> list[tuple[str, str]]:
    """(token text, register) probes: each subset's ``per_register`` words (" word", 3+ letters)
    most over-represented in it relative to all subsets, among its ``pool`` most frequent words,
    then the configured ``extra`` words (with or without their leading space)."""
    total = np.sum([c[:len(texts)] for c in counts.values()], axis=0)
    words = np.array([bool(_WORD.match(t)) for t in texts])
    probes: list[tuple[str, str]] = []
    chosen: set[str] = set()
    for subset, c in counts.items():
        c = c[:len(texts)]
        candidates = np.flatnonzero(words & (c > 0))
        frequent = candidates[np.lexsort((candidates, -c[candidates]))][:pool]
        share = c[frequent] / total[frequent]
        for i in frequent[np.lexsort((frequent, -share))]:
            if len([p for p in probes if p[1] == subset]) >= per_register:
                break
            if texts[i] not in chosen:
                probes.append((texts[i], subset))
                chosen.add(texts[i])
    index = {t: i for i, t in enumerate(texts)}
    for word in extra:
        text = word if word in index else " " + word
        if text not in index:
            log.warning("probe %r is not one token of the tokenizer: left out", word)
        elif text not in chosen:
            probes.append((text, "configured"))
            chosen.add(text)
    return probes
