"""The harness's task configs looked up by name, without building its whole task index.

``lm_eval.tasks.TaskManager`` parses every task YAML the harness ships (about 14,000 files, and
their includes) before it can answer for one name, after an import of lm_eval that is itself
slow: too much for every dry run. This module reads the same files as bytes and parses only
those that can define the name: the files that contain it, and the files that include them. It
then registers them the way the harness's ``TaskIndex`` does (files in sorted order per
directory, the first definition of a name within a directory wins, a later directory overrides
an earlier one; a task's ``tag`` makes a tag entry), so the answer for that name is the
harness's. A test checks this against ``TaskManager``. lm_eval is located, never imported.
"""

from __future__ import annotations

import bisect
import importlib.util
import itertools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

TASK = "task"
PY_TASK = "py_task"  # a Python class; its config shows no data source
GROUP = "group"
TAG = "tag"

_IGNORE_DIRS = {"__pycache__", ".ipynb_checkpoints"}
# "include: x", "include: [x, y]" or "include:" over a list of "- x" lines.
_INCLUDE = re.compile(rb"^include:(.*(?:\n[ \t]*-.*)*)", re.MULTILINE)
_INCLUDE_TARGET = re.compile(rb"[^\s\[\],'\"\-][^\s\[\],'\"]*")
_NOT_YAML = (".py", ".pyc", ".md", ".sh", ".json", ".jsonl", ".txt", ".tsv", ".csv", ".jpg", ".png", ".lark",
             ".parquet", ".gz")
_NAME_LINE = re.compile(rb"^\s*-?\s*(?:task|group|tag)\s*:\s*['\"]?([A-Za-z0-9_.\-]+)", re.MULTILINE)


@dataclass
class TaskEntry:
    name: str
    kind: str  # TASK, PY_TASK, GROUP or TAG
    cfg: dict | None  # the YAML with its includes merged (None for a tag)
    tags: set[str] = field(default_factory=set)  # for a tag: the tasks it names


def harness_task_dir() -> Path:
    """The directory of the task YAMLs of the installed lm_eval, found without importing it."""
    spec = importlib.util.find_spec("lm_eval")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("lm_eval is not installed; run ./install.sh (it installs lm-eval[hf])")
    return Path(next(iter(spec.submodule_search_locations))) / "tasks"


class TaskLookup:
    """Task, group and tag names of the harness's own tasks and of ``include_path`` (a directory
    of task YAMLs, later in the order, so it overrides), looked up one name at a time."""

    def __init__(self, include_path: str | Path | None = None):
        roots = [harness_task_dir()] + ([Path(include_path)] if include_path is not None else [])
        self._trees = [_Tree(root) for root in roots]
        self._entries: dict[str, TaskEntry | None] = {}

    def get(self, name: str) -> TaskEntry | None:
        if name not in self._entries:
            self._entries[name] = self._lookup(name)
        return self._entries[name]

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None

    def similar_names(self) -> set[str]:
        """Names written after ``task:``, ``group:`` or ``tag:`` in any file: candidates for a
        "did you mean" (a superset of the real names, cheap to collect)."""
        return {m.decode() for tree in self._trees for m in _NAME_LINE.findall(tree.text)}

    def _lookup(self, name: str) -> TaskEntry | None:
        found = None
        for tree in self._trees:
            defining = tree.files_containing(name.encode())
            defining |= tree.includers(defining)
            entries: dict[str, TaskEntry] = {}
            for path in tree.indexed:
                if path in defining:
                    try:
                        cfg = load_task_yaml(path)
                    except Exception:  # the harness skips a file it cannot read, so does this
                        continue
                    _register(cfg, entries)
            found = entries.get(name, found)
        return found


