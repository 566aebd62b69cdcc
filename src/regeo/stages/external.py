"""Embedding dumps of an external model's checkpoints, in the trained runs' format.

One job per external run writes ``step{S:07d}.safetensors`` for each of its steps (the format of
:mod:`regeo.dumps`) and the
model's tokenizer. Rows past the tokenizer's size are dropped: they are vocabulary padding (Pythia
pads 50277 tokens to 50304 rows) that no token id reaches and training never moves.

Like training, the job is resumable: each dump is written into ``state_dir`` first and hard-linked
into the outputs (which Snakemake deletes before a rerun), so a job killed after 100 of 154
downloads starts again at the 101st. The state is removed once every output is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from regeo.external import ExternalRun, external_run, load_embeddings, load_tokenizer
from regeo.dumps import dump_name, read_dump, steps_of, write_dump
from regeo.io import RegeoInputError, atomic_dir, link_or_copy, write_json

log = logging.getLogger(__name__)


def dump_external_run(settings: dict, dumps: list[str], tokenizer_dir: str | Path, state_dir: str | Path) -> None:
    """Every dump of the external run ``settings`` (``ExternalRun.settings()``) and its tokenizer."""
    run = external_run(settings)
    outputs = _outputs_by_step(run, dumps)
    state = Path(state_dir)
    _open_state(state, settings)
    sources = run.sources()
    # Every revision of a model family shares its tokenizer; the final checkpoint's is kept.
    tokenizer = load_tokenizer(sources[-1], run.trust_remote_code)
    vocab = len(tokenizer)
    for i, source in enumerate(sources, start=1):
        saved, out = state / dump_name(source.step), outputs[source.step]
        if not _readable(saved):
            with _download_cache(run, state) as cache:
                tensors, tied, provenance = load_embeddings(source, run.trust_remote_code, cache)
            rows = tensors["input"].shape[0]
            kept = min(rows, vocab)  # a tokenizer larger than the matrix keeps every row
            tensors = {key: matrix[:kept] for key, matrix in tensors.items()}  # (kept, d)
            # The config's model string, not the resolved path: a package file's path is the machine's.
            write_dump(tensors, saved, metadata={
                "run": run.name, "step": source.step, "tied": tied, "model": run.model if run.is_gguf else source.location,
                "revision": source.revision, "rows_dropped": rows - kept, **provenance,
                "tokens": None if run.tokens_per_step is None else source.step * run.tokens_per_step})
            log.info("%s step %d (%d/%d): %s%s, %d x %d, %s", run.name, source.step, i, len(sources),
                     source.location, f"@{source.revision}" if source.revision else "", kept,
                     tensors["input"].shape[1], "tied" if tied else "untied")
        else:
            log.info("%s step %d (%d/%d): from the resume state", run.name, source.step, i, len(sources))
        link_or_copy(saved, out)
    with atomic_dir(tokenizer_dir) as tmp:
        tokenizer.save_pretrained(str(tmp))
    shutil.rmtree(state)


def _outputs_by_step(run: ExternalRun, dumps: list[str]) -> dict[int, Path]:
    outputs = steps_of(dumps)
    if sorted(outputs) != list(run.steps):
        raise RegeoInputError(f"external run {run.name!r}: the rule's dumps (steps {sorted(outputs)}) "
                              f"are not the run's steps {list(run.steps)}")
    return outputs


def _fingerprint(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def _open_state(state: Path, settings: dict) -> None:
    """Keep a state written under the same settings; start one otherwise."""
    meta = state / "meta.json"
    try:
        same = json.loads(meta.read_text())["fingerprint"] == _fingerprint(settings)
    except (OSError, ValueError, KeyError):
        same = False
    if same:
        log.info("%s: resuming (%d dumps already written)", state, len(list(state.glob("step*.safetensors"))))
        return
    if state.exists():
        log.warning("%s: resume state of other settings; starting over", state)
        shutil.rmtree(state)
    state.mkdir(parents=True)
    write_json({"fingerprint": _fingerprint(settings), "settings": settings}, meta)


def _readable(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        read_dump(path)
        return True
    except RegeoInputError as err:  # a dump damaged by the kill is redone
        log.warning("%s", err)
        return False


@contextlib.contextmanager
def _download_cache(run: ExternalRun, state: Path) -> Iterator[str | None]:
    """The Hugging Face cache of one revision: temporary (deleted after use) unless keep_downloads."""
    if run.keep_downloads or run.is_local:
        yield None
        return
    (state / "downloads").mkdir(exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="revision-", dir=state / "downloads")
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
