"""The CORE register taxonomy and the register study's labeling rules.

Labels follow the TurkuNLP web-register classifier (Henriksson et al. 2024) and the register
pretraining study (Myntti et al. 2025): a label holds when its probability reaches the threshold
(0.4), a sub-register implies its main register, documents with more than one main register are
hybrids (dropped unless the pair is kept, e.g. HI+IN as "HI-IN"), and a few sub-registers (``ne``,
``dtp``) are kept as classes of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# main register -> its sub-registers
CORE_TAXONOMY: dict[str, tuple[str, ...]] = {
    "MT": (),
    "LY": (),
    "SP": ("it",),
    "ID": (),
    "NA": ("ne", "sr", "nb"),
    "HI": ("re",),
    "IN": ("en", "ra", "dtp", "fi", "lt"),
    "OP": ("rv", "ob", "rs", "av"),
    "IP": ("ds", "ed"),
}
MAIN_REGISTERS: tuple[str, ...] = tuple(CORE_TAXONOMY)
PARENT: dict[str, str] = {sub: main for main, subs in CORE_TAXONOMY.items() for sub in subs}
ALL_LABELS: tuple[str, ...] = tuple(
    label for main, subs in CORE_TAXONOMY.items() for label in (main, *subs)
)
REGISTER_NAMES: dict[str, str] = {
    "MT": "machine-translated", "LY": "lyrical", "SP": "spoken", "it": "interview",
    "ID": "interactive discussion", "NA": "narrative", "ne": "news report",
    "sr": "sports report", "nb": "narrative blog", "HI": "how-to", "re": "recipe",
    "IN": "informational description", "en": "encyclopedia", "ra": "research article",
    "dtp": "description of a thing or person", "fi": "FAQ", "lt": "legal terms",
    "OP": "opinion", "rv": "review", "ob": "opinion blog", "rs": "religious blog",
    "av": "advice", "IP": "informational persuasion",
    "ds": "description with intent to sell", "ed": "news & opinion blog or editorial",
}


# method -> the keys of the registers section that make its probabilities (besides ``method``);
# the labeling rules (LabelingRules' fields) turn any method's probabilities into labels.
METHOD_KEYS: dict[str, tuple[str, ...]] = {
    "metadata": (),
    "classifier": ("classifier_model", "classifier_revision", "classifier_tokenizer", "classifier_batch_size"),
    "precomputed": ("probabilities_field",),
    "column": ("label_field", "label_map", "unmapped_label"),
    "random": ("random_labels", "random_seed"),
}


def probability_params(registers: dict) -> dict:
    """The values of the registers section that change the probabilities of its method: the
    register_probabilities rule's params (a labeling rule's change reruns none of its jobs)."""
    return {key: registers[key] for key in ("method", *METHOD_KEYS[registers["method"]])}


@dataclass(frozen=True)
class LabelingRules:
    """How probabilities become labels and a class: the config's ``registers`` values, whose
    defaults the schema writes."""

    threshold: float  # probability at which a label holds (Myntti et al. 2025)
    keep_subregisters: tuple[str, ...]  # sub-registers kept as their own class
    keep_hybrids: tuple[str, ...]  # hybrid classes kept, main codes joined by '-'
    min_chars: int  # shorter documents are dropped

    @classmethod
    def from_params(cls, params: dict) -> "LabelingRules":
        """From the registers rule's params or the whole registers section (the keys that make the
        probabilities are left out); a key the schema does not know is an error."""
        # Here, not at the top: regeo.params imports torch (through regeo.io), and regeo.config
        # imports this module when Snakemake parses the workflow.
        from regeo.params import section_fields

        values = section_fields(cls, params, "registers")
        return cls(**{k: tuple(v) if k.startswith("keep_") else v for k, v in values.items()})


def labels_from_probabilities(probs: dict[str, float], threshold: float) -> set[str]:
    """Labels at or above threshold, with every sub-register's parent added."""
    labels = {label for label, p in probs.items() if p is not None and p >= threshold}
    labels |= {PARENT[label] for label in labels if label in PARENT}
    return labels


def assign_class(labels: set[str], rules: LabelingRules) -> str | None:
    """The document's register class, or None for no label or an unkept hybrid."""
    mains = sorted((l for l in labels if l in CORE_TAXONOMY), key=MAIN_REGISTERS.index)
    if not mains:
        return None
    if len(mains) > 1:
        hybrid = "-".join(mains)
        return hybrid if hybrid in rules.keep_hybrids else None
    kept = [s for s in rules.keep_subregisters if s in labels]
    return kept[0] if len(kept) == 1 else mains[0]


def is_known_class(name: str) -> bool:
    """True for a CORE label or a hybrid of main registers such as 'HI-IN'."""
    parts = name.split("-")
    if len(parts) == 1:
        return name in ALL_LABELS
    return all(p in CORE_TAXONOMY for p in parts) and len(set(parts)) == len(parts)
