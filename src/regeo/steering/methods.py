"""Steering-vector methods: three directions from the same per-unit activations, for every labelling
and passage weighting the null and the bootstrap ask for.

Every method reads a concept's vector texts as units (:mod:`regeo.steering.activations`: a
passage of a text contrast, a position of a token concept) and returns one vector per row of a
labelling (K, U) and passage weights (K, n_passages), so that the label-permutation null rebuilds
each method's vector the same way from relabelled units, and a bootstrap replicate from
reweighted passages.

- ``mean_difference``: the CAA vector, the token-weighted mean of the positive units minus that
  of the others (:meth:`UnitActivations.vectors`); the default, and the norm of the other two.
- ``pca_difference``: the first principal direction of the differences between positive and
  negative units (repeng's ``pca_diff``). repeng pairs each positive prompt with its matched
  negative; regeo's passages are not matched (two registers' texts), so *every* positive unit is
  paired with *every* negative one, each difference weighted by the product of the two units'
  weights. That takes no arbitrary pairing and no dropped surplus when the sides differ in size,
  and its uncentred second moment has a closed form, Cov+ + Cov- + dd^T (d the difference of the
  two sides' unit means), so no pair is ever formed. Uncentred: repeng's sklearn PCA centres the
  differences, which for unmatched pairs would remove their mean, the very contrast; uncentred,
  the direction is the mean difference pulled towards directions along which the differences vary
  most. Units count once each (a passage's mean state), not by their token counts.
- ``probe``: the weight vector of an L2-regularised logistic regression of the side on the unit
  states (Li et al. 2023's probe directions), each side given equal total weight (a token
  concept's targets are rare), states centred and scaled by one number, their root mean
  per-dimension variance, so that ``probe_l2`` means the same in every model; fit by Newton's
  method in the span of the units (the L2 solution lies there).

Scaling: the PCA and probe directions have no length of their own; each is unit-normalised,
oriented to have a positive dot product with the mean difference of the same labels and weights,
and scaled to that mean difference's norm, so alpha means the same for every method.
"""

from __future__ import annotations

import numpy as np

from regeo.steering.activations import CHUNK, UnitActivations

MEAN_DIFFERENCE, PCA_DIFFERENCE, PROBE = "mean_difference", "pca_difference", "probe"
METHODS = (MEAN_DIFFERENCE, PCA_DIFFERENCE, PROBE)
NEWTON_STEPS = 50
# Above this many features (the units' span, plus the intercept) a Newton step solves with conjugate
# gradients, Hessian-vector products of 2 U r flops, instead of forming the (r, r) Hessian (U r^2):
# a paper-sized token concept (4,096 positions at width 768) would otherwise cost ~40 GFlop a draw.
DIRECT_NEWTON = 129


def method_vectors(units: UnitActivations, method: str, labels: np.ndarray,
                   passage_weights: np.ndarray | None = None, probe_l2: float = 0.1) -> np.ndarray:
    """(K, d) vectors of ``method`` for each row of ``labels`` (K, U) bool (or (1, U) broadcast) and
    ``passage_weights`` (K, n_passages) draw counts (None: each passage once); NaN rows where a side
    has no weight."""
    if method not in METHODS:
        raise ValueError(f"unknown steering method {method!r}; known: {', '.join(METHODS)}")
    labels = np.atleast_2d(np.asarray(labels, dtype=bool))
    mean_difference = units.vectors(labels, passage_weights)  # (K, d)
    if method == MEAN_DIFFERENCE:
        return mean_difference
    rows = mean_difference.shape[0]
    states = units.sums / np.maximum(units.counts, 1)[:, None]  # (U, d): each unit's mean state
    weights = (np.ones((rows, units.block.size)) if passage_weights is None
               else np.atleast_2d(passage_weights)[:, units.block])  # (K, U)
    labels = np.broadcast_to(labels, (rows, units.block.size))
    direction = np.empty_like(mean_difference)
    for start in range(0, rows, CHUNK):
        part = slice(start, min(start + CHUNK, rows))
        if method == PCA_DIFFERENCE:
            direction[part] = _pca_difference(states, labels[part], weights[part])
        else:
            direction[part] = _probe(states, labels[part], weights[part], probe_l2)
    return _scaled_like(direction, mean_difference)


