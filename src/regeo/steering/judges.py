"""Register judges of a text: how much it reads as each steering subset, (texts, subsets) probabilities.

Two judges, by ``steering.judge.judge``:

- :class:`TfidfJudge` (the default's): TF-IDF of words and word bigrams (sublinear term
  frequency) and a multinomial logistic regression, fit on passages of the subsets' train text.
  Its held-out accuracy (:func:`heldout_accuracy`, on the val passages) says how far to trust it.
- :class:`ClassifierJudge` (the paper config's): the data stage's register classifier
  (:func:`regeo.data.classifier.classify`, TurkuNLP's in the paper config). A subset is a CORE
  class; its score is its label's probability, and a hybrid class (``HI-IN``) holds only when
  both of its labels do, so it scores the weaker of the two. The judge never saw the subsets'
  text: it is the same outside reader that drew them.

Both take texts and return one column per subset, in the order given; rows need not sum to 1 (the
classifier is multi-label).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from regeo.io import RegeoInputError
from regeo.registers import ALL_LABELS, is_known_class

# Word unigrams and bigrams: register shows in function-word sequences as much as in content words.
NGRAMS = (1, 2)
# Terms in fewer train passages are dropped: a bigram seen once is a name, not a register (on the
# default's 1,600 passages this keeps 14k of 77k terms at the same held-out accuracy).
MIN_DF = 2
# Inverse regularisation of the logistic regression (scikit-learn's default).
C = 1.0


class TfidfJudge:
    """TF-IDF + logistic regression over ``subsets`` (scikit-learn manner: ``fit`` sets ``model_``)."""

    def __init__(self, subsets: Sequence[str], seed: int = 0):
        self.subsets = tuple(subsets)
        self.seed = seed

    def fit(self, texts_by_subset: dict[str, list[str]]) -> "TfidfJudge":
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        missing = [s for s in self.subsets if not texts_by_subset.get(s)]
        if missing:
            raise RegeoInputError(f"tfidf judge: no train text for subsets {missing}")
        texts = [t for s in self.subsets for t in texts_by_subset[s]]
        labels = np.array([i for i, s in enumerate(self.subsets) for _ in texts_by_subset[s]])
        # saga: the same fit as the default lbfgs here (accuracy to the passage) in a tenth of its time.
        self.model_ = make_pipeline(TfidfVectorizer(ngram_range=NGRAMS, sublinear_tf=True, min_df=min(MIN_DF, len(texts))),
                                    LogisticRegression(C=C, max_iter=1000, solver="saga", random_state=self.seed))
        self.model_.fit(texts, labels)
        return self

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), len(subsets)) probabilities."""
        if not len(texts):
            return np.zeros((0, len(self.subsets)))
        probs = self.model_.predict_proba(list(texts))  # columns: the classes seen in fit, sorted
        out = np.zeros((len(texts), len(self.subsets)))
        out[:, self.model_.classes_] = probs
        return out


def class_labels(subset: str) -> tuple[str, ...]:
    """The CORE labels whose probabilities make a class's score: the label itself, both halves of a hybrid."""
    if not is_known_class(subset):
        raise RegeoInputError(f"the classifier judge scores register classes, and {subset!r} is none "
                              f"(a CORE label such as {ALL_LABELS[:3]}, or a hybrid such as HI-IN); "
                              "use steering.judge.judge: tfidf for mixes")
    return tuple(subset.split("-")) if subset not in ALL_LABELS else (subset,)


class ClassifierJudge:
    """The data stage's register classifier as a judge (module docstring)."""

    def __init__(self, subsets: Sequence[str], classifier_params: dict):
        from regeo.data.classifier import ClassifierConfig

        self.subsets = tuple(subsets)
        self.labels = {s: class_labels(s) for s in self.subsets}
        self.config = ClassifierConfig.from_params(classifier_params)

    def fit(self, texts_by_subset: dict | None = None) -> "ClassifierJudge":
        """Loads the classifier (trained by its authors: nothing to fit), once for every later call."""
        from regeo.data.classifier import load_classifier, resolve_device_dtype

        self.loaded_ = load_classifier(self.config, *resolve_device_dtype(self.config))
        return self

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        from regeo.data.classifier import predict

        probs = predict(self.loaded_, list(texts), self.config.batch_size)  # (N, len(ALL_LABELS))
        column = {label: j for j, label in enumerate(ALL_LABELS)}
        return np.stack([probs[:, [column[label] for label in self.labels[s]]].min(axis=1) for s in self.subsets],
                        axis=1)


def make_judge(kind: str, subsets: Sequence[str], train_texts: dict[str, list[str]] | None,
               classifier_params: dict | None, seed: int = 0):
    """A fitted judge of ``kind`` (``steering.judge.judge``) over ``subsets``."""
    if kind == "tfidf":
        return TfidfJudge(subsets, seed).fit(train_texts or {})
    if kind == "classifier":
        if classifier_params is None:
            raise RegeoInputError("steering.judge.judge classifier needs the registers section's classifier_* keys")
        return ClassifierJudge(subsets, classifier_params).fit()
    raise RegeoInputError(f"steering.judge.judge: unknown judge {kind!r}")


def heldout_accuracy(judge, texts_by_subset: dict[str, list[str]]) -> dict:
    """Share of held-out texts whose highest-scoring subset is their own, overall and per subset."""
    per_subset, right, total = {}, 0, 0
    for index, subset in enumerate(judge.subsets):
        texts = texts_by_subset.get(subset) or []
        if not texts:
            continue
        hits = int((judge.scores(texts).argmax(axis=1) == index).sum())
        per_subset[subset] = hits / len(texts)
        right, total = right + hits, total + len(texts)
    return {"accuracy": right / total if total else np.nan, "n_heldout": total, "by_subset": per_subset}
