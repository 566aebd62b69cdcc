# regeo: register of pretraining data vs. the geometry of a language model's embedding space.
# This file only wires: the config is validated in common.smk, each stage lives in its own .smk.
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")


configfile: Path(workflow.basedir) / "config" / "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/tokens.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/external.smk"
include: "workflow/rules/geometry.smk"
include: "workflow/rules/evaluation.smk"
include: "workflow/rules/steering.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/analyses.smk"
include: "workflow/rules/manifest.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
        "results/manifest.json",


# On a cluster these run on the submitting host: merging, labeling from stored probabilities,
# the manifest and every figure take seconds and would wait longer in the queue than they run.
localrules:
    all,
    figures,
    corpus,
    registers,
    manifest,
    steering_summary,


workflow.localrules(*(r.name for r in workflow.rules if r.name.startswith("figure_")))
