"""What does a point of a run's embedding space mean (RQ1)?

A *reading* of a vector v in a run's space at one dump is two lists: its nearest tokens by cosine
among the run's input embeddings, and its logit-lens reading, the top tokens of the unembedding
applied to v (Dar et al. 2023, "Analyzing Transformers in Embedding Space"; nostalgebraist's
logit lens). The unembedding is the dump's output matrix (the input matrix when tied); when the
final model's norm is at hand (the final dump of a trained run) v goes through that RMSNorm
first, as the model's own last hidden state does, and otherwise through a plain RMS
normalisation (a scale only, which changes no ranking).

A vector can be a token's embedding, a text's hidden state at a layer (final model only: the
dumps hold embeddings, not blocks), a steering vector saved as safetensors (tensor ``vector``,
metadata ``run`` and ``layer``), a point between two tokens, or arithmetic of these
(:func:`parse_expression`). Everything is read offline from a pipeline's ``results/``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from regeo import layout
from regeo.dumps import list_dumps, read_dump
from regeo.io import RegeoInputError
from regeo.token_sets import read_seen_mask


@dataclass
class RunSpace:
    """A run's space at one dump: its matrices, its tokenizer, which rows are trained."""

    run: str
    step: int
    input: np.ndarray  # (V, d) float32
    output: np.ndarray  # (V, d); the input matrix when tied
    tokenizer: object
    seen: np.ndarray | None  # (V,) bool, tokens of the run's training data; None: all rows
    norm_weight: np.ndarray | None  # (d,) final RMSNorm weight; None when no model of this step exists
    norm_eps: float = 1e-5
    model_dir: Path | None = None  # the final model, when this dump is the final one
    _model: object = field(default=None, repr=False)

    def token_id(self, token: str) -> int:
        """The id of ``token``, which must be exactly one token of the run's tokenizer."""
        ids = self.tokenizer.encode(token, add_special_tokens=False)
        if len(ids) != 1:
            pieces = [self.tokenizer.decode([i]) for i in ids]
            raise RegeoInputError(f"{token!r} is {len(ids)} tokens for run {self.run} ({pieces}), not one; "
                                  "a leading space matters (' said' vs 'said')")
        if ids[0] >= self.input.shape[0]:
            raise RegeoInputError(f"{token!r} has id {ids[0]}, past the embedding's {self.input.shape[0]} rows")
        return int(ids[0])

    def token_text(self, token_id: int) -> str:
        return self.tokenizer.decode([int(token_id)])

    def model(self):
        """The final model (transformers), loaded on first use; only the final dump has one."""
        if self.model_dir is None:
            raise RegeoInputError(f"run {self.run} step {self.step}: no model of this step (the dumps hold "
                                  "embeddings only; hidden states need the final step of a trained run)")
        if self._model is None:
            from transformers import AutoModelForCausalLM

            self._model = AutoModelForCausalLM.from_pretrained(self.model_dir, use_safetensors=True).eval()
        return self._model


def open_space(results: str | Path, run: str, step: int | None = None, min_count: int = 1,
               counts: str | Path | None = None, subset: str | None = None) -> RunSpace:
    """The space of ``run`` at ``step`` (None: its last dump) from a pipeline's ``results`` folder.

    Seen tokens: those at least ``min_count`` times in the run's training data: ``counts``, or the
    count table of the run's ``subset`` (the run table's, :func:`run_subset`) in ``results``. With
    neither (an external run, whose training data is not ours) every row counts as seen.
    """
    from regeo.tokenizer import load_tokenizer

    results = Path(results)
    run_dir = Path(layout.run_dir(run, root=str(results)))
    if not (run_dir / "embeddings").is_dir():
        known = sorted(p.name for p in (results / "runs").iterdir()) if (results / "runs").is_dir() else []
        raise RegeoInputError(f"no run {run!r} under {results}/runs; runs: {', '.join(known) or 'none'}")
    dumps = list_dumps(layout.dumps_dir(run, root=str(results)))
    if not dumps:
        raise RegeoInputError(f"{run_dir}/embeddings holds no dump")
    step = max(dumps) if step is None else int(step)
    if step not in dumps:
        raise RegeoInputError(f"run {run} has no dump at step {step}; steps: {', '.join(map(str, dumps))}")
    dump = read_dump(dumps[step])
    own = Path(layout.external_tokenizer_dir(run, root=str(results)))
    tokenizer_dir = own if own.is_dir() else Path(layout.tokenizer_dir(root=str(results)))
    tokenizer = load_tokenizer(tokenizer_dir)
    if counts is None and subset is not None:
        counts = Path(layout.token_counts(subset, root=str(results)))
        if not counts.is_file():
            raise RegeoInputError(f"{counts}: no token counts of subset {subset!r} (run {run}) under {results}")
    seen = read_seen_mask(counts, min_count) if counts is not None else None
    model_dir = Path(layout.model_dir(run, root=str(results)))
    final = step == max(dumps) and (model_dir / "config.json").is_file()
    norm_weight, eps = (final_norm(model_dir) if final else (None, 1e-5))
    return RunSpace(run=run, step=step, input=dump.input.numpy(), output=dump.output.numpy(),
                    tokenizer=tokenizer, seen=None if seen is None else seen[:dump.input.shape[0]],
                    norm_weight=norm_weight, norm_eps=eps, model_dir=model_dir if final else None)


