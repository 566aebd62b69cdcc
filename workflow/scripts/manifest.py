"""Rule manifest: see regeo.manifest.write_manifest."""
from regeo.logs import log_to
from regeo.manifest import collect_provenance, write_manifest

with log_to(snakemake.log[0]):
    write_manifest(collect_provenance(), snakemake.output[0], snakemake.params.repo)
