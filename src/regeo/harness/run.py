"""One model through lm-evaluation-harness's Python API (``lm_eval.simple_evaluate``).

The model is loaded here, with safetensors, and handed to the harness as an ``HFLM`` around it,
rather than as a path for the harness to load: loading stays regeo's (``use_safetensors=True``,
the shared tokenizer loaded as every other stage loads it), and the same call scores any model
object a caller builds. The tasks are loaded here too and passed to the harness as objects, so
that the very objects evaluated answer, afterwards, which choice was the gold one
(:mod:`regeo.harness.proxies` needs it for tasks whose choices sit in the context, WinoGrande).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from regeo.harness.local_tasks import LOCAL_TASKS
from regeo.harness.offline import hub_offline
from regeo.harness.validation import task_leaves

if TYPE_CHECKING:
    from lm_eval.api.model import LM
    from lm_eval.api.task import Task

log = logging.getLogger(__name__)

TokenCount = Callable[[str, str], int]


@dataclass
class HarnessRun:
    results: dict  # what simple_evaluate returned, per-sample logs ("samples") included
    tasks: dict[str, "Task"]  # every task evaluated (a group's tasks one by one), by name
    token_count: TokenCount | None  # tokens the model scored of a (context, continuation) pair


def load_hf_model(model_dir: str | Path, tokenizer_dir: str | Path, device: str, batch_size: int):
    """An ``HFLM`` around a ``save_pretrained`` model (safetensors only) and a saved tokenizer,
    in eval mode on ``device`` (auto, cpu, cuda or cuda:N)."""
    from lm_eval.models.huggingface import HFLM
    from transformers import AutoModelForCausalLM

    from regeo.devices import resolve_device
    from regeo.tokenizer import load_tokenizer

    model = AutoModelForCausalLM.from_pretrained(str(model_dir), use_safetensors=True)
    model = model.to(resolve_device(device, "harness.device")).eval()
    return HFLM(pretrained=model, tokenizer=load_tokenizer(tokenizer_dir), batch_size=batch_size)


def run_harness(lm: "LM", tasks: Iterable[str], include_path: str | Path | None, num_fewshot: int | None,
                limit: int | float | None, seed: int, bootstrap_iters: int, offline: bool) -> HarnessRun:
    """``simple_evaluate`` of ``lm`` on ``tasks`` (task, group or tag names; regeo's local tasks
    from ``include_path``), every per-sample log kept. ``num_fewshot`` None: each task's own
    default; ``limit``: documents per task (a fraction below 1); ``seed``: the harness's four
    seeds (python, numpy, torch, few-shot sampling); ``bootstrap_iters``: resamples for the
    stderr of metrics without a closed form (acc and acc_norm have one). ``offline``: no hub
    access during the call (:func:`regeo.harness.offline.hub_offline`)."""
    import lm_eval

    tasks = list(dict.fromkeys(tasks))
    with hub_offline(offline):
        manager = _task_manager(tasks, str(include_path) if include_path is not None else None)
        evaluated, leaves = [], {}
        for name in tasks:
            loaded = manager.load([name])
            evaluated.extend([loaded["groups"][name]] if name in loaded.get("groups", {})
                             else loaded["tasks"].values())
            leaves.update(loaded["tasks"])
        results = lm_eval.simple_evaluate(
            model=lm, tasks=evaluated, task_manager=manager, num_fewshot=num_fewshot, limit=limit,
            bootstrap_iters=bootstrap_iters, log_samples=True, random_seed=seed, numpy_random_seed=seed,
            torch_random_seed=seed, fewshot_random_seed=seed)
    return HarnessRun(results, leaves, continuation_token_count(lm))


def _task_manager(tasks: list[str], include_path: str | None):
    """A TaskManager of the include directory alone when it defines every task to run (groups'
    tasks included), else of it and the harness's own tasks: indexing those parses thousands of
    YAMLs, for nothing when only regeo's tasks run."""
    from lm_eval.tasks import TaskManager

    if include_path is not None:
        local = TaskManager(include_path=include_path, include_defaults=False)
        names = set(local.all_tasks)
        if all(t in names and (t in LOCAL_TASKS or set(task_leaves(t, include_path)) <= names) for t in tasks):
            return local
    return TaskManager(include_path=include_path)


def continuation_token_count(lm: "LM") -> TokenCount | None:
    """The number of tokens the harness scores of ``continuation`` after ``context`` (its own
    encoding: ``TemplateLM.loglikelihood``); None for a model without a tokenizer."""
    from lm_eval.api.model import TemplateLM

    if not isinstance(lm, TemplateLM):
        return None

    def count(context: str, continuation: str) -> int:
        if context == "":  # the harness scores it after the prefix token, or from its second token
            ids = lm.tok_encode(continuation, add_special_tokens=False)
            return len(ids) - (1 if ids and ids[0] == lm.prefix_token_id else 0)
        return len(lm._encode_pair(context, continuation)[1])

    return count
