import pytest

from regeo.data.builtin import SOURCES, builtin_documents


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_each_source_ships_real_english_text(source):
    documents = builtin_documents([source])
    assert len(documents) > 200
    assert documents["text"].str.len().sum() > 500_000  # enough for the default budget
    assert (documents["source_label"] == SOURCES[source][1]).all()
    sample = " ".join(documents["text"].head(50))
    assert sum(sample.count(w) for w in (" the ", " and ", " of ")) > 50  # English prose, not markup


def test_unknown_source_is_named():
    with pytest.raises(ValueError, match="unknown source 'nope'"):
        builtin_documents(["nope"])