def run_subset(run: str, config: str | Path | None) -> str | None:
    """The subset of a trained run, from the run table of ``config`` (a config file, validated);
    None for a run the config does not train (an external run) or without a config."""
    if config is None:
        return None
    from regeo.config import load_config_file
    from regeo.runs import runs

    trained = runs(load_config_file(config))
    return trained[run].subset if run in trained else None


def final_norm(model_dir: str | Path) -> tuple[np.ndarray | None, float]:
    """(weight, eps) of a saved Llama model's final RMSNorm, read from its safetensors without
    loading the model; (None, 1e-5) for an architecture without ``model.norm.weight``."""
    from safetensors import safe_open

    model_dir = Path(model_dir)
    config = json.loads((model_dir / "config.json").read_text())
    for path in sorted(model_dir.glob("*.safetensors")):
        with safe_open(str(path), "np") as handle:
            if "model.norm.weight" in handle.keys():
                return handle.get_tensor("model.norm.weight").astype(np.float32), float(config.get("rms_norm_eps", 1e-5))
    return None, 1e-5


def read_steering_vector(path: str | Path, name: str | None = None) -> tuple[np.ndarray, dict]:
    """(vector (d,), metadata) of a saved steering vector: tensor ``name`` of a safetensors file
    (the steering stage's ``results/steering/vectors/{source}__{target}.safetensors`` holds
    ``{concept}.{source|native|transferred|...}``); without ``name``, its tensor ``vector`` or its
    only tensor. Metadata: what :func:`regeo.io.save_tensors` stored, plus ``name``."""
    from regeo.io import load_tensors, tensor_metadata

    tensors = load_tensors(path)
    if name is None:
        name = "vector" if "vector" in tensors else next(iter(tensors)) if len(tensors) == 1 else None
    if name not in tensors:
        raise RegeoInputError(f"{path}: name the vector (--vector-name), one of {', '.join(sorted(tensors))}")
    return tensors[name].float().reshape(-1).numpy(), {**tensor_metadata(path), "name": name}


def hidden_state(space: RunSpace, text: str, layer: int, position: int = -1) -> np.ndarray:
    """(d,) residual stream of ``text`` after block ``layer`` (0: the embeddings) at ``position``.

    transformers' last hidden state already has the final norm applied; ``layer`` = the number of
    blocks is therefore read from the last block's output as is, and the lens then applies the norm
    once more (harmless for ranking: RMSNorm is idempotent up to its weight).
    """
    import torch

    model = space.model()
    n_layers = model.config.num_hidden_layers
    if not 0 <= layer <= n_layers:
        raise RegeoInputError(f"layer must be in 0..{n_layers} for run {space.run}, got {layer}")
    ids = space.tokenizer.encode(text, add_special_tokens=False)
    if not ids:
        raise RegeoInputError("the text has no tokens")
    if not -len(ids) <= position < len(ids):
        raise RegeoInputError(f"position {position} outside the text's {len(ids)} tokens")
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), output_hidden_states=True)
    return out.hidden_states[layer][0, position].float().numpy()  # (d,)


_TERM = re.compile(r"""\s*([+-])?\s*(?:(\d+(?:\.\d*)?|\.\d+)\s*\*\s*)?("(?:[^"\\]|\\.)*"|@\S+)\s*""")


def parse_expression(expression: str) -> list[tuple[float, str, str]]:
    """Terms (coefficient, kind, operand) of ``"a" - "b" + 0.5 * @vec.safetensors``.

    A quoted string (JSON escapes) is a token, ``@path`` a steering-vector file; terms are joined
    by + and -, each with an optional ``number *``.
    """
    terms, pos = [], 0
    while pos < len(expression):
        match = _TERM.match(expression, pos)
        if match is None or match.end() == pos or (terms and match.group(1) is None):
            raise RegeoInputError(f"cannot read the expression at {expression[pos:]!r}; "
                                  'write e.g. \'" king" - " man" + " woman"\' or \'" news" + 2 * @vector.safetensors\'')
        sign = -1.0 if match.group(1) == "-" else 1.0
        coef = sign * (float(match.group(2)) if match.group(2) else 1.0)
        operand = match.group(3)
        if operand.startswith("@"):
            terms.append((coef, "vector", operand[1:]))
        else:
            terms.append((coef, "token", json.loads(operand)))
        pos = match.end()
    if not terms:
        raise RegeoInputError("empty expression")
    return terms


def expression_vector(space: RunSpace, expression: str) -> tuple[np.ndarray, list[int]]:
    """(vector, query token ids) of an arithmetic expression (:func:`parse_expression`)."""
    total = np.zeros(space.input.shape[1], dtype=np.float64)
    query = []
    for coef, kind, operand in parse_expression(expression):
        if kind == "token":
            token = space.token_id(operand)
            query.append(token)
            total += coef * space.input[token]
        else:
            total += coef * checked_vector(space, operand)
    return total, query


