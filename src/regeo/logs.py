"""Logging for Snakemake scripts: everything (logging, prints, tracebacks, progress bars) into the rule's log."""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def log_to(path: str | Path | None) -> Iterator[None]:
    """Send stdout, stderr and logging to ``path`` (append) for the duration of a script."""
    if path is None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        yield
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", buffering=1) as handle:
        old_out, old_err = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = handle
        root = logging.getLogger()
        handler = logging.StreamHandler(handle)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            yield
        except BaseException:
            logging.getLogger("regeo").exception("failed")
            raise
        finally:
            root.removeHandler(handler)
            sys.stdout, sys.stderr = old_out, old_err


@contextlib.contextmanager
def snakemake_job(smk) -> Iterator[None]:
    """Run a Snakemake script's body with its log open; on success record the job's provenance."""
    from regeo.manifest import record_job

    # A job uses the cores Snakemake (or SLURM's cpus-per-task) gave it, not every core of the
    # node: torch would otherwise start one thread per core in each of the parallel jobs.
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(max(1, int(smk.threads)))
    with log_to(smk.log[0] if smk.log else None):
        yield
        logging.getLogger("regeo.logs").info(CPU_LINE, cpu_seconds())
    record_job(smk)


# The job's own CPU time, the last line of its log: what regeo.costs predicts, measured whatever
# else the machine runs (Snakemake's benchmark files sample it every 30 s after the first 15).
CPU_LINE = "job CPU time %.2f s"


def cpu_seconds() -> float:
    """User and system CPU seconds of this process and its finished children, since it started."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def job_cpu_seconds(log: str | Path) -> float | None:
    """The CPU seconds a finished job logged (:data:`CPU_LINE`, its last one), None if it logged none."""
    import re

    found = re.findall(CPU_LINE.replace("%.2f", r"([0-9.]+)"), Path(log).read_text()) if Path(log).is_file() else []
    return float(found[-1]) if found else None
