"""External checkpoints as runs: any Hugging Face causal LM with revisions (e.g. Pythia's ``step0``
... ``step143000`` branches) enters the same embedding dumps as the trained runs.

A config entry of ``external`` names the model, the steps and how a step becomes a checkpoint:

* **hub**: ``model`` is a hub id; step S loads ``from_pretrained(model, revision=R)`` with
  ``R = revisions[S]`` or ``revision_template.format(step=S)`` (Pythia: ``"step{step}"``).
* **one directory per revision**: ``model`` holds ``{step}`` and/or ``{revision}``, e.g.
  ``/data/pythia-160m/step{step}``; step S loads the formatted path with no ``revision``.
  ``from_pretrained`` ignores ``revision`` for a local directory, so a plain directory with
  several steps is refused: every step would silently be the same checkpoint.

This module holds what planning needs (pure data): torch, transformers and regeo.io (which
imports torch) are imported only inside the functions that run in the job, so that planning the
workflow stays fast.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path

from regeo.train.schedule import checkpoint_steps

_PLACEHOLDERS = {"step", "revision"}


@dataclass(frozen=True)
class CheckpointSource:
    """Where one step's checkpoint is: ``from_pretrained(location, revision=revision)``."""

    step: int
    location: str  # hub id or local directory
    revision: str | None  # hub revision (branch, tag, commit); None for a local directory


@dataclass(frozen=True)
class ExternalRun:
    """One external model followed over its checkpoints (a config ``external`` entry)."""

    name: str
    model: str  # hub id, or a local path template with {step} / {revision}
    steps: tuple[int, ...]  # sorted
    revisions: dict[int, str] = field(default_factory=dict)  # step -> revision, overrides the template
    revision_template: str = "step{step}"
    tokens_per_step: int | None = None  # training tokens per step, for the dumps' metadata; None: unknown
    seed: int = 0
    trust_remote_code: bool = False
    keep_downloads: bool = False  # False: each revision is downloaded to a temporary cache and removed

    # The run-table fields that trained runs have: the name and model stand in for subset and
    # preset, so that figures draw it as a line of its own and pair tables relate it to trained
    # runs as another preset ("presets").
    @property
    def subset(self) -> str:
        return self.name

    @property
    def preset(self) -> str:
        return "external" if self.is_path_template else self.model  # a path would crowd the legends

    @property
    def is_path_template(self) -> bool:
        return bool(_fields(self.model) & _PLACEHOLDERS)

    def revision(self, step: int) -> str:
        return self.revisions.get(step) or self.revision_template.format(step=step)

    def source(self, step: int) -> CheckpointSource:
        from regeo.io import RegeoInputError

        if step not in self.steps:
            raise RegeoInputError(f"external run {self.name!r}: step {step} is not one of its steps")
        revision = self.revision(step)
        if self.is_path_template:
            return CheckpointSource(step, self.model.format(step=step, revision=revision), None)
        if len(self.steps) > 1 and Path(self.model).expanduser().is_dir():
            raise RegeoInputError(
                f"external run {self.name!r}: model {self.model!r} is a local directory, which has no revisions "
                f"(from_pretrained would load the same checkpoint for all {len(self.steps)} steps); give a path "
                "template with {step} or {revision}, e.g. '/data/model/step{step}'")
        return CheckpointSource(step, self.model, revision)

    def sources(self) -> list[CheckpointSource]:
        return [self.source(step) for step in self.steps]

    def settings(self) -> dict:
        """What the dumps depend on (the job's params and its resume fingerprint)."""
        return {"name": self.name, "model": self.model, "steps": list(self.steps),
                "revisions": {str(s): self.revision(s) for s in self.steps},
                "tokens_per_step": self.tokens_per_step, "trust_remote_code": self.trust_remote_code,
                "keep_downloads": self.keep_downloads}


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def external_run(entry: dict) -> ExternalRun:
    """An ExternalRun from a validated config entry (exactly one of steps, schedule, revisions)."""
    revisions = {int(step): str(rev) for step, rev in (entry.get("revisions") or {}).items()}
    if entry.get("steps"):
        steps = entry["steps"]
    elif entry.get("schedule"):
        steps = checkpoint_steps(entry["schedule"]["steps"], entry["schedule"]["every"])
    else:
        steps = revisions
    return ExternalRun(name=entry["name"], model=entry["model"], steps=tuple(sorted(set(steps))),
                       revisions=revisions, revision_template=entry.get("revision_template", "step{step}"),
                       tokens_per_step=entry.get("tokens_per_step"), seed=entry.get("seed", 0),
                       trust_remote_code=entry.get("trust_remote_code", False),
                       keep_downloads=entry.get("keep_downloads", False))


