# regeo: register of pretraining data vs. the geometry of a language model's embedding space.
# This file only wires: the config is validated in common.smk (paths, params and resources beside
# it), each stage lives in its own .smk.
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")


configfile: Path(workflow.basedir) / "config" / "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/paths.smk"
include: "workflow/rules/params.smk"
include: "workflow/rules/resources.smk"
include: "workflow/rules/targets.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/tokens.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/external.smk"
include: "workflow/rules/geometry.smk"
include: "workflow/rules/evaluation.smk"
include: "workflow/rules/steering.smk"
include: "workflow/rules/harness.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/analyses.smk"
include: "workflow/rules/manifest.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
        layout.manifest(),


# On a cluster, the rules that take seconds at this config's scale run on the submitting host
# (regeo.resources.local_rules: the corpus-wide ones only for the builtin corpus).
workflow.localrules(*local_rules(config, [r.name for r in workflow.rules]))

# SLURM sites with separate GPU and CPU partitions: REGEO_SLURM_GPU_PARTITION (see profiles/slurm).
send_gpu_rules_to(os.environ.get("REGEO_SLURM_GPU_PARTITION"))
