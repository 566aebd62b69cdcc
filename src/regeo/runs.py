"""The run table and the steering pairs of a validated config: which models exist, by name.

Torch-free and free of the rest of regeo but the external-run entries, so that the workflow,
the rule params (regeo.rule_params) and the validation (regeo.config) all read one table.
"""

from __future__ import annotations

from dataclasses import dataclass

from regeo.external import ExternalRun, external_run


@dataclass(frozen=True)
class Run:
    """One trained model: subset x preset x seed, and optionally a data seed of its own.

    ``seed`` draws the initial weights (and, without ``data_seed``, the batch order too: the runs
    trained before data seeds existed keep their names, batches and fingerprints); ``data_seed``
    draws the batch order alone (PolyPythias' data seed), named ``-d{data_seed}`` where it differs.
    """

    subset: str
    preset: str
    seed: int
    data_seed: int | None = None

    @property
    def name(self) -> str:
        suffix = "" if self.data_seed in (None, self.seed) else f"-d{self.data_seed}"
        return f"{self.subset}-{self.preset}-s{self.seed}{suffix}"

    @property
    def batch_seed(self) -> int:
        """The seed of the batch order."""
        return self.seed if self.data_seed is None else self.data_seed


# GPT-2's vocabulary, the trained runs' with tokenizer.kind gpt2.
GPT2_VOCAB_SIZE = 50257


def vocab_size(cfg: dict) -> int:
    """The trained runs' vocabulary (one tokenizer for all): the BPE's size, or GPT-2's."""
    return cfg["tokenizer"]["vocab_size"] if cfg["tokenizer"]["kind"] == "bpe" else GPT2_VOCAB_SIZE


def subset_names(cfg: dict) -> list[str]:
    return list(cfg["subsets"]["registers"]) + list(cfg["subsets"]["mixes"])


def runs(cfg: dict) -> dict[str, Run]:
    """Every run named in ``training.runs``, by name, in config order."""
    out: dict[str, Run] = {}
    for group in cfg["training"]["runs"]:
        chosen = group.get("subsets", "all")
        for subset in subset_names(cfg) if chosen == "all" else chosen:
            for preset in group["presets"]:
                for seed in group["seeds"]:
                    for data_seed in group.get("data_seeds") or [None]:
                        run = Run(subset, preset, seed, None if data_seed == seed else data_seed)
                        out[run.name] = run
    return out


def external_runs(cfg: dict) -> dict[str, ExternalRun]:
    """Every external run (config ``external``), by name, in config order."""
    return {entry["name"]: external_run(entry) for entry in cfg["external"]}


def steering_pairs(cfg: dict) -> list[tuple[str, str]]:
    """Ordered (source, target) run pairs of the steering section: ``pairs`` in config order, then
    the ordered pairs of ``all_pairs_among`` not listed yet (a pair named twice runs once)."""
    steering = cfg["steering"]
    pairs = [(p["source"], p["target"]) for p in steering["pairs"]]
    among = steering["all_pairs_among"]
    pairs += [(a, b) for a in among for b in among if a != b]
    return list(dict.fromkeys(pairs))


def concept_subsets(cfg: dict) -> list[str]:
    """Subsets whose val splits the steering concepts read, in config order."""
    named = [c[key] for c in cfg["steering"]["concepts"] for key in ("positive", "negative", "texts")]
    return list(dict.fromkeys(s for s in named if s is not None))




def steering_pair_settings(cfg: dict) -> dict[tuple[str, str], dict]:
    """(source, target) -> the pair's own steering settings (``steering.pairs[].settings``), for the
    pairs that have any."""
    return {(p["source"], p["target"]): dict(p["settings"]) for p in cfg["steering"]["pairs"] if p.get("settings")}
