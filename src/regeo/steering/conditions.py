"""The vectors a concept is scored with in the target: the conditions and their nulls, per bootstrap replicate.

Conditions, each in B's space and rescaled to the native vector's norm (so that alpha means the
same for all of them):

- ``native``: B's own CAA vector v_B (the reference);
- ``transferred`` through each Emb2Emb map (the default rows first, then the variants): M v_A;
- ``hidden_map``: H v_A, through the hidden-state map (the ceiling);
- ``shuffled_map``: through the shuffled-pairs map (a baseline).

Each is a (1 + R, d_B) array: row 0 from the samples as they are, row r from bootstrap replicate
r, which recomputes v_A and v_B from its draw of the vector passages (the same draw in both
models: the same texts) and carries v_A through its replicate of the map; the rescaling is to
that replicate's native norm.

Nulls, (n, d_B) each, all of the native norm, as the conditions are:

- ``label``: the vector of random relabellings of the condition's own texts
  (:mod:`regeo.steering.permutation`): relabelled in B for the native vector, in A and through
  the condition's map for the others; every condition's test;
- ``pairing``: A's vector through the map refit on randomly re-paired tokens
  (:func:`regeo.steering.map_replicates.pairing_draws`), for the Emb2Emb maps: a column that asks another question, whether the token correspondence of the map matters.
  It can: through output rows a concept tied to tokens (their logits) is carried by token
  identity alone, even into an untrained model (tests/steering);
- ``isotropic`` (random directions in B) and ``mapped`` (random source directions through the
  condition's map).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from regeo.steering.activations import UnitActivations
from regeo.steering.map_replicates import apply_replicates, pairing_draws
from regeo.steering.maps import MapChecks, PairMaps
from regeo.steering.methods import MEAN_DIFFERENCE, method_vectors
from regeo.steering.nulls import isotropic_draws, mapped_draws
from regeo.steering.permutation import permuted_vectors

NATIVE, TRANSFERRED, HIDDEN, SHUFFLED = "native", "transferred", "hidden_map", "shuffled_map"
HIDDEN_ROWS = "hidden_states"  # the ``map`` of the hidden-state map's rows


@dataclass(frozen=True)
class Condition:
    """A vector compared in B: its kind (``name``) and the map that carried it (``map``; "" for native)."""

    name: str
    map: str = ""
    swept: bool = True  # swept over every alpha; else read to first order only
    default: bool = True  # a transferred vector: through the default map (else a variant's)

    @property
    def key(self) -> str:
        """Its name in the vectors file and inside a job: ``transferred`` for the default map,
        ``transferred_{rows}`` for a variant, else the name."""
        return self.name if self.default else f"{self.name}_{self.map}"


def conditions(maps: PairMaps) -> list[Condition]:
    """Every condition of a pair, in table order."""
    rows = list(maps.embedding)
    return ([Condition(NATIVE)] + [Condition(TRANSFERRED, r, default=k == 0) for k, r in enumerate(rows)]
            + [Condition(HIDDEN, HIDDEN_ROWS), Condition(SHUFFLED, f"shuffled_{rows[0]}", swept=False)])


def map_of(condition: Condition, maps: PairMaps) -> MapChecks | None:
    if condition.name == TRANSFERRED:
        return maps.embedding[condition.map]
    return {HIDDEN: maps.hidden, SHUFFLED: maps.shuffled}.get(condition.name)


def rescale_rows(vectors: np.ndarray, norms) -> np.ndarray:
    """Each row of ``vectors`` (K, d) scaled to its norm in ``norms`` (K,) or a scalar; zero rows stay zero."""
    lengths = np.linalg.norm(vectors, axis=1, keepdims=True)
    scale = np.reshape(np.asarray(norms, dtype=np.float64), (-1, 1)) / np.where(lengths > 0, lengths, 1.0)
    return vectors * scale


def replicate_vectors(units: UnitActivations, passage_weights: np.ndarray, method: str = MEAN_DIFFERENCE,
                      probe_l2: float = 0.1) -> np.ndarray:
    """(1 + R, d): the ``method`` vector of ``units`` as they are, then recomputed under each
    replicate's passage draws (rows 1.. of ``passage_weights`` (1 + R, n_passages); row 0 is the
    sample as it is)."""
    return np.vstack([method_vectors(units, method, units.positive[None], probe_l2=probe_l2),
                      method_vectors(units, method, units.positive[None], passage_weights[1:], probe_l2)])


def condition_vectors(replicates: dict[str, tuple[np.ndarray, np.ndarray]], maps: PairMaps, map_draws: np.ndarray,
                      ceiling_draws: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """concept -> key -> (1 + R, d_B) vectors of every condition (module docstring).

    ``replicates``: concept -> (v_A (1 + R, d_A), v_B (1 + R, d_B)), the replicate vectors of
    both models (:func:`replicate_vectors`); ``map_draws`` (1 + R, n_fit_tokens) and
    ``ceiling_draws`` (1 + R, n_ceiling_passages): each replicate's draw of the maps' fit units.
    Each replicate map is refit once and used on every concept (:mod:`regeo.steering.map_replicates`).
    """
    out = {concept: {NATIVE: v_b} for concept, (_, v_b) in replicates.items()}
    sources = {concept: v_a for concept, (v_a, _) in replicates.items()}
    for condition in conditions(maps):
        checks = map_of(condition, maps)
        if checks is None:
            continue
        draws = ceiling_draws if condition.name == HIDDEN else map_draws
        mapped = apply_replicates(checks.emb_map.weight.numpy(), checks.replicates, draws, sources)
        for concept, vectors in mapped.items():
            out[concept][condition.key] = rescale_rows(vectors, np.linalg.norm(replicates[concept][1], axis=1))
    return out


def null_vectors(units_a: UnitActivations, units_b: UnitActivations, maps: PairMaps, norm: float,
                 n_permutations: int, n_null: int, seed: int, concept: str, method: str = MEAN_DIFFERENCE,
                 probe_l2: float = 0.1, only: set[str] | None = None) -> dict[str, dict[str, np.ndarray]]:
    """key -> null kind -> (n, d_B) null vectors of every condition (or the keys in ``only``), each
    of norm ``norm`` (the native vector's, as the conditions'). Kinds (module docstring): ``label``
    (every condition's test; the vector rebuilt by ``method`` from each relabelling), ``pairing``
    (the Emb2Emb maps), ``isotropic`` and ``mapped`` (random)."""
    # One seed for both models: a text contrast's relabellings are then the same splits of the same
    # passages in A and B (and, in self-transfer, the native and transferred nulls are one null).
    permuted_a = permuted_vectors(units_a, n_permutations, seed, concept, method, probe_l2)  # (B, d_A)
    v_a = method_vectors(units_a, method, units_a.positive[None], probe_l2=probe_l2)[0]
    d_b = units_b.sums.shape[1]
    isotropic = isotropic_draws(d_b, n_null, norm, seed, concept)
    out = {}
    for condition in conditions(maps):
        if only is not None and condition.key not in only:
            continue
        checks = map_of(condition, maps)
        if checks is None:
            permuted = permuted_a if units_b is units_a else permuted_vectors(units_b, n_permutations, seed, concept,
                                                                              method, probe_l2)
            out[condition.key] = {"label": rescale_rows(permuted, norm), "isotropic": isotropic}
            continue
        weight = checks.emb_map.weight.numpy()  # (d_B, d_A)
        out[condition.key] = {"label": rescale_rows(permuted_a @ weight.T, norm), "isotropic": isotropic,
                              "mapped": mapped_draws(weight, n_null, norm, seed, concept)}
        if condition.name == TRANSFERRED:  # (the shuffled map is itself a re-pairing)
            rng = np.random.default_rng([seed, zlib.crc32(f"{concept}/{condition.map}".encode())])
            out[condition.key]["pairing"] = rescale_rows(pairing_draws(checks.replicates, v_a, n_permutations, rng),
                                                         norm)
    return out
