"""Stopping a training job cleanly: SIGTERM/SIGINT become a flag checked between steps.

SLURM sends SIGTERM before a time limit or a preemption (the train rule asks for it 300 s
early); the loop saves its state at the next step and exits with :class:`Interrupted`, so a
retry resumes from there.
"""

from __future__ import annotations

import signal


class Interrupted(SystemExit):
    """SIGTERM/SIGINT (SLURM time limit or preemption): state saved, exit so that a retry resumes."""


class StopFlag:
    """Context manager: while active, SIGTERM/SIGINT set ``signal`` instead of killing the process."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "StopFlag":
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.signal = signum

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
