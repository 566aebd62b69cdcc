"""Helpers the SLURM tests share (the fixtures are in conftest.py)."""

from __future__ import annotations

import subprocess
import time
from typing import Callable


def interrupt_when(proc: subprocess.Popen, ready: Callable[[], bool], interrupt: Callable[[], None],
                   never: str, wait: float = 120, timeout: float = 600) -> str:
    """Once ``ready()`` holds while the workflow ``proc`` still runs, call ``interrupt()`` (a requeue,
    a signal) and return the workflow's output; the workflow is killed if anything fails first.
    ``never`` is the failure message when ``ready`` does not come within ``wait`` seconds."""
    try:
        deadline = time.monotonic() + wait
        while not ready():
            assert proc.poll() is None, proc.communicate()[0][-6000:]
            assert time.monotonic() < deadline, never
            time.sleep(0.05)
        interrupt()
        output, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return output