def checked_vector(space: RunSpace, path: str | Path, name: str | None = None) -> np.ndarray:
    """A saved steering vector, checked to have the space's width."""
    vector, meta = read_steering_vector(path, name)
    if vector.shape[0] != space.input.shape[1]:
        raise RegeoInputError(f"{path}: a {vector.shape[0]}-wide vector (run {meta.get('run', '?')}) in the "
                              f"{space.input.shape[1]}-wide space of {space.run}")
    return vector


def nearest_tokens(vector, matrix: np.ndarray, candidates: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The ``k`` rows of ``matrix`` among ``candidates`` (ids) of highest cosine to ``vector``,
    as (id, cosine), best first; ties by the lower id."""
    v = np.asarray(vector, dtype=np.float64)
    rows = matrix[candidates].astype(np.float64)  # (n, d)
    norms = np.linalg.norm(rows, axis=1) * np.linalg.norm(v)
    cos = np.divide(rows @ v, norms, out=np.zeros(len(rows)), where=norms > 0)
    order = np.lexsort((candidates, -cos))[:k]
    return [(int(candidates[i]), float(cos[i])) for i in order]


def logit_lens(vector, unembedding: np.ndarray, k: int, norm_weight: np.ndarray | None = None,
               eps: float = 1e-5, candidates: np.ndarray | None = None) -> list[tuple[int, float, float]]:
    """Top ``k`` tokens of ``unembedding @ RMSNorm(vector)`` as (id, logit, probability), best first.

    The softmax runs over every row (the model's own distribution); ``candidates`` only restricts
    which ids are listed.
    """
    v = np.asarray(vector, dtype=np.float64)
    h = v / np.sqrt(np.mean(v ** 2) + eps)
    if norm_weight is not None:
        h = h * norm_weight
    logits = unembedding.astype(np.float64) @ h  # (V,)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    ids = np.arange(len(logits)) if candidates is None else np.asarray(candidates)
    order = ids[np.lexsort((ids, -logits[ids]))][:k]
    return [(int(i), float(logits[i]), float(probs[i])) for i in order]


def explain_vector(space: RunSpace, vector, k: int = 10, exclude: list[int] = (), description: str = "") -> dict:
    """The reading of ``vector``: nearest tokens (among the seen tokens, ``exclude`` left out) and
    the logit lens (every token listed), with what the reading was computed on."""
    vector = np.asarray(vector, dtype=np.float64)
    if vector.shape != (space.input.shape[1],):
        raise RegeoInputError(f"vector of shape {vector.shape} in a {space.input.shape[1]}-wide space")
    seen = np.ones(space.input.shape[0], dtype=bool) if space.seen is None else space.seen.copy()
    candidates_mask = seen.copy()
    candidates_mask[list(exclude)] = False
    candidates = np.flatnonzero(candidates_mask)
    near = nearest_tokens(vector, space.input, candidates, k)
    lens = logit_lens(vector, space.output, k, space.norm_weight, space.norm_eps)
    return {
        "run": space.run,
        "step": space.step,
        "vector": {"description": description, "norm": float(np.linalg.norm(vector))},
        "token_set": "seen" if space.seen is not None else "all",
        "n_tokens": int(candidates.size),
        "excluded": [space.token_text(i) for i in exclude],
        "lens_norm": "final RMSNorm of the model" if space.norm_weight is not None else "RMS only (no model at this step)",
        "nearest": [{"id": i, "token": space.token_text(i), "cosine": c} for i, c in near],
        "logit_lens": [{"id": i, "token": space.token_text(i), "logit": lg, "prob": p} for i, lg, p in lens],
    }


def format_reading(reading: dict) -> str:
    """A reading as a readable two-column table."""
    head = (f"run {reading['run']}, step {reading['step']}: {reading['vector']['description']} "
            f"(norm {reading['vector']['norm']:.3g})\n"
            f"nearest: cosine to the input embeddings of {reading['n_tokens']} {reading['token_set']} tokens"
            + (f", leaving out {', '.join(map(repr, reading['excluded']))}" if reading["excluded"] else "")
            + f"\nlogit lens: output embeddings after {reading['lens_norm']}\n")
    left = [f"{r['token']!r:>16} {r['cosine']:+.3f}" for r in reading["nearest"]]
    right = [f"{r['token']!r:>16} {r['logit']:+8.2f}  p={r['prob']:.3f}" for r in reading["logit_lens"]]
    width = max([len(s) for s in left] + [len("nearest tokens")])
    lines = [f"  {'#':>2}  {'nearest tokens':<{width}}   logit lens"]
    for i in range(max(len(left), len(right))):
        lines.append(f"  {i + 1:>2}  {(left[i] if i < len(left) else ''):<{width}}   {right[i] if i < len(right) else ''}")
    return head + "\n".join(lines)
