"""One torchrun worker: ``python -m regeo.train.worker job.json`` (see regeo.train.distributed.launch)."""

from __future__ import annotations

import json
import logging
import os
import sys

from regeo.train.config import TrainConfig
from regeo.train.loop import train


def main(job_file: str) -> None:
    job = json.loads(open(job_file).read())
    rank = os.environ.get("RANK", "0")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s %(levelname)s rank{rank} %(name)s: %(message)s")
    train(TrainConfig(**job["config"]), **job["paths"])


if __name__ == "__main__":
    main(sys.argv[1])