class _Tree:
    """The task files under ``root`` as one byte string to search. The harness indexes the
    **/*.yaml files (``indexed``, in its order); an ``include`` may name any file
    (``_template``, ``_default_yaml_2k``), so every file but code, docs and data is read."""

    def __init__(self, root: Path):
        self.paths: list[Path] = []
        pieces = []
        root = root.resolve()
        if root.is_dir():
            for directory, dirs, files in os.walk(root):
                dirs[:] = sorted(d for d in dirs if d not in _IGNORE_DIRS)
                for file in sorted(files):
                    if not file.endswith(_NOT_YAML):
                        path = Path(directory, file)
                        self.paths.append(path)
                        # a separator no file holds, after which "^" matches the file's first line
                        pieces.append(path.read_bytes() + b"\n\0\n")
        self.starts = list(itertools.accumulate((len(p) for p in pieces), initial=0))
        self.text = b"".join(pieces)
        self.indexed = sorted((p for p in self.paths if p.suffix == ".yaml"), key=lambda p: p.as_posix())
        # included file name -> the files whose include names it
        self._includers: dict[str, set[Path]] = {}
        for match in _INCLUDE.finditer(self.text):
            includer = self._file_at(match.start())
            for target in _INCLUDE_TARGET.findall(match.group(1)):
                self._includers.setdefault(target.decode().rsplit("/", 1)[-1], set()).add(includer)

    def _file_at(self, offset: int) -> Path:
        return self.paths[bisect.bisect_right(self.starts, offset) - 1]

    def files_containing(self, needle: bytes) -> set[Path]:
        out, at = set(), self.text.find(needle)
        while at >= 0:
            number = bisect.bisect_right(self.starts, at) - 1
            out.add(self.paths[number])
            at = self.text.find(needle, self.starts[number + 1])  # on to the next file
        return out

    def includers(self, paths: set[Path]) -> set[Path]:
        """Files that include one of ``paths``, directly or through other includes (matched by
        file name: a superset, which costs parsing, never a wrong answer)."""
        found, frontier = set(), set(paths)
        while frontier:
            frontier = set().union(*(self._includers.get(p.name, set()) for p in frontier)) - found - paths
            found |= frontier
        return found


def load_task_yaml(path: str | Path, _seen: frozenset = frozenset()) -> dict:
    """A task YAML with its ``include`` files merged in (its own keys win), as the harness's
    ``load_yaml(resolve_func=False)`` reads it: a ``!function`` is kept as its dotted name."""
    path = Path(path).expanduser().resolve()
    if path in _seen:
        raise ValueError(f"include cycle at {path}")
    loader = type("TaskLoader", (getattr(yaml, "CSafeLoader", yaml.SafeLoader),), {})
    loader.add_constructor("!function", lambda load, node: str(path.parent / load.construct_scalar(node)))
    with path.open("rb") as handle:
        cfg = yaml.load(handle, Loader=loader)  # noqa: S506 - a safe loader plus one string tag
    if not isinstance(cfg, dict):
        raise ValueError(f"{path}: not a mapping")
    if "include" not in cfg:
        return cfg
    includes = cfg.pop("include")
    merged: dict = {}
    for include in includes if isinstance(includes, list) else [includes]:
        included = load_task_yaml(path.parent / include, _seen | {path})
        included.pop("task_list", None)
        merged.update(included)
    merged.update(cfg)
    return merged


def _register(cfg: dict, entries: dict[str, TaskEntry]) -> None:
    """``TaskIndex.process_cfg`` of lm-eval 0.4.x: the first definition of a name wins."""
    if "class" in cfg or ("task" in cfg and "group" not in cfg):
        name = cfg.get("task")
        if not isinstance(name, str) or name in entries:
            return
        entries[name] = TaskEntry(name, PY_TASK if "class" in cfg else TASK, cfg, _as_set(cfg.get("tag")))
        for tag in _as_set(cfg.get("tag")):
            entries.setdefault(tag, TaskEntry(tag, TAG, None)).tags.add(name)
    elif "group" in cfg:
        name = cfg["group"]
        if isinstance(name, str) and name not in entries:
            entries[name] = TaskEntry(name, GROUP, cfg, _as_set(cfg.get("tag")))


def _as_set(value) -> set[str]:
    if value is None:
        return set()
    return {value} if isinstance(value, str) else set(value)
