"""regeo's own harness tasks by name: what a config may name before their files exist.

A leaf module (no numpy, no pandas, no lm_eval), so that the dry run's check of the task names
costs nothing when only these are named.
"""

from __future__ import annotations

# Where a next-sentence item's distractors come from (regeo.harness.next_sentence).
SAME_SUBSET = "same_subset"
OTHER_SUBSETS = "other_subsets"
DISTRACTOR_KINDS = (SAME_SUBSET, OTHER_SUBSETS)

# Task name -> its distractors. The names are fixed, so that a config can name them and the dry
# run can check them before the files exist.
LOCAL_TASKS = {
    "regeo_next_sentence_same_subset": SAME_SUBSET,
    "regeo_next_sentence_other_subsets": OTHER_SUBSETS,
}

# The harness reports it as the task's version: raise it when the items or the prompt change meaning.
TASK_VERSION = 1
