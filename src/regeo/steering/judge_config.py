"""Settings of one judged-generations job (rule ``steering_judge``): the ``steering.judge`` section,
and the few keys of the pair job's own section it shares (the same passages, lengths, bootstrap and
seed, so that a judged prompt is a held-out passage of the pair job and an interval means the same).

Every default is the schema's (``steering.judge``); the dataclass has none of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from regeo.io import RegeoInputError
from regeo.params import section_fields

JUDGES = ("tfidf", "classifier")
# The pair job's keys a judge job reads too (the values of steering.pairs[].settings over the
# section's): the concepts and their passages, the token lengths, the bootstrap and its coverage,
# the seed and the device. Only these rerun a judge job besides steering.judge itself.
SHARED_KEYS = ("concepts", "passage_chars", "texts_per_side", "max_length", "prompt_tokens", "batch_size",
               "bootstrap_replicates", "confidence", "seed", "device")


def judge_job_params(pair_params: dict) -> dict:
    """A judge job's params from one pair's steering values (:func:`regeo.steering.config.pair_job_params`
    gives them less ``judge``): the shared keys, and the judge section under ``judge``."""
    return {**{key: pair_params[key] for key in SHARED_KEYS}, "judge": pair_params["judge"]}


def contrast_subsets(concept_specs: list[dict]) -> list[str]:
    """The subsets a register judge tells apart: every contrast concept's two sides, in config order."""
    named = [spec[key] for spec in concept_specs if spec["kind"] == "contrast" for key in ("positive", "negative")]
    return list(dict.fromkeys(named))


@dataclass(frozen=True)
class JudgeConfig:
    # Who scores a contrast concept's generations: "tfidf" (fit here) or "classifier" (the data stage's).
    judge: str
    # Multiples of the saved vector judged against alpha 0 (never 0 itself: alpha 0 is every test's reference).
    alphas: tuple[float, ...]
    # Saved vector kinds judged in the target model (names after "{concept}." in the vectors file).
    vectors: tuple[str, ...]
    # Prompts per concept: the unit of the generation scores' bootstrap and sign flips.
    n_prompts: int
    # Greedy tokens per prompt, vector and alpha.
    max_new_tokens: int
    # tfidf judge: train passages per steering subset.
    train_passages: int
    # Random sign flips per paired test when the units are too many to enumerate.
    sign_flips: int

    @classmethod
    def from_params(cls, judge: dict) -> "JudgeConfig":
        """From the ``steering.judge`` section (a key the schema does not know is an error)."""
        values = section_fields(cls, judge, "steering.judge")
        for key in ("alphas", "vectors"):
            if isinstance(values.get(key), list):
                values[key] = tuple(values[key])
        return cls(**values)

    def __post_init__(self):
        def bad(key: str, why: str):
            raise RegeoInputError(f"steering.judge: '{key}' {why}, got {getattr(self, key)!r}")

        if self.judge not in JUDGES:
            bad("judge", f"must be one of {JUDGES}")
        if not self.alphas or not all(isinstance(a, (int, float)) and math.isfinite(a) and a != 0
                                      for a in self.alphas):
            bad("alphas", "must be a non-empty list of finite non-zero numbers")
        if not self.vectors or len(set(self.vectors)) != len(self.vectors) or "source" in self.vectors:
            bad("vectors", "must name distinct vectors of the target's space (not source, which lives in A)")
        for key, low in (("n_prompts", 2), ("max_new_tokens", 1), ("train_passages", 10), ("sign_flips", 99)):
            if not isinstance(getattr(self, key), int) or getattr(self, key) < low:
                bad(key, f"must be an integer >= {low}")