def entry_problems(entry: dict, where: str) -> list[str]:
    """What the schema cannot say about one ``external`` entry."""
    problems = []
    given = [key for key in ("steps", "schedule", "revisions") if entry.get(key)]
    if len(given) != 1:
        problems.append(f"{where}: give exactly one of steps, schedule or revisions"
                        + (f" (found {', '.join(given)})" if given else ""))
    for key in ("model", "revision_template"):
        try:
            unknown = _fields(entry.get(key, "")) - _PLACEHOLDERS
        except ValueError as err:
            problems.append(f"{where}.{key}: not a valid template: {err}")
            continue
        if unknown:
            problems.append(f"{where}.{key}: unknown placeholder(s) {sorted(unknown)}; allowed: {{step}}, {{revision}}")
    if "{revision}" in entry.get("revision_template", ""):
        problems.append(f"{where}.revision_template: a revision cannot name itself ({{revision}}); use {{step}}")
    for step in entry.get("revisions") or {}:
        if not str(step).isdigit():
            problems.append(f"{where}.revisions: key {step!r} is not a step (a non-negative integer)")
    schedule = entry.get("schedule")
    if schedule and schedule["every"] > schedule["steps"]:
        problems.append(f"{where}.schedule.every: {schedule['every']} is past the last step ({schedule['steps']})")
    return problems


# --- loading, inside the job --------------------------------------------------------------------

def from_pretrained_kwargs(source: CheckpointSource, trust_remote_code: bool, cache_dir: str | None) -> dict:
    """Keyword arguments of ``from_pretrained`` for one checkpoint: a revision only for the hub.

    transformers prefers ``model.safetensors`` when a revision has one and reads a
    ``pytorch_model.bin`` otherwise (Pythia's early branches), with ``weights_only`` loading.
    """
    kwargs: dict = {"trust_remote_code": trust_remote_code}
    if source.revision is not None:
        kwargs["revision"] = source.revision
    if cache_dir is not None:
        kwargs["cache_dir"] = cache_dir
    return kwargs


def load_embeddings(source: CheckpointSource, trust_remote_code: bool = False,
                    cache_dir: str | None = None) -> tuple[dict, bool]:
    """({"input": (V, d) float32, "output": (V, d) float32 unless tied}, tied) of one checkpoint."""
    from transformers import AutoModelForCausalLM

    from regeo.dumps import model_embeddings
    from regeo.io import RegeoInputError

    try:
        model = AutoModelForCausalLM.from_pretrained(
            source.location, **from_pretrained_kwargs(source, trust_remote_code, cache_dir))
    except (OSError, ValueError) as err:  # not found, offline without a cached copy, not a causal LM
        where = source.location + (f" (revision {source.revision})" if source.revision else "")
        raise RegeoInputError(f"step {source.step}: cannot load {where}: {err}") from err
    tensors, tied = model_embeddings(model)
    del model
    return tensors, tied


def load_tokenizer(source: CheckpointSource, trust_remote_code: bool = False, cache_dir: str | None = None):
    from transformers import AutoTokenizer

    from regeo.io import RegeoInputError

    try:
        return AutoTokenizer.from_pretrained(source.location,
                                             **from_pretrained_kwargs(source, trust_remote_code, cache_dir))
    except (OSError, ValueError) as err:
        raise RegeoInputError(f"cannot load the tokenizer of {source.location}: {err}") from err
