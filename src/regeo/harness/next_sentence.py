"""Next-sentence items from held-out text: which sentence followed this passage?

A passage is ``context_sentences`` consecutive sentences of a validation document; its answer
is the sentence that came next. The other choices are the answers of other passages, either of
the same subset (the same register: only the topic and the flow of the text tell them apart) or
of other subsets (a register's style tells them apart too). Distractors are themselves sentences
that followed a passage, so no choice stands out by being, say, a headline. Every draw is seeded
by ``seed``, the kind of distractors and the subset's name, so one subset's items do not change
when another subset is added to the config (its other-subset distractors do).

Pure functions on texts in memory; :mod:`regeo.harness.task_files` reads and writes the files.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from regeo.harness.local_tasks import DISTRACTOR_KINDS, OTHER_SUBSETS, SAME_SUBSET
from regeo.harness.sentences import split_sentences
from regeo.io import RegeoInputError


@dataclass(frozen=True)
class NextSentenceSpec:
    """The config's ``harness.local_tasks`` section; its defaults are the schema's."""

    context_sentences: int  # sentences of a passage shown as the context
    n_choices: int  # the true next sentence and n_choices - 1 distractors
    items_per_subset: int  # items drawn from each subset's passages (fewer where it has fewer)
    min_sentence_chars: int  # shorter sentences ("Applause.") end a passage instead of joining it
    max_sentence_chars: int  # longer ones too: a model with 128 positions must see the answer whole
    max_context_chars: int  # a passage whose context is longer is skipped
    seed: int


@dataclass(frozen=True)
class Passage:
    subset: str
    doc_id: str
    context: str  # the passage's sentences joined by single spaces
    answer: str  # the sentence that followed them in the document


def document_passages(subset: str, doc_id: str, text: str, spec: NextSentenceSpec) -> list[Passage]:
    """Non-overlapping passages of ``text``: runs of ``context_sentences + 1`` consecutive
    sentences whose lengths are within bounds; a sentence out of bounds starts a new run."""
    run: list[str] = []
    out = []
    for sentence in split_sentences(text):
        if not spec.min_sentence_chars <= len(sentence) <= spec.max_sentence_chars:
            run = []
            continue
        run.append(sentence)
        if len(run) == spec.context_sentences + 1:
            context = " ".join(run[:-1])
            if len(context) <= spec.max_context_chars:
                out.append(Passage(subset, str(doc_id), context, run[-1]))
            run = []
    return out


def next_sentence_items(passages: dict[str, list[Passage]], spec: NextSentenceSpec, distractors: str) -> list[dict]:
    """Up to ``items_per_subset`` items per subset (subsets in sorted order), each a dict with
    ``id``, ``subset``, ``doc_id``, ``context``, ``choices`` (n_choices sentences) and ``label``
    (the index of the true next sentence, uniform over positions).

    ``distractors``: ``same_subset`` draws them from passages of other documents of the item's
    subset; ``other_subsets`` from passages of the other subsets, visiting those subsets in a
    shuffled cycle so that each item's distractors come from as many registers as it can.
    Choices of one item never repeat a sentence.
    """
    if distractors not in DISTRACTOR_KINDS:
        raise ValueError(f"distractors {distractors!r} is not one of {', '.join(DISTRACTOR_KINDS)}")
    if spec.n_choices < 2:
        raise RegeoInputError(f"harness.local_tasks.n_choices: {spec.n_choices}; an item needs at least 2 choices")
    subsets = sorted(passages)
    if distractors == OTHER_SUBSETS and len(subsets) < 2:
        raise RegeoInputError(f"harness.tasks: distractors from other subsets need at least two subsets; "
                              f"found {subsets}")
    items = []
    for subset in subsets:
        pool = passages[subset]
        if not pool:
            raise RegeoInputError(
                f"subset {subset!r}: no validation passage of {spec.context_sentences + 1} sentences of "
                f"{spec.min_sentence_chars}-{spec.max_sentence_chars} characters; lower "
                f"harness.local_tasks.context_sentences or widen its sentence bounds")
        rng = np.random.default_rng([spec.seed, DISTRACTOR_KINDS.index(distractors), zlib.crc32(subset.encode())])
        order = rng.permutation(len(pool))[:spec.items_per_subset]
        for number, index in enumerate(order):
            gold = pool[index]
            if distractors == SAME_SUBSET:
                wrong = _same_subset_distractors(gold, pool, spec.n_choices - 1, rng)
            else:
                others = [s for s in subsets if s != subset]
                wrong = _other_subset_distractors(gold, [passages[s] for s in others], spec.n_choices - 1, rng)
            label = int(rng.integers(spec.n_choices))
            choices = wrong[:label] + [gold.answer] + wrong[label:]
            items.append({"id": f"{subset}/{number}", "subset": subset, "doc_id": gold.doc_id,
                          "context": gold.context, "choices": choices, "label": label})
    return items


def _same_subset_distractors(gold: Passage, pool: list[Passage], n: int, rng: np.random.Generator) -> list[str]:
    seen, out = {gold.answer}, []
    for index in rng.permutation(len(pool)):
        candidate = pool[index]
        if candidate.doc_id != gold.doc_id and candidate.answer not in seen:
            seen.add(candidate.answer)
            out.append(candidate.answer)
            if len(out) == n:
                return out
    raise RegeoInputError(
        f"subset {gold.subset!r}: fewer than {n} passages from other documents to draw distractors from; "
        f"lower harness.local_tasks.n_choices or add validation text (subsets.val_tokens)")


def _other_subset_distractors(gold: Passage, pools: list[list[Passage]], n: int,
                              rng: np.random.Generator) -> list[str]:
    seen, out = {gold.answer}, []
    orders = [iter(rng.permutation(len(pool))) for pool in pools]
    cycle = list(rng.permutation(len(pools)))
    while len(out) < n and cycle:
        for which in list(cycle):
            candidate = next((pools[which][i] for i in orders[which] if pools[which][i].answer not in seen), None)
            if candidate is None:  # this subset has no unused sentence left
                cycle.remove(which)
                continue
            seen.add(candidate.answer)
            out.append(candidate.answer)
            if len(out) == n:
                return out
    raise RegeoInputError(
        f"subset {gold.subset!r}: the other subsets have fewer than {n} passages to draw distractors from; "
        f"lower harness.local_tasks.n_choices or add validation text (subsets.val_tokens)")
