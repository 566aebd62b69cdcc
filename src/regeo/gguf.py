"""GGUF checkpoints (llama.cpp's quantised format) as float32 models and embedding matrices.

The ``gguf`` package reads the file and dequantises each tensor (Q4_1, Q8_0, ...) to float32.
The embedding dumps read the two matrices they need straight from the file; a whole model
(evaluation, steering) goes through transformers' GGUF reader, which maps llama.cpp's tensor
names to transformers' and undoes llama.cpp's reordering of the query and key rows.

``from_pretrained(dir, gguf_file=...)`` is not used: in transformers 5 it needs ``accelerate``
and keeps the quantised blocks packed in its own linear layers, while the geometry and the
steering hooks want plain float32 weights.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from regeo.io import RegeoInputError

TOKEN_EMBEDDING = "token_embd.weight"
OUTPUT_EMBEDDING = "output.weight"  # absent when the output layer is tied to the token embedding


def _reader(path: str | Path):
    try:
        from gguf import GGUFReader
    except ImportError as err:
        raise RegeoInputError(f"{path}: reading a GGUF file needs the gguf package "
                              "(./install.sh brings it unless --no-pretrained; or pip install gguf)") from err
    try:
        return GGUFReader(str(path))
    except (OSError, ValueError) as err:
        raise RegeoInputError(f"{path}: not a readable GGUF file: {err}") from err


def quantisation(reader) -> dict:
    """How the file stores its tensors: the embedding's type and a count of every type."""
    types = {t.name: t.tensor_type.name for t in reader.tensors}
    return {"embedding": types.get(TOKEN_EMBEDDING), "output": types.get(OUTPUT_EMBEDDING),
            "tensor_types": dict(sorted(Counter(types.values()).items()))}


def read_embeddings(path: str | Path) -> tuple[dict, bool, dict]:
    """({"input": (V, d) float32, "output" unless tied}, tied, provenance) of a GGUF file."""
    import torch
    from gguf import dequantize

    reader = _reader(path)
    by_name = {t.name: t for t in reader.tensors}
    if TOKEN_EMBEDDING not in by_name:
        raise RegeoInputError(f"{path}: no tensor {TOKEN_EMBEDDING!r} (found e.g. {sorted(by_name)[:5]})")
    tensors = {}
    for key, name in (("input", TOKEN_EMBEDDING), ("output", OUTPUT_EMBEDDING)):
        if name in by_name:
            tensor = by_name[name]
            # dequantize returns ggml's order reversed, i.e. (V, d) row-major
            matrix = dequantize(tensor.data, tensor.tensor_type).reshape(-1, int(tensor.shape[0]))
            tensors[key] = torch.from_numpy(matrix.astype("float32", copy=True))  # (V, d)
    tied = "output" not in tensors
    return tensors, tied, {"source": "gguf", "stored_dtype": None, "quantisation": quantisation(reader),
                           "dequantised_dtype": "float32"}


def load_gguf_model(path: str | Path):
    """The causal LM of a GGUF file with every tensor dequantised to float32, in eval mode."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    path = Path(path)
    _reader(path)  # a clear error for a missing gguf package or a damaged file
    try:
        config = AutoConfig.from_pretrained(str(path.parent), gguf_file=path.name)
    except (OSError, ValueError) as err:  # an architecture transformers' GGUF reader lacks
        raise RegeoInputError(f"{path}: cannot read its model config: {err}") from err
    with torch.device("meta"):  # only the names and shapes, for the tensor name map
        skeleton = AutoModelForCausalLM.from_config(config)
    state = load_gguf_checkpoint(str(path), return_tensors=True, model_to_load=skeleton)["tensors"]
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied_head = {"lm_head.weight"} if config.tie_word_embeddings else set()
    if set(missing) - tied_head or unexpected:
        raise RegeoInputError(f"{path}: its tensors do not fit a {type(model).__name__}: "
                              f"missing {sorted(set(missing) - tied_head)[:5]}, unexpected {sorted(unexpected)[:5]}")
    model.tie_weights()
    return model.eval()


def load_gguf_tokenizer(path: str | Path):
    from transformers import AutoTokenizer

    path = Path(path)
    try:
        return AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    except (OSError, ValueError, KeyError) as err:
        raise RegeoInputError(f"{path}: cannot read its tokenizer: {err}") from err
