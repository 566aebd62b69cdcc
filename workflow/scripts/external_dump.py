"""Rule external_dump_*: see regeo.stages.external.dump_external_run."""
from regeo.logs import snakemake_job
from regeo.stages.external import dump_external_run

with snakemake_job(snakemake):
    dump_external_run(
        snakemake.params.external,
        list(snakemake.output.dumps),
        snakemake.output.tokenizer,
        snakemake.params.state_dir,
    )
