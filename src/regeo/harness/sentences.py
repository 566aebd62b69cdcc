"""Held-out documents cut into sentences, the units of the next-sentence tasks.

A rule of thumb, not a parser: a sentence ends at ``.``, ``!`` or ``?`` (closing quotes and
brackets kept with it) before whitespace and an upper-case letter, a digit or an opening quote;
a line break always ends one, since the corpora put headlines and paragraphs on lines of their
own. It splits "Mr. Smith" wrongly, which costs an item, not a wrong label: the true next
sentence is still the text that followed in the document.
"""

from __future__ import annotations

import re

_END = re.compile(r"""(?<=[.!?])["'”’)\]]*\s+(?=["'“‘(\[]?[A-Z0-9])""")
_SPACE = re.compile(r"\s+")


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text`` in order, each with its inner whitespace collapsed to one space."""
    sentences = []
    for line in text.splitlines():
        start = 0
        for match in _END.finditer(line):
            sentences.append(line[start:match.end()])
            start = match.end()
        sentences.append(line[start:])
    return [s for s in (_SPACE.sub(" ", s).strip() for s in sentences) if s]
