"""Embedding dumps: the input and output embedding matrices of a model at one training step.

A dump is ``step{S:07d}.safetensors`` (names sort in step order, Pythia's habit) holding the
float32 key ``input`` (V, d) and, for an untied model, ``output`` (V, d). A tied model's output
matrix *is* its input matrix, so it is stored once and the dump records ``tied: true`` in its
metadata (JSON under the key ``regeo``, with the run, the step and what else the writer adds);
:func:`read_dump` resolves ``output`` of a tied dump to the input matrix. Dumps are read with
safetensors only.

Planning the workflow imports this module for :func:`dump_name`, so torch and regeo.io (which
imports torch) are imported only inside the functions that read or write tensors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

MATRICES = ("input", "output")
_NAME = re.compile(r"^step(\d{7,})\.safetensors$")


def dump_name(step: int) -> str:
    """File name of the dump at ``step``."""
    return f"step{step:07d}.safetensors"


def step_model_name(step: int) -> str:
    """Directory name of the whole model saved at ``step`` (``training.save_models_at``)."""
    return f"step{step:07d}"


def dump_step(path: str | Path) -> int:
    """The step of a dump from its file name (the inverse of :func:`dump_name`)."""
    match = _NAME.match(Path(path).name)
    if match is None:
        from regeo.io import RegeoInputError

        raise RegeoInputError(f"{path}: not an embedding dump name (step{{S:07d}}.safetensors)")
    return int(match.group(1))


def steps_of(paths) -> dict[int, Path]:
    """{step: path} of dump paths, in step order; two paths of one step are an error."""
    by_step: dict[int, Path] = {}
    for path in paths:
        step = dump_step(path)
        if step in by_step:
            from regeo.io import RegeoInputError

            raise RegeoInputError(f"{path} and {by_step[step]}: two dumps of step {step}")
        by_step[step] = Path(path)
    return dict(sorted(by_step.items()))


def list_dumps(directory: str | Path) -> dict[int, Path]:
    """{step: path} of the dumps in a run's ``embeddings/`` directory, in step order."""
    return steps_of(p for p in Path(directory).iterdir() if _NAME.match(p.name))


def model_embeddings(model) -> tuple[dict[str, "torch.Tensor"], bool]:
    """({"input": (V, d), "output": (V, d) unless tied} as float32 CPU copies, tied) of a model.

    Tied means the output layer multiplies by the input matrix itself, whatever the config says.
    """
    inputs = model.get_input_embeddings().weight
    outputs = model.get_output_embeddings()
    tied = outputs is None or outputs.weight.data_ptr() == inputs.data_ptr()
    tensors = {"input": inputs.detach().float().cpu().clone()}  # (V, d)
    if not tied:
        tensors["output"] = outputs.weight.detach().float().cpu().clone()  # (V, d)
    return tensors, tied


def model_matrix(model, which: str = "input") -> "torch.Tensor":
    """(V, d) float32 CPU copy of a model's ``input`` or ``output`` embeddings (the same when tied)."""
    if which not in MATRICES:
        raise ValueError(f"which must be one of {MATRICES}, got {which!r}")
    tensors, tied = model_embeddings(model)
    return tensors["input"] if which == "output" and tied else tensors[which]


def write_dump(tensors: dict[str, "torch.Tensor"], path: str | Path, metadata: dict) -> None:
    """Write a dump atomically; ``metadata`` must say whether the model is ``tied``."""
    from regeo.io import save_tensors

    if "tied" not in metadata:
        raise ValueError("dump metadata must record 'tied'")
    if metadata["tied"] == ("output" in tensors):
        raise ValueError(f"a {'tied' if metadata['tied'] else 'untied'} dump must "
                         f"{'not ' if metadata['tied'] else ''}hold an 'output' matrix")
    save_tensors(tensors, path, metadata=metadata)


def dump_rows(path: str | Path) -> int:
    """Rows (vocabulary size) of a dump's matrices, from its header: no tensor is read."""
    from safetensors import safe_open

    from regeo.io import RegeoInputError

    try:
        with safe_open(str(path), "pt") as handle:
            return int(handle.get_slice("input").get_shape()[0])
    except Exception as err:  # missing file, damaged header, no 'input'
        raise RegeoInputError(f"{path}: not a readable embedding dump: {err}") from err


@dataclass(frozen=True)
class Dump:
    """One dump as read back: its matrices (float32, CPU), whether tied, its step and metadata."""

    path: Path
    step: int | None  # None for a file that neither records nor is named by its step
    tied: bool
    input: "torch.Tensor"  # (V, d)
    output: "torch.Tensor"  # (V, d); the input matrix itself when tied
    metadata: dict = field(default_factory=dict)

    def matrix(self, which: str) -> "torch.Tensor":
        if which not in MATRICES:
            raise ValueError(f"which must be one of {MATRICES}, got {which!r}")
        return self.input if which == "input" else self.output

    def matrices(self, embeddings) -> dict[str, "torch.Tensor"]:
        """The distinct matrices among ``embeddings`` (``output`` of a tied dump is left out: it is the input)."""
        return {which: self.matrix(which) for which in embeddings if not (which == "output" and self.tied)}


def read_dump(path: str | Path) -> Dump:
    """Read a dump; a missing, damaged or inconsistent file raises RegeoInputError naming it."""
    from regeo.io import RegeoInputError, load_tensors, tensor_metadata

    tensors = load_tensors(path, keys=("input",))
    metadata = tensor_metadata(path)
    has_output = "output" in tensors
    tied = bool(metadata.get("tied", not has_output))  # dumps record it; the layout says it too
    if tied == has_output:
        raise RegeoInputError(f"{path}: metadata says tied={tied} but the file "
                              f"{'holds' if has_output else 'lacks'} an 'output' matrix")
    step = metadata.get("step")
    if step is None and _NAME.match(Path(path).name):
        step = dump_step(path)
    return Dump(path=Path(path), step=None if step is None else int(step), tied=tied, input=tensors["input"],
                output=tensors["output"] if has_output else tensors["input"], metadata=metadata)
