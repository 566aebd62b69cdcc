"""Write WORKDIR/config.yaml: this directory's config.yaml plus the paper config's external run
(pythia-160m at its 154 revisions) as tiny GPT-NeoX stand-ins saved under WORKDIR/checkpoints,
one directory per revision, as the tests build them (tests/external/tiny_models.py).

    python benchmarks/paper_shape/standins.py WORKDIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "external"))
from tiny_models import save_revisions, tiny_tokenizer  # noqa: E402

from regeo.train.schedule import checkpoint_steps  # noqa: E402


def shape_config(root: Path, steps_saved=None) -> dict:
    """This directory's config.yaml with the paper's external run as stand-ins under ``root``: every
    revision saved (``steps_saved`` None), or only those given (the cost model reads the last)."""
    config = yaml.safe_load((HERE / "config.yaml").read_text())
    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    (external,) = paper["external"]
    schedule = external["schedule"]
    steps = checkpoint_steps(schedule["steps"], schedule["every"])
    save_revisions(root, steps if steps_saved is None else steps_saved, arch="neox", tokenizer=tiny_tokenizer())
    config["external"] = [{"name": external["name"], "model": str(root / "step{step}"), "steps": steps,
                           "tokens_per_step": external["tokens_per_step"]}]
    return config


def main(workdir: Path) -> None:
    config = shape_config(workdir / "checkpoints" / "pythia-160m")
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    print(f"{workdir / 'config.yaml'}: {len(config['external'][0]['steps'])} revisions under {workdir / 'checkpoints'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve())
