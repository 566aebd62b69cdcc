"""Hyperparameters of one steering-transfer job; ``asdict`` of it goes beside every table it makes.

Every field comes from the config's ``steering`` section, whose defaults the schema writes
(``regeo.config.schema_defaults("steering")``); the dataclass has none of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from regeo.io import RegeoInputError
from regeo.params import section_fields

# Which token embeddings the Emb2Emb map may be fit on (regeo.steering.emb2emb.fit_rows).
FIT_ROWS = ("input", "output", "both")
# Keys of the steering section that the workflow reads, not a pair job: which pairs exist, the
# job's threads (the rule's directive), the readings' length (rule steering_readings) and the
# multiple-test adjustment across pairs (rule steering_summary), the predictors' permutations
# (rule steering_predictors) and the judged generations (rule steering_judge,
# regeo.steering.judge_config, which reads the saved vectors). Every
# other key is a pair job's (SteeringConfig's fields, the concepts and their passages, the map's
# seen-token filter), and a pair may override it for itself (steering.pairs[].settings).
PIPELINE_KEYS = ("pairs", "all_pairs_among", "threads", "readings_k", "adjustment", "predictor_permutations",
                 "judge")


def pair_job_params(section: dict, settings: dict | None = None) -> dict:
    """The steering values of one pair's job: the section's, less PIPELINE_KEYS, with the pair's own
    ``settings`` over them. A pair's params change only when its own values do, so adding a pair
    with settings of its own reruns no other pair."""
    job = {key: value for key, value in section.items() if key not in PIPELINE_KEYS}
    return {**job, **(settings or {})}


@dataclass(frozen=True)
class SteeringConfig:
    # Multiples of the native vector added at the layer; the transferred and random vectors are
    # rescaled to the native vector's norm, so alpha means the same for all three. alpha 1 moves
    # a negative-text mean activation by about the positive-negative difference.
    alphas: tuple[float, ...]
    # Source layer: the block whose output lies at this fraction of the stack ((l + 1) / n); the
    # target layer is the block at the same relative depth (regeo.steering.inject.match_layer).
    layer_relative_depth: float
    # Ridge of the Emb2Emb least squares, relative to the mean eigenvalue of X^T X (0: plain least squares).
    ridge: float
    # Which token embeddings the map is fit on: "input" (embed_tokens), "output" (lm_head, Lee et
    # al.'s rows) or "both" stacked; the default map, the one the pipeline's headline rows use.
    embeddings: str
    # Further fit rows whose maps are reported beside the default's, on the same pairs and texts.
    map_variants: tuple[str, ...]
    # Tokens per text (longer texts are truncated) for the vectors, the scores and the prompts.
    max_length: int
    # Positions at the start of each text left out of the CAA means (1 drops the attention sink
    # of Llama-family models, whose huge state otherwise dominates the vectors).
    vector_skip_positions: int
    # Texts per forward pass.
    batch_size: int
    # Relabellings of the vector texts per concept and side (the label-permutation null,
    # regeo.steering.permutation), scored to first order; p cannot go below 1 / (1 + n_permutations).
    n_permutations: int
    # Random directions per extra null (isotropic, mapped) scored to first order.
    n_null: int
    # Draws of each null (label permutation in the target and in the source, isotropic) also swept
    # at the largest +-alpha, to check the first-order null there.
    null_checks: int
    # Further isotropic draws swept at the largest |alpha| for the next-token KL's null only
    # (regeo.steering.next_token); the swept null_checks draws count too, at both signs.
    kl_null_draws: int
    # Tokens listed per steering setting: those whose mean next-token probability rises most,
    # and the most probable without and with the vector.
    top_tokens: int
    # Share of the shared tokens held out of the map's fit, for its R^2 and retrieval checks.
    map_heldout_fraction: float
    # Bootstrap replicates over everything an effect is computed from (vector passages, the map's
    # fit units, held-out passages; regeo.steering.bootstrap) and the intervals' coverage.
    bootstrap_replicates: int
    confidence: float
    # Prompts per concept for greedy generations (0: none).
    n_generate: int
    # Tokens of a held-out text used as a generation prompt (when the concept gives no prompts).
    prompt_tokens: int
    # Greedy tokens generated per prompt and condition.
    max_new_tokens: int
    # Vector methods (regeo.steering.methods), mean_difference first: the default method's rows are
    # the headline ones; each further method is swept for native and default-map transfer only.
    methods: tuple[str, ...]
    # Relabellings of the further methods' nulls (each refits a PCA or a probe).
    method_permutations: int
    # L2 penalty of the probe method (regeo.steering.methods).
    probe_l2: float
    # Relative depths of the layer sweep (regeo.steering.depth_sweep); () for none.
    sweep_depths: tuple[float, ...]
    # Seed of the null draws, the map's token split and the passage bootstrap (mixed with the concept name).
    seed: int
    # "cpu", "cuda" or "auto" (cuda when visible). Models run in float32 either way.
    device: str

    @classmethod
    def from_params(cls, params: dict) -> "SteeringConfig":
        """The job's config from the steering rule's params (or the whole steering section): the
        section's other keys are left out, a key the schema does not know is an error; YAML's alpha
        list becomes a tuple."""
        values = section_fields(cls, params, "steering")
        alphas = values["alphas"]
        if isinstance(alphas, (list, tuple)):  # anything else is left for __post_init__ to name
            values["alphas"] = tuple(float(a) if isinstance(a, (int, float)) else a for a in alphas)
        for key in ("map_variants", "methods", "sweep_depths"):
            if isinstance(values.get(key), list):
                values[key] = tuple(values[key])
        return cls(**values)

    def __post_init__(self):
        def bad(key: str, why: str):
            raise RegeoInputError(f"steering config: '{key}' {why}, got {getattr(self, key)!r}")

        alphas = self.alphas
        if isinstance(alphas, (str, bytes)) or not hasattr(alphas, "__len__") or len(alphas) == 0:
            bad("alphas", "must be a non-empty list of numbers")
        if not all(isinstance(a, (int, float)) and math.isfinite(a) for a in alphas):
            bad("alphas", "must be finite numbers")
        if not 0 < self.layer_relative_depth <= 1:
            bad("layer_relative_depth", "must lie in (0, 1]")
        if self.ridge < 0:
            bad("ridge", "must be >= 0")
        if self.embeddings not in FIT_ROWS:
            bad("embeddings", f"must be one of {FIT_ROWS}")
        variants = self.map_variants
        if isinstance(variants, (str, bytes)) or not isinstance(variants, (tuple, list)) \
                or not all(v in FIT_ROWS for v in variants):
            bad("map_variants", f"must be a list of fit rows from {FIT_ROWS}")
        if len(set(variants)) != len(variants) or self.embeddings in variants:
            bad("map_variants", f"must not repeat a fit row or the default map's rows (embeddings: {self.embeddings})")
        from regeo.steering.methods import MEAN_DIFFERENCE, METHODS

        methods = self.methods
        if isinstance(methods, (str, bytes)) or not isinstance(methods, (tuple, list)) or not methods \
                or not all(m in METHODS for m in methods) or len(set(methods)) != len(methods):
            bad("methods", f"must be a non-empty list of distinct methods from {METHODS}")
        if methods[0] != MEAN_DIFFERENCE:
            bad("methods", f"must start with {MEAN_DIFFERENCE} (the default method of the headline rows)")
        depths = self.sweep_depths
        if isinstance(depths, (str, bytes)) or not isinstance(depths, (tuple, list)) \
                or not all(isinstance(x, (int, float)) and 0 < x <= 1 for x in depths):
            bad("sweep_depths", "must be a list of relative depths in (0, 1]")
        if not isinstance(self.probe_l2, (int, float)) or not self.probe_l2 > 0:
            bad("probe_l2", "must be > 0")
        for key, low in (("max_length", 2), ("method_permutations", 99), ("vector_skip_positions", 0), ("batch_size", 1), ("n_null", 32),
                         ("n_permutations", 99),
                         ("null_checks", 0), ("kl_null_draws", 0), ("top_tokens", 1),
                         ("n_generate", 0), ("prompt_tokens", 1), ("max_new_tokens", 1)):
            if not isinstance(getattr(self, key), int) or getattr(self, key) < low:
                bad(key, f"must be an integer >= {low}")
        if self.vector_skip_positions >= self.max_length:
            bad("vector_skip_positions", f"must be below max_length ({self.max_length})")
        if self.null_checks > min(self.n_null, self.n_permutations):
            bad("null_checks", f"must be at most n_null ({self.n_null}) and n_permutations ({self.n_permutations})")
        if self.null_checks + self.kl_null_draws > self.n_null:
            bad("kl_null_draws", f"plus null_checks ({self.null_checks}) must be at most n_null ({self.n_null})")
        if not isinstance(self.bootstrap_replicates, int) or not (self.bootstrap_replicates == 0
                                                                  or self.bootstrap_replicates >= 100):
            bad("bootstrap_replicates", "must be 0 (no intervals) or an integer >= 100")
        if not 0 < self.map_heldout_fraction < 1:
            bad("map_heldout_fraction", "must lie in (0, 1)")
        if not 0 < self.confidence < 1:
            bad("confidence", "must lie in (0, 1)")
        if self.device not in ("cpu", "cuda", "auto"):
            bad("device", "must be 'cpu', 'cuda' or 'auto'")
