"""Harness task names checked before any job: an unknown name, or a task that must read the hub
when the config says there is none, stops the dry run instead of a job hours in.

regeo's own task names are known without reading anything. Other names are looked up in the
installed harness's task YAMLs by :mod:`regeo.harness.task_lookup`, which parses only the files
that can define them and never imports lm_eval, so the check stays about as light as the rest of
the config's (the harness's own ``TaskManager`` would parse all of them first).
"""

from __future__ import annotations

import difflib
import functools
from pathlib import Path
from typing import Iterable, Iterator

from regeo.harness.local_tasks import LOCAL_TASKS
from regeo.harness.task_lookup import GROUP, PY_TASK, TAG, TASK, TaskLookup

# datasets' packaged builders: with these, dataset_path names a file format, and the data is
# whatever data_files names.
FILE_BUILDERS = frozenset({"json", "csv", "parquet", "text", "arrow", "pandas"})


def task_problems(tasks: Iterable[str], include_path: str | Path | None = None, offline: bool = True,
                  key: str = "config.harness.tasks") -> list[str]:
    """One message per problem, naming the config entry (``{key}[i]``) and the task: a name the
    harness does not know (with the closest known names), a task whose data (for a group or tag,
    any of its tasks' data) is not on this machine while ``offline``, and a task evaluated twice
    (alone and inside a group), which the harness refuses. ``include_path``: a directory of extra
    task YAMLs, read when it exists. No problems: an empty list."""
    tasks = list(tasks)
    problems = [f"{key}[{i}]: {name!r} is not a task name (a string)" for i, name in enumerate(tasks)
                if not isinstance(name, str)]
    foreign = [(i, name) for i, name in enumerate(tasks) if isinstance(name, str) and name not in LOCAL_TASKS]
    if problems or not foreign:
        return problems
    lookup = _lookup(str(include_path) if include_path is not None and Path(include_path).is_dir() else None)
    owner = {name: (i, name) for i, name in enumerate(tasks) if name in LOCAL_TASKS}
    for i, name in foreign:
        if name not in lookup:
            close = difflib.get_close_matches(name, sorted(lookup.similar_names() | set(LOCAL_TASKS)), n=3, cutoff=0.8)
            problems.append(f"{key}[{i}]: unknown task {name!r}"
                            + (f"; did you mean {', '.join(map(repr, close))}?" if close else ""))
            continue
        leaves = list(_leaves(name, lookup, frozenset()))
        missing = [leaf for leaf, cfg in leaves if cfg is None]
        if missing:
            problems.append(f"{key}[{i}]: task {name!r} names unknown task(s) {', '.join(map(repr, missing))}")
        if offline:
            remote = [(leaf, where) for leaf, cfg in leaves if cfg is not None
                      for where in [hub_source(cfg)] if where is not None]
            if remote:
                leaf, where = remote[0]
                share = "" if len(leaves) == 1 else f" ({len(remote)} of its {len(leaves)} tasks, e.g. {leaf!r})"
                problems.append(f"{key}[{i}]: task {name!r}{share} reads its data from the hub ({where}), but "
                                f"config.harness.offline is true; set harness.offline: false where the hub is "
                                f"reachable, or drop the task")
        for leaf, _ in leaves:
            if leaf in owner and owner[leaf][0] != i:
                j, other = owner[leaf]
                problems.append(f"{key}[{i}]: task {name!r} includes {leaf!r}, already evaluated by {key}[{j}] "
                                f"({other!r}); the harness refuses a task twice")
                break
            owner.setdefault(leaf, (i, name))
    return problems


def task_leaves(name: str, include_path: str | Path | None = None) -> dict[str, dict | None]:
    """Every task that evaluating ``name`` runs (itself, or a group's or tag's tasks), with its
    config (None for a name the harness does not know)."""
    lookup = _lookup(str(include_path) if include_path is not None and Path(include_path).is_dir() else None)
    return dict(_leaves(name, lookup, frozenset()))


@functools.cache
def _lookup(include_path: str | None) -> TaskLookup:
    return TaskLookup(include_path)


def _leaves(name: str, lookup: TaskLookup, seen: frozenset) -> Iterator[tuple[str, dict | None]]:
    entry = lookup.get(name)
    if entry is None:
        yield name, None
        return
    if name in seen:  # a group that contains itself: its tasks are listed already
        return
    seen = seen | {name}
    if entry.kind == TAG:
        for task in sorted(entry.tags):
            yield from _leaves(task, lookup, seen)
    elif entry.kind == GROUP:
        yield from _group_children(entry.cfg.get("task", []), lookup, seen)
    else:
        yield name, entry.cfg


def _group_children(children, lookup: TaskLookup, seen: frozenset) -> Iterator[tuple[str, dict | None]]:
    for child in children if isinstance(children, list) else [children]:
        if isinstance(child, str):
            yield from _leaves(child, lookup, seen)
        elif isinstance(child, dict) and "group" in child:  # a subgroup written inline
            yield from _group_children(child.get("task", []), lookup, seen)
        elif isinstance(child, dict) and "task" in child:
            base = lookup.get(child["task"])
            if base is None:  # a task written inline
                yield child["task"], child
            elif base.kind in (TASK, PY_TASK):  # a known task with overrides
                yield child["task"], {**base.cfg, **child}
            else:
                yield from _leaves(child["task"], lookup, seen)


def hub_source(cfg: dict) -> str | None:
    """Where a task's data comes from when that is not this machine; None when it is local."""
    path = cfg.get("dataset_path")
    if path is None:
        return ("a Python task class, whose config shows no data source" if "class" in cfg
                else "no dataset_path in its config")
    if path in FILE_BUILDERS:
        files = (cfg.get("dataset_kwargs") or {}).get("data_files")
        entries = list(files.values()) if isinstance(files, dict) else [files]
        flat = [f for entry in entries for f in (entry if isinstance(entry, list) else [entry])]
        remote = [f for f in flat if isinstance(f, str) and "://" in f]
        return f"data_files {remote[0]!r}" if remote else None
    if Path(path).exists():
        return None
    return f"dataset_path {path!r}"
