"""Steering vectors as llama.cpp control vectors: the GGUF files repeng's ``ControlVector.export_gguf`` writes.

The format (repeng ``extract.py``; llama.cpp ``common_control_vector_load_one``): architecture
``controlvector``; ``controlvector.model_hint`` the model's ``config.model_type`` (repeng writes
that; llama.cpp does not check it); ``controlvector.layer_count`` the number of directions
(repeng: ``len(directions)``); one 1-D float32 tensor ``direction.{layer}`` per layer.

Layer indices: llama.cpp adds ``direction.{il}`` to the output of decoder block ``il`` (0-based,
after its attention and MLP residuals; the loader stores ``direction.N`` at offset (N - 1) x n_embd
and the graph applies row N - 1 of that buffer after block N) and refuses ``direction.0``, so the
first block cannot be steered from a file; repeng's ControlModel adds ``directions[i]`` to the
output of ``model.layers[i]``. Both are regeo's "layer l" (the output of block l,
:mod:`regeo.steering.inject`), so a vector measured at block l is written as ``direction.{l}``
unchanged. A vector at block 0 (the default's two-block models at relative depth 0.5) is written
all the same (repeng reads it back; llama.cpp refuses the file), and the file's
``regeo.llama_cpp_loadable`` says which.

The vector is written as saved (the native vector's norm): llama.cpp's ``--control-vector-scaled
file:alpha`` then applies alpha as regeo's sweep does (it adds strength x direction at every
position, prompt and generated tokens alike, as :func:`regeo.steering.inject.steer`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from regeo.io import RegeoInputError, atomic_path

ARCH = "controlvector"


def write_control_vector(path: str | Path, directions: dict[int, np.ndarray], model_hint: str,
                         extra: dict[str, str] | None = None) -> None:
    """A control-vector GGUF of ``directions`` (block -> (d,) vector), atomically."""
    import gguf

    if not directions:
        raise ValueError("no directions to write")
    with atomic_path(path, ".gguf") as tmp:
        writer = gguf.GGUFWriter(str(tmp), ARCH)
        writer.add_string(f"{ARCH}.model_hint", model_hint)
        writer.add_uint32(f"{ARCH}.layer_count", len(directions))
        for key, value in (extra or {}).items():
            writer.add_string(f"regeo.{key}", str(value))
        for layer in sorted(directions):
            writer.add_tensor(f"direction.{int(layer)}", np.ascontiguousarray(directions[layer], dtype=np.float32))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()


def _string(reader, key: str) -> str | None:
    field = reader.get_field(key)
    if field is None or not len(field.parts):
        return None
    return bytes(field.parts[field.data[0]]).decode("utf-8")


def read_control_vector(path: str | Path) -> tuple[dict[int, np.ndarray], dict]:
    """(block -> (d,) float32 direction, {model_hint, layer_count, regeo.*}) of a control-vector GGUF."""
    from gguf import GGUFReader

    try:
        reader = GGUFReader(str(path))
    except (OSError, ValueError) as err:
        raise RegeoInputError(f"{path}: not a readable GGUF file: {err}") from err
    if _string(reader, "general.architecture") != ARCH:
        raise RegeoInputError(f"{path}: not a control vector (general.architecture is "
                              f"{_string(reader, 'general.architecture')!r})")
    directions = {}
    for tensor in reader.tensors:
        prefix, _, layer = tensor.name.partition(".")
        if prefix != "direction" or not layer.isdigit():
            raise RegeoInputError(f"{path}: unexpected tensor {tensor.name!r} (want direction.<layer>)")
        directions[int(layer)] = np.array(tensor.data, dtype=np.float32).reshape(-1)
    count = reader.get_field(f"{ARCH}.layer_count")
    info = {"model_hint": _string(reader, f"{ARCH}.model_hint"),
            "layer_count": int(count.parts[count.data[0]][0]) if count is not None else None}
    info.update({name: _string(reader, name) for name in reader.fields if name.startswith("regeo.")})
    return directions, info


def vector_space(name: str) -> str:
    """Which model a saved vector lives in: ``{concept}.source`` in the source A, every other kind in B."""
    return "source" if name.rsplit(".", 1)[-1] == "source" else "target"


def export_pair(vectors_path: str | Path, out_dir: str | Path, model_types: dict[str, str]) -> list[Path]:
    """Every vector of a pair's saved file as ``{out_dir}/{concept}.{kind}.gguf`` (module docstring).

    ``model_types``: {"source", "target"} -> ``config.model_type`` of each run's model. The layer of
    each vector is the file's ``layer_source`` or ``layer_target`` metadata.
    """
    from regeo.io import load_tensors, tensor_metadata

    metadata = tensor_metadata(vectors_path)
    for key in ("layer_source", "layer_target"):
        if key not in metadata:
            raise RegeoInputError(f"{vectors_path}: no {key} in its metadata (written by an older steering job?)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, tensor in sorted(load_tensors(vectors_path).items()):
        side = vector_space(name)
        layer = int(metadata[f"layer_{side}"])
        path = out_dir / f"{name}.gguf"
        write_control_vector(path, {layer: tensor.float().numpy()}, model_types[side],
                             extra={"vector": name, "run": metadata.get(side, side), "block": layer,
                                    "llama_cpp_loadable": "yes" if layer > 0 else "no (llama.cpp refuses block 0)",
                                    "source_file": Path(vectors_path).name})
        written.append(path)
    return written