def _scaled_like(direction: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Each row of ``direction`` (K, d) unit-normalised, signed to agree with ``reference``'s row and
    scaled to its norm."""
    sign = np.where(np.einsum("kd,kd->k", direction, reference) < 0, -1.0, 1.0)
    length = np.linalg.norm(direction, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = sign * np.linalg.norm(reference, axis=1) / length
    return direction * scale[:, None]


def _side_second_moments(states: np.ndarray, labels: np.ndarray, weights: np.ndarray):
    """Per row: each side's weighted mean (k, d) and second moment (k, d, d) about the origin.

    Rows that weight every unit as row 0 does (the null's relabellings) share one Gram of all units:
    the negative side's moment is it minus the positive side's, which costs only the positive
    units (a token concept's few targets)."""
    positive, negative = weights * labels, weights * ~labels  # (k, U)
    with np.errstate(invalid="ignore", divide="ignore"):
        total_pos, total_neg = positive.sum(1), negative.sum(1)
    shared = bool(np.all(weights == weights[:1]))
    gram = states.T @ (weights[0][:, None] * states) if shared else None  # (d, d)
    d = states.shape[1]
    mean_pos, mean_neg = np.full((len(labels), d), np.nan), np.full((len(labels), d), np.nan)
    second_pos, second_neg = np.full((len(labels), d, d), np.nan), np.full((len(labels), d, d), np.nan)
    for k in range(len(labels)):
        if not (total_pos[k] > 0 and total_neg[k] > 0):
            continue
        hit = np.flatnonzero(positive[k])
        raw_pos = states[hit].T @ (positive[k][hit][:, None] * states[hit])  # (d, d)
        if shared:
            raw_neg = gram - raw_pos
        else:
            miss = np.flatnonzero(negative[k])
            raw_neg = states[miss].T @ (negative[k][miss][:, None] * states[miss])
        mean_pos[k] = positive[k] @ states / total_pos[k]
        mean_neg[k] = negative[k] @ states / total_neg[k]
        second_pos[k], second_neg[k] = raw_pos / total_pos[k], raw_neg / total_neg[k]
    return mean_pos, second_pos, mean_neg, second_neg


def _pca_difference(states: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(K, d) first principal directions of all positive-minus-negative unit differences (module
    docstring): the top eigenvector of Cov+ + Cov- + dd^T: as the top right singular vector of the
    stacked scaled centred units and d (whose Gram it is) when there are fewer units than
    dimensions, else from the (d, d) moments (by Lanczos, started from d, when the width makes a
    full eigendecomposition per draw the cost)."""
    from scipy.sparse.linalg import eigsh

    out = np.full((len(labels), states.shape[1]), np.nan)
    if states.shape[0] + 1 < states.shape[1]:  # fewer units than dimensions: work in the units' span
        for k in range(len(labels)):
            rows = []
            for side in (weights[k] * labels[k], weights[k] * ~labels[k]):
                keep = side > 0
                if not keep.any():
                    break
                share = side[keep] / side[keep].sum()
                mean = share @ states[keep]
                rows.append((mean, np.sqrt(share)[:, None] * (states[keep] - mean)))
            if len(rows) == 2:  # its Gram is Cov+ + Cov- + dd^T
                stacked = np.vstack([rows[0][1], rows[1][1], (rows[0][0] - rows[1][0])[None]])
                out[k] = np.linalg.svd(stacked, full_matrices=False)[2][0]
        return out
    for start in range(0, len(labels), 64):  # (64, d, d) moments at a time
        part = slice(start, min(start + 64, len(labels)))
        mean_pos, second_pos, mean_neg, second_neg = _side_second_moments(states, labels[part], weights[part])
        delta = mean_pos - mean_neg  # (k, d)
        # Cov+ + Cov- + dd^T, with Cov = E[xx^T] - mm^T
        moment = (second_pos - mean_pos[:, :, None] * mean_pos[:, None, :] + second_neg
                  - mean_neg[:, :, None] * mean_neg[:, None, :] + delta[:, :, None] * delta[:, None, :])
        ok = np.isfinite(delta).all(1)
        top = np.full(delta.shape, np.nan)
        if states.shape[1] <= 128:
            top[ok] = np.linalg.eigh(moment[ok])[1][:, :, -1]  # eigh sorts ascending
        else:
            for k in np.flatnonzero(ok):
                top[k] = eigsh(moment[k], k=1, which="LA", v0=delta[k], tol=1e-12)[1][:, 0]
        out[part] = top
    return out


def _probe(states: np.ndarray, labels: np.ndarray, weights: np.ndarray, l2: float) -> np.ndarray:
    """(K, d) weight vectors of the balanced L2 logistic regressions (module docstring), by Newton
    steps on a chunk of rows at once (the objective is strictly convex: a few steps converge)."""
    centred = states - states.mean(0)
    scale = max(float(np.sqrt((centred ** 2).mean())), 1e-300)  # root mean per-dimension variance
    # The L2 solution lies in the span of the units: fit in an orthonormal basis of it.
    _, singular, basis = np.linalg.svd(centred / scale, full_matrices=False)
    basis = basis[singular > singular[0] * 1e-10]  # (r, d)
    features = np.hstack([(centred / scale) @ basis.T, np.ones((len(states), 1))])  # (U, r + 1)
    y = labels.astype(np.float64)  # (K, U)
    side_pos, side_neg = (weights * y).sum(1, keepdims=True), (weights * (1 - y)).sum(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = weights * np.where(y > 0, 0.5 / side_pos, 0.5 / side_neg)  # (K, U): each side sums to 1/2
    penalty = np.full(features.shape[1], float(l2))
    penalty[-1] = 1e-8  # the intercept is (all but) not shrunk
    out = np.full((len(y), states.shape[1]), np.nan)
    usable = np.flatnonzero(np.isfinite(w).all(1))
    for start in range(0, usable.size, 32):  # (32, U, r + 1) products at a time
        rows = usable[start:start + 32]
        wk, yk = w[rows], y[rows]  # (k, U)
        beta = np.zeros((rows.size, features.shape[1]))  # (k, r + 1)
        for _ in range(NEWTON_STEPS):
            p = 1.0 / (1.0 + np.exp(-(beta @ features.T)))  # (k, U)
            gradient = (wk * (p - yk)) @ features + penalty * beta  # (k, r + 1)
            curvature = wk * p * (1 - p)  # (k, U)
            if features.shape[1] <= DIRECT_NEWTON:
                hessian = np.matmul(features.T[None] * curvature[:, None, :], features) + np.diag(penalty)
                step = np.linalg.solve(hessian, gradient[:, :, None])[:, :, 0]
            else:
                step = _conjugate_gradient(lambda v: ((v @ features.T) * curvature) @ features + penalty * v, gradient)
            beta -= step
            if np.abs(step).max() < 1e-7 * max(1.0, np.abs(beta).max()):
                break
        out[rows] = beta[:, :-1] @ basis  # (k, d): a direction of the scaled states is one of the states
    return out


def _conjugate_gradient(apply, rhs: np.ndarray, tolerance: float = 1e-12) -> np.ndarray:
    """Solve ``apply(x) = rhs`` for every row of ``rhs`` (k, n) at once, ``apply`` symmetric positive
    definite row by row; exact after n steps in exact arithmetic."""
    x = np.zeros_like(rhs)
    residual = rhs.copy()
    direction = residual.copy()
    norm = np.einsum("kn,kn->k", residual, residual)
    goal = tolerance * np.maximum(norm, 1e-300)
    for _ in range(2 * rhs.shape[1]):
        if (norm <= goal).all():
            break
        product = apply(direction)
        with np.errstate(invalid="ignore", divide="ignore"):
            step = np.where(norm > goal, norm / np.einsum("kn,kn->k", direction, product), 0.0)
        x += step[:, None] * direction
        residual -= step[:, None] * product
        new_norm = np.einsum("kn,kn->k", residual, residual)
        with np.errstate(invalid="ignore", divide="ignore"):
            direction = residual + np.where(norm > 0, new_norm / norm, 0.0)[:, None] * direction
        norm = new_norm
    return x


def coherence(units: UnitActivations, vector: np.ndarray) -> float:
    """Mean cosine of each unit's difference to the vector (Braun et al. 2025's predictor of
    steerability): a positive unit's state minus the negative side's mean, the positive side's mean
    minus a negative unit's state (unmatched passages have no partner of their own)."""
    states = units.sums / np.maximum(units.counts, 1)[:, None]  # (U, d)
    positive = units.positive
    if not positive.any() or positive.all():
        return float("nan")
    differences = np.where(positive[:, None], states - states[~positive].mean(0), states[positive].mean(0) - states)
    norms = np.linalg.norm(differences, axis=1) * np.linalg.norm(vector)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosines = differences @ vector / norms
    return float(np.nanmean(cosines))
