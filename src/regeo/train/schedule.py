"""Pythia-style checkpoint schedule (Biderman et al. 2023): step 0, log-spaced early steps, then periodic."""

from __future__ import annotations


def checkpoint_steps(total_steps: int, every: int) -> list[int]:
    """Step 0; 1, 2, 4, ... below ``every``; every ``every`` steps; and the last step.

    Pythia: ``checkpoint_steps(143000, 1000)`` gives 154 steps (0, 1..512, 1000..143000).
    """
    if total_steps < 1 or every < 1:
        raise ValueError(f"total_steps and every must be >= 1, got {total_steps}, {every}")
    steps = {0, total_steps}
    power = 1
    while power < min(every, total_steps):
        steps.add(power)
        power *= 2
    steps.update(range(every, total_steps + 1, every))
    return sorted(steps)

