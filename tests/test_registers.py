import pytest

from regeo.config import schema_defaults
from regeo.registers import ALL_LABELS, LabelingRules, assign_class, is_known_class, labels_from_probabilities

RULES = LabelingRules.from_params(schema_defaults("registers"))


def probs(**values):
    return {label: values.get(label, 0.0) for label in ALL_LABELS}


@pytest.mark.parametrize(
    "values, labels, klass",
    [
        (dict(ne=0.9), {"ne", "NA"}, "ne"),  # child implies parent; ne kept as its own class
        (dict(sr=0.5), {"sr", "NA"}, "NA"),  # other sub-registers fold into the parent
        (dict(NA=0.39), set(), None),  # below threshold
        (dict(NA=0.4), {"NA"}, "NA"),  # threshold is inclusive
        (dict(HI=0.6, IN=0.5), {"HI", "IN"}, "HI-IN"),  # kept hybrid
        (dict(re=0.8, en=0.7), {"re", "HI", "en", "IN"}, "HI-IN"),  # hybrid through children
        (dict(OP=0.7, NA=0.5), {"OP", "NA"}, None),  # other hybrids dropped
        (dict(dtp=0.6, en=0.5), {"dtp", "en", "IN"}, "dtp"),  # one kept sub-register wins
        (dict(), set(), None),
    ],
)
def test_labels_and_classes(values, labels, klass):
    found = labels_from_probabilities(probs(**values), RULES.threshold)
    assert found == labels
    assert assign_class(found, RULES) == klass


def test_known_classes():
    assert is_known_class("HI-IN") and is_known_class("ne") and is_known_class("IN")
    assert not is_known_class("XX") and not is_known_class("IN-IN") and not is_known_class("ne-IN")


def test_builtin_sources_map_to_registers(small_corpus):
    documents, registers = small_corpus
    classes = registers.set_index("doc_id")["register"]
    bbc = documents.loc[documents["source"] == "bbc_news", "doc_id"]
    plots = documents.loc[documents["source"] == "rt_plots", "doc_id"]
    assert (classes[bbc] == "ne").all()
    long_plots = registers.set_index("doc_id").loc[plots, "n_chars"] >= RULES.min_chars
    assert (classes[plots][long_plots] == "NA").all()
    assert classes[plots][~long_plots].isna().all() and (~long_plots).any()  # short plots dropped
    assert documents["doc_id"].is_unique and not documents["text"].duplicated().any()
