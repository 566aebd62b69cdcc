"""File I/O that never leaves a half-written file under a final name.

Every writer goes through :func:`atomic_path`: the data is written to a temporary sibling and
renamed into place, so a process killed mid-write leaves only a ``.tmp`` file behind. Tensors are
read with safetensors only (never pickle), and a damaged file is reported by name. torch is
imported only by the tensor functions: the data jobs never need it, and it would be most of
their memory.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    import torch


class RegeoInputError(ValueError):
    """Bad input (config, data file, checkpoint): the message names the file and the field."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only on success."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=suffix + ".tmp", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, final)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory next to ``path``; it replaces ``path`` only on success."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        yield tmp
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def link_or_copy(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Make ``dst`` a hard link of ``src`` (a copy where links are impossible), replacing ``dst``.

    Resumable jobs keep their files in a state directory and link them into the declared outputs,
    which Snakemake deletes before a retry: the link costs nothing and survives the deletion.
    """
    src, dst = Path(src), Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def write_parquet(df: pd.DataFrame, path: str | os.PathLike) -> None:
    with atomic_path(path, ".parquet") as tmp:
        df.to_parquet(tmp, index=False)


def write_json(obj, path: str | os.PathLike) -> None:
    with atomic_path(path, ".json") as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_jsonl(records: list[dict], path: str | os.PathLike) -> None:
    """One JSON object per line, UTF-8 kept readable."""
    with atomic_path(path, ".jsonl") as tmp:
        with open(tmp, "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def write_text(text: str, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def save_tensors(tensors: dict[str, torch.Tensor], path: str | os.PathLike, metadata: dict | None = None) -> None:
    from safetensors.torch import save_file

    contiguous = {name: t.detach().contiguous().cpu() for name, t in tensors.items()}
    # One key holding sorted JSON: safetensors writes a multi-key metadata map in a
    # process-dependent order, which would make identical dumps differ byte for byte.
    meta = {"regeo": json.dumps(metadata, sort_keys=True, default=str)} if metadata else None
    with atomic_path(path, ".safetensors") as tmp:
        save_file(contiguous, str(tmp), metadata=meta)


def tensor_metadata(path: str | os.PathLike) -> dict:
    """The metadata :func:`save_tensors` stored in a safetensors file."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as handle:
        return json.loads((handle.metadata() or {}).get("regeo", "{}"))


def load_tensors(path: str | os.PathLike, keys: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """Load a safetensors file; a missing, truncated or corrupt file raises RegeoInputError naming it."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise RegeoInputError(f"{path}: tensor file does not exist")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise RegeoInputError(f"{path}: not a readable safetensors file (truncated or corrupt?): {err}") from err
    missing = [k for k in keys if k not in tensors]
    if missing:
        raise RegeoInputError(f"{path}: missing tensor(s) {missing}; found {sorted(tensors)}")
    for name, t in tensors.items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise RegeoInputError(f"{path}: tensor '{name}' contains NaN or inf")
    return tensors


def read_parquet(path: str | os.PathLike, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a parquet file, naming the file and the missing column on failure."""
    path = Path(path)
    if not path.is_file():
        raise RegeoInputError(f"{path}: file does not exist")
    try:
        df = pd.read_parquet(path)
    except Exception as err:  # pyarrow raises several unrelated types for damaged files
        raise RegeoInputError(f"{path}: not a readable parquet file: {err}") from err
    if columns:
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise RegeoInputError(f"{path}: missing column(s) {missing}; found {list(df.columns)}")
    return df


def read_tables(paths) -> pd.DataFrame:
    """The tables of several jobs (parquet files) as one, in order; empty when there are none."""
    tables = [read_parquet(p) for p in paths]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def merge_tables(paths, out_path: str | os.PathLike) -> pd.DataFrame:
    """The block or batch jobs' tables (regeo.costs splits a table's work), in order, written as
    the one table a single job would have written."""
    table = read_tables(paths)
    write_parquet(table, out_path)
    return table


def require_columns(path: str | os.PathLike, columns: list[str], hint: str = "") -> None:
    """Raise, naming the file, unless it is a readable parquet file with every one of ``columns``;
    ``hint`` (e.g. which config key names the column) is added to the message."""
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise RegeoInputError(f"{path}: file does not exist")
    try:
        names = pq.ParquetFile(path).schema_arrow.names
    except Exception as err:  # pyarrow raises several unrelated types for damaged files
        raise RegeoInputError(f"{path}: not a readable parquet file: {err}") from err
    missing = [c for c in columns if c not in names]
    if missing:
        raise RegeoInputError(f"{path}: missing column(s) {missing}; found {names}" + (f" ({hint})" if hint else ""))


def read_columns(path: str | os.PathLike, columns: list[str], filters: list | None = None,
                 hint: str = "") -> pd.DataFrame:
    """Only ``columns`` of a parquet file (and only the rows ``filters`` keep, pyarrow's
    ``[(column, op, value)]`` form), naming the file and the missing column on failure."""
    import pyarrow.parquet as pq

    require_columns(path, columns, hint)
    try:
        return pq.read_table(path, columns=columns, filters=filters).to_pandas()
    except Exception as err:
        raise RegeoInputError(f"{path}: not a readable parquet file: {err}") from err
