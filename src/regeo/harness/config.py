"""The config's ``harness`` section as the benchmark jobs take it; its defaults are the schema's
(``regeo.config.schema_defaults("harness")``), the dataclasses have none of their own."""

from __future__ import annotations

from dataclasses import dataclass

from regeo.harness.next_sentence import NextSentenceSpec
from regeo.params import section_fields


# The harness key the workflow reads, not a benchmark job's values: the job's threads (the rule's
# directive, as steering.threads), so a change of it reruns nothing.
PIPELINE_KEYS = ("threads",)


@dataclass(frozen=True)
class HarnessConfig:
    tasks: tuple[str, ...]  # task, group or tag names, regeo's own or the harness's
    offline: bool  # no hub access while the harness runs
    num_fewshot: int | None  # None: each task's own default
    batch_size: int  # requests per forward pass
    limit: int | None  # documents per task; None: all
    seed: int  # the harness's python, numpy, torch and few-shot seeds
    bootstrap_iters: int  # resamples for stderrs without a closed form
    device: str  # auto, cpu or cuda

    @classmethod
    def from_params(cls, params: dict) -> "HarnessConfig":
        """From the benchmark rule's params (or the whole harness section); the section's other keys
        (``local_tasks``, the task-building job's; ``threads``, the rule's directive as for
        steering, so a change of it reruns nothing) are left out, a key the schema does not know is an
        error; YAML's task list becomes a tuple."""
        values = section_fields(cls, params, "harness")
        values["tasks"] = tuple(values["tasks"])
        return cls(**values)


def next_sentence_spec(local_tasks: dict) -> NextSentenceSpec:
    """The ``harness.local_tasks`` section as a :class:`NextSentenceSpec`; an unknown or missing key is an error."""
    return NextSentenceSpec(**section_fields(NextSentenceSpec, local_tasks, "harness.local_tasks"))
