"""Token neighbourhoods: when they settle along training (RQ2), and whether low-ID tokens have
coherent ones (Lee et al. 2025).

Arrays in, tables out. A neighbourhood is a token's k nearest rows (cosine by default) within one
fixed token set; two neighbourhoods of a token are compared by their Jaccard index
(:func:`regeo.geometry.knn.neighbour_jaccard`), read against :func:`chance_jaccard`, the value two
unrelated spaces give.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from regeo.geometry.intervals import TokenBootstrap, mean_replicates
from regeo.geometry.knn import exact_knn, neighbour_jaccard


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


def coherence(X_a: np.ndarray, X_b: np.ndarray, low: np.ndarray, high: np.ndarray, k: int, metric: str,
              boot: TokenBootstrap | None) -> dict:
    """Cross-seed coherence of the low- and high-ID groups: the mean Jaccard of each token's
    k-neighbourhood in A (whose per-token IDs made the groups) and in B (another seed), rows
    aligned, with intervals over the group's tokens and of the difference low - high (the two
    groups resampled independently), and the chance level."""
    jac = neighbour_jaccard(_knn(X_a, k, metric), _knn(X_b, k, metric))  # (n,)
    out = {"n_tokens": X_a.shape[0], "k": k, "n_low": len(low), "n_high": len(high),
           "chance": chance_jaccard(X_a.shape[0], k)}
    for name, group in (("low", low), ("high", high)):
        out[f"jaccard_{name}"] = float(jac[group].mean())
    out["difference"] = out["jaccard_low"] - out["jaccard_high"]
    out.update({key: np.nan for key in ("low_ci_low", "low_ci_high", "high_ci_low", "high_ci_high",
                                        "difference_ci_low", "difference_ci_high")})
    if boot is not None:
        # iid over each group's tokens; the high group draws with another seed, so the two
        # groups' resamples are independent, as the groups' tokens are distinct.
        other = TokenBootstrap(boot.replicates, boot.seed + 1, boot.confidence)
        reps = {"low": boot.replicate(len(low), lambda idx: jac[low][idx].mean(1)),
                "high": other.replicate(len(high), lambda idx: jac[high][idx].mean(1))}
        for name in ("low", "high"):
            out[f"{name}_ci_low"], out[f"{name}_ci_high"] = boot.percentiles(reps[name])
        out["difference_ci_low"], out["difference_ci_high"] = boot.percentiles(reps["low"] - reps["high"])
    return out


def neighbours(X: np.ndarray, k: int, metric: str) -> np.ndarray:
    """(n, k) neighbour rows of every row of X (self excluded)."""
    return _knn(X, k, metric)
