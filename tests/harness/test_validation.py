"""Task names checked before any job: unknown names, hub tasks offline and tasks run twice are
reported with the config entry; the lookup behind it answers as the harness's own index does."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest
import yaml

from regeo.harness.local_tasks import LOCAL_TASKS
from regeo.harness.task_lookup import GROUP, PY_TASK, TAG, TASK, TaskLookup
from regeo.harness.validation import task_leaves, task_problems

# The FineWeb early-signal tasks (HellaSwag, ARC easy and challenge, PIQA, SIQA, OpenBookQA,
# CommonsenseQA, WinoGrande, MMLU cloze) as lm-eval 0.4.x names them.
EARLY_SIGNAL = ["hellaswag", "arc_easy", "arc_challenge", "piqa", "social_iqa", "openbookqa", "commonsense_qa",
                "winogrande", "mmlu_continuation"]


def test_a_misspelt_task_is_reported_with_its_config_entry_and_the_closest_names():
    problems = task_problems([*LOCAL_TASKS, "hellaswg"], offline=False)
    assert problems == ["config.harness.tasks[2]: unknown task 'hellaswg'; did you mean 'hellaswag', "
                        "'hellaswag_vi', 'hellaswag_uk'?"]
    assert task_problems(["regeo_next_sentence_same_subst"]) == [
        "config.harness.tasks[0]: unknown task 'regeo_next_sentence_same_subst'; did you mean "
        "'regeo_next_sentence_same_subset', 'regeo_next_sentence_other_subsets'?"]


def test_the_early_signal_tasks_are_known_and_read_the_hub():
    assert task_problems(EARLY_SIGNAL, offline=False) == []
    problems = task_problems(EARLY_SIGNAL, offline=True)
    assert len(problems) == len(EARLY_SIGNAL)
    assert problems[0].startswith("config.harness.tasks[0]: task 'hellaswag' reads its data from the hub "
                                  "(dataset_path 'Rowan/hellaswag'), but config.harness.offline is true")
    assert "task 'mmlu_continuation' (57 of its 57 tasks" in problems[8]
    assert len(task_leaves("mmlu_continuation")) == 57


def test_a_task_inside_a_named_group_or_tag_is_reported_as_run_twice():
    problems = task_problems(["arc_easy", "ai2_arc"], offline=False)
    assert problems == ["config.harness.tasks[1]: task 'ai2_arc' includes 'arc_easy', already evaluated by "
                        "config.harness.tasks[0] ('arc_easy'); the harness refuses a task twice"]


def test_regeo_tasks_are_checked_without_reading_or_importing_the_harness():
    # What keeps the dry run fast is what it does not import; no wall-clock bound (speed is a benchmark's job).
    code = ("import sys; from regeo.harness.validation import task_problems; "
            f"assert task_problems({list(LOCAL_TASKS)!r}) == []; "
            "assert not {'lm_eval', 'torch', 'pandas', 'numpy'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)


def test_tasks_in_an_include_path_are_local_unless_their_files_are_urls(tmp_path):
    (tmp_path / "data.jsonl").write_text('{"q": "a", "choices": ["x", "y"], "label": 0}\n')
    config = {"dataset_path": "json", "output_type": "multiple_choice", "test_split": "test",
              "doc_to_text": "q", "doc_to_choice": "choices", "doc_to_target": "label"}
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(
        {**config, "task": "my_local_task", "dataset_kwargs": {"data_files": {"test": str(tmp_path / "data.jsonl")}}}))
    remote = {"data_files": {"test": "https://example.org/d.jsonl"}}
    (tmp_path / "remote.yaml").write_text(yaml.safe_dump({**config, "task": "my_remote_task",
                                                          "dataset_kwargs": remote}))
    assert task_problems(["my_local_task"], include_path=tmp_path) == []
    assert task_problems(["my_local_task"]) == ["config.harness.tasks[0]: unknown task 'my_local_task'"]
    assert task_problems(["my_remote_task"], include_path=tmp_path) == [
        "config.harness.tasks[0]: task 'my_remote_task' reads its data from the hub (data_files "
        "'https://example.org/d.jsonl'), but config.harness.offline is true; set harness.offline: false where the "
        "hub is reachable, or drop the task"]


def test_the_lookup_answers_as_the_harness_index_does():
    """The early-signal names and a seeded sample of the names the harness knows: the same kind,
    tags and config (includes merged) as lm-eval's own TaskManager index. (All 14,683 names of
    lm-eval 0.4.13 agreed when this module was written.)"""
    from lm_eval.tasks import TaskManager
    from lm_eval.tasks._index import Kind

    kinds = {Kind.TASK: TASK, Kind.PY_TASK: PY_TASK, Kind.GROUP: GROUP, Kind.TAG: TAG}
    index = TaskManager().task_index
    names = EARLY_SIGNAL + ["ai2_arc", "mmlu_stem_continuation"] + random.Random(0).sample(sorted(index), 50)
    lookup = TaskLookup()
    for name in names:
        entry = lookup.get(name)
        assert (entry.kind, entry.tags, entry.cfg) == (kinds[index[name].kind], index[name].tags, index[name].cfg), name
    assert lookup.get("no_such_task_anywhere") is None


@pytest.mark.parametrize("bad", [["hellaswag", 3]])
def test_a_name_that_is_not_a_string_is_reported(bad):
    assert task_problems(bad) == ["config.harness.tasks[1]: 3 is not a task name (a string)"]
